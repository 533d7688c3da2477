"""OpenDocument spreadsheets read by our own streaming reader (formats/ods.py): values as their
data styles show them (a date style, an elapsed-time style, one applied by a condition, a
column's default style), time cells, text as its paragraphs (spaces kept, annotations left
out), the null date, repeated rows and cells expanded only as far as content goes, and a
file that asks for more cells than a sheet holds refused, naming the sheet."""
import zipfile

import pytest

from formats.spreadsheet import sheet_names, text_rows, to_csv
from targets.errors import BadInputError

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"><office:automatic-styles>
<number:date-style style:name="N1"><number:year/><number:text>-</number:text><number:month/></number:date-style>
<number:time-style style:name="N2" number:truncate-on-overflow="false"><number:hours/></number:time-style>
<number:text-style style:name="N3"><number:text-content/><style:map style:condition="value()&gt;=0" style:apply-style-name="N2"/></number:text-style>
<style:style style:name="ce1" style:family="table-cell" style:data-style-name="N1"/>
<style:style style:name="ce2" style:family="table-cell" style:data-style-name="N2"/>
<style:style style:name="ce3" style:family="table-cell" style:data-style-name="N3"/>
<style:style style:name="ce4" style:family="table-cell" style:parent-style-name="ce1"/>
</office:automatic-styles><office:body><office:spreadsheet>{settings}"""

ROWS = """<table:table table:name="Events"><table:table-column table:number-columns-repeated="2"/>
<table:table-column table:default-cell-style-name="ce1"/><table:table-column table:number-columns-repeated="16381"/>
<table:table-row><table:table-cell office:value-type="string"><text:p>Event<text:s text:c="2"/>ID</text:p>
<office:annotation><text:p>a note nobody loads</text:p></office:annotation></table:table-cell>
<table:table-cell office:value-type="string"><text:p>Two</text:p><text:p>lines</text:p></table:table-cell>
<table:table-cell office:value-type="string"><text:p>When</text:p></table:table-cell>
<table:table-cell table:number-columns-repeated="2"/><table:table-cell office:value-type="string"><text:p>Far</text:p></table:table-cell>
<table:table-cell table:number-columns-repeated="16378"/></table:table-row>
<table:table-row table:number-rows-repeated="2"><table:table-cell office:value-type="float" office:value="46350"/>
<table:table-cell office:value-type="float" office:value="46350.75" table:style-name="ce4"/>
<table:table-cell office:value-type="float" office:value="46350"/>
<table:table-cell office:value-type="time" office:time-value="PT36H0M0S" table:style-name="ce2"/>
<table:table-cell office:value-type="time" office:time-value="PT6H9M23S"/>
<table:table-cell office:value-type="float" office:value="-1.5" table:style-name="ce3"/></table:table-row>
<table:table-row table:number-rows-repeated="3"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
<table:table-row><table:table-cell office:value-type="boolean" office:boolean-value="true"/>
<table:table-cell office:value-type="date" office:date-value="2026-12-07"/>
<table:table-cell office:value-type="date" office:date-value="2026-12-07T08:30:00"/>
<table:table-cell office:value-type="percentage" office:value="0.25"/>
<table:table-cell office:value-type="float" office:value="0" table:style-name="ce1"/></table:table-row>
<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
</table:table><table:table table:name="Empty"/>"""

TAIL = "</office:spreadsheet></office:body></office:document-content>"


def _ods(path, tables: str, settings: str = ""):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", HEAD.format(settings=settings) + tables + TAIL)
    return path


def test_values_as_their_styles_show_them_and_repeats_only_as_far_as_content(tmp_path):
    path = _ods(tmp_path / "a.ods", ROWS)
    assert sheet_names(path) == ["Events", "Empty"]
    rows = list(text_rows(path, "Events"))
    assert rows[0] == ["Event  ID", "Two\nlines", "When", "", "", "Far"]
    data = ["46350", "2026-11-24 18:00:00", "2026-11-24", "36:00:00", "06:09:23", "-36:00:00"]
    assert rows[1] == rows[2] == data  # a row repeated twice; the column's default style makes C a date
    assert rows[3:6] == [[], [], []] and rows[6] == ["true", "2026-12-07", "2026-12-07 08:30:00", "0.25", "0"]
    assert len(rows) == 7  # 1,048,570 trailing empty rows: none given out
    assert to_csv(path, tmp_path / "a.csv") == 3  # rows with values; the empty ones between are written
    assert list(text_rows(path, "Empty")) == []


def test_the_null_date_of_the_document_counts(tmp_path):
    settings = '<table:calculation-settings><table:null-date table:date-value="1904-01-01"/></table:calculation-settings>'
    path = _ods(tmp_path / "b.ods", ROWS, settings)
    assert list(text_rows(path, "Events"))[1][1] == "2030-11-25 18:00:00"  # 46350.75 days after 1904-01-01


@pytest.mark.parametrize("table, said", [
    ('<table:table-row table:number-rows-repeated="999999999"><table:table-cell office:value-type="string">'
     '<text:p>X</text:p></table:table-cell></table:table-row>', "repeated to row 999,999,999, past the 1,048,576"),
    ('<table:table-row><table:table-cell table:number-columns-repeated="999999999" office:value-type="string">'
     '<text:p>X</text:p></table:table-cell></table:table-row>', "repeated to column 999,999,999, past the 16,384"),
    ('<table:table-row><table:table-cell office:value-type="float" office:value="x"/></table:table-row>',
     "a float cell cannot be read"),
])
def test_a_file_asking_for_more_than_a_sheet_holds_is_refused_naming_the_sheet(tmp_path, table, said):
    path = _ods(tmp_path / "dos.ods", f'<table:table table:name="S">{table}</table:table>')
    with pytest.raises(BadInputError, match=rf"dos\.ods, sheet 'S', row 1: .*{said}"):
        list(text_rows(path, "S"))
