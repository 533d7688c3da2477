"""The feeds' weekly chain over real days: files dropped over two weeks, then on Monday 02:00
the MeetMax lists fetched from the stand-in and taken at once, and each group of notified
addresses mailed (over TLS, text and HTML) its jobs' week: files and rows loaded and
rejected, failures, unmatched files, a chart of rows per week. A rerun sends nothing; a week
whose chain fails still gets its report from the 02:45 slot, failures listed."""
import datetime as dt
import email
import email.policy
import re
import zoneinfo

import luigi
import luigi.configuration

from pipelines.failures import RunReport
from pipelines.feeds_weekly import FeedsReport, FeedsWeekly, render, week, JobWeek
from targets import clock
from tests.feedfiles import age, events_workbook, watch_pass, write
from tests.ledger import ledger_rows

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def _at(day: str, hour: int, minute: int = 0):
    clock.set_now(dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=CHICAGO))


def _mails(stack_var, before):
    out = {}
    for f in sorted(set((stack_var / "mail").glob("*.eml")) - before):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        if msg["Subject"].startswith("Feeds weekly report"):
            out[msg["X-Envelope-To"]] = msg
    return out


def _run(task):
    with RunReport("test", mail=False):
        return luigi.build([task], local_scheduler=True)


def test_the_week_is_reported_to_each_rows_addresses(feeds, pg_settings, stack_var):
    client, inbox = feeds
    with client.transaction() as cur:
        cur.execute("CREATE TABLE feeds.companies (company text, ticker text, sector text, attending text)")
        cur.execute("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, file_type, target_schema,"
                    " target_table, notify) VALUES ('meetmax', 'meetmax_\\d+\\.xls', 'feeds/inbound', 'csv', 'feeds',"
                    " 'companies', 'OPS@example.org')")  # the stand-in's "XLS" is CSV text
        cur.execute("UPDATE dba.timportconfig SET notify = 'ops@example.org, ir@example.org' WHERE config_id = 1")
    luigi.configuration.get_config().set("meetmax", "first_id", "119179")
    luigi.configuration.get_config().set("meetmax", "last_id", "119181")
    _at("2026-11-10", 9)  # a Tuesday, the week before
    events_workbook(inbox / "events_20261110.xlsx", [(1, "Acme", None, "A"), (2, "Globex", None, "G")])
    assert watch_pass()
    _at("2026-11-18", 9)
    events_workbook(inbox / "events_20261118.xlsx", [(2, "Globex Corp", None, "G"), (3, "Initech", None, "I"),
                                                     ("x", "Bad", None, "")])  # one reject allowed
    age(write(inbox / "clients_w47.csv", "client_id;name\n1;Ada\n"))
    age(write(inbox / "stray_notes.txt", "?"))
    assert watch_pass()
    before = set((stack_var / "mail").glob("*.eml"))
    _at("2026-11-23", 2)  # Monday 02:00
    assert _run(FeedsWeekly())
    mails = _mails(stack_var, before)
    # one mail per group of addresses: ops is on rows 1 and 4, ir on row 1 only, clients on row 2
    assert sorted(mails) == ["clients@example.org", "ir@example.org", "ops@example.org"]
    assert "meetmax (feeds.companies)" not in mails["ir@example.org"].get_body(("plain",)).get_content()
    ops = mails["ops@example.org"]
    assert ops["Subject"] == "Feeds weekly report 2026-11-17 to 2026-11-23: 3 files loaded, 0 failed"
    assert ops.get_content_type() == "multipart/alternative" and ops["X-Stack-TLS"] == "yes"
    text, page = (p.get_content() for p in ops.iter_parts())
    # each feed as the client knows it (its name and table), never our job names or load times
    assert "events (feeds.events)" in text and "meetmax (feeds.companies)" in text and "clients" not in text
    assert "feeds_" not in text and not re.search(r"\d s$", text, re.M) and "time</th>" not in page
    events = next(line for line in text.splitlines() if line.startswith("events (feeds.events)"))
    assert "files   1 loaded   0 failed" in events and "rows         2 loaded      1 rejected" in events
    # the rejected row, where and why (as the rejects file has it), without its values
    assert "    rejected: events_20261118.xlsx: sheet Events, row 5, column Event ID: not a valid integer\r\n" in text
    meetmax = next(line for line in text.splitlines() if line.startswith("meetmax (feeds.companies)"))
    assert "files   2 loaded" in meetmax and "rows        40 loaded" in meetmax  # two public events, 20 each
    assert "stray_notes.txt" in text and "<li>stray_notes.txt</li>" in page
    chart = text.split("Rows loaded per week:")[1].splitlines()[1:]
    assert len(chart) == 8 and chart[-2].startswith("  2026-11-10  ") and chart[-2].endswith(" 2")
    assert chart[-1].startswith("  2026-11-17  ████") and chart[-1].endswith(" 42")
    assert "<table" in page and "width:240px" in page
    clients = mails["clients@example.org"]
    assert "clients (feeds.clients)" in clients.get_body(("plain",)).get_content()
    assert "Ada" not in clients.as_string() and "Globex" not in ops.as_string()  # counts and names, no rows
    assert _run(FeedsWeekly()) and _run(FeedsReport())  # the rerun and the 02:45 slot: nothing more
    assert _mails(stack_var, before).keys() == mails.keys()
    assert len(set((stack_var / "mail").glob("*.eml")) - before) == 3
    assert [r for r in ledger_rows(pg_settings, "job_name, status", job="feeds_report")] == [
        ("feeds_report", "succeeded")] * 3


def test_a_week_whose_chain_fails_is_still_reported_by_the_0245_slot(feeds, stack_var):
    client, inbox = feeds
    _at("2026-11-30", 1, 55)
    age(write(inbox / "events_20261130.xlsx", "PK\x03\x04 not a workbook" * 10), 60)
    age(write(inbox / "clients_w49.csv", "client_id;name\n2;Bo\n"), 60)
    before = set((stack_var / "mail").glob("*.eml"))
    _at("2026-11-30", 2)
    assert not _run(FeedsWeekly())  # the bad workbook fails the chain's pass: no report from the chain
    assert _mails(stack_var, before) == {}
    _at("2026-11-30", 2, 45)
    assert _run(FeedsReport())
    ops = _mails(stack_var, before)["ops@example.org"]
    assert ops["Subject"] == "Feeds weekly report 2026-11-24 to 2026-11-30: 0 files loaded, 1 failed"
    text = ops.get_body(("plain",)).get_content()
    assert next(line for line in text.splitlines() if line.startswith("events (feeds.events)")).split()[2] == "FAILED"


def test_the_report_window_and_an_empty_week():
    assert week(dt.date(2026, 11, 23)) == (dt.date(2026, 11, 17), dt.date(2026, 11, 23))
    subject, text, page = render(dt.date(2026, 11, 17), dt.date(2026, 11, 23), [JobWeek("feeds_events")], [],
                                 [(dt.date(2026, 11, 17), 0)])
    assert subject.endswith("0 files loaded, 0 failed") and "none" in text and "width:0px" in page
