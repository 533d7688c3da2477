"""Spreadsheets: xlsx, xls and ods read into CSV with explicit value formatting, and
workbooks written for people (bold frozen header, typed cells, readable widths).

.xlsx and .xlsm sheets stream through formats/xlsx_stream.py (bounded memory: a block of
XML, the shared strings and one row) and .ods sheets through formats/ods.py (a block of
content.xml, the styles, one row); xlrd reads .xls (formats/xls.py: at most 65,536 rows),
calamine .xlsb (whole sheets in memory). Every value is formatted explicitly (formats/cells.py): integral floats without
``.0``, dates ``YYYY-MM-DD``, times ``YYYY-MM-DD HH:MM:SS``, booleans ``true``/``false``,
empty cells empty. ``./run.sh bench excel`` measures the converter against pandas and
openpyxl. openpyxl writes the workbooks.
"""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import os
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

from python_calamine import CalamineWorkbook

from formats.cells import format_cell, formula_like
from formats.ods import OdsBook
from formats.xls import XlsBook
from formats.xlsx_stream import XlsxBook
from targets.errors import BadInputError


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003, and the wrapper of an encrypted xlsx
BIFF_STREAMS = (b"\x09\x00", b"\x09\x02", b"\x09\x04")  # the BOF of a bare BIFF2, 3, 4 file (Excel 2.x-4.0)
ZIPPED = (".xlsx", ".xlsm", ".xlsb", ".ods")
MAX_EXPANDED = 1 << 30  # bytes a workbook may expand to (its zip members)
MAX_RATIO = 200  # how much a workbook's members may compress; more is a zip bomb


def check_workbook(path: str | os.PathLike, max_expanded: int = MAX_EXPANDED, max_ratio: float = MAX_RATIO) -> None:
    """Refuse, before any reader opens it, a workbook that is not what its name says, is
    encrypted (password-protected), or would expand past the limits (a zip bomb)."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    suffix = path.suffix.lower()
    if suffix in ZIPPED:
        if magic == OLE2:
            raise BadInputError(str(path), "is encrypted (password-protected): save it without a password")
        if not zipfile.is_zipfile(path):
            raise BadInputError(str(path), f"is not a readable {suffix} workbook (not a zip container)")
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
        expanded, packed = sum(i.file_size for i in infos), sum(i.compress_size for i in infos)
        if expanded > max_expanded:
            raise BadInputError(str(path), f"would expand to {expanded:,} bytes, more than the {max_expanded:,} "
                                           "allowed")
        if packed and expanded / packed > max_ratio:
            raise BadInputError(str(path), f"compresses {expanded / packed:.0f}:1, more than {max_ratio:g}:1 (a zip "
                                           "bomb?)")
    elif suffix == ".xls" and magic != OLE2 and magic[:2] not in BIFF_STREAMS:
        raise BadInputError(str(path), "is not an Excel .xls workbook (neither a compound file nor a BIFF2-4 "
                                       "worksheet)")


def open_workbook(path: str | os.PathLike) -> CalamineWorkbook:
    check_workbook(path)
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as e:  # calamine raises its own error types for unreadable files
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        rule = "is encrypted (password-protected): save it without a password" if "password" in text.lower() \
            else f"is not a readable spreadsheet ({type(e).__name__}: {text})"
        raise BadInputError(str(path), rule) from e


def _sheet(book: CalamineWorkbook, path, sheet: str | None):
    names = book.sheet_names
    if sheet is not None and sheet not in names:
        raise BadInputError(str(path), f"has no sheet {sheet!r} (sheets: {', '.join(names)})")
    return book.get_sheet_by_name(sheet or names[0])


STREAMED = (".xlsx", ".xlsm")  # read by formats/xlsx_stream.py in bounded memory
_last: tuple | None = None  # ((path, size, mtime), the book): the last workbook opened, kept for its next sheet


def _own(path) -> XlsxBook | XlsBook | OdsBook | None:
    """Our reader for the file: the streaming ones for .xlsx/.xlsm and .ods, xlrd's for .xls
    (None for .xlsb: calamine reads those)."""
    global _last
    suffix = Path(path).suffix.lower()
    if suffix not in STREAMED and suffix not in (".xls", ".ods"):
        return None
    check_workbook(path)
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if _last is None or _last[0] != key:  # a workbook's sheets are read one after another: opened once
        _last = (key, XlsxBook(path) if suffix in STREAMED else XlsBook(path) if suffix == ".xls" else OdsBook(path))
    return _last[1]


class EmptySheetError(BadInputError):
    """A sheet without a cell: ``sheet = *`` passes over it, a sheet named is refused."""


def sheet_kinds(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(the worksheets, the chart sheets), each in the workbook's order."""
    book = _own(path)
    if isinstance(book, (XlsBook, OdsBook)):
        return list(book.names), []  # xlrd lists worksheets only; an .ods chart is not a sheet
    if book is not None:
        return list(book.sheets), list(book.charts)
    from python_calamine import SheetTypeEnum
    meta = open_workbook(path).sheets_metadata
    return [m.name for m in meta if m.typ == SheetTypeEnum.WorkSheet], \
        [m.name for m in meta if m.typ == SheetTypeEnum.ChartSheet]


