"""MeetMax checker against the stack's MeetMax stand-in: every kind of event page, a 429 with
Retry-After retried, a slow page waited for; chunks are targets, so a scan resumes; requests
are paced."""
import csv
import datetime as dt
import time

import luigi

from pipelines.meetmax import CheckMeetMaxChunk, CheckMeetMaxEvents, check_dir
from targets.http import HttpClient

DAY = dt.date(2026, 11, 24)


def test_checker_reports_every_kind_of_event_and_resumes_by_chunk(stack_config):
    luigi.configuration.get_config().set("meetmax", "chunk_size", "2")
    first_chunk = CheckMeetMaxChunk(date=DAY, first=119179, last=119180)
    assert luigi.build([first_chunk], local_scheduler=True)  # a scan interrupted after one chunk
    mtime = (check_dir(DAY) / "chunks" / "119179-119180.csv").stat().st_mtime_ns
    t0 = time.monotonic()
    assert luigi.build([CheckMeetMaxEvents(date=DAY, first=119179, last=119184)], local_scheduler=True)
    assert (check_dir(DAY) / "chunks" / "119179-119180.csv").stat().st_mtime_ns == mtime  # not checked again
    assert time.monotonic() - t0 >= 1.5  # the slow page was waited for
    rows = {int(r["EventID"]): r for r in csv.DictReader((check_dir(DAY) / "events_119179-119184.csv").open())}
    assert sorted(rows) == list(range(119179, 119185))
    ok = rows[119179]
    assert (ok["IfExists"], ok["IsDownloadable"], ok["StatusCode"], ok["IsPrivate"]) == ("True", "True", "200", "False")
    assert ok["Title"] == "Spring Growth Conference - Company List"
    assert ok["DownloadLink"].endswith("/sched/event_119179/__co-list_cp.xls")
    assert rows[119180]["StatusCode"] == "200" and rows[119180]["IsDownloadable"] == "True"  # 429, then retried
    private = rows[119181]
    assert (private["IfExists"], private["IsPrivate"], private["IsDownloadable"], private["DownloadLink"]) == \
        ("True", "True", "False", "")
    assert (rows[119182]["StatusCode"], rows[119182]["IfExists"]) == ("404", "False")
    assert rows[119183]["IsDownloadable"] == "True"  # the slow page
    assert (rows[119184]["StatusCode"], rows[119184]["IfExists"]) == ("403", "False")


def test_requests_are_paced(stack_config):
    parser = luigi.configuration.get_config()
    parser.set("meetmax", "rate_per_second", "5")
    client = HttpClient.from_config("meetmax")
    t0 = time.monotonic()
    for event in range(5):
        assert client.get(f"sched/event_{event}/__co-list_cp.html").status == 404
    assert time.monotonic() - t0 >= 0.75 and client.requests == 5  # 5 a second at most
    assert client.session.headers["User-Agent"].startswith("district-etl feeds checker")


def test_downloads_reach_the_watcher_once_and_again_when_changed(feeds, pg_settings):
    from pipelines.meetmax import DownloadMeetMaxLists, watch_dir
    from targets import clock
    from tests.ledger import ledger_rows
    task = DownloadMeetMaxLists(date=DAY, first=119179, last=119182)
    assert luigi.build([task], local_scheduler=True)
    inbox = watch_dir()
    assert sorted(p.name for p in inbox.iterdir()) == ["meetmax_119179.xls", "meetmax_119180.xls"]
    assert oct((inbox / "meetmax_119179.xls").stat().st_mode & 0o777) == "0o660"
    log = list(csv.DictReader((check_dir(DAY) / "downloads_119179-119182.csv").open()))
    assert [(r["EventID"], r["Delivered"]) for r in log] == [("119179", "yes"), ("119180", "yes")]
    assert log[0]["SHA256"] == __import__("hashlib").sha256((inbox / "meetmax_119179.xls").read_bytes()).hexdigest()
    mtimes = {p.name: p.stat().st_mtime_ns for p in inbox.iterdir()}
    assert luigi.build([task], local_scheduler=True)  # the same day again: nothing
    assert len(ledger_rows(pg_settings, "item", job="meetmax_download")) == 2
    assert {p.name: p.stat().st_mtime_ns for p in inbox.iterdir()} == mtimes  # nothing delivered again
    # a week later: the same lists are fetched, found unchanged, and not delivered again ...
    conn = pg_settings.connect()
    with conn, conn.cursor() as cur:  # ... except 119180, whose last delivery had other content
        cur.execute("UPDATE dba.tdataloads SET sha256 = 'older' WHERE item = 'event_119180'")
    conn.close()
    clock.set_now(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))))
    week = dt.date(2026, 12, 1)
    for f in inbox.iterdir():
        f.unlink()  # the watcher took last week's files away
    assert luigi.build([DownloadMeetMaxLists(date=week, first=119179, last=119182)], local_scheduler=True)
    assert sorted(p.name for p in inbox.iterdir()) == ["meetmax_119180.xls"]  # only the changed one
    log = list(csv.DictReader((check_dir(week) / "downloads_119179-119182.csv").open()))
    assert [(r["EventID"], r["Delivered"]) for r in log] == [("119179", "no (unchanged)"), ("119180", "yes")]
