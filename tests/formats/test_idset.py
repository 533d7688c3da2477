"""Ids as 8-byte hashes: the same answers as sets of strings, in a fraction of the memory."""
import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from formats.idset import IdHashes, changes, smallest

ROOT = Path(__file__).resolve().parents[2]


def _hashes(values):
    h = IdHashes()
    for v in values:
        h.add(v)
    return h.freeze()


def test_repeated_and_changes_match_sets():
    rng = random.Random(5)
    before = [f"S{rng.randint(0, 5000)}" for _ in range(4000)]
    now = [f"S{rng.randint(0, 5000)}" for _ in range(4000)]
    hb, hn = _hashes(before), _hashes(now)
    assert len(hb) == len(set(before)) and len(hn) == len(set(now))
    assert hn.repeated == {hash(v) for v in now if now.count(v) > 1}
    added, removed, gone = changes(hn, hb)
    assert (added, removed) == (len(set(now) - set(before)), len(set(before) - set(now)))
    assert smallest(before, gone) == sorted(set(before) - set(now))[:10]
    assert changes(hn, _hashes([])) == (len(set(now)), 0, set())
    assert smallest(before, set()) == []


VALIDATE = r"""
import json, re, sys
from pathlib import Path
from formats.rules import FileSpec, validate
import formats.rules_arrow  # the engine's code and Arrow's libraries, loaded before measuring
def kb(field):
    return int(re.search(field + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
loaded = kb("VmRSS")
spec = FileSpec(header=["id", "section", "student"], required=["id"], unique=["id", ("section", "student")])
problems = [str(p) for p in validate({"enrollments.csv": Path(sys.argv[1])}, {"enrollments.csv": spec})]
# VmHWM, not ru_maxrss: that one keeps the forking test process's size across exec
print(json.dumps({"problems": problems, "peak_mb": (kb("VmHWM") - loaded) / 1024, "loaded_mb": loaded / 1024}))
"""


def test_validation_memory_holds_hashes_not_values(tmp_path):
    # 300,000 rows with a unique id and a unique pair, validated in a process of its own: the
    # former dict of values to rows peaked at 129 MB; hashes take 8 bytes a row (35 MB in all,
    # 25 of them data). Measured above the process once its code is loaded: Arrow's libraries
    # (the fast pass, formats/rules_arrow.py) are 40 MB of code whatever the file, and the
    # allowance for data stays the 60 MB it was over a 10 MB interpreter.
    path = tmp_path / "enrollments.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "section", "student"])
        w.writerows([f"E{i:07d}", str(5000 + i % 900), f"S{i:07d}"] for i in range(300_000))
        w.writerow(["E0000007", "5007", "S0000007"])  # repeats row 9's id and pair
    out = subprocess.run([sys.executable, "-c", VALIDATE, str(path)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["problems"] == [
        "enrollments.csv, row 300002, column id: E0000007 is not unique (first at row 9)",
        "enrollments.csv, row 300002, column section+student: 5007+S0000007 is not unique (first at row 9)"]
    assert result["peak_mb"] < 60, f"validation peaked {result['peak_mb']:.0f} MB above {result['loaded_mb']:.0f} MB"
