"""A streaming reader for .xlsx/.xlsm sheets: rows as Python values in bounded memory.

calamine (python-calamine) reads a sheet whole into memory — about 90 bytes a cell, 220 MB
for 200,000 rows of 12 columns — before the first row comes out. This reader decompresses
the sheet's XML a block at a time and parses the cells of each block with one regular
expression for the form Excel, LibreOffice and openpyxl write (``<c r="B7" s="2" t="s"><v>
…</v></c>``); a block holding anything else (namespace prefixes, rich inline text, cells
without a reference, self-closing values) is parsed by a general, slower path, so the fast
path is checked on every block, never assumed. Memory is the block, the shared strings and
one row.

Values are what calamine gives, so both readers print the same CSV (tests/formats compare
them): numbers as floats, shared and inline strings as text (entities decoded), booleans,
error values (``#DIV/0!``) as empty cells, cached formula results, and numbers in a date or
time format as ``date`` (a whole day), ``datetime``, ``time`` (under a day) or ``timedelta``
(elapsed formats such as ``[h]:mm``), in the 1900 or 1904 date system. Rows start at sheet
row 1; columns start at the sheet's first used column (its ``<dimension>``), as calamine's.
"""
from __future__ import annotations

import datetime as dt
import html
import posixpath
import re
import zipfile
from typing import Iterator
from xml.etree import ElementTree as ET

from formats.cells import format_cell
from targets.errors import BadInputError

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
BLOCK = 1 << 20
CACHE = 1 << 14  # converted values remembered (numbers, dates: they repeat)

# the form nearly every writer uses: reference first, then style, then type; a formula, then
# the value or an inline string (possessive: nothing to backtrack into, a quarter faster)
_FAST = re.compile(rb'<c r="([A-Z]{1,3}+)(\d++)"(?: s="(\d++)")?+(?: t="(\w++)")?+(?:/>|>(?:<f\b[^>/]*+(?:/>|>[^<]*+</f>))?+'
                   rb'(?:<v>([^<]*+)</v>|<is><t(?: xml:space="preserve")?+>([^<]*+)</t></is>)?+</c>)')
_ROW = re.compile(rb'<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)', re.S)
_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)', re.S)
_ATTR = re.compile(rb'\b([\w:]+)="([^"]*)"')
_V = re.compile(rb'<(?:\w+:)?v(?:\s[^>/]*)?>(.*?)</(?:\w+:)?v>', re.S)
_T = re.compile(rb'<(?:\w+:)?t(?:\s[^>/]*)?>(.*?)</(?:\w+:)?t>', re.S)
_SI = re.compile(rb'<(?:\w+:)?si>(.*?)</(?:\w+:)?si>|<(?:\w+:)?si/>', re.S)
_PLAIN_SI = re.compile(rb'<(?:\w+:)?t(?: xml:space="preserve")?>([^<]*)</(?:\w+:)?t>')
_RPH = re.compile(rb'<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>', re.S)
_REF = re.compile(r"([A-Z]{1,3})(\d*)")
_DATA_START = re.compile(rb"<(?:\w+:)?sheetData\b")
_DATA_END = re.compile(rb"</(?:\w+:)?sheetData>")
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})\d*')

_COLUMNS: dict[bytes, int] = {}
DATE_FORMATS = set(range(14, 18)) | {22} | set(range(27, 37)) | set(range(50, 59))
TIME_FORMATS = set(range(18, 22)) | {45, 47}
DURATION_FORMATS = {46}


def column_index(letters: str | bytes) -> int:
    """``A`` → 0, ``AB`` → 27."""
    if isinstance(letters, bytes):
        letters = letters.decode()
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def format_kind(code: str) -> str | None:
    """'date' for a date or time format code, 'duration' for an elapsed one, else None."""
    text = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code)
    if re.search(r"\[(h+|m+|s+)\]", text, re.I):
        return "duration"
    text = re.sub(r"\[[^\]]*\]", "", text)
    return "date" if re.search(r"[dmyhs]", text, re.I) and text.lower() != "general" else None


