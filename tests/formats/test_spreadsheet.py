"""Spreadsheet → CSV: explicit formatting, rows streamed with trailing empty rows and columns
dropped; a corrupt, encrypted or zip-bomb workbook refused before any reader opens it."""
import csv
import datetime as dt
import zipfile

import openpyxl
import pytest

from formats.spreadsheet import OLE2, check_workbook, to_csv, workbook_rows, write_workbook
from targets.errors import BadInputError


def _csv(path):
    return list(csv.reader(path.read_text(encoding="utf-8").splitlines()))


def test_values_are_formatted_explicitly_and_empty_edges_dropped(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Id", "Code", "When", "Amount", "Flag", None])
    ws.append(["00123", "007", dt.datetime(2026, 11, 24, 0, 0), 5.0, True, None])
    ws.append([None, None, None, None, None, None])  # an empty row between values: kept
    ws.append(["124", "x", dt.datetime(2026, 11, 24, 13, 5, 7), 2.5, False, None])
    ws.append([None, None, None, None, None, None])
    ws.append([None, None, None, None, None, None])  # trailing: dropped
    book.save(tmp_path / "a.xlsx")
    assert to_csv(tmp_path / "a.xlsx", tmp_path / "a.csv") == 2
    assert _csv(tmp_path / "a.csv") == [["Id", "Code", "When", "Amount", "Flag"],
                                        ["00123", "007", "2026-11-24", "5", "true"],  # a date at midnight is a date
                                        ["", "", "", "", ""],
                                        ["124", "x", "2026-11-24 13:05:07", "2.5", "false"]]


def test_a_value_past_the_header_names_its_row(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["A", "B"])
    book.active.append(["1", "2", "stray"])
    book.save(tmp_path / "w.xlsx")
    with pytest.raises(BadInputError, match=r"w\.xlsx, sheet 'Sheet', row 2: has 3 cells but the header has 2"):
        to_csv(tmp_path / "w.xlsx", tmp_path / "w.csv")


def test_corrupt_encrypted_and_bomb_workbooks_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip" * 10)
    with pytest.raises(BadInputError, match=r"corrupt\.xlsx: is not a readable \.xlsx workbook"):
        to_csv(corrupt, tmp_path / "x.csv")
    locked = tmp_path / "locked.xlsx"  # an encrypted xlsx is an OLE2 container, not a zip
    locked.write_bytes(OLE2 + b"\x00" * 4096)
    with pytest.raises(BadInputError, match=r"locked\.xlsx: is encrypted \(password-protected\)"):
        to_csv(locked, tmp_path / "x.csv")
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * 50_000_000)
    with pytest.raises(BadInputError, match=r"bomb\.xlsx: compresses \d+:1, more than 200:1 \(a zip bomb\?\)"):
        to_csv(bomb, tmp_path / "x.csv")
    with pytest.raises(BadInputError, match=r"would expand to 50,000,\d+ bytes, more than the 1,000,000 allowed"):
        check_workbook(bomb, max_expanded=1_000_000)
    fake = tmp_path / "old.xls"
    fake.write_text("Id,Name\n1,a\n")
    with pytest.raises(BadInputError, match=r"old\.xls: is not an Excel \.xls workbook \(neither a compound file"):
        to_csv(fake, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_an_excel_2_workbook_is_read_in_its_code_page(tmp_path):
    """Issue 27: BIFF2-4 files (Excel 2.x to 4.0: a bare record stream, no compound file) were
    refused. Made record by record: a CODEPAGE record (Windows-1251), a label, a number."""
    import struct

    def record(rid, data):
        return struct.pack("<HH", rid, len(data)) + data
    text = "Привет".encode("cp1251")
    book = record(0x0009, struct.pack("<HH", 2, 0x10)) + record(0x0042, struct.pack("<H", 1251))
    book += record(0x0004, struct.pack("<HH", 0, 1) + b"\0\0\0" + bytes([len(text)]) + text)
    book += record(0x0003, struct.pack("<HH", 1, 1) + b"\0\0\0" + struct.pack("<d", 42.5)) + record(0x000A, b"")
    (tmp_path / "old.xls").write_bytes(book)
    assert to_csv(tmp_path / "old.xls", tmp_path / "old.csv") == 1
    assert _csv(tmp_path / "old.csv") == [["", "Привет"], ["", "42.5"]]


def test_a_real_excel_97_2003_workbook_converts(tmp_path):
    """tests/fixtures/feeds/events_biff8.xls: BIFF8 written by xlwt (make_xls.py), read by xlrd."""
    from pathlib import Path

    from formats.spreadsheet import sheet_names
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "feeds" / "events_biff8.xls"
    assert sheet_names(fixture) == ["Events", "Notes"]
    assert to_csv(fixture, tmp_path / "e.csv", sheet="Events", header_row=2) == 3
    assert _csv(tmp_path / "e.csv") == [
        ["Event ID", "Company", "Code", "Starts", "Updated", "Fee", "Private", "Seats x2"],
        ["101", "Acme & Sons", "007", "2026-12-01", "2026-11-20 08:30:00", "1250.5", "false", ""],
        ["102", "Globex", "0420", "2027-01-15", "2026-11-21 17:05:00", "0.25", "true", ""],
        ["", "", "", "", "", "", "", ""],
        ["104", "Initech", "", "", "", "", "", ""]]


def test_workbooks_for_people_store_formula_like_text_as_text(tmp_path):
    """A name from a source system such as ``=HYPERLINK("http://x","y")`` must not become a
    live formula in a DPS workbook (openpyxl writes any ``=...`` string as one)."""
    hostile = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-3+4", "@SUM(A1:A2)", "\t=1", "O'Neil"]
    rows = [{"person_id": 7, "last_name": v, "when": dt.date(2026, 11, 24), "delta": -3} for v in hostile]
    path = tmp_path / "w.xlsx"
    write_workbook(path, "report", rows, ["person_id", "last_name", "when", "delta"])
    sheet = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet  # no formula anywhere
    assert [r[1] for r in workbook_rows(path)] == hostile  # the text itself, unchanged
    assert [r[3] for r in workbook_rows(path)] == [-3] * 6  # numbers stay numbers
    ws = openpyxl.load_workbook(path).active
    assert [ws.cell(r, 2).quotePrefix for r in range(2, 8)] == [True] * 5 + [False]


def test_formula_like_text_and_its_csv_form():
    from formats.cells import formula_like, neutralise
    assert [formula_like(v) for v in ("=1", "+A1", "-A1", "@x", "\t=1", "\r=1", "-3", "+1.5", "O'Neil", "", 5)] == [
        True, True, True, True, True, True, False, False, False, False, False]
    assert neutralise("=HYPERLINK(1)") == "'=HYPERLINK(1)" and neutralise("-3") == "-3" and neutralise("x") == "x"
