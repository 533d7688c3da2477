"""The Feeds ETL's weekly chain (the schedule's Monday 02:00) and its report mail.

``FeedsWeekly``: the MeetMax lists of ``[meetmax] first_id..last_id`` fetched and delivered to
the watcher folder (when the range is configured), a watcher pass that takes them at once
(our downloader delivers with one rename), then ``FeedsReport``: the week's report (the seven
days ending on the run date) mailed to each active tImportConfig row's ``notify`` addresses
— one multipart mail (text and HTML) per group of addresses with the same rows, listing per
feed (its row's name and table) the files loaded and failed, rows loaded and rejected, each
rejected row (file, sheet, row, column, reason: never a value), the files that matched no row
in the jobs' drop folders, and a small chart of rows loaded per
week over the last eight weeks. Counts, job and file names only: never row contents. Mail
goes over TLS as ``[smtp]`` says (``require_tls``, ``cafile``). Each mail's ledger row
(``feeds_report`` / ``<week start>|configs <ids>``) keeps it from being sent twice.
Run: ``./run.sh luigi --module pipelines.feeds_weekly FeedsWeekly``.
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import luigi

from pipelines.base import DistrictTask, DistrictWrapperTask, RunDateParameter, counted
from pipelines.feed_files import configs, feeds_ledger, folders
from pipelines.feeds import UNMATCHED_JOB, WatchFeeds, load_job
from pipelines.meetmax import DownloadMeetMaxLists
from registry.import_config import ImportConfig
from targets.config import Section
from targets.errors import ConfigError
from targets.ledger import LedgerTarget
from targets.smtp import Mailer

logger = logging.getLogger(__name__)

REPORT_JOB = "feeds_report"
WEEKS = 8  # the chart's span


@dataclass
class JobWeek:
    job: str
    loaded: int = 0  # files
    failed: int = 0  # files still failed (no later success)
    rows: int = 0
    rejected: int = 0
    seconds: float = 0.0
    name: str = ""  # as the client knows the feed: its row's name and table (the job is ours)
    rejects: list[str] = field(default_factory=list)  # "file: sheet S, row N, column C: reason" (no values)

    @property
    def title(self) -> str:
        return self.name or self.job


def week(day: dt.date) -> tuple[dt.date, dt.date]:
    """The seven days a report covers: those ending on ``day``."""
    return day - dt.timedelta(days=6), day


def job_weeks(ledger, jobs: list[str], start: dt.date, end: dt.date) -> dict[str, JobWeek]:
    out = {j: JobWeek(j) for j in jobs}
    with ledger.transaction() as cur:
        cur.execute(
            "SELECT job_name, count(*) FILTER (WHERE status = 'succeeded' AND coalesce(rows, 0) > 0),"
            " count(*) FILTER (WHERE status = 'failed' AND NOT EXISTS (SELECT 1 FROM dba.tdataloads s WHERE"
            " s.job_name = t.job_name AND s.item = t.item AND s.status = 'succeeded')),"
            " coalesce(sum(rows) FILTER (WHERE status = 'succeeded'), 0),"
            " coalesce(sum(rejected) FILTER (WHERE status = 'succeeded'), 0),"
            " coalesce(sum(extract(epoch FROM finished_at - started_at)) FILTER (WHERE status = 'succeeded'), 0)"
            " FROM dba.tdataloads t WHERE job_name = ANY(%s) AND run_date BETWEEN %s AND %s GROUP BY job_name",
            (jobs, start, end))
        for job, loaded, failed, rows, rejected, seconds in cur.fetchall():
            out[job] = JobWeek(job, loaded, failed, int(rows), int(rejected), float(seconds))
    return out


MOST_REJECTS = 20  # listed per job in a report; the rest counted (the rejects files hold every one)
_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')


def rejected_rows(error_dirs: list[Path], start: dt.date, end: dt.date) -> list[str]:
    """The rows a feed's loads rejected in the week, from the rejects files its loads wrote for
    the sender in its error folders: file, sheet, row, column and reason, never a value (a reason
    quoting one has it cut out): what the client needs to mend the file."""
    lines: list[str] = []
    day = start
    while day <= end:
        for path in sorted(p for d in error_dirs for p in (d / day.isoformat()).glob("*.rejects.csv")):
            with open(path, encoding="utf-8", newline="") as fh:
                for record in list(csv.reader(fh))[1:]:
                    if len(record) >= 4:
                        sheet, line, column, reason = record[:4]
                        where = ", ".join(p for p in (f"sheet {sheet}" if sheet else "", f"row {line}",
                                                      f"column {column}" if column else "") if p)
                        lines.append(f"{path.name.removesuffix('.rejects.csv')}: {where}: "
                                     f"{_QUOTED.sub('(value)', reason)}")
        day += dt.timedelta(days=1)
    if len(lines) > MOST_REJECTS:
        lines = lines[:MOST_REJECTS] + [f"… and {len(lines) - MOST_REJECTS} more (the rejects files have all)"]
    return lines


def weekly_rows(ledger, jobs: list[str], end: dt.date) -> list[tuple[dt.date, int]]:
    """Rows loaded by ``jobs`` in each of the last ``WEEKS`` report weeks, oldest first."""
    starts = [week(end - dt.timedelta(weeks=n))[0] for n in range(WEEKS - 1, -1, -1)]
    with ledger.transaction() as cur:
        cur.execute("SELECT run_date, coalesce(sum(rows), 0) FROM dba.tdataloads WHERE job_name = ANY(%s)"
                    " AND status = 'succeeded' AND run_date BETWEEN %s AND %s GROUP BY run_date",
                    (jobs, starts[0], end))
        by_day = dict(cur.fetchall())
    return [(s, int(sum(n for d, n in by_day.items() if s <= d <= s + dt.timedelta(days=6)))) for s in starts]


def unmatched_files(ledger, source_dirs: set[Path], start: dt.date, end: dt.date) -> list[str]:
    """Names of the files set aside in the week from these drop folders."""
    with ledger.transaction() as cur:
        cur.execute("SELECT source FROM dba.tdataloads WHERE job_name = %s AND status = 'succeeded'"
                    " AND run_date BETWEEN %s AND %s ORDER BY finished_at", (UNMATCHED_JOB, start, end))
        return [Path(s).name for (s,) in cur.fetchall() if s and Path(s).parent in source_dirs]


def bar(n: int, top: int, width: int = 24) -> str:
    return "█" * (round(n * width / top) if top else 0)


def render(start: dt.date, end: dt.date, weeks: list[JobWeek], unmatched: list[str],
           chart: list[tuple[dt.date, int]]) -> tuple[str, str, str]:
    """(subject, text, HTML) of one report."""
    loaded, failed = sum(w.loaded for w in weeks), sum(w.failed for w in weeks)
    subject = f"Feeds weekly report {start} to {end}: {counted(loaded, 'file')} loaded, {failed} failed"
    text = [f"Feeds loads from {start} to {end}", ""]
    for w in weeks:
        text.append(f"{w.title:30} {'FAILED' if w.failed else 'ok':6} files {w.loaded:3} loaded {w.failed:3} failed"
                    f"   rows {w.rows:>9,} loaded {w.rejected:>6,} rejected")
        text += [f"    rejected: {line}" for line in w.rejects]
    text += ["", f"Files that matched no feed ({len(unmatched)}):"] + [f"  {n}" for n in unmatched] + \
        (["  none"] if not unmatched else [])
    top = max((n for _, n in chart), default=0)
    text += ["", "Rows loaded per week:"] + [f"  {s}  {bar(n, top):24} {n:,}" for s, n in chart]
    rows_html = "".join(
        f"<tr><td>{html.escape(w.title)}</td><td style='color:{'#b00' if w.failed else '#070'}'>"
        f"{'FAILED' if w.failed else 'ok'}</td><td align='right'>{w.loaded}</td><td align='right'>{w.failed}</td>"
        f"<td align='right'>{w.rows:,}</td><td align='right'>{w.rejected:,}</td></tr>"
        + "".join(f"<tr><td></td><td colspan='5'>rejected: {html.escape(line)}</td></tr>" for line in w.rejects)
        for w in weeks)
    chart_html = "".join(
        f"<tr><td>{s}</td><td><div style='background:#3b73b9;height:12px;width:{round(n * 240 / top) if top else 0}px'>"
        f"</div></td><td align='right'>{n:,}</td></tr>" for s, n in chart)
    unmatched_html = "".join(f"<li>{html.escape(n)}</li>" for n in unmatched) or "<li>none</li>"
    page = (f"<html><body style='font-family:sans-serif'><h2>Feeds loads from {start} to {end}</h2>"
            "<table cellpadding='4' style='border-collapse:collapse'><tr><th align='left'>job</th><th>status</th>"
            "<th>files loaded</th><th>files failed</th><th>rows loaded</th><th>rows rejected</th></tr>"
            f"{rows_html}</table><h3>Files that matched no feed ({len(unmatched)})</h3><ul>{unmatched_html}</ul>"
            f"<h3>Rows loaded per week</h3><table cellpadding='2'>{chart_html}</table></body></html>")
    return subject, "\n".join(text) + "\n", page


def recipient_groups(rows: list[ImportConfig]) -> dict[tuple[int, ...], list[str]]:
    """Config ids → the addresses notified of exactly those rows (one mail per group)."""
    ids_of: dict[str, set[int]] = {}
    for row in rows:
        for address in row.recipients:
            ids_of.setdefault(address.lower(), set()).add(row.config_id)
    groups: dict[tuple[int, ...], list[str]] = {}
    for address, ids in sorted(ids_of.items()):
        groups.setdefault(tuple(sorted(ids)), []).append(address)
    return groups


class FeedsReportMail(DistrictTask):
    """The week's report on some config rows, mailed to the addresses notified of them."""

    date = RunDateParameter()
    config_ids = luigi.ListParameter()

    def output(self):
        return LedgerTarget(feeds_ledger(), REPORT_JOB,
                            f"{week(self.date)[0]}|configs {','.join(map(str, self.config_ids))}", self.date)

    def run(self):
        active = configs()
        rows = [c for c in active if c.config_id in self.config_ids]
        to = recipient_groups(active).get(tuple(self.config_ids))  # grouped over every row, as FeedsReport did
        if not to:
            raise ConfigError(f"tImportConfig rows {list(self.config_ids)} no longer notify the same addresses")
        start, end = week(self.date)
        ledger = self.output().ledger
        jobs = sorted({load_job(r) for r in rows})
        weeks = list(job_weeks(ledger, jobs, start, end).values())
        for w in weeks:
            mine = [r for r in rows if load_job(r) == w.job]  # a job's rows (one per file pattern)
            w.name = f"{mine[0].job_name} ({', '.join(sorted({f'{r.target_schema}.{r.target_table}' for r in mine}))})"
            w.rejects = rejected_rows(sorted({folders(r).error for r in mine}), start, end)
        unmatched = unmatched_files(ledger, {folders(r).source for r in rows}, start, end)
        subject, text, page = render(start, end, weeks, unmatched, weekly_rows(ledger, jobs, end))
        Mailer.from_config().send(subject, text, to=to, html=page)
        logger.info("mailed the report of %s to %s", ", ".join(jobs), counted(len(to), "recipient"))
        self.output().mark_done(direction="out", destination=counted(len(to), "recipient"),
                                rows=sum(w.rows for w in weeks), note=f"jobs {', '.join(jobs)}")


