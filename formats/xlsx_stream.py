"""A streaming reader for .xlsx/.xlsm sheets: rows as CSV text in bounded memory.

calamine (python-calamine) reads a sheet whole into memory — about 90 bytes a cell, 220 MB
for 200,000 rows of 12 columns — before the first row comes out. This reader decompresses a
sheet's XML a block at a time, so memory is a block, the shared strings and one row.

The XML is read as XML (formats/xlsx_xml.py: expat). One form is taken faster: the one Excel,
LibreOffice, openpyxl and xlsxwriter write (``<c r="B7" s="2" t="s"><v>…</v></c>`` in UTF-8,
SpreadsheetML as the default namespace). A block of whole rows goes that way only when one
regular expression has matched every ``<c`` in it and the block holds no comment, CDATA,
processing instruction or entity other than XML's own: there the expression reads exactly
what an XML parser reads. From the first block that is anything else, the rest of the sheet
goes through expat, fed the sheet's head and the rest of the stream (measured on the
200,000-row bench sheet: expat alone spends 2.3 s before any value is converted, and our expat
reader takes 8.7 s; the fast read takes 2.3 s in all; docs/platform.md). Between cells the
fast form reads past tags it does not need; a part that ends before ``</sheetData>`` goes to
expat, which refuses it.

Values: numbers as floats, shared and inline strings as text (``_xHHHH_`` decoded), booleans,
error values as Excel shows them (``#DIV/0!``), cached formula results, and numbers in a date
or time format as ``date`` (a whole day), ``datetime``, ``time`` (under a day) or
``timedelta`` (elapsed formats such as ``[h]:mm``), in the 1900 or 1904 date system. Rows
start at sheet row 1 and columns at column A, as a person sees the sheet.
"""
from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
import zlib
from typing import Iterator
from xml.etree import ElementTree as ET

from formats.cells import builtin_kind, format_cell, format_kind, serial_value
from formats.xlsx_xml import BLOCK, MAIN, SheetXml, column_index, shared_strings, unescape_x, xml_text
from formats import xlsx_xml
from targets.errors import BadInputError

PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
CACHE = 1 << 14  # converted values remembered (numbers, dates: they repeat)

# the form nearly every writer uses: reference first, then style, then type; a formula, then
# the value or an inline string (possessive: nothing to backtrack into, a quarter faster)
_FAST = re.compile(rb'<c r="([A-Z]{1,3}+)(\d++)"(?: s="(\d*+)")?+(?: t="(\w++)")?+(?: (?:cm|vm|ph)="\d*+")*+'
                   rb'(?: ?/>|>(?:<f\b[^>/]*+(?:/>|>[^<]*+</f>))?+(?:<v(?: xml:space="preserve")?+>([^<]*+)</v>|<v/>'
                   rb'|<is><t(?: xml:space="preserve")?+>([^<]*+)</t></is>)?+</c>)')
_DATA_START = re.compile(rb"<sheetData\b[^>]*>")
_DATA_END = re.compile(rb"</sheetData>")

_COLUMNS: dict[bytes, int] = {}
HEAD = 8 << 20  # bytes of a sheet read for <sheetData> before expat takes the whole part


def _ns(root) -> str:
    return root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""


