"""XLSX → CSV: our converter vs pandas, with peak memory against openpyxl's read-only mode.

    ./run.sh bench excel [--rows 200000] [--repeat 3]

A workbook of ``--rows`` rows × 12 columns (numbers, text with leading zeros, dates, a
datetime, booleans, money) is written by xlsxwriter as Excel writes them (shared strings),
then converted, each in its own process so its peak RSS is its own, by

- ours: ``formats.spreadsheet.to_csv`` (the streaming .xlsx reader, formats/xlsx_stream.py;
  median of ``--repeat``),
- calamine whole-sheet (python-calamine ``iter_rows`` + the same formatting), for reference,
- openpyxl ``load_workbook(read_only=True)`` rows → ``csv.writer`` (the memory yardstick),
- ``pandas.read_excel(engine="openpyxl")`` + ``to_csv`` (the speed baseline), in a
  throwaway venv under var/ (pandas is not a dependency).

Then, where ``../shared/spreadsheets/files`` is (the real-spreadsheet corpus, never copied
into the repository), ours on its 57 MB-XML sheet of long strings (goal ≤ 64 MB, as on the
200,000 rows) and the corpus through ConvertFeedFile's path (tests/spreadsheet_corpus.py).

The last lines are ``excel_speedup=X`` (pandas' seconds / ours; goal ≥ 5),
``excel_peak_rss_mb=Y`` (ours; goal ≤ 2 × openpyxl read-only's, printed above it, and
≤ 64), ``excel_long_strings_rss_mb=Z`` and ``excel_corpus_right=N/M``.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from stack import ROOT
from tests.spreadsheet_corpus import CORPUS, run as run_corpus

VENV_REQS = ["pandas==3.1.1", "openpyxl==3.1.5", "xlsxwriter==3.3.1"]

MAKE = """
import datetime as dt, random, sys, xlsxwriter
rows = int(sys.argv[2])
book = xlsxwriter.Workbook(sys.argv[1])
sheet = book.add_worksheet("Events")
day, stamp = book.add_format({"num_format": "yyyy-mm-dd"}), book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
sheet.write_row(0, 0, ["Event ID", "Company", "Ticker", "Starts", "Ends", "City", "Country", "Seats", "Fee",
                       "Contact", "Private", "Updated"])
rng = random.Random(3)
for r in range(1, rows + 1):
    s = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 360))
    sheet.write_number(r, 0, r)
    sheet.write_string(r, 1, f"Company {r % 9973} Inc.")
    sheet.write_string(r, 2, f"{r % 1000:05d}")
    sheet.write_datetime(r, 3, dt.datetime.combine(s, dt.time()), day)
    sheet.write_datetime(r, 4, dt.datetime.combine(s + dt.timedelta(days=2), dt.time()), day)
    sheet.write_string(r, 5, f"City {rng.randint(1, 500)}")
    sheet.write_string(r, 6, "US")
    sheet.write_number(r, 7, rng.randint(10, 900))
    sheet.write_number(r, 8, rng.randint(0, 99999) / 100)
    sheet.write_string(r, 9, f"ir{r}@example.org")
    sheet.write_boolean(r, 10, rng.random() < 0.1)
    sheet.write_datetime(r, 11, dt.datetime(2026, 11, 20, 8, rng.randint(0, 59)), stamp)
book.close()
"""

# the peak is VmHWM, the high-water mark of this process's own memory since exec: ru_maxrss
# survives exec, so a child started by a big parent would report the parent's peak
MEASURE = """
import json, sys, time
t = time.perf_counter()
{body}
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": time.perf_counter() - t, "rss_mb": hwm / 1024}}))
"""

OURS = "from formats.spreadsheet import to_csv\nto_csv(sys.argv[1], sys.argv[2])"
LONG = "from formats.spreadsheet import to_csv\nto_csv(sys.argv[1], sys.argv[2], sheet='Large Strings')"
CALAMINE = """import csv
from python_calamine import CalamineWorkbook
from formats.cells import format_cell
rows = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0).iter_rows()
with open(sys.argv[2], "w", newline="") as fh:
    csv.writer(fh, lineterminator="\\n").writerows([format_cell(c) for c in row] for row in rows)"""
OPENPYXL_RO = """import csv
from openpyxl import load_workbook
book = load_workbook(sys.argv[1], read_only=True, data_only=True)
with open(sys.argv[2], "w", newline="") as fh:
    csv.writer(fh).writerows(book.worksheets[0].iter_rows(values_only=True))
