"""OpenDocument spreadsheets (.ods, LibreOffice's own) read by expat, a block of content.xml
at a time: memory is a block, the styles and one row (calamine read a sheet whole, and gave a
number in a date or elapsed-time style as the bare number and a time cell as ISO text).

A cell's value is what its ``office:value-type`` says: a float in a date, time or elapsed-time
data style becomes that (formats/cells.py ``serial_value``, counted from the document's null
date as LibreOffice counts: 30 December 1899 unless ``table:null-date`` says otherwise, with no
29 February 1900); ``date`` and ``time`` cells their ISO values; text its paragraphs (joined by
line breaks, ``<text:s>`` spaces and tabs kept, annotations left out). A cell's style is its
own, else its row's default, else its column's. Repeated rows and cells are expanded only as
far as content goes: a sheet's 1,048,576 trailing empty rows cost nothing, and content
repeated past what a sheet can hold (1,048,576 rows, 16,384 columns) is refused, naming the
sheet (a file can ask for 17 billion cells in 600 bytes).
"""
from __future__ import annotations

import datetime as dt
import re
import zipfile
import zlib
from typing import Iterator

from formats.cells import format_cell, serial_value
from formats.xlsx_xml import BLOCK, feed, parser
from targets.errors import BadInputError

TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0 "
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0 "
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0 "
STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0 "
NUMBER = "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0 "
# names as expat gives them (namespace URI, space, local name), made once
NUMBER_DATE_STYLE = NUMBER + "date-style"
NUMBER_TIME_STYLE = NUMBER + "time-style"
NUMBER_TRUNCATE_ON_OVERFLOW = NUMBER + "truncate-on-overflow"
OFFICE_ANNOTATION = OFFICE + "annotation"
OFFICE_BOOLEAN_VALUE = OFFICE + "boolean-value"
OFFICE_DATE_VALUE = OFFICE + "date-value"
OFFICE_STRING_VALUE = OFFICE + "string-value"
OFFICE_TIME_VALUE = OFFICE + "time-value"
OFFICE_VALUE = OFFICE + "value"
OFFICE_VALUE_TYPE = OFFICE + "value-type"
STYLE_APPLY_STYLE_NAME = STYLE + "apply-style-name"
STYLE_DATA_STYLE_NAME = STYLE + "data-style-name"
STYLE_FAMILY = STYLE + "family"
STYLE_MAP = STYLE + "map"
STYLE_NAME = STYLE + "name"
STYLE_PARENT_STYLE_NAME = STYLE + "parent-style-name"
STYLE_STYLE = STYLE + "style"
TABLE_COVERED_TABLE_CELL = TABLE + "covered-table-cell"
TABLE_DATE_VALUE = TABLE + "date-value"
TABLE_DEFAULT_CELL_STYLE_NAME = TABLE + "default-cell-style-name"
TABLE_NAME = TABLE + "name"
TABLE_NULL_DATE = TABLE + "null-date"
TABLE_NUMBER_COLUMNS_REPEATED = TABLE + "number-columns-repeated"
TABLE_NUMBER_ROWS_REPEATED = TABLE + "number-rows-repeated"
TABLE_STYLE_NAME = TABLE + "style-name"
TABLE_TABLE = TABLE + "table"
TABLE_TABLE_CELL = TABLE + "table-cell"
TABLE_TABLE_COLUMN = TABLE + "table-column"
TABLE_TABLE_ROW = TABLE + "table-row"
TEXT_C = TEXT + "c"
TEXT_LINE_BREAK = TEXT + "line-break"
TEXT_P = TEXT + "p"
TEXT_S = TEXT + "s"
TEXT_TAB = TEXT + "tab"
MAX_ROWS, MAX_COLUMNS = 1_048_576, 16_384
_DURATION = re.compile(r"(-?)P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?")


def _duration(text: str) -> dt.timedelta:
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration")
    sign, days, hours, minutes, seconds = found.groups()
    value = dt.timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                         seconds=float(seconds or 0))
    return -value if sign else value