class XlsxBook:
    """The parts of a workbook the sheets need: sheet paths, shared strings, date styles."""

    def __init__(self, path):
        self.path = str(path)
        try:
            self.zip = zipfile.ZipFile(path)
            self._read_workbook()
            self._read_styles()
            self._read_shared_strings()
        except (zipfile.BadZipFile, zlib.error, EOFError, ET.ParseError, KeyError, ValueError) as e:
            raise BadInputError(self.path, f"is not a readable .xlsx workbook ({type(e).__name__}: {e})") from e

    def _xml(self, name: str):
        with self.zip.open(name) as fh:
            return ET.parse(fh).getroot()

    def _read_workbook(self) -> None:
        root = self._xml("xl/workbook.xml")
        ns = _ns(root)
        if ns[1:-1] not in MAIN:
            raise ValueError(f"xl/workbook.xml is not SpreadsheetML ({ns or 'no namespace'})")
        pr = root.find(f"{ns}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904") in ("1", "true")
        rels = {r.get("Id"): r for r in self._xml("xl/_rels/workbook.xml.rels").iter(f"{PKG_REL}Relationship")}
        self.sheets: dict[str, str] = {}
        self.charts: list[str] = []  # chart sheets: no cells
        for sheet in root.iter(f"{ns}sheet"):
            rid = next((v for k, v in sheet.attrib.items() if k.endswith("}id")), None)
            rel = rels.get(rid)
            if rel is None:
                continue
            if rel.get("Type", "").endswith("/chartsheet"):
                self.charts.append(sheet.get("name"))
            else:
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
        ns = _ns(root)
        custom = {int(f.get("numFmtId")): format_kind(f.get("formatCode", ""))
                  for f in root.iter(f"{ns}numFmt")}
        xfs = root.find(f"{ns}cellXfs")
        for xf in xfs if xfs is not None else []:
            fmt = int(xf.get("numFmtId", "0"))
            self.kinds.append(custom.get(fmt) if fmt in custom else builtin_kind(fmt))

    def _read_shared_strings(self) -> None:
        self.strings: list[str] = []
        name = self._others.get("sharedStrings", "xl/sharedStrings.xml")
        if name in self.zip.namelist():
            self.strings = shared_strings(self.path, name, lambda: self.zip.open(name))

    def kind(self, style) -> str | None:
        """'date', 'duration' or None for a cell's style index."""
        if not style:
            return None
        index = int(style)
        return self.kinds[index] if index < len(self.kinds) else None

    def value(self, style, kind: str | None, text: str | None):
        """A cell's Python value from its style index, type and text as XML gives it (None when
        empty). Raises ValueError, IndexError or OverflowError for a cell no program wrote."""
        if text is None:
            return None
        if kind == "s":
            index = int(text)
            if not 0 <= index < len(self.strings):
                raise IndexError(f"shared string {index} does not exist (the workbook has {len(self.strings)})")
            return self.strings[index]
        if kind == "e":
            return text.strip()  # as Excel shows an error: #DIV/0!, #N/A
        if kind in ("str", "inlineStr"):
            return unescape_x(text)
        if kind == "b":
            return text.strip() in ("1", "true")
        if not text.strip():
            return None
        if kind == "d":
            return _iso(text.strip())
        return self.number(style, float(text))

    def number(self, style, number: float):
        """A number as its style shows it: a date, time, duration or the number."""
        return serial_value(number, self.kind(style), self.date1904)

    def cell(self, style, kind: str | None, text: str | None, ref: str) -> str:
        """A parsed cell as CSV text; a cell no program wrote is refused naming it."""
        try:
            return format_cell(self.value(style, kind, text))
        except (ValueError, IndexError, OverflowError) as e:
            raise BadInputError(self.path, f"cell {ref} cannot be read ({e})") from e

    def text(self, style: bytes | None, kind: bytes | None, raw: bytes) -> str:
        """A cell of the fast path (its text still XML-escaped) as CSV text."""
        if (kind is None or kind == b"n") and raw.strip():
            return format_cell(self.number(style, float(raw)))
        return format_cell(self.value(style, kind.decode() if kind else None, xml_text(raw)))

    def rows(self, sheet: str | None = None) -> Iterator[list[str]]:
        """Rows of a sheet (by name, or the first) from sheet row 1, each a list of the cells'
        CSV text from column A, as ``format_cell`` writes their values (empty cells "")."""
        names = list(self.sheets)
        if sheet is not None and sheet not in self.sheets:
            raise BadInputError(self.path, f"has no sheet {sheet!r} (sheets: {', '.join(names)})")
        part = self.sheets[sheet or names[0]]
        try:
            fh = self.zip.open(part)
        except KeyError as e:
            raise BadInputError(self.path, f"sheet {sheet or names[0]!r} has no part {part} in the workbook") from e
        try:
            with fh:
                yield from _SheetReader(self, part, fh).rows()
        except BadInputError as e:
            if e.sheet is not None or e.file != self.path:
                raise
            raise BadInputError(e.file, e.rule, row=e.row, column=e.column, sheet=sheet or names[0]) from e
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:  # a damaged member: CRC, deflate, cut short
            raise BadInputError(self.path, f"{part} is damaged ({type(e).__name__}: {e})", sheet=sheet or names[0]) from e


def last_close(buf: bytes, tag: bytes) -> int:
    """Where the last ``</tag>`` in ``buf`` ends; -1 if none."""
    at = buf.rfind(b"</" + tag + b">")
    return -1 if at < 0 else at + len(tag) + 3


def _iso(text: str):
    """An ISO 8601 cell (``t="d"``): a date, a time of day or a date and time, to the second as
    LibreOffice reads it; an offset or ``Z`` is dropped (a cell keeps no time zone)."""
    if "T" not in text and ":" in text:
        return dt.time.fromisoformat(text.rstrip("Z")).replace(tzinfo=None, microsecond=0)
    if "T" not in text:
        return dt.date.fromisoformat(text)
    return dt.datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=None, microsecond=0)


