"""The vendor rule engine on a large district, against a plain read of the same files:

    ./run.sh bench rules [--students 500000] [--repeat 3]

Clever's six files for ``--students`` students (one enrollment each, a school, a section, a
teacher) are written once; then, each in a fresh process so that its peak memory is its own:

- ours: ``formats.rules.validate`` with Clever's rules from vendors.toml (header, required,
  unique, grade values, real dates, e-mail, every reference, field counts, bytes);
- the exact pass alone (``formats.rules.FAST = False``): what ran before the fast pass over
  Arrow (formats/rules_arrow.py), Python's csv reader and a loop per row;
- the baseline: ``csv.reader`` over the same files, counting rows and nothing else.

Medians of ``--repeat`` runs, alternating who goes first; CPU is user + system time (Arrow
reads with threads: on a busy night the CPU is what the other tasks lose). The last lines are
``rules_seconds=X``, ``rules_vs_csv_read=Y`` (our time / the plain read's),
``rules_cpu_vs_exact_pass=C`` (our CPU / the exact pass's) and ``rules_peak_rss_mb=Z`` (issue
14's goal for any one task: 500 MB at 500,000 students).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pipelines.base import ROOT
from registry.vendors import load_vendors

_CHILD = r"""
import csv, json, resource, sys, time
from pathlib import Path
folder, mode = Path(sys.argv[1]), sys.argv[2]
t = time.perf_counter()
if mode in ("rules", "exact"):
    import formats.rules
    formats.rules.FAST = mode == "rules"
    from formats.rules import validate
    from registry.vendors import load_vendors
    from pipelines.base import ROOT
    specs = load_vendors(ROOT / "vendors.toml").vendor("clever").file_specs()
    problems = len(validate({n: folder / n for n in specs}, specs))
else:
    problems = 0
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            problems += sum(1 for _ in csv.reader(fh)) * 0
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t, "problems": problems, "cpu": use.ru_utime + use.ru_stime,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_district(folder: Path, students: int) -> int:
    specs = load_vendors(ROOT / "vendors.toml").vendor("clever").file_specs()
    rows = {
        "schools.csv": [{"School_id": "101", "School_name": "Maple", "School_number": "101", "Low_grade": "Kindergarten",
                         "High_grade": "12"}],
        "teachers.csv": [{"School_id": "101", "Teacher_id": "T1", "First_name": "Ana", "Last_name": "Lee",
                          "Teacher_email": "t1@d.org"}],
        "staff.csv": [{"School_id": "101", "Staff_id": "X1", "Staff_email": "x1@d.org", "First_name": "Cy",
                       "Last_name": "Po"}],
        "sections.csv": [{"School_id": "101", "Section_id": "5001", "Teacher_id": "T1", "Grade": "5",
                          "Term_start": "08/12/2026", "Term_end": "05/22/2027"}],
    }
    size = 0
    for name, spec in specs.items():
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(spec.header)
            if name == "students.csv":
                source = ({"School_id": "101", "Student_id": f"S{i:07d}", "Last_name": "Kim", "First_name": "Ana",
                           "Grade": str(1 + i % 12), "DOB": f"{1 + i % 12:02d}/{1 + i % 28:02d}/2015",
                           "Student_email": f"s{i}@s.d.org"} for i in range(students))
            elif name == "enrollments.csv":
                source = ({"School_id": "101", "Section_id": "5001", "Student_id": f"S{i:07d}"} for i in range(students))
            else:
                source = rows[name]
            for r in source:
                w.writerow([r.get(c, "") for c in spec.header])
        size += (folder / name).stat().st_size
    return size


def run(folder: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(folder), mode], check=True, capture_output=True,
                         text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh bench rules", description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        folder = Path(tmp)
        size = write_district(folder, args.students)
        print(f"{args.students:,} students: six Clever files, {size / 1e6:.1f} MB", file=sys.stderr)
        runs: dict[str, list[dict]] = {"rules": [], "exact": [], "csv": []}
        for i in range(args.repeat):
            modes = list(runs) if i % 2 == 0 else list(reversed(runs))
            for mode in modes:
                result = run(folder, mode)
                runs[mode].append(result)
                if mode != "csv" and result["problems"]:
                    print(f"bench rules: the clean district had {result['problems']} problems ({mode})", file=sys.stderr)
                    return 1
        ours, exact, base = runs["rules"], runs["exact"], runs["csv"]

        def median(results, key):
            return statistics.median(r[key] for r in results)
        seconds, plain = median(ours, "seconds"), median(base, "seconds")
        for label, results in (("rules", ours), ("exact pass alone", exact), ("plain csv read", base)):
            print(f"{label}: {median(results, 'seconds'):.2f} s, {median(results, 'cpu'):.2f} CPU-s, peak RSS "
                  f"{max(r['peak_rss_mb'] for r in results):.0f} MB")
        print(f"rules_seconds={seconds:.2f}")
        print(f"rules_vs_csv_read={seconds / plain:.2f}")
        print(f"rules_cpu_vs_exact_pass={median(ours, 'cpu') / median(exact, 'cpu'):.2f}")
        print(f"rules_peak_rss_mb={max(r['peak_rss_mb'] for r in ours):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
