"""Issue 27 item 4: empty sheets and empty workbooks. With ``sheet = *`` an empty sheet or a
chart sheet is passed over and named in the run log (and the manifest), not a reason to set
the whole file aside; a workbook without a sheet that has cells is refused; a ``replace``
load of a file with no rows is refused and the table keeps its rows (before, it was
truncated and 0 rows loaded)."""
import logging

import openpyxl
from openpyxl.chart import BarChart, Reference

from tests.feedfiles import age, table, watch_pass
from tests.ledger import ledger_rows


def _weekly(path, sheets: dict, chart: bool = False):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for r in rows:
            ws.append(list(r))
    if chart:
        data = book.worksheets[0]
        bars = BarChart()
        bars.add_data(Reference(data, min_col=2, min_row=1, max_row=3))
        book.create_chartsheet("Chart").add_chart(bars)
    book.save(path)
    return age(path)


def test_every_sheet_passes_over_empty_and_chart_sheets_and_refuses_a_file_with_nothing(feeds, pg_settings, caplog):
    client, inbox = feeds
    with client.transaction() as cur:
        cur.execute("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, file_type, sheet,"
                    " header_row, target_schema, target_table, load_mode) VALUES ('weekly', 'weekly_.*\\.xlsx',"
                    " 'feeds/inbound', 'xlsx', '*', 1, 'feeds', 'clients', 'replace')")
    header = ("Client ID", "Name")
    _weekly(inbox / "weekly_a.xlsx", {"North": [header, ("C1", "Ann"), ("C2", "Bo")], "Blank": [],
                                      "South": [header, ("C3", "Cy")]}, chart=True)
    caplog.set_level(logging.INFO, logger="pipelines.feeds")
    assert watch_pass()
    assert table(client, "SELECT client_id FROM feeds.clients ORDER BY 1") == [("C1",), ("C2",), ("C3",)]
    said = [r.getMessage() for r in caplog.records if r.name == "pipelines.feeds" and "passed over" in r.getMessage()]
    assert said == ["weekly_a.xlsx: sheets passed over: 'Blank' (empty), 'Chart' (chart)"]

    # nothing but empty sheets: refused whole; a header and no rows: a replace that would empty
    # the table is refused, and the table keeps its rows
    _weekly(inbox / "weekly_b.xlsx", {"One": [], "Two": []}, chart=False)
    _weekly(inbox / "weekly_c.xlsx", {"North": [header]})
    assert not watch_pass()
    assert table(client, "SELECT client_id FROM feeds.clients ORDER BY 1") == [("C1",), ("C2",), ("C3",)]
    assert sorted(p.name for p in (inbox / "error").rglob("*.xlsx")) == ["weekly_b.xlsx", "weekly_c.xlsx"]
    errors = {i: e for i, e in ledger_rows(pg_settings, "split_part(item, '|', 1), error", job="feeds_weekly") if e}
    assert "no sheet has cells (2 empty or chart sheets)" in errors["weekly_b.xlsx"]
    assert "has no rows to load: a replace would leave feeds.clients empty, so nothing was changed" \
        in errors["weekly_c.xlsx"]