def _date(text: str):
    value = dt.datetime.fromisoformat(text.strip().rstrip("Z")).replace(tzinfo=None)
    return value.date() if value.time() == dt.time(0) else value


class _Styles:
    """Which cell styles show numbers as dates or durations, and the null date."""

    def __init__(self):
        self.kinds: dict[str, str | None] = {}  # data style -> 'date' | 'duration' | None
        self.data: dict[str, str] = {}  # cell style -> its data style
        self.parents: dict[str, str] = {}
        self.maps: dict[str, list[str]] = {}  # data style -> the styles its conditions apply
        self.current: str | None = None  # the data style being read
        self.null_date = dt.datetime(1899, 12, 30)
        self._cache: dict[str, str | None] = {}

    def start(self, name: str, attrs: dict) -> None:
        if name.startswith(NUMBER) and name.endswith("-style"):
            self.current = attrs.get(STYLE_NAME, "")
            elapsed = name == NUMBER_TIME_STYLE and attrs.get(NUMBER_TRUNCATE_ON_OVERFLOW) == "false"
            dated = name in (NUMBER_DATE_STYLE, NUMBER_TIME_STYLE)
            self.kinds[self.current] = "duration" if elapsed else "date" if dated else None
        elif name == STYLE_MAP and self.current is not None:
            self.maps.setdefault(self.current, []).append(attrs.get(STYLE_APPLY_STYLE_NAME, ""))
        elif name == STYLE_STYLE and attrs.get(STYLE_FAMILY) == "table-cell":
            style = attrs.get(STYLE_NAME, "")
            if STYLE_DATA_STYLE_NAME in attrs:
                self.data[style] = attrs[STYLE_DATA_STYLE_NAME]
            if STYLE_PARENT_STYLE_NAME in attrs:
                self.parents[style] = attrs[STYLE_PARENT_STYLE_NAME]
        elif name == TABLE_NULL_DATE:
            self.null_date = dt.datetime.fromisoformat(attrs.get(TABLE_DATE_VALUE, "1899-12-30")[:10])

    def kind(self, style: str | None) -> str | None:
        """'date', 'duration' or None for a cell style (its data style, or its parent's)."""
        if not style:
            return None
        if style not in self._cache:
            seen, current, found = set(), style, None
            while current and current not in seen:
                seen.add(current)
                if current in self.data:
                    found = self.data[current]
                    break
                current = self.parents.get(current)
            kind = self.kinds.get(found) if found else None
            for mapped in self.maps.get(found, []) if found and kind is None else []:
                kind = kind or self.kinds.get(mapped)  # a conditional style (value() >= 0): the style it applies
            self._cache[style] = kind
        return self._cache[style]


FIRST = object()  # the sheet wanted: the workbook's first