book.close()"""
PANDAS = """import pandas as pd
pd.read_excel(sys.argv[1], engine="openpyxl").to_csv(sys.argv[2], index=False)"""


def _venv() -> Path:
    venv = Path(os.environ.get("ETL_BENCH_EXCEL_VENV") or ROOT / "var" / "bench-excel-venv")
    stamp = venv / ".reqs"
    if not stamp.exists() or stamp.read_text() != "\n".join(VENV_REQS):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *VENV_REQS],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stamp.write_text("\n".join(VENV_REQS))
    return venv / "bin" / "python"


def _measure(python: str, body: str, src: Path, dest: Path) -> dict:
    out = subprocess.run([python, "-c", MEASURE.format(body=body), str(src), str(dest)], check=True,
                         capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    venv_python = str(_venv())
    with tempfile.TemporaryDirectory(prefix="bench-excel-") as tmp:
        tmp = Path(tmp)
        book = tmp / "events.xlsx"
        subprocess.run([venv_python, "-c", MAKE, str(book), str(args.rows)], check=True)
        print(f"{args.rows:,} rows x 12 columns, {book.stat().st_size / 1e6:.1f} MB .xlsx (shared strings)")
        ours = [_measure(sys.executable, OURS, book, tmp / f"ours{i}.csv") for i in range(args.repeat)]
        calamine = _measure(sys.executable, CALAMINE, book, tmp / "calamine.csv")
        read_only = _measure(sys.executable, OPENPYXL_RO, book, tmp / "openpyxl.csv")
        pandas = _measure(venv_python, PANDAS, book, tmp / "pandas.csv")
        ours_s = statistics.median(r["seconds"] for r in ours)
        ours_mb = max(r["rss_mb"] for r in ours)
        same = filecmp.cmp(tmp / "ours0.csv", tmp / "calamine.csv", shallow=False)
        print(f"ours (streaming, median of {args.repeat}): {ours_s:6.2f} s  peak {ours_mb:6.0f} MB")
        print(f"calamine whole sheet:              {calamine['seconds']:6.2f} s  peak {calamine['rss_mb']:6.0f} MB"
              f"  (same CSV as ours: {'yes' if same else 'NO'})")
        print(f"openpyxl read-only:                {read_only['seconds']:6.2f} s  peak {read_only['rss_mb']:6.0f} MB")
        print(f"pandas.read_excel(openpyxl)+to_csv: {pandas['seconds']:6.2f} s  peak {pandas['rss_mb']:6.0f} MB")
        print(f"memory: ours / openpyxl read-only = {ours_mb / read_only['rss_mb']:.2f} (goal <= 2)")
        long_strings = CORPUS / "sheetjs__large_strings.xlsx"
        long_mb = _measure(sys.executable, LONG, long_strings, tmp / "long.csv")["rss_mb"] \
            if long_strings.exists() else None
        right = run_corpus() if CORPUS.exists() else None
        print(f"excel_speedup={pandas['seconds'] / ours_s:.1f}")
        print(f"excel_peak_rss_mb={ours_mb:.0f}")
        print(f"excel_long_strings_rss_mb={long_mb:.0f}" if long_mb is not None
              else f"excel_long_strings_rss_mb=skipped ({CORPUS} is absent)")
        if right is None:
            print(f"excel_corpus_right=skipped ({CORPUS} is absent)")
        else:
            for o in right:
                if not o.ok:
                    print(f"  not right: {o.file}: {o.said}")
            print(f"excel_corpus_right={sum(o.ok for o in right)}/{len(right)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
