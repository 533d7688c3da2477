"""MeetMax URL checker and downloader: for a range of event ids, which events exist, which are
private, and which offer their company list as XLS → ``<data_dir>/meetmax/<date>/events_<first>-
<last>.csv`` with EventID, URL, IfExists, IsDownloadable, DownloadLink, StatusCode, Title,
IsPrivate; then every downloadable list → the feeds watcher folder (``[feeds] watch_dir``,
default ``<data_dir>/feeds/inbound``) as ``meetmax_<id>.xls``, atomically and never twice:
the Feeds database's ledger (``meetmax_download`` / ``event_<id>``) keeps each delivery's sha256, and a list
whose content did not change since it was last delivered is not delivered again (a changed
one is). ``downloads_<first>-<last>.csv`` logs what was fetched.

The ids are scanned in chunks (``[meetmax] chunk_size``, default 25), each chunk a file of its
own, so an interrupted scan resumes at the next chunk; the range's CSV is assembled from the
chunks atomically. The client is polite (targets/http.py): one request at a time, at most
``rate_per_second``, retries with backoff and jitter, ``Retry-After`` obeyed, a clear
User-Agent. Sections: ``[meetmax]``, ``[etl]``.
Run: ``./run.sh luigi --module pipelines.meetmax DownloadMeetMaxLists --first 119179 --last 119184``
(the checker alone: ``CheckMeetMaxEvents``).
"""
from __future__ import annotations

import csv
import html
import logging
import re
import shutil
from pathlib import Path

import luigi

from pipelines.base import DistrictTask, RunDateParameter, data_dir, file_group, local_target
from pipelines.feed_files import feeds_ledger
from targets.config import Section
from targets.errors import ConfigError
from targets.http import HttpClient, Page
from targets.ledger import LedgerTarget
from targets.local import atomic_path, file_digest

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


class CheckMeetMaxChunk(DistrictTask):
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


class CheckMeetMaxEvents(DistrictTask):
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


DOWNLOAD_JOB = "meetmax_download"
LOG_COLUMNS = ["EventID", "DownloadLink", "File", "Bytes", "SHA256", "Delivered"]


def watch_dir() -> Path:
    try:
        folder = Section("feeds").path("watch_dir")
    except ConfigError:
        folder = None
    return folder or data_dir() / "feeds" / "inbound"


class DownloadMeetMaxList(DistrictTask):
    """One event's company list, fetched for the day; delivered to the watcher folder unless
    the same content was delivered before. Done = its ledger row for the day."""

    date = RunDateParameter()
    event = luigi.IntParameter()
    link = luigi.Parameter(significant=False)

    def output(self):
        return LedgerTarget(feeds_ledger(), DOWNLOAD_JOB, f"event_{self.event}", self.date)

    def run(self):
        fetched = check_dir(self.date) / "fetched" / f"meetmax_{self.event}.xls"
        size = HttpClient.from_config("meetmax").download(self.link, fetched)
        _, sha = file_digest(fetched)
        ledger = self.output()
        before = ledger.ledger.last_success(DOWNLOAD_JOB, ledger.item)
        dest = watch_dir() / fetched.name
        if before is not None and before["sha256"] == sha:
            ledger.mark_done(direction="in", source=self.link, destination=str(dest), bytes=size, sha256=sha,
                             note=f"unchanged since {before['run_date']}: not delivered again")
            return
        with atomic_path(dest, group=file_group()) as tmp:
            shutil.copyfile(fetched, tmp)
        ledger.mark_done(direction="in", source=self.link, destination=str(dest), bytes=size, sha256=sha,
                         note="changed" if before else None)


class DownloadMeetMaxLists(DistrictTask):
    """Every downloadable list of an event-id range fetched; the log CSV of what was fetched."""

    date = RunDateParameter()
    first = luigi.IntParameter()
    last = luigi.IntParameter()

    def requires(self):
        return CheckMeetMaxEvents(date=self.date, first=self.first, last=self.last)

    def output(self):
        return local_target(check_dir(self.date) / f"downloads_{self.first}-{self.last}.csv")

    def run(self):
        with self.input().open("r") as fh:
            events = [r for r in csv.DictReader(fh) if r["IsDownloadable"] == "True"]
        tasks = [DownloadMeetMaxList(date=self.date, event=int(r["EventID"]), link=r["DownloadLink"])
                 for r in events]
        yield tasks  # known only once the checker has run: Luigi's dynamic dependencies
        rows = []
        for task in tasks:
            row = task.output().ledger.last_success(DOWNLOAD_JOB, task.output().item)
            rows.append({"EventID": task.event, "DownloadLink": task.link, "File": row["destination"],
                         "Bytes": row["bytes"], "SHA256": row["sha256"],
                         "Delivered": "no (unchanged)" if (row.get("note") or "").startswith("unchanged") else "yes"})
        with self.output().open("w") as out:
            writer = csv.DictWriter(out, fieldnames=LOG_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        logger.info("MeetMax lists: %d downloadable, %d delivered", len(rows),
                    sum(1 for r in rows if r["Delivered"] == "yes"))
