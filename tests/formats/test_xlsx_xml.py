"""Issue 27 item 2: the .xlsx reader reads XML as XML. Valid XML the old regular expressions
misread (CDATA, single quotes, lower-case references, comments, UTF-16, a wrong
``<dimension>``, ``_xHHHH_`` escapes, line ends) comes out as an XML parser reads it, whether
the sheet starts that way or turns that way after megabytes of the fast form; XML no program
writes (a DTD, a broken tag, a shared string that does not exist) is refused naming the sheet
and the cell."""
import pytest

from formats.xlsx_stream import XlsxBook
from targets.errors import BadInputError
from tests.formats.test_xlsx_stream import STRINGS, _handmade, _trim

HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')


def _sheet(rows: str, head: str = HEAD, dimension: str = "A1:E9") -> str:
    return f'{head}<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>'


def _rows(tmp_path, sheet: str, strings: str = STRINGS, name: str = "a.xlsx"):
    path = _handmade(tmp_path / name, sheet)
    if strings is not STRINGS:
        import zipfile
        rebuilt = tmp_path / f"s-{name}"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(rebuilt, "w") as dst:
            for item in src.infolist():
                data = strings.encode() if item.filename == "xl/sharedStrings.xml" else src.read(item)
                dst.writestr(item, data)
        path = rebuilt
    return _trim(XlsxBook(path).rows("Events"))


@pytest.mark.parametrize("cells, shown", [
    ('<c r="A1" t="inlineStr"><is><t><![CDATA[<b> & CDATA]]></t></is></c>', "<b> & CDATA"),
    ("<c r='A1' t='inlineStr'><is><t>single quotes</t></is></c>", "single quotes"),
    ('<c r="a1" t="s"><v>4</v></c>', "00123"),  # a lower-case reference
    ('<c t="s" r="A1" s="0"><v>0</v></c>', "Event ID"),  # attributes in another order
    ('<c r="A1" t="inlineStr"><is><t>ABC_x000D_\r\nDEF</t></is></c>', "ABC\r\nDEF"),  # XML's \n, then _x000D_
    ('<c r="A1" t="inlineStr"><is><t>a&#13;\nb\rc</t></is></c>', "a\r\nb\nc"),  # &#13; stays, a bare \r is \n
    ('<c r="A1" t="str"><f>X</f><v>_x005F_x000D_ &amp; &#x263A;</v></c>', "_x000D_ & \u263a"),
    ('<c r="A1" t="inlineStr"><is><t>_xD83D__xDE00_</t></is></c>', "\U0001f600"),  # a surrogate pair
    ('<!-- <c r="A1"><v>9</v></c> --><c r="A1"><v>1</v></c>', "1"),  # a cell in a comment is no cell
    ('<?producer note?><c r="A1" t="e"><v>#N/A</v></c>', "#N/A"),  # an error as Excel shows it
    ('<c r="A1" t="d"><v>10:10:10</v></c>', "10:10:10"),  # an ISO time of day
    ('<c r="A1" t="d"><v>2026-12-07T08:30:00+01:00</v></c>', "2026-12-07 08:30:00"),
    ('<c r="A1" s="1"><v>99999999</v></c>', "99999999"),  # past 9999-12-31: Excel shows ####, the number stays
    ('<c r="A1" s="1"><v>-1.25</v></c>', "1899-12-28 18:00:00"),  # a negative serial, as LibreOffice shows it
    ('<c r="A1" s="1"><v>59</v></c>', "1900-02-28"),
    ('<c r="A1" s="1"><v>61</v></c>', "1900-03-01"),
])
def test_a_cell_reads_as_xml_says_both_alone_and_after_the_fast_form(tmp_path, cells, shown):
    ours = _rows(tmp_path, _sheet(f'<row r="1">{cells}</row>'))
    assert ours == [[shown]]
    # the same cell after 1.5 MB of the fast form: the reader turns to expat there, mid-sheet
    fast = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" t="s"><v>3</v></c></row>'
                   for r in range(1, 30001))
    late = cells.replace("A1", "A30001").replace("a1", "a30001")
    ours = _rows(tmp_path, _sheet(fast + f'<row r="30001">{late}</row>'
                                  + '<row r="30002"><c r="B30002"><v>7</v></c></row>'), name="b.xlsx")
    assert len(ours) == 30002 and ours[0] == ["1", "Fee & tax"] and ours[29999] == ["30000", "Fee & tax"]
    assert ours[30000] == [shown] and ours[30001] == ["", "7"]


def test_a_wrong_dimension_a_prefix_and_cells_without_references(tmp_path):
    rows = ('<row r="2"><c r="A2"><v>1</v></c><c r="C2"><v>3</v></c></row>'
            '<row><c><v>4</v></c><c t="inlineStr"><is><r><t>ri</t></r><rPh><t>x</t></rPh><r><t>ch</t></r></is></c></row>')
    assert _rows(tmp_path, _sheet(rows, dimension="C2:D3")) == [[], ["1", "", "3"], ["4", "rich"]]
    prefixed = _sheet(rows.replace("<", "<x:").replace("<x:/", "</x:"), dimension="C2").replace(
        "<dimension", "<x:dimension").replace("sheetData>", "x:sheetData>").replace("<sheetData", "<x:sheetData")
    prefixed = prefixed.replace('<worksheet xmlns=', '<x:worksheet xmlns:x=').replace("</worksheet>", "</x:worksheet>")
    assert _rows(tmp_path, prefixed, name="p.xlsx") == [[], ["1", "", "3"], ["4", "rich"]]


