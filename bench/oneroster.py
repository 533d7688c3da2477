"""A OneRoster 1.2 package for a district of 500,000 students (unless told), written and
validated: a synthetic district on a private embedded stack, a OneRoster vendor added to a
copy of vendors.toml (every rostering file the views make), pushed as cron pushes a vendor,
then the zip it sent checked whole by ``./run.sh validate oneroster``'s validator.

    ./run.sh bench oneroster [--students 500000]

Setup (not timed): seed, load into the BigQuery emulator, deploy the views. Timed: the push
(``python -m pipelines --module pipelines.vendors VendorPush``, a fresh process: export every
file from its view in sourcedId order, check them by the binding, zip them with the manifest,
upload), then the validator on the zip sent (a fresh process), then a plain ``csv.reader``
pass over the same files, the baseline of the ratio. Peaks: the push's largest task (its run
log, pipelines/peaks.py) and the validator's own VmHWM. Last lines:
``oneroster_seconds=X`` (write and validate), ``oneroster_peak_rss_mb=Y`` (goal <= 300) and
``oneroster_validate_vs_csv_read=Z`` (validation over the plain read; goal <= 8).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stack
from bench.nightly import MONDAY, _luigi
from pipelines.peaks import LINE
from stack import ROOT

VENDOR = """
[orbench]
server = "orbench"
packaging = "oneroster"
zip_name = "oneroster.zip"
shrink_limit = 1.0
oneroster = { version = "1.2", files = ["orgs", "academicSessions", "courses", "classes", "users", "enrollments", "roles", "demographics"] }
"""

# A child process that runs one thing and prints its seconds and its own peak (VmHWM: the
# high-water mark since exec; ru_maxrss would carry the parent's).
CHILD = r"""
import sys, time
from pathlib import Path
t0 = time.perf_counter()
{body}
seconds = time.perf_counter() - t0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(f"{{seconds:.3f}} {{hwm // 1024}} {{result}}")
"""
VALIDATE = """from formats.oneroster_package import check_package
report = check_package(Path(sys.argv[1]), tmp=Path(sys.argv[2]))
result = f"{len(report.problems)} {sum(report.rows.values())}"
"""
CSV_READ = """import csv, zipfile, io
rows = 0
with zipfile.ZipFile(sys.argv[1]) as zf:
    for name in zf.namelist():
        zf.extract(name, sys.argv[2])
        with open(Path(sys.argv[2]) / name, encoding="utf-8", newline="") as fh:
            rows += sum(1 for _ in csv.reader(fh))
result = str(rows)
"""


def _child(body: str, *args: str) -> tuple[float, int, str]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(body=body), *args], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)}).stdout.split(maxsplit=2)
    return float(out[0]), int(out[1]), out[2].strip()


def add_vendor(var: Path) -> Path:
    """The bench vendor in a copy of vendors.toml, with its SFTP account and section."""
    import configparser
    registry = var / "vendors.toml"
    registry.write_text((ROOT / "vendors.toml").read_text() + VENDOR)
    home, folders = stack.sftp_accounts(registry)["orbench"]
    stack.add_sftp_account(var, "orbench", folders)
    cfg = configparser.RawConfigParser()
    cfg.read(var / "luigi.cfg")
    if not cfg.has_section("vendors"):
        cfg.add_section("vendors")
    cfg.set("vendors", "vendors_file", str(registry))
    cfg.add_section("sftp_orbench")
    for key, value in stack.sftp_section(var, "orbench", home).items():
        cfg.set("sftp_orbench", key, value)
    with open(var / "luigi.cfg", "w") as fh:
        cfg.write(fh)
    return var / "sftp" / "root" / "orbench" / home.strip("/") / "oneroster.zip"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=500_000)
    args = ap.parse_args()
    from stack.district import generate, generate_merge_inputs
    with tempfile.TemporaryDirectory(prefix="bench-oneroster-") as tmp:
        var = Path(tmp) / "var"
        stack.up(var, with_bigquery=True)
        try:
            t0 = time.perf_counter()
            data = var / "data" / "powerschool_combined"
            counts = generate(data, students=args.students, today=MONDAY, idm_file=data / "clever_idm_students.csv")
            generate_merge_inputs(var / "data")
            _luigi(var, "pipelines.warehouse", "BigQueryOperations", "--date", MONDAY.isoformat())
            _luigi(var, "pipelines.views", "DeployViews")
            sent = add_vendor(var)
            print(f"setup: {args.students:,} students, {counts['enrollments.csv']:,} enrollments loaded in "
                  f"{time.perf_counter() - t0:.1f}s")
            log = var / "push.log"
            push = _luigi(var, "pipelines.vendors", "VendorPush", "--vendor", "orbench", "--date",
                          MONDAY.isoformat(), log=log)
            text = log.read_text(errors="replace")
            peaks = sorted(((int(mb), task) for mb, task in LINE.findall(text)), reverse=True)
            starts = dict((task, int(mb)) for task, mb in re.findall(r"task=(\S+) cpu_s=\S+ start_mb=(\d+)", text))
            print(f"push (export, check, package, upload): {push:.1f}s, {sent.stat().st_size / 1e6:.1f} MB zip; "
                  "largest tasks: " + ", ".join(f"{task} {mb} MB (from {starts.get(task, '?')} MB)"
                                                for mb, task in peaks[:4]))
            work = Path(tmp) / "work"
            work.mkdir()
            check_s, check_mb, result = _child(VALIDATE, str(sent), str(work))
            problems, rows = map(int, result.split())
            read_s, read_mb, lines = _child(CSV_READ, str(sent), str(work / "plain"))
            print(f"validate: {check_s:.1f}s, {check_mb} MB peak, {problems} problems in {rows:,} rows; "
                  f"a plain csv.reader pass (unzip included): {read_s:.1f}s, {read_mb} MB, {int(lines):,} lines")
            if problems:
                raise SystemExit(f"the package we wrote has {problems} problems")
            print(f"oneroster_seconds={push + check_s:.1f}")
            print(f"oneroster_peak_rss_mb={max([check_mb] + [mb for mb, _ in peaks[:1]])}")
            print(f"oneroster_validate_vs_csv_read={check_s / read_s:.2f}")
        finally:
            stack.down(var)
    return 0


if __name__ == "__main__":
    sys.exit(main())