class XlsxBook:
    """The parts of a workbook the sheets need: sheet paths, shared strings, date styles."""

    def __init__(self, path):
        self.path = str(path)
        try:
            self.zip = zipfile.ZipFile(path)
            self._read_workbook()
            self._read_styles()
            self._read_shared_strings()
        except (zipfile.BadZipFile, ET.ParseError, KeyError) as e:
            raise BadInputError(self.path, f"is not a readable .xlsx workbook ({type(e).__name__}: {e})") from e

    def _xml(self, name: str):
        with self.zip.open(name) as fh:
            return ET.parse(fh).getroot()

    def _read_workbook(self) -> None:
        root = self._xml("xl/workbook.xml")
        pr = root.find(f"{NS}workbookPr")
        self.epoch = dt.datetime(1904, 1, 1) if pr is not None and pr.get("date1904") in ("1", "true") \
            else dt.datetime(1899, 12, 30)
        self.date1904 = self.epoch.year == 1904
        rels = {r.get("Id"): r for r in self._xml("xl/_rels/workbook.xml.rels").iter(f"{PKG_REL}Relationship")}
        self.sheets: dict[str, str] = {}
        for sheet in root.iter(f"{NS}sheet"):
            rel = rels.get(sheet.get(f"{REL_NS}id"))
            if rel is not None:
                self.sheets[sheet.get("name")] = self._part(rel.get("Target"))
        self._others = {r.get("Type", "").rsplit("/", 1)[-1]: self._part(r.get("Target")) for r in rels.values()}

    @staticmethod
    def _part(target: str) -> str:
        return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))

    def _read_styles(self) -> None:
        self.kinds: list[str | None] = []
        name = self._others.get("styles", "xl/styles.xml")
        if name not in self.zip.namelist():
            return
        root = self._xml(name)
        custom = {int(f.get("numFmtId")): format_kind(f.get("formatCode", ""))
                  for f in root.iter(f"{NS}numFmt")}
        xfs = root.find(f"{NS}cellXfs")
        for xf in xfs if xfs is not None else []:
            fmt = int(xf.get("numFmtId", "0"))
            kind = custom.get(fmt) if fmt in custom else \
                "date" if fmt in DATE_FORMATS | TIME_FORMATS else "duration" if fmt in DURATION_FORMATS else None
            self.kinds.append(kind)

    def _read_shared_strings(self) -> None:
        """The shared strings, streamed like the sheets: a plain ``<si><t>…</t></si>`` by the
        fast pattern, rich text (runs, phonetic guides left out) by the general one."""
        self.strings: list[str] = []
        name = self._others.get("sharedStrings", "xl/sharedStrings.xml")
        if name not in self.zip.namelist():
            return
        strings, plain, buf = self.strings, _PLAIN_SI, b""
        with self.zip.open(name) as fh:
            while True:
                block = fh.read(BLOCK)
                buf += block
                cut = last_close(buf, b"si") if block else len(buf)
                if cut < 0:
                    continue
                chunk, buf = buf[:cut], buf[cut:]
                for body in _SI.findall(chunk):
                    found = plain.fullmatch(body)
                    if found is not None:
                        raw = found.group(1)
                    else:
                        raw = b"".join(_T.findall(_RPH.sub(b"", body)))
                    text = raw.decode("utf-8")
                    strings.append(html.unescape(text) if "&" in text else text)
                if not block:
                    break

    def kind(self, style: bytes | None) -> str | None:
        """'date', 'duration' or None for a cell's style index."""
        if not style:
            return None
        index = int(style)
        return self.kinds[index] if index < len(self.kinds) else None

    def value(self, style: bytes | None, kind: bytes | None, raw: bytes | None):
        """A cell's Python value from its style index, type and raw text (None when empty)."""
        if raw is None:
            return None
        if kind == b"s":
            return self.strings[int(raw)]
        if kind == b"e":
            return None  # as calamine gives error values (#DIV/0!, #N/A): empty
        if kind in (b"str", b"inlineStr"):
            text = raw.decode("utf-8")
            return html.unescape(text) if "&" in text else text
        if kind == b"b":
            return raw.strip() in (b"1", b"true")
        if not raw:
            return None
        if kind == b"d":
            return _iso(raw.decode())
        number = float(raw)
        fmt = self.kind(style)
        if fmt is None:
            return number
        if fmt == "duration":
            return dt.timedelta(days=number)
        return self.serial_date(number)

    def text(self, style: bytes | None, kind: bytes | None, raw: bytes | None) -> str:
        """A cell as CSV text, exactly ``formats.spreadsheet.format_cell(self.value(...))``, with
        the common cases (text, whole numbers without a date style) taken without the detour."""
        if raw is None:
            return ""
        if kind is None or kind == b"n":
            if raw.isdigit() and len(raw) < 16 and (raw[:1] != b"0" or raw == b"0") and self.kind(style) is None:
                return raw.decode()
        elif kind == b"s":
            return self.strings[int(raw)]
        elif kind in (b"str", b"inlineStr"):
            text = raw.decode("utf-8")
            return html.unescape(text) if "&" in text else text
        return format_cell(self.value(style, kind, raw))

    def serial_date(self, serial: float):
        if 0 <= serial < 1:
            return (dt.datetime(2000, 1, 1) + dt.timedelta(milliseconds=round(serial * 86_400_000))).time()
        if not self.date1904 and serial < 60:
            serial += 1  # 1900 is not a leap year; Excel's serial 60 is a 29 February that never was
        moment = self.epoch + dt.timedelta(milliseconds=round(serial * 86_400_000))
        return moment.date() if moment.time() == dt.time(0) else moment

    def rows(self, sheet: str | None = None) -> Iterator[list[str]]:
        """Rows of a sheet (by name, or the first) from sheet row 1, each a list of the cells'
        CSV text as ``format_cell`` writes their values (empty cells "")."""
        names = list(self.sheets)
        if sheet is not None and sheet not in self.sheets:
            raise BadInputError(self.path, f"has no sheet {sheet!r} (sheets: {', '.join(names)})")
        part = self.sheets[sheet or names[0]]
        with self.zip.open(part) as fh:
            yield from _SheetReader(self, fh).rows()