class _SheetReader:
    def __init__(self, book: XlsxBook, part: str, fh):
        self.book, self.part, self.fh = book, part, fh
        self.row_no = 0  # the last row yielded (1-based)
        self.current: int | None = None  # the row being built
        self.current_raw: bytes | None = None  # its number as the XML says it
        self.cells: list = []
        self.cache: dict = {}
        self.out: list = []  # cells the XML parser has put, not yet placed in rows

    def rows(self) -> Iterator[list]:
        buf = self.fh.read(BLOCK)
        if not xlsx_xml.utf8(buf):  # UTF-16, or another encoding its declaration names: expat reads it
            yield from self._parsed(b"", buf)
            return
        while (found := _DATA_START.search(buf)) is None:
            block = self.fh.read(BLOCK) if len(buf) < HEAD else b""
            if not block:  # no <sheetData>, or not where the fast path looks: expat reads the lot
                yield from self._parsed(b"", buf)
                return
            buf += block
        head, opening, buf = buf[:found.start()], found.group(), buf[found.start():]
        if not xlsx_xml.fast_head(self.book.path, self.part, head, "worksheet"):
            yield from self._parsed(head, buf)
            return
        restart = head  # what expat is fed before the rows not yet read, should it take over
        while True:
            block = self.fh.read(BLOCK)
            buf += block
            end = _DATA_END.search(buf) if b"</sheetData>" in buf else None
            if end is not None:
                chunk, rest = buf[:end.start()], buf[end.start():]
            elif block:
                cut = last_close(buf, b"row")
                if cut < 0 and len(buf) <= 2 * BLOCK:
                    continue
                if cut < 0:  # a row of megabytes, or rows the fast path does not see: expat's
                    yield from self._parsed(restart, buf)
                    return
                chunk, rest = buf[:cut], buf[cut:]
            else:  # the part ends before </sheetData>: cut short, and expat says so
                yield from self._parsed(restart, buf)
                return
            if not self._canonical(chunk):
                yield from self._parsed(restart, chunk + rest)
                return
            try:
                yield from self._chunk(chunk)
            except (ValueError, IndexError, OverflowError):  # a cell no program wrote: expat names it
                probe = SheetXml(self.book.path, self.part, self.book.cell, lambda *_: None)
                probe.feed(restart + chunk)
                raise BadInputError(self.book.path, f"{self.part} could not be read") from None
            restart, buf = head + opening, rest
            if end is not None or not block:
                break
        if self.current is not None:
            yield from self._flush(None)

    def _canonical(self, chunk: bytes) -> bool:
        self.found = _FAST.findall(chunk)
        return xlsx_xml.canonical(chunk, b"c", self.found)

    def _parsed(self, head: bytes, data: bytes) -> Iterator[list]:
        """The rest of the sheet through expat, from ``head`` (the part's start, up to where the
        rows to read begin) and ``data``, then the rest of the stream."""
        xml = SheetXml(self.book.path, self.part, self.book.cell, self._queue)
        xml.row = self.current or self.row_no
        xml.feed(head)
        xml.feed(data)
        while True:
            yield from self._drain()
            block = self.fh.read(BLOCK)
            xml.feed(block, final=not block)
            if not block:
                break
        yield from self._drain()
        if self.current is not None:
            yield from self._flush(None)

    def _queue(self, row: int, col: int, text: str) -> None:
        self.out.append((row, col, text))

    def _drain(self) -> Iterator[list]:
        out, self.out = self.out, []
        for row, col, text in out:
            if row != self.current:
                if self.current is not None:
                    yield from self._flush(row)
                self.current = row
            self._set(col, text)

    def _flush(self, next_row: int | None) -> Iterator[list]:
        """Yield the row being built, after empty rows for any row numbers skipped before it."""
        while self.row_no + 1 < self.current:
            self.row_no += 1
            yield []
        self.row_no = self.current
        yield self.cells
        self.current, self.cells = next_row, []

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
        convert, columns, strings = self.book.text, _COLUMNS, self.book.strings
        cache, current = self.cache, self.current_raw
        row_cells = self.cells
        for letters, row, style, kind, raw, inline in self.found:
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
                v = strings[int(raw)] if raw.isdigit() else convert(style, kind, raw) if raw else ""
            elif not raw:
                v = convert(style, kind, inline) if kind == b"inlineStr" else ""
            elif not style and (not kind or kind == b"n") and raw.isdigit() and len(raw) < 16 and \
                    (raw[0] != 48 or len(raw) == 1):
                v = raw.decode()  # a whole number, unformatted: its text as it stands
            elif kind == b"str" or kind == b"inlineStr":
                v = convert(style, kind, raw)  # text: not remembered (it may be long, and rarely repeats)
            else:  # numbers, dates, booleans repeat: their text is remembered
                key = (style, kind, raw)
                v = cache.get(key)
                if v is None:
                    v = convert(style, kind, raw)
                    if len(cache) >= CACHE:
                        cache.clear()
                    cache[key] = v
            if col == len(row_cells):
                row_cells.append(v)
            else:
                self._set(col, v)
        self.current_raw, self.found = current, []