def sheet_names(path: str | os.PathLike) -> list[str]:
    """The workbook's worksheets in order (checked and opened as ``to_csv`` does); a workbook
    without one is refused."""
    names, charts = sheet_kinds(path)
    if not names:
        raise BadInputError(str(path), f"has no worksheet{f' (only chart sheets: {len(charts)})' if charts else ''}")
    return names


def _calamine_cell(value) -> str:
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        value = value.date()  # a whole day is a date, as the other readers give it
    return format_cell(value)


def text_rows(path: str | os.PathLike, sheet: str | None = None) -> Iterator[list[str]]:
    """A sheet's rows as CSV text (``format_cell``), from A1: streamed from .xlsx, .xlsm and
    .ods, read by xlrd from .xls, by calamine from .xlsb."""
    book = _own(path)
    if book is not None:
        return book.rows(sheet)
    found = _sheet(open_workbook(path), path, sheet)
    pad = [""] * (found.start[1] if found.start else 0)  # iter_rows starts at the first used column
    return (pad + [_calamine_cell(c) for c in row] for row in found.iter_rows())


def header_cells(path: str | os.PathLike, sheet: str | None = None, header_row: int = 1) -> list[str]:
    """A sheet's header row (1-based) as CSV text, read as far as that row only ([] for none)."""
    if header_row < 1:
        return []
    return next(itertools.islice(text_rows(path, sheet), header_row - 1, None), [])


def to_csv(path: str | os.PathLike, dest: str | os.PathLike, sheet: str | None = None,
           header_row: int = 1) -> int:
    """Write the sheet as UTF-8 CSV at ``dest`` (a temporary path: the caller makes it final);
    returns the number of data rows. Rows stream from the reader one by one; empty rows are
    held back, so trailing ones are dropped; columns past the header's last name are dropped
    when empty, and a row with a value there is an error naming the row."""
    rows = text_rows(path, sheet)
    name = sheet if sheet is not None else next(iter(sheet_names(path)), None)  # what errors name
    header: list[str] | None = None
    count, held = 0, 0
    with open(dest, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for n, cells in enumerate(rows, start=1):
            if n < header_row:
                continue
            if header is None:
                header = [c.strip() for c in cells]
                while header and header[-1] == "":
                    header.pop()
                if not header:
                    raise BadInputError(str(path), "the header row is empty", row=n, sheet=name)
                writer.writerow(header)
                continue
            if not any(cells):
                held += 1  # written only if a row with values follows
                continue
            width = len(header)
            for _ in range(held):
                writer.writerow([""] * width)
            held = 0
            if len(cells) == width:
                writer.writerow(cells)
                count += 1
                continue
            if any(cells[width:]):
                raise BadInputError(str(path), f"has {len(cells)} cells but the header has {width}", row=n,
                                    sheet=name)
            writer.writerow(cells[:width] + [""] * (width - len(cells)))
            count += 1
    if not header:
        raise EmptySheetError(str(path), "the sheet is empty: no header row", sheet=name)
    return count


def is_spreadsheet(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in (".xlsx", ".xls", ".xlsm", ".xlsb", ".ods")


def write_workbook(path, title: str, rows: Iterable[dict], columns: list[str]) -> None:
    """One sheet: bold frozen header, typed cells (dates as dates), readable column widths
    (from the first 2,000 rows). Streamed: rows may be any iterable and are written as they
    come (openpyxl's write-only mode: memory is the 2,000 rows, not the sheet). Text that looks
    like a formula (``=HYPERLINK(...)`` in a name) is stored as text with Excel's quote
    prefix, never as a formula: openpyxl would write ``=...`` as one."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    rows = iter(rows)
    first = list(itertools.islice(rows, 2000))
    header = [c.replace("_", " ").title() for c in columns]
    for i, c in enumerate(columns, start=1):
        width = max([len(header[i - 1])] + [len(str(r.get(c) or "")) for r in first])
        ws.column_dimensions[get_column_letter(i)].width = min(60, width + 2)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value, font=None):
        if font is None and not isinstance(value, dt.date) and not formula_like(value):
            return value  # a plain value: openpyxl writes it as it is, fastest
        c = WriteOnlyCell(ws, value=value)
        if font is not None:
            c.font = font
        if isinstance(value, dt.date):
            c.number_format = "yyyy-mm-dd"
        elif formula_like(value):
            c.data_type, c.quotePrefix = "s", True
        return c

    ws.append([cell(h, bold) for h in header])
    for r in itertools.chain(first, rows):
        ws.append([cell(r.get(c)) for c in columns])
    wb.save(path)


def workbook_rows(path: str | os.PathLike, min_row: int = 2) -> list[tuple]:
    """The first sheet's rows as openpyxl gives them (typed values), from ``min_row`` on."""
    from openpyxl import load_workbook
    book = load_workbook(path, read_only=True)
    try:
        return list(book.active.iter_rows(min_row=min_row, values_only=True))
    finally:
        book.close()
