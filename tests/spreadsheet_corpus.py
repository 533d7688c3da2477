"""The real-spreadsheet corpus (``../shared/spreadsheets/files``, never copied into the
repository: its README) through ConvertFeedFile's path: ``sheet_names``, then ``to_csv`` for
every sheet, header row 1; each sheet, as read and as converted, compared with its reference
CSV, cell by cell, in the reference's representation (its README), or the file refused with
a BadInputError where ``INDEX.json`` says ``refuse``.

    python -m tests.spreadsheet_corpus [FILES_DIR]     # one line per file that is not right

tests/formats/test_corpus.py runs every file as a test; ``./run.sh bench excel`` prints the
count. ``ETL_SPREADSHEET_CORPUS`` names another place for the folder.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(os.environ.get("ETL_SPREADSHEET_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "spreadsheets" / "files")


@dataclass
class Outcome:
    file: str
    ok: bool
    said: str  # what went wrong, or how it was right


_LEADING_ZERO = re.compile(r"[+-]?0[0-9]")


def _same(ours: str, theirs: str) -> bool:
    """Equal text, or the same number (``1`` and ``1.0``) or boolean; text with a leading zero
    (``007``) is text, never the number 7."""
    if ours == theirs:
        return True
    if _LEADING_ZERO.match(ours) or _LEADING_ZERO.match(theirs):
        return False
    try:
        a, b = float(ours), float(theirs)
    except ValueError:
        return ours.lower() in ("true", "false") and ours.lower() == theirs.lower()
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _trimmed(rows: list[list[str]]) -> list[list[str]]:
    rows = [list(r) for r in rows]
    for r in rows:
        while r and r[-1] == "":
            r.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def compare(ours: list[list[str]], reference: list[list[str]], lenient: set[int]) -> str | None:
    """The first differing cell ("row R, column C: ours 'x', reference 'y'"), else None; rows
    in ``lenient`` (0-based) may read either way."""
    ours, reference = _trimmed(ours), _trimmed(reference)
    for r in range(max(len(ours), len(reference))):
        a = ours[r] if r < len(ours) else []
        b = reference[r] if r < len(reference) else []
        for c in range(max(len(a), len(b))):
            x, y = (a[c] if c < len(a) else ""), (b[c] if c < len(b) else "")
            if r not in lenient and not _same(x, y):
                return f"row {r + 1}, column {c + 1}: ours {x[:40]!r}, reference {y[:40]!r}"
    return None


def _lenient(entry: dict, sheet: dict) -> set[int]:
    """The rows (0-based) INDEX.json says any reading passes in: ``{"Sheet": {"row 34": why}}``."""
    rows = (entry.get("lenient") or {}).get(sheet.get("name"), {})
    return {int(key.split()[-1]) - 1 for key in rows}


def _reference(files: Path, name: str, sheet: dict) -> list[list[str]]:
    reference_file = files / "_reference" / name / sheet["csv"]
    if not reference_file.exists() or reference_file.suffix == ".gz":  # the large ones are kept gzipped
        import gzip
        gz = reference_file if reference_file.suffix == ".gz" else Path(f"{reference_file}.gz")
        with gzip.open(gz, "rt", newline="", encoding="utf-8") as fh:
            return list(csv.reader(fh))
    with open(reference_file, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def check_file(files: Path, name: str, entry: dict) -> Outcome:
    """Every sheet as the reader gives it (``text_rows``) against its reference, cell for cell;
    then ``to_csv``'s output against it too, where the feed's own rules (an empty header row, a
    row longer than its header) do not refuse the sheet, naming it."""
    from formats.spreadsheet import sheet_names, text_rows, to_csv
    from targets.errors import BadInputError
    path = files / name
    refused: list[str] = []
    try:
        names = sheet_names(path)
        got = {sheet: list(text_rows(path, sheet)) for sheet in names}
        with tempfile.TemporaryDirectory() as tmp:
            converted = {}
            for i, sheet in enumerate(names):
                dest = Path(tmp) / f"{i}.csv"
                try:
                    to_csv(path, dest, sheet=sheet, header_row=1)
                except BadInputError as e:
                    if repr(sheet) not in str(e):
                        return Outcome(name, False, f"refused without naming sheet {sheet!r}: {str(e)[:160]}")
                    refused.append(sheet)
                    continue
                with open(dest, newline="", encoding="utf-8") as fh:
                    converted[sheet] = list(csv.reader(fh))
    except BadInputError as e:
        if entry.get("expect") in ("refuse", "either"):  # either: repaired or refused, both right
            return Outcome(name, True, f"refused: {str(e)[:100]}")
        return Outcome(name, False, f"refused, but it should convert: {str(e)[:160]}")
    except BaseException as e:  # noqa: BLE001  (a native panic too: what the corpus is for)
        if isinstance(e, KeyboardInterrupt):
            raise
        return Outcome(name, False, f"crashed: {type(e).__name__}: {str(e)[:120]}")
    if entry.get("expect") == "refuse":
        return Outcome(name, False, "converted, but no reader should accept it")
    for sheet in entry.get("sheets") or []:
        if sheet.get("chart"):
            continue
        reference = _reference(files, name, sheet)
        if sheet["name"] not in got:
            if not _trimmed(reference):
                continue
            return Outcome(name, False, f"sheet {sheet['name']!r} missing (ours: {list(got)})")
        for what, rows in (("read", got[sheet["name"]]), ("converted", converted.get(sheet["name"]))):
            wrong = compare(rows, reference, _lenient(entry, sheet)) if rows is not None else None
            if wrong:
                return Outcome(name, False, f"sheet {sheet['name']!r} {what}: {wrong}")
    said = f"{len(got)} sheets right" + (f" ({len(refused)} refused by the feed's rules, naming them)" if refused
                                           else "")
    return Outcome(name, True, said)


def run(files: Path = CORPUS) -> list[Outcome]:
    index = json.loads((files / "_reference" / "INDEX.json").read_text())
    return [check_file(files, name, entry) for name, entry in sorted(index.items())]


if __name__ == "__main__":
    outcomes = run(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS)
    for o in outcomes:
        if not o.ok:
            print(f"{o.file}: {o.said}")
    print(f"corpus_right={sum(o.ok for o in outcomes)}/{len(outcomes)}")