def test_utf16_sheet_xml(tmp_path):
    sheet = _sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>été</t></is></c><c r="B1"><v>2</v></c></row>')
    sheet = sheet.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    path = _handmade(tmp_path / "u.xlsx", sheet)
    assert _trim(XlsxBook(path).rows("Events")) == [["été", "2"]]


def test_shared_strings_read_as_xml(tmp_path):
    strings = ('<?xml version="1.0" encoding="UTF-8"?>\n<x:sst xmlns:x="http://schemas.openxmlformats.org/'
               'spreadsheetml/2006/main"><x:si><x:t><![CDATA[a<b]]></x:t></x:si><x:si><x:t>c_x000D_\r\nd</x:t>'
               '</x:si><x:si/><x:si><x:r><x:t>ri</x:t></x:r><x:rPh><x:t>no</x:t></x:rPh><x:r><x:t>ch</x:t></x:r></x:si>'
               '<x:si><x:t>e &amp; f</x:t></x:si></x:sst>')
    cells = "".join(f'<c r="{c}1" t="s"><v>{i}</v></c>' for i, c in enumerate("ABCDE"))
    expected = [["a<b", "c\r\nd", "", "rich", "e & f"]]
    assert _rows(tmp_path, _sheet(f'<row r="1">{cells}</row>'), strings) == expected
    plain = strings.replace("x:", "").replace("xmlns:x=", "xmlns=").replace("<t><![CDATA[a<b]]></t>", "<t>a&lt;b</t>")
    plain = plain.replace('<si><r><t>ri</t></r><rPh><t>no</t></rPh><r><t>ch</t></r></si>', "<si><t>rich</t></si>")
    assert _rows(tmp_path, _sheet(f'<row r="1">{cells}</row>'), plain, name="plain.xlsx") == expected


@pytest.mark.parametrize("rows, said", [
    ('<row r="{n}"><c r="A{n}" t="s"><v>99</v></c></row>', r"cell A{n} cannot be read \(shared string 99 does not exi"),
    ('<row r="{n}"><c r="A{n}" t="s"><v>-1</v></c></row>', r"cell A{n} cannot be read"),
    ('<row r="{n}"><c r="B{n}"><v>12abc</v></c></row>', r"cell B{n} cannot be read"),
    ('<row r="{n}"><c r="A{n}"><v>1</c></row>', r"is not well-formed XML \(mismatched tag, line 2\)"),
    ('<row r="{n}"><c r="A{n}!"><v>1</v></c></row>', r"'A{n}!' is not a cell reference"),
])
def test_xml_no_program_writes_is_refused_naming_the_sheet_and_cell(tmp_path, rows, said):
    fast = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 40001))  # 1.5 MB
    for name, n, sheet in (("alone.xlsx", 1, _sheet(rows.format(n=1))),
                           ("late.xlsx", 40001, _sheet(fast + rows.format(n=40001)))):
        path = _handmade(tmp_path / name, sheet)
        with pytest.raises(BadInputError, match=rf"{name}, sheet 'Events'.*: .*{said.format(n=n)}"):
            list(XlsxBook(path).rows("Events"))


@pytest.mark.parametrize("rows", [1, 40000])
def test_a_sheet_cut_short_is_refused(tmp_path, rows):
    """A writer that died mid-sheet: the XML ends after a whole row, before </sheetData>."""
    sheet = _sheet("".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, rows + 1)))
    path = _handmade(tmp_path / "cut.xlsx", sheet[:sheet.index("</sheetData>")])
    with pytest.raises(BadInputError, match=r"sheet 'Events': .*is not well-formed XML \(no element found"):
        list(XlsxBook(path).rows("Events"))


def test_a_dtd_is_refused(tmp_path):
    bomb = HEAD.replace("<worksheet", '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                                      '\n<worksheet')
    path = _handmade(tmp_path / "bomb.xlsx", _sheet('<row r="1"><c r="A1" t="str"><v>&b;</v></c></row>', head=bomb))
    with pytest.raises(BadInputError, match=r"sheet 'Events': .*declares a DTD"):
        list(XlsxBook(path).rows("Events"))



def test_a_sheet_whose_part_is_missing_is_refused_naming_it(tmp_path):
    import zipfile
    path = _handmade(tmp_path / "gone.xlsx", _sheet('<row r="1"><c r="A1"><v>1</v></c></row>'))
    cut = tmp_path / "cut.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(cut, "w") as dst:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, src.read(item))
    with pytest.raises(BadInputError, match=r"cut\.xlsx: sheet 'Events' has no part xl/worksheets/sheet1\.xml"):
        list(XlsxBook(cut).rows("Events"))