def last_close(buf: bytes, tag: bytes) -> int:
    """Where the last complete ``</tag>`` (or ``</x:tag>``) in ``buf`` ends; -1 if none."""
    end, needle = len(buf), tag + b">"
    while True:
        at = buf.rfind(needle, 0, end)
        if at < 0:
            return -1
        lt = buf.rfind(b"<", 0, at)
        if lt >= 0 and buf[lt + 1:lt + 2] == b"/" and (lt + 2 == at or (buf[at - 1:at] == b":" and
                                                                        buf[lt + 2:at - 1].isalnum())):
            return at + len(needle)
        end = at


def _iso(text: str):
    """An ISO 8601 cell (``t="d"``): a date without a time part, else a datetime, as calamine."""
    text = text.rstrip("Z")
    return dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)


class _SheetReader:
    def __init__(self, book: XlsxBook, fh):
        self.book, self.fh = book, fh
        self.first_col = 0
        self.row_no = 0  # the last row yielded (1-based)
        self.current: int | None = None  # the row being built
        self.current_raw: bytes | None = None  # its number as the XML says it
        self.cells: list = []
        self.cache: dict = {}

    def rows(self) -> Iterator[list]:
        buf, started = b"", False
        while True:
            block = self.fh.read(BLOCK)
            buf += block
            if not started:
                found = _DATA_START.search(buf)
                if found is None and block:
                    continue
                at = found.start() if found else len(buf)
                head = _DIMENSION.search(buf, 0, at)
                self.first_col = column_index(head.group(1)) if head else 0
                buf, started = buf[at:], True
            found = _DATA_END.search(buf) if b"sheetData>" in buf else None
            if found is not None:
                chunk, buf = buf[:found.start()], b""
            elif block:
                cut = last_close(buf, b"row")
                if cut < 0:
                    continue
                chunk, buf = buf[:cut], buf[cut:]
            else:
                chunk, buf = buf, b""
            yield from self._chunk(chunk)
            if found is not None or not block:
                break
        if self.current is not None:
            yield from self._flush(None)

    def _flush(self, next_row: int | None) -> Iterator[list]:
        """Yield the row being built, after empty rows for any row numbers skipped before it."""
        while self.row_no + 1 < self.current:
            self.row_no += 1
            yield []
        self.row_no = self.current
        yield self.cells
        self.current, self.cells = next_row, []

    def _put(self, row: int, col: int, value) -> Iterator[list]:
        if row != self.current:
            if self.current is not None:
                yield from self._flush(row)
            self.current = row
        self._set(col - self.first_col, value)

    def _set(self, col: int, value) -> None:
        cells = self.cells
        if col == len(cells):
            cells.append(value)
        elif col > len(cells):
            cells.extend([""] * (col - len(cells)))
            cells.append(value)
        elif col >= 0:
            cells[col] = value

    def _chunk(self, chunk: bytes) -> Iterator[list]:
        found = _FAST.findall(chunk)
        if len(found) != chunk.count(b"<c") or b":c" in chunk:
            yield from self._general(chunk)
            return
        convert, first, columns, strings = self.book.text, self.first_col, _COLUMNS, self.book.strings
        cache, current = self.cache, self.current_raw
        row_cells = self.cells
        for letters, row, style, kind, raw, inline in found:
            if row != current:
                r = int(row)
                if r != self.current:
                    if self.current is None:
                        self.current = r
                    elif self.current == self.row_no + 1:  # the usual case: no empty rows between
                        yield row_cells
                        self.row_no, self.current, self.cells = self.current, r, []
                    else:
                        yield from self._flush(r)
                current, row_cells = row, self.cells
            col = columns.get(letters)
            if col is None:
                col = columns[letters] = column_index(letters)
            if kind == b"s":
                v = strings[int(raw)] if raw else ""
            elif not raw:
                v = convert(style, kind, inline) if kind == b"inlineStr" else ""
            elif not style and (not kind or kind == b"n") and raw.isdigit() and len(raw) < 16 and \
                    (raw[0] != 48 or len(raw) == 1):
                v = raw.decode()  # a whole number, unformatted: its text as it stands
            else:  # numbers, dates, booleans repeat: their text is remembered
                key = (style, kind, raw)
                v = cache.get(key)
                if v is None:
                    v = convert(style, kind, raw)
                    if len(cache) >= CACHE:
                        cache.clear()
                    cache[key] = v
            col -= first
            if col == len(row_cells):
                row_cells.append(v)
            else:
                self._set(col, v)
        self.current_raw = current

    def _general(self, chunk: bytes) -> Iterator[list]:
        """Any well-formed cells: prefixes, attributes in any order, rich text, no references."""
        for row_match in _ROW.finditer(chunk):
            attrs = dict(_ATTR.findall(row_match.group(1)))
            row = int(attrs[b"r"]) if b"r" in attrs else (self.current or self.row_no) + 1
            col = -1
            for cell in _CELL.finditer(row_match.group(2) or b""):
                a = dict(_ATTR.findall(cell.group(1)))
                ref = _REF.fullmatch(a.get(b"r", b"").decode())
                col = column_index(ref.group(1)) if ref else col + 1
                inner, kind = cell.group(2) or b"", a.get(b"t")
                if kind == b"inlineStr":
                    raw = b"".join(_T.findall(_RPH.sub(b"", inner)))
                else:
                    found = _V.search(inner)
                    raw = found.group(1) if found else None
                yield from self._put(row, col, self.book.text(a.get(b"s"), kind, raw))
            if row != self.current:  # a row with no cells
                yield from self._put(row, self.first_col - 1, "")