class OdsBook:
    """An .ods workbook: its sheet names, and each sheet's rows as CSV text from A1. Each asks
    one pass over content.xml: the names when first wanted, a sheet's rows up to its end."""

    def __init__(self, path):
        self.path = str(path)
        self._names: list[str] | None = None
        try:
            self.zip = zipfile.ZipFile(path)
            self.zip.getinfo("content.xml")
        except (zipfile.BadZipFile, KeyError) as e:
            raise BadInputError(self.path, f"is not a readable .ods workbook ({type(e).__name__}: {e})") from e

    @property
    def names(self) -> list[str]:
        if self._names is None:
            reader = _Sheet(self, _Styles(), None)
            for _ in self._stream(reader):  # the names only: no row comes out
                pass
            self._names = reader.seen
        return self._names

    def rows(self, sheet: str | None = None) -> Iterator[list[str]]:
        reader = _Sheet(self, _Styles(), FIRST if sheet is None else sheet)
        try:
            yield from self._stream(reader)
        except BadInputError as e:
            if e.sheet is not None or e.file != self.path:
                raise
            raise BadInputError(e.file, e.rule, row=e.row, sheet=reader.name) from e
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise BadInputError(self.path, f"content.xml is damaged ({type(e).__name__}: {e})", sheet=reader.name) \
                from e
        if reader.name is None:  # read to the end without finding it: every name was seen
            if not reader.seen:
                raise BadInputError(self.path, "has no worksheet")
            raise BadInputError(self.path, f"has no sheet {sheet!r} (sheets: {', '.join(reader.seen)})")

    def _stream(self, reader: _Sheet) -> Iterator[list[str]]:
        """content.xml through expat (with styles.xml first, for a sheet's rows)."""
        if reader.sheet is not None and "styles.xml" in self.zip.namelist():
            p = parser(self.path, "styles.xml")
            p.StartElementHandler = reader.styles.start
            with self.zip.open("styles.xml") as fh:
                while block := fh.read(BLOCK):
                    feed(p, self.path, "styles.xml", block)
        p = parser(self.path, "content.xml")
        p.StartElementHandler, p.EndElementHandler = reader.start, reader.end
        if reader.sheet is not None:
            p.CharacterDataHandler = reader.chars
        with self.zip.open("content.xml") as fh:
            while block := fh.read(BLOCK):
                feed(p, self.path, "content.xml", block)
                yield from reader.drain()
                if reader.done:
                    return
            feed(p, self.path, "content.xml", b"", True)
        yield from reader.drain()


