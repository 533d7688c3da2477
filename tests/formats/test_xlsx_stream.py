"""The streaming .xlsx reader prints the same CSV text as calamine on the same workbooks: one
openpyxl writes (inline strings, dates, times, elapsed times, gaps, a sheet starting at B3,
the 1904 date system) and one written by hand the way Excel and other producers write theirs
(shared strings with rich text and phonetic runs, a namespace prefix, cells without
references, self-closing values, errors, ISO dates, formula strings with entities)."""
import datetime as dt
import zipfile

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from formats.cells import format_cell, format_kind
from formats.spreadsheet import sheet_names, to_csv
from formats.xlsx_stream import XlsxBook, column_index
from targets.errors import BadInputError


def _trim(rows):
    """Rows as the CSV writer sees them: trailing empty cells and rows dropped."""
    out = []
    for row in rows:
        row = list(row)
        while row and row[-1] == "":
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


def _calamine(path, sheet):
    """calamine's reading from A1 (its iter_rows starts at the first used column)."""
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    return _trim([format_cell(c) for c in row] for row in rows)


def _ours(path, sheet):
    return _trim(XlsxBook(path).rows(sheet))


def test_column_letters_and_format_codes():
    assert [column_index(c) for c in ("A", "Z", "AA", "AB", "XFD")] == [0, 25, 26, 27, 16383]
    assert format_kind("yyyy-mm-dd") == format_kind('d "de" mmmm') == format_kind("h:mm AM/PM") == "date"
    assert format_kind("[h]:mm:ss") == format_kind("[mm]:ss") == "duration"
    assert format_kind("0.00") is format_kind("General") is format_kind('"dd"0') is format_kind("[Red]0.0") is None


@pytest.mark.parametrize("epoch", ["1900", "1904"])
def test_an_openpyxl_workbook_reads_as_calamine_reads_it(tmp_path, epoch):
    book = openpyxl.Workbook()
    if epoch == "1904":
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    ws = book.active
    ws.title = "Data"
    ws["B3"], ws["C3"], ws["D3"], ws["F3"] = "Id", "When", "Amount", "Note"
    rows = [("007", dt.date(2026, 11, 24), 5, "a & b <c>"), ("x", dt.datetime(2026, 1, 2, 13, 5, 7), 2.5, None),
            (None, None, None, None), ("12", dt.time(6, 30), -1e-3, "  spaced  "),
            ("y", dt.datetime(1900, 2, 27) if epoch == "1900" else dt.datetime(1905, 2, 27, 8), 12345678901234, "tab\there"), ("z", dt.date(1904, 3, 1), True, False)]
    for r, (a, b, c, d) in enumerate(rows, start=4):
        ws.cell(r, 2, a), ws.cell(r, 3, b), ws.cell(r, 4, c), ws.cell(r, 6, d)
    ws["C10"] = dt.timedelta(hours=30, minutes=15)
    ws["C10"].number_format = "[h]:mm"
    ws["D11"] = "=D4*2"  # openpyxl keeps no cached value: empty in both readers
    ws["H40"] = "far away"
    book.create_sheet("Second").append(["only", 1])
    path = tmp_path / "a.xlsx"
    book.save(path)
    assert sheet_names(path) == ["Data", "Second"]
    for sheet in ("Data", "Second"):
        assert _ours(path, sheet) == _calamine(path, sheet)
    assert _ours(path, "Data")[2][:4] == ["", "Id", "When", "Amount"]  # columns from A, as a person sees them


SHEET = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:dimension ref="A1:E6"/>
<x:sheetData><x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c><x:c t="s"><x:v>2</x:v>
</x:c><x:c r="E1" t="s"><x:v>3</x:v></x:c></x:row>
<x:row r="2"><x:c r="A2" s="1"><x:v>46350</x:v></x:c><x:c r="B2" t="e"><x:v>#DIV/0!</x:v></x:c>
<x:c r="C2" t="str"><x:f>"A&amp;B"</x:f><x:v>A&amp;B</x:v></x:c><x:c r="E2" t="b"><x:v>1</x:v></x:c></x:row>
<x:row r="4" spans="1:5"><x:c t="inlineStr" r="A4"><x:is><x:r><x:t xml:space="preserve">rich </x:t></x:r><x:r><x:t>text</x:t></x:r></x:is></x:c>
<x:c r="B4"><x:f>1/0</x:f><x:v/></x:c><x:c r="C4" s="2"><x:v>46350.75</x:v></x:c><x:c r="D4" s="3"><x:v>1.5</x:v></x:c>
<x:c r="E4" t="d"><x:v>2026-11-24T00:00:00</x:v></x:c></x:row><x:row r="5"/>
<x:row r="6"><x:c r="A6"><x:v>0.1</x:v></x:c><x:c r="B6"><x:v>1E-3</x:v></x:c><x:c r="C6"><x:v>-42</x:v></x:c>
<x:c r="D6" s="1"><x:v>0.25</x:v></x:c><x:c r="E6" t="s"><x:v>4</x:v></x:c></x:row></x:sheetData></x:worksheet>"""

STRINGS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="5" uniqueCount="5">
<si><t>Event ID</t></si><si><r><rPr><b/></rPr><t>Com</t></r><r><t xml:space="preserve">pany </t></r></si>
<si><t>日本</t><rPh sb="0" eb="2"><t>ニホン</t></rPh></si><si><t>Fee &amp; tax</t></si><si><t>00123</t></si></sst>"""

STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="1"><numFmt numFmtId="165" formatCode="[$-409]d\\-mmm\\-yyyy h:mm"/></numFmts>
<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="165"/><xf numFmtId="46"/></cellXfs></styleSheet>"""

WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"
 xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><workbookPr/>
<sheets><sheet name="Events" sheetId="1" r:id="rId1"/></sheets></workbook>"""

RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
 Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
 Target="styles.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
 Target="sharedStrings.xml"/></Relationships>"""

TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
</Types>"""

ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
 Target="xl/workbook.xml"/></Relationships>"""


def _handmade(path, sheet=SHEET):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("[Content_Types].xml", TYPES), ("_rels/.rels", ROOT_RELS), ("xl/workbook.xml", WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", RELS), ("xl/styles.xml", STYLES),
                           ("xl/sharedStrings.xml", STRINGS), ("xl/worksheets/sheet1.xml", sheet)):
            zf.writestr(name, text)
    return path


def test_a_workbook_written_as_excel_writes_them_reads_as_calamine_reads_it(tmp_path):
    path = _handmade(tmp_path / "excel.xlsx")
    ours = _ours(path, "Events")
    assert [[c if c != "#DIV/0!" else "" for c in row] for row in ours] == _calamine(path, "Events")
    assert ours[0] == ["Event ID", "Company ", "日本", "", "Fee & tax"]
    assert ours[1] == ["2026-11-24", "#DIV/0!", "A&B", "", "true"]  # an error as Excel shows it (calamine: empty)
    assert ours[3] == ["rich text", "", "2026-11-24 18:00:00", "36:00:00", "2026-11-24 00:00:00"]  # [h]:mm:ss
    assert ours[5] == ["0.1", "0.001", "-42", "06:00:00", "00123"]
    unprefixed = _handmade(tmp_path / "plain.xlsx", SHEET.replace("x:", "").replace("xmlns:x=", "xmlns="))
    assert _ours(unprefixed, "Events") == ours  # the fast path and the general one agree
    assert to_csv(unprefixed, tmp_path / "e.csv") == 3  # rows with values; the empty ones between are kept


def test_an_unreadable_workbook_or_sheet_names_the_file(tmp_path):
    path = _handmade(tmp_path / "x.xlsx", SHEET)
    with pytest.raises(BadInputError, match=r"x\.xlsx: has no sheet 'Nope' \(sheets: Events\)"):
        list(XlsxBook(path).rows("Nope"))
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook><unclosed>")
    with pytest.raises(BadInputError, match=r"broken\.xlsx: is not a readable \.xlsx workbook"):
        XlsxBook(broken)


def test_a_sheet_of_many_blocks_reads_as_calamine_reads_it(tmp_path):
    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet("Big")
    ws.append(["Id", "Name", "When", "Amount", "Code"])
    for i in range(1, 25001):  # about 4 MB of sheet XML: rows and cells cross the 1 MB blocks
        if i % 997 == 0:
            ws.append([])  # an empty row now and then, sometimes at a block's edge
        ws.append([i, f"name & {i}", dt.date(2026, 1, 1) + dt.timedelta(days=i % 300), i / 8, f"{i % 100:03d}"])
    path = tmp_path / "big.xlsx"
    book.save(path)
    ours = _ours(path, "Big")
    assert len(ours) == 25001 + 25 and ours == _calamine(path, "Big")


@pytest.mark.parametrize("value, shown", [(dt.timedelta(days=10, hours=15, minutes=10, seconds=10), "255:10:10"),
                                          (dt.timedelta(minutes=5), "0:05:00"),
                                          (dt.timedelta(seconds=59.6), "0:00:59.600000"),
                                          (-dt.timedelta(hours=1, minutes=30), "-1:30:00")])
def test_a_duration_is_written_as_excel_shows_elapsed_time(value, shown):
    """Issue 27 item 5: Python's str() gave '10 days, 15:10:10'; Excel's [h]:mm:ss shows 255:10:10."""
    from formats.cells import format_cell, format_kind
    assert format_cell(value) == shown
