"""Peak memory of the steps that hold a whole report: the DPS reconciliation and workbook
writing, each in a fresh process, against the way they were done before issue 14:

    ./run.sh bench memory [--episodes 200000] [--rows 100000]

- DPS: the send file and DPS's results of ``--episodes`` runaway episodes (two per person,
  a third of DPS's rows matched by id, the rest by name and birth date), reconciled from the
  files as they stream (``PipeLayout.records``: ours) and from the files read whole into
  lists (``PipeLayout.read``: the baseline, as before);
- workbook: ``--rows`` rows of ten columns (dates, numbers, a formula-like name now and then)
  written by ``formats.spreadsheet.write_workbook`` (openpyxl's write-only mode: ours) and by
  an ordinary openpyxl workbook with the same styles (the baseline, as before).

Memory is the process's peak resident set (VmHWM) less its size once the modules are imported.
Last lines: ``dps_peak_rss_mb=X``, ``dps_vs_whole_read=Y`` (ours / the baseline's),
``workbook_peak_rss_mb=Z``, ``workbook_vs_openpyxl=W``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from pipelines.base import ROOT

_CHILD = r"""
import datetime as dt, json, sys, time

def hwm():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) // 1024

kind, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
from formats.pipe import DPS_COUNTS, DPS_RESULTS, DPS_SEND
from formats.spreadsheet import write_workbook
from pipelines.dps_reconcile import reconcile
import openpyxl, openpyxl.styles
base = hwm()
t0 = time.perf_counter()
if kind.startswith("dps"):
    regions = {f"C{i}": str(i % 11 + 1) for i in range(254)}
    read = (lambda layout, name: layout.records(f"{folder}/{name}")) if kind == "dps" else \
        (lambda layout, name: layout.read(f"{folder}/{name}"))
    report = reconcile(read(DPS_SEND, "sent.txt"), read(DPS_RESULTS, "results.txt"), read(DPS_COUNTS, "counts.txt"),
                       regions)
    out = len(report.impact_only) + len(report.dps_only)
else:
    columns = ["person_id", "last_name", "first_name", "birth_date", "county", "region", "episode_start",
               "episode_end", "episodes", "note"]
    rows = ({"person_id": str(i), "last_name": f"Name{i}", "first_name": "Ana", "birth_date": dt.date(2010, 1, 1 + i % 28),
             "county": "TRAVIS", "region": "7", "episode_start": dt.date(2026, 9, 1 + i % 30), "episode_end": None,
             "episodes": 1 + i % 3, "note": "=HYPERLINK(1)" if i % 1000 == 0 else ""} for i in range(n))
    if kind == "workbook":
        write_workbook(f"{folder}/ours.xlsx", "report", rows, columns)
    else:  # as before: an ordinary workbook, every cell in memory until it is saved
        rows = list(rows)
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append([c.replace("_", " ").title() for c in columns])
        for cell in ws[1]:
            cell.font = openpyxl.styles.Font(bold=True)
        for r in rows:
            ws.append([r.get(c) for c in columns])
        ws.freeze_panes = "A2"
        wb.save(f"{folder}/openpyxl.xlsx")
    out = n
print(json.dumps({"mb": hwm() - base, "seconds": time.perf_counter() - t0, "out": out}))
"""


def write_dps(folder: Path, episodes: int) -> None:
    people = max(1, episodes // 2)
    counties = [f"C{i}" for i in range(254)]
    with open(folder / "sent.txt", "w") as fh:
        fh.write("PERSON_ID|LAST_NAME|FIRST_NAME|DOB|SEX|COUNTY|RUNAWAY_DATE\n")
        for i in range(episodes):
            p = i % people
            fh.write(f"{p}|Last{p}|First{p % 97}|2010{1 + p % 12:02d}{1 + p % 28:02d}|F|{counties[p % 254]}|"
                     f"202609{1 + i % 28:02d}\n")
    with open(folder / "results.txt", "w") as fh:
        fh.write("DPS_ID|LAST_NAME|FIRST_NAME|DOB|SEX|COUNTY|REPORT_DATE|DFPS_PERSON_ID\n")
        for i in range(episodes):
            p = (i * 7) % (people + people // 10)  # a tenth of DPS's people are not ours
            fh.write(f"D{i}|Last{p}|First{p % 97}|2010{1 + p % 12:02d}{1 + p % 28:02d}|F|{counties[p % 254]}|"
                     f"20261001|{p if i % 3 == 0 else ''}\n")
    with open(folder / "counts.txt", "w") as fh:
        fh.write("COUNTY|RUNAWAY_EVENTS\n" + "".join(f"{c}|{n * 3 % 500}\n" for n, c in enumerate(counties)))


def run(kind: str, folder: Path, n: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, kind, str(folder), str(n)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh bench memory")
    ap.add_argument("--episodes", type=int, default=200_000)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(tmp)
        write_dps(folder, args.episodes)
        figures = {kind: run(kind, folder, args.episodes if kind.startswith("dps") else args.rows)
                   for kind in ("dps", "dps_whole", "workbook", "workbook_openpyxl")}
    for kind, f in figures.items():
        print(f"{kind:18} {f['mb']:6} MB  {f['seconds']:6.1f} s  ({f['out']:,} rows out)")
    print(f"dps_peak_rss_mb={figures['dps']['mb']}")
    print(f"dps_vs_whole_read={figures['dps']['mb'] / max(1, figures['dps_whole']['mb']):.2f}")
    print(f"workbook_peak_rss_mb={figures['workbook']['mb']}")
    print(f"workbook_vs_openpyxl={figures['workbook']['mb'] / max(1, figures['workbook_openpyxl']['mb']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