class _Sheet:
    def __init__(self, book: OdsBook, styles: _Styles, sheet):
        self.book, self.styles, self.sheet = book, styles, sheet  # sheet: a name, FIRST, or None for names only
        self.seen: list[str] = []  # the sheets' names met so far
        self.name: str | None = None  # the sheet being read, once met
        self.inside = False  # in the sheet wanted
        self.done = False
        self.out: list[tuple[list[str], int]] = []  # (row, times)
        self.rows = 0  # rows placed so far (1-based count)
        self.pending_rows = 0  # empty rows not yet given out
        self.columns: list[tuple[int, str | None]] = []  # (last column, default cell style)
        self.row_style: str | None = None
        self.row_repeat = 1
        self.cells: list[str] = []
        self.col = 0  # columns placed in the row (with pending empties)
        self.cell: dict | None = None
        self.text: list[str] | None = None
        self.paragraphs = 0
        self.in_p = 0  # inside a cell's <text:p> (character data elsewhere is layout)
        self.annotation = 0

    def drain(self) -> Iterator[list[str]]:
        out, self.out = self.out, []
        for row, count in out:  # a repeated row is given out as often as it repeats, made as it goes
            for _ in range(count):
                yield list(row)

    def _refuse(self, rule: str):
        raise BadInputError(self.book.path, rule, row=self.rows + 1)

    def start(self, name, attrs):
        if not self.inside:
            if name == TABLE_TABLE:
                self.seen.append(attrs.get(TABLE_NAME, ""))
                if self.sheet is FIRST or (self.sheet is not None and self.seen[-1] == self.sheet):
                    self.inside, self.name = True, self.seen[-1]
            elif self.sheet is not None:
                self.styles.start(name, attrs)
            return
        if name in (TABLE_TABLE_CELL, TABLE_COVERED_TABLE_CELL):
            self.cell, self.text, self.paragraphs = attrs, [], 0
        elif self.text is not None and not self.annotation:
            if name == TEXT_P:
                if self.paragraphs:
                    self.text.append("\n")
                self.paragraphs += 1
                self.in_p += 1
            elif name == TEXT_S:
                self.text.append(" " * int(attrs.get(TEXT_C, "1")))
            elif name == TEXT_TAB:
                self.text.append("\t")
            elif name == TEXT_LINE_BREAK:
                self.text.append("\n")
            elif name == OFFICE_ANNOTATION:
                self.annotation += 1
        elif name == OFFICE_ANNOTATION:
            self.annotation += 1
        elif name == TABLE_TABLE_ROW:
            self.row_style = attrs.get(TABLE_DEFAULT_CELL_STYLE_NAME)
            self.row_repeat = int(attrs.get(TABLE_NUMBER_ROWS_REPEATED, "1"))
            self.cells, self.col = [], 0
        elif name == TABLE_TABLE_COLUMN:
            last = (self.columns[-1][0] if self.columns else 0) + int(attrs.get(TABLE_NUMBER_COLUMNS_REPEATED, "1"))
            self.columns.append((min(last, MAX_COLUMNS), attrs.get(TABLE_DEFAULT_CELL_STYLE_NAME)))

    def chars(self, data):
        if self.in_p and self.text is not None and not self.annotation:
            self.text.append(data)

    def end(self, name):
        if not self.inside:
            return
        if name == OFFICE_ANNOTATION:
            self.annotation -= 1
        elif name == TEXT_P and self.in_p and not self.annotation:
            self.in_p -= 1
        elif name in (TABLE_TABLE_CELL, TABLE_COVERED_TABLE_CELL) and self.cell is not None:
            self._cell(self.cell, "".join(self.text or []))
            self.cell = self.text = None
        elif name == TABLE_TABLE_ROW:
            self._row()
        elif name == TABLE_TABLE:
            self.inside, self.done = False, True

    def _style(self, attrs: dict) -> str | None:
        """The cell's style: its own, else its row's default, else its column's."""
        style = attrs.get(TABLE_STYLE_NAME) or self.row_style
        if style:
            return style
        for last, style in self.columns:
            if self.col < last:
                return style
        return None

    def _cell(self, attrs: dict, text: str) -> None:
        repeat = int(attrs.get(TABLE_NUMBER_COLUMNS_REPEATED, "1"))
        kind = attrs.get(OFFICE_VALUE_TYPE)
        try:
            if kind == "string":
                value = attrs.get(OFFICE_STRING_VALUE, text)
            elif kind in ("float", "percentage", "currency"):
                number, shows = float(attrs.get(OFFICE_VALUE, "0")), self.styles.kind(self._style(attrs))
                if shows == "date" and number <= 0:
                    shows = None  # no date: the number, as LibreOffice's reference files have it
                value = serial_value(number, shows, False, null_date=self.styles.null_date)
            elif kind == "date":
                value = _date(attrs.get(OFFICE_DATE_VALUE, ""))
            elif kind == "time":  # a time of day, unless its style is elapsed time or it is a day or more
                value = _duration(attrs.get(OFFICE_TIME_VALUE, ""))
                if self.styles.kind(self._style(attrs)) != "duration" and dt.timedelta(0) <= value < dt.timedelta(days=1):
                    value = (dt.datetime(2000, 1, 1) + value).time()
            elif kind == "boolean":
                value = attrs.get(OFFICE_BOOLEAN_VALUE, "false") in ("true", "1")
            else:
                value = text
        except (ValueError, OverflowError) as e:
            self._refuse(f"column {self.col + 1}: a {kind} cell cannot be read ({e})")
        shown = format_cell(value)
        if not shown:
            self.col += repeat  # empty: placed only when content follows
            return
        if self.col + repeat > MAX_COLUMNS:
            self._refuse(f"a value is repeated to column {self.col + repeat:,}, past the {MAX_COLUMNS:,} a sheet has")
        if self.col > len(self.cells):
            self.cells.extend([""] * (self.col - len(self.cells)))
        self.cells.extend([shown] * repeat)
        self.col += repeat

    def _row(self) -> None:
        repeat = self.row_repeat
        if not self.cells:
            self.pending_rows += repeat
            return
        if self.rows + self.pending_rows + repeat > MAX_ROWS:
            self._refuse(f"a row with values is repeated to row {self.rows + self.pending_rows + repeat:,}, past the "
                         f"{MAX_ROWS:,} a sheet has")
        self.out += [([], self.pending_rows), (self.cells, repeat)]
        self.rows += self.pending_rows + repeat
        self.pending_rows = 0
