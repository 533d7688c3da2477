"""Excel's binary workbooks (.xls: BIFF2 to BIFF8, Excel 2.0 to 2003) read by xlrd.

Chosen over calamine by measured correctness on the real-spreadsheet corpus (issue 27,
docs/feeds.md): xlrd decodes text by the workbook's code page (BIFF5 text came out of
calamine with NUL bytes), reads BIFF2 and BIFF4 files, and gives each number its cell's format,
so dates in the 1904 date system, elapsed times and negative serials come out as a person
sees them (formats/cells.py ``serial_value``, the same rules as the .xlsx reader); error cells
as Excel shows them (``#DIV/0!``). A .xls is at most 65,536 rows × 256 columns, so reading it
whole is bounded.
"""
from __future__ import annotations

from typing import Iterator

from formats.cells import builtin_kind, format_cell, format_kind, serial_value
from targets.errors import BadInputError


class _Quiet:
    """xlrd's log (its warnings about a file's oddities): not the console's business."""

    def write(self, _text) -> None:
        pass


def _book(path: str):
    import xlrd  # loads when a .xls is read
    try:
        # a compound file whose directory points at a sector twice (PHPExcel wrote such files;
        # Excel and LibreOffice open them) is read as they read it
        return xlrd.open_workbook(path, formatting_info=True, logfile=_Quiet(), ignore_workbook_corruption=True)
    except xlrd.XLRDError as e:
        rule = "is encrypted (password-protected): save it without a password" if "encrypt" in str(e).lower() \
            else f"is not a readable .xls workbook ({e})"
        raise BadInputError(path, rule) from e
    except Exception as e:  # noqa: BLE001  (a damaged file raises whatever its bytes lead to)
        raise BadInputError(path, f"is not a readable .xls workbook ({type(e).__name__}: {e})") from e


class XlsBook:
    """A .xls workbook: its sheet names, and each sheet's rows as CSV text from A1."""

    def __init__(self, path):
        self.path = str(path)
        self.book = _book(self.path)
        self.names = self.book.sheet_names()
        self.kinds: dict[int, str | None] = {}  # format key -> its kind
        for key, fmt in self.book.format_map.items():
            self.kinds[key] = format_kind(fmt.format_str) if key >= 164 or fmt.format_str else builtin_kind(key)

    def rows(self, sheet: str | None = None) -> Iterator[list[str]]:
        if sheet is not None and sheet not in self.names:
            raise BadInputError(self.path, f"has no sheet {sheet!r} (sheets: {', '.join(self.names)})")
        if not self.names:
            raise BadInputError(self.path, "has no worksheet")
        name = sheet if sheet is not None else self.names[0]
        try:
            data = self.book.sheet_by_name(name)
        except Exception as e:  # noqa: BLE001
            raise BadInputError(self.path, f"the sheet cannot be read ({type(e).__name__}: {e})", sheet=name) from e
        return self._rows(data)

    def _rows(self, data) -> Iterator[list[str]]:
        import xlrd
        date1904 = self.book.datemode == 1
        xfs, kinds = self.book.xf_list, self.kinds
        for r in range(data.nrows):
            out = []
            for c, cell in enumerate(data.row(r)):
                ctype, value = cell.ctype, cell.value
                if ctype in (xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE):
                    key = xfs[data.cell_xf_index(r, c)].format_key if xfs else 0
                    value = serial_value(value, kinds.get(key, builtin_kind(key)), date1904, negative_from_31st=True)
                elif ctype == xlrd.XL_CELL_BOOLEAN:
                    value = bool(value)
                elif ctype == xlrd.XL_CELL_ERROR:
                    value = xlrd.error_text_from_code.get(value, f"#ERR{value}")
                elif ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    value = None
                out.append(format_cell(value))
            yield out
