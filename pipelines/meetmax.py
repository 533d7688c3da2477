"""MeetMax URL checker: for a range of event ids, which events exist, which are private, and
which offer their company list as XLS → ``<data_dir>/meetmax/<date>/events_<first>-<last>.csv``
with EventID, URL, IfExists, IsDownloadable, DownloadLink, StatusCode, Title, IsPrivate.

The ids are scanned in chunks (``[meetmax] chunk_size``, default 25), each chunk a file of its
own, so an interrupted scan resumes at the next chunk; the range's CSV is assembled from the
chunks atomically. The client is polite (targets/http.py): one request at a time, at most
``rate_per_second``, retries with backoff and jitter, ``Retry-After`` obeyed, a clear
User-Agent. Sections: ``[meetmax]``, ``[etl]``.
Run: ``./run.sh luigi --module pipelines.meetmax CheckMeetMaxEvents --first 119179 --last 119184``.
"""
from __future__ import annotations

import csv
import html
import logging
import re
from pathlib import Path

import luigi

from pipelines.base import RunDateParameter, data_dir, local_target
from targets.config import Section
from targets.errors import ConfigError
from targets.http import HttpClient, Page

logger = logging.getLogger(__name__)

COLUMNS = ["EventID", "URL", "IfExists", "IsDownloadable", "DownloadLink", "StatusCode", "Title", "IsPrivate"]
_TITLE = re.compile(r"<title>(.*?)</title>", re.I | re.S)
_XLS_LINK = re.compile(r"""href=["']([^"']+\.xls(?:\?[^"']*)?)["']""", re.I)


def event_path(event: int) -> str:
    return f"sched/event_{event}/__co-list_cp.html"


def classify(event: int, page: Page, client: HttpClient) -> dict:
    """One row of the checker's CSV from an event page (no page content beyond the title)."""
    found = _TITLE.search(page.text) if page.status == 200 else None
    title = html.unescape(found.group(1)).strip() if found else ""
    private = page.status == 200 and "private" in page.text.lower()
    link = None if private or page.status != 200 else _XLS_LINK.search(page.text)
    return {"EventID": event, "URL": page.url, "IfExists": page.status == 200,
            "IsDownloadable": link is not None, "DownloadLink": client.url(html.unescape(link.group(1))) if link else "",
            "StatusCode": page.status, "Title": title, "IsPrivate": private}


def chunk_size() -> int:
    try:
        size = Section("meetmax").int("chunk_size", 25)
    except ConfigError:
        size = 25
    if size < 1:
        raise ConfigError("[meetmax] chunk_size must be at least 1")
    return size


def check_dir(day) -> Path:
    return data_dir() / "meetmax" / day.isoformat()


class CheckMeetMaxChunk(luigi.Task):
    """The checker's rows for the ids ``first``..``last`` (inclusive)."""

    date = RunDateParameter()
    first = luigi.IntParameter()
    last = luigi.IntParameter()

    def output(self):
        return local_target(check_dir(self.date) / "chunks" / f"{self.first}-{self.last}.csv")

    def run(self):
        client = HttpClient.from_config("meetmax")
        ids = range(self.first, self.last + 1)
        with self.output().open("w") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for n, event in enumerate(ids, start=1):
                writer.writerow(classify(event, client.get(event_path(event)), client))
                self.set_progress_percentage(int(n * 100 / len(ids)))
                self.set_status_message(f"checked {n} of {len(ids)} events")


class CheckMeetMaxEvents(luigi.Task):
    """The checker's CSV for an event-id range, assembled from its chunks."""

    date = RunDateParameter()
    first = luigi.IntParameter()
    last = luigi.IntParameter()

    def requires(self):
        if self.last < self.first:
            raise ConfigError(f"--last {self.last} is before --first {self.first}")
        size = chunk_size()
        return [CheckMeetMaxChunk(date=self.date, first=a, last=min(a + size - 1, self.last))
                for a in range(self.first, self.last + 1, size)]

    def output(self):
        return local_target(check_dir(self.date) / f"events_{self.first}-{self.last}.csv")

    def run(self):
        rows = 0
        with self.output().open("w") as out:
            writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for chunk in self.input():
                with chunk.open("r") as fh:
                    for row in csv.DictReader(fh):
                        writer.writerow(row)
                        rows += 1
        logger.info("MeetMax events %d-%d checked: %d rows in %s", self.first, self.last, rows, self.output().path)
