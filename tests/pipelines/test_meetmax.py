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