class FeedsReport(DistrictWrapperTask):
    """Every group of notified addresses gets its mail."""

    date = RunDateParameter()

    def requires(self):
        return [FeedsReportMail(date=self.date, config_ids=list(ids)) for ids in recipient_groups(configs())]


def meetmax_range() -> tuple[int, int] | None:
    try:
        s = Section("meetmax")
        first, last = s.int("first_id", 0), s.int("last_id", 0)
    except ConfigError:
        return None
    return (first, last) if first and last >= first else None


class FeedsWeekly(DistrictTask):
    """MeetMax lists → a watcher pass that takes them at once → the report mails."""

    date = RunDateParameter()

    def output(self):
        return LedgerTarget(feeds_ledger(), "feeds_weekly", "chain", self.date)

    def run(self):
        delivered: list[str] = []
        span = meetmax_range()
        if span is not None:
            download = DownloadMeetMaxLists(date=self.date, first=span[0], last=span[1])
            yield download
            with download.output().open("r") as fh:
                delivered = [Path(r["File"]).name for r in csv.DictReader(fh) if r["Delivered"] == "yes"]
        else:
            logger.info("[meetmax] first_id/last_id not set: no MeetMax lists this week")
        yield WatchFeeds(date=self.date, settled=delivered)
        yield FeedsReport(date=self.date)
        self.output().mark_done(direction="task", note=f"{len(delivered)} MeetMax lists delivered")
