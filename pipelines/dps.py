"""DFPS ↔ DPS exchange: runaway/missing-youth records of the fiscal quarter that ended,
extracted from IMPACT (Oracle, or any PostgreSQL with the same tables) → ``End_txt_file.txt``
(+ an Excel reference copy) → DPS's SFTP outbound folder; hours later (maybe after midnight)
DPS drops ``Dfps-missing-person-results.txt`` and ``Dfps-missing-person-counts.txt`` in
``TO_DFPS`` → three reconciliation workbooks → the network share, and a summary mail (counts
by region, never person rows) to the stakeholders.

The send reports ``[dps] report_period`` (``ended``, the default: the quarter that ended
before its date, so a send on 1 December reports Sep–Nov; ``current``: the quarter holding
it). It is keyed by that quarter (ledger ``dps_send`` / ``FY2027_Q1``): never sent twice, an
empty extract is refused (mailed; ``--force`` sends it), and a file for another quarter still
waiting at DPS is never replaced silently.

The receive (cron every 15 minutes, ``--date`` ignored) works on the *outstanding send*: the
newest send with no completed receive in the ledger, whatever day it runs. With nothing
outstanding it is done at once (exit 0, one ledger query, no database or SFTP). While DPS has
not answered it logs "waiting for DPS" and exits 20 (missing data, not a failure); past
``deadline_hours`` after the send it mails one alert per send and fails (exit 30).

Sections: ``[dps]`` (source, source_section, outbound_dir, results_dir, share_dir,
stakeholders, deadline_hours, report_period), ``[oracle]`` or the PostgreSQL source section,
``[sftp_dps]``, ``[smtp]``, ``[postgres]``, ``[etl]``. Matching rules and layouts: docs/dps.md.
"""
from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import luigi

from formats.pipe import DPS_COUNTS, DPS_RESULTS, DPS_SEND
from formats.spreadsheet import write_workbook
from pipelines.base import (DistrictExternalTask, DistrictTask, DistrictWrapperTask, ROOT, Refusal, RunDateParameter,
                            data_dir, district_time, file_group, local_target, today)
from pipelines.workers import sftp_sessions
from pipelines.dps_reconcile import (DPS_ONLY_COLUMNS, IMPACT_ONLY_COLUMNS, TOTALS_COLUMNS, reconcile,
                                     send_records, summary_text, wrangle)
from pipelines.texas import ended_quarter, fiscal_quarter, fiscal_year, quarter_bounds, quarter_label
from targets import clock
from targets.config import Section
from targets.errors import BadInputError, ConfigError, DeadlineMissedError
from targets.local import atomic_path, file_digest, set_aside
from targets.ledger import Ledger, LedgerItemTarget, LedgerTarget
from targets.sftp import SftpClient, SftpNewFilesTarget
from targets.smtp import Mailer
from targets.sourcedb import SourceDatabase

logger = logging.getLogger(__name__)

SQL_DIR = ROOT / "sql" / "dps"
TXT_NAME = DPS_SEND.name  # the name DPS expects at its end; our copies carry the quarter
RESULTS = DPS_RESULTS.name
COUNTS = DPS_COUNTS.name
SEND_JOB, RECEIVE_JOB, ALERT_JOB = "dps_send", "dps_receive", "dps_alert"


@dataclass(frozen=True)
class DpsSettings:
    source: str
    source_section: str
    outbound_dir: str
    results_dir: str
    share_dir: Path
    stakeholders: tuple[str, ...]
    deadline_hours: float = 6.0
    report_period: str = "ended"

    @classmethod
    def from_config(cls) -> "DpsSettings":
        s = Section("dps")
        return cls(source=s.str("source", "oracle"), source_section=s.str("source_section", "oracle"),
                   outbound_dir=s.str("outbound_dir", "/outbound"), results_dir=s.str("results_dir", "/TO_DFPS"),
                   share_dir=s.path("share_dir", required=True),
                   stakeholders=tuple(a.strip() for a in (s.str("stakeholders") or "").split(",") if a.strip()),
                   deadline_hours=s.float("deadline_hours", 6.0), report_period=s.str("report_period", "ended"))


def period(day: dt.date) -> tuple[int, int, dt.date, dt.date]:
    """(FY, quarter, first day, last day) of the quarter a send on ``day`` reports."""
    how = DpsSettings.from_config().report_period
    if how == "ended":
        fy, q = ended_quarter(day)
    elif how == "current":
        fy, q = fiscal_year(day), fiscal_quarter(day)
    else:
        raise ConfigError(f"[dps] report_period must be 'ended' or 'current', got {how!r}")
    return (fy, q) + quarter_bounds(fy, q)


def label(day: dt.date) -> str:
    """``FY2027_Q1``: the quarter a send on ``day`` reports, as file names and the ledger carry it."""
    fy, q, *_ = period(day)
    return quarter_label(fy, q)


def book_period(day: dt.date) -> str:
    fy, q, *_ = period(day)
    return f"FY{fy} Q{q}"


def work_dir(day: dt.date) -> Path:
    """The quarter's folder: the extract, DPS's answer and the workbooks."""
    return data_dir() / "dps" / label(day)


def sent_file(day: dt.date) -> Path:
    return work_dir(day) / f"End_txt_file_{label(day)}.txt"


# ---------------------------------------------------------------- send

class ExtractForDps(DistrictTask):
    """The reported quarter's runaway records: the file for DPS and its Excel reference copy."""

    date = RunDateParameter()

    def output(self):
        return {"txt": local_target(sent_file(self.date)),
                "xlsx": local_target(work_dir(self.date) / f"end_export_{label(self.date)}.xlsx")}

    def run(self):
        settings = DpsSettings.from_config()
        db = SourceDatabase.from_config(settings.source, settings.source_section)
        fy, q, start, end = period(self.date)
        self.set_status_message(f"extracting FY{fy} Q{q} from {db.describe()}")
        episodes = db.query((SQL_DIR / "impact_runaways.sql").read_text(), {"period_start": start, "period_end": end})
        sa98 = {r["person_id"]: r for r in db.query((SQL_DIR / "sa_98_data.sql").read_text())}
        regions = {str(r["county"]).strip().upper(): r["region"] for r in db.query((SQL_DIR / "county_region.sql").read_text())}
        rows = wrangle(episodes, sa98, regions)
        with self.output()["txt"].open("w") as fh:
            DPS_SEND.write(fh, send_records(rows))
        with self.output()["xlsx"].temporary_path() as tmp:
            write_workbook(tmp, "IMPACT runaways", rows, ["person_id", "last_name", "first_name", "birth_date", "sex",
                                                          "county", "region", "runaway_date", "conservatorship",
                                                          "placement_type"])
        logger.info("extracted %d runaway episodes of %d people for FY%d Q%d", len(rows),
                    len({r["person_id"] for r in rows}), fy, q)


class SendToDps(DistrictTask):
    """The quarter's file on DPS's server; done = its ledger row (``dps_send`` / the quarter,
    on any day): a quarter is sent once."""

    date = RunDateParameter()
    force = luigi.BoolParameter(default=False, significant=False)

    resources = sftp_sessions("dps")

    def requires(self):
        return ExtractForDps(date=self.date)

    def output(self):
        return LedgerItemTarget(Ledger.of(), SEND_JOB, label(self.date), self.date)

    def run(self):
        settings = DpsSettings.from_config()
        local = Path(self.input()["txt"].path)
        size, sha = file_digest(local)
        rows = _count_lines(local) - 1
        client = SftpClient.from_config("dps")
        remote = f"{settings.outbound_dir.rstrip('/')}/{TXT_NAME}"
        reasons = [] if rows else [f"the extract for {book_period(self.date)} is empty (header only)"]
        there = client.sha256(remote) if client.exists(remote) else None
        if there is not None and there != sha:
            earlier = Ledger.of().success_with_sha(SEND_JOB, there)
            if earlier is None:
                reasons.append(f"{TXT_NAME} at DPS is a file we did not send; it would be replaced")
            elif not LedgerItemTarget(Ledger.of(), RECEIVE_JOB, earlier["item"], self.date).exists():
                reasons.append(f"{TXT_NAME} at DPS is our {earlier['item']} send, not answered yet; it would be "
                               "replaced")
        if reasons:
            _refuse_or_note(self.date, reasons, self.force,
                            [local, Path(self.input()["xlsx"].path)])
        if there == sha:
            logger.info("DPS already has this %s (sha256 matches): recorded, not sent again", TXT_NAME)
        else:
            client.upload_atomic(local, remote)
        self.output().mark_done(direction="out", source=str(local), rows=rows, bytes=size, sha256=sha,
                                destination=f"sftp://dps{client.path(remote)}")
        archive(self.date, [local, Path(self.input()["xlsx"].path)], "sent")


def _refuse_or_note(day: dt.date, reasons: list[str], force: bool, extract: list[Path]) -> None:
    """A send that breaks a rule is refused and mailed, its extract set aside so that the rerun
    extracts again from IMPACT as it is then; with --force it goes, and that is mailed."""
    if force:
        Mailer.from_config().send(f"FORCED: DPS send for {book_period(day)} sent despite problems",
                                  "Sent with --force despite:\n\n" + "\n".join(reasons))
        return
    kept = set_aside(extract, work_dir(day) / "refused" / clock.now().strftime("%Y%m%d-%H%M%S"))
    Mailer.from_config().send(
        f"REFUSED: DPS send for {book_period(day)} was not sent",
        f"Nothing was sent to DPS for {book_period(day)}:\n\n" + "\n".join(reasons) +
        f"\n\nFix the cause and rerun: the rerun extracts again from IMPACT (the refused extract is kept in "
        f"{kept}). To send anyway: ./run.sh luigi --module pipelines.dps SendToDps --date {day} --force")
    raise BadInputError(TXT_NAME, f"DPS send for {book_period(day)} refused (mailed): {reasons[0]}")


# ---------------------------------------------------------------- wait and receive

def _send(day: dt.date) -> dict | None:
    """The ledger row of the send made on ``day`` (its quarter's), if there is one."""
    row = Ledger.of().last_success(SEND_JOB, label(day))
    return row if row is not None and row["run_date"] == day else None


class DpsResultsReady(DistrictExternalTask):
    """DPS's two result files are in TO_DFPS and newer than the send made on ``date``."""

    date = luigi.DateParameter()  # the send's date

    def output(self):
        results_dir = DpsSettings.from_config().results_dir.rstrip("/")
        sent = _send(self.date)
        return SftpNewFilesTarget(SftpClient.from_config("dps"), [f"{results_dir}/{n}" for n in (RESULTS, COUNTS)],
                                  since=sent["finished_at"] if sent else None)


class DpsDeadlineMissed(Refusal):
    """Fails on every run until DPS answers the send made on ``date``: the deadline passed.
    The alert is mailed once per send (its ledger row, ``dps_alert`` / the quarter, stops a
    second mail)."""

    date = luigi.DateParameter()  # the send's date
    error = DeadlineMissedError

    def run(self):
        alert = LedgerItemTarget(Ledger.of(), ALERT_JOB, label(self.date), today())
        if not alert.exists():
            Mailer.from_config().send(f"ALERT: DPS results missing for {book_period(self.date)}",
                                      self.message().split(";")[0] + ". The receive job keeps checking every 15 "
                                      "minutes; please contact DPS.")
            alert.mark_done(direction="in")
        super().run()

    def message(self) -> str:
        settings = DpsSettings.from_config()
        sent = _send(self.date)["finished_at"]
        return (f"DPS results for {book_period(self.date)} missing after the deadline ({settings.deadline_hours:g} "
                f"hours after our send of {TXT_NAME} at {district_time(sent)}); the alert was mailed")


class FetchDpsResults(DistrictTask):
    """DPS's two files for the send made on ``date``, copied here atomically."""

    date = luigi.DateParameter()
    resources = sftp_sessions("dps")

    def requires(self):
        return DpsResultsReady(date=self.date)

    def output(self):
        return {n: local_target(work_dir(self.date) / "results" / n) for n in (RESULTS, COUNTS)}

    def run(self):
        settings = DpsSettings.from_config()
        client = SftpClient.from_config("dps")
        for name, target in self.output().items():
            client.download(f"{settings.results_dir.rstrip('/')}/{name}", target.path, group=file_group())


class SentDpsFile(DistrictExternalTask):
    """The file we sent on ``date`` (the receive never extracts again)."""

    date = luigi.DateParameter()

    def output(self):
        return local_target(sent_file(self.date))


class ReconcileDps(DistrictTask):
    """The three reconciliation workbooks for the quarter sent on ``date``."""

    date = luigi.DateParameter()

    def requires(self):
        return {"sent": SentDpsFile(date=self.date), "results": FetchDpsResults(date=self.date)}

    def output(self):
        names = [f"IMPACT_not_in_DPS_{label(self.date)}.xlsx", f"DPS_not_in_IMPACT_{label(self.date)}.xlsx",
                 f"DPS_total_runaway_events_{label(self.date)}.xlsx"]
        return [local_target(work_dir(self.date) / "reports" / n) for n in names]

    def run(self):
        sent = DPS_SEND.records(self.input()["sent"].path)  # streamed: read once, by reconcile
        results = DPS_RESULTS.records(self.input()["results"][RESULTS].path)
        counts = DPS_COUNTS.records(self.input()["results"][COUNTS].path)
        settings = DpsSettings.from_config()
        db = SourceDatabase.from_config(settings.source, settings.source_section)
        regions = {str(r["county"]).strip().upper(): r["region"] for r in db.query((SQL_DIR / "county_region.sql").read_text())}
        sa98 = {str(r["person_id"]): r for r in db.query((SQL_DIR / "sa_98_data.sql").read_text())}
        report = reconcile(sent, results, counts, regions)
        for person in report.impact_only:  # who they are in care: what stakeholders follow up on
            extra = sa98.get(person["person_id"], {})
            person["conservatorship"] = extra.get("conservatorship")
            person["placement_type"] = extra.get("placement_type")
        for target, (title, rows, columns) in zip(self.output(), (
                ("IMPACT not in DPS", report.impact_only, IMPACT_ONLY_COLUMNS),
                ("DPS not in IMPACT", report.dps_only, DPS_ONLY_COLUMNS),
                ("Runaway events by region", report.totals, TOTALS_COLUMNS))):
            with target.temporary_path() as tmp:
                write_workbook(tmp, title, rows, columns)


class DeliverDpsResults(DistrictTask):
    """The quarter's workbooks on the share, the stakeholders mailed, the files archived;
    done = ``dps_receive`` / the quarter in the ledger."""

    date = luigi.DateParameter()  # the send's date

    def requires(self):
        return ReconcileDps(date=self.date)

    def output(self):
        return LedgerItemTarget(Ledger.of(), RECEIVE_JOB, label(self.date), today())

    def run(self):
        settings = DpsSettings.from_config()
        workbooks = [Path(t.path) for t in self.input()]
        for book in workbooks:
            with atomic_path(settings.share_dir / book.name, group=file_group()) as tmp:
                shutil.copyfile(book, tmp)
        Mailer.from_config().send(f"DPS runaway reconciliation {book_period(self.date)}",
                                  summary_text(book_period(self.date), workbooks, settings.share_dir),
                                  to=list(settings.stakeholders) or None)
        fetched = [work_dir(self.date) / "results" / n for n in (RESULTS, COUNTS)]
        archive(self.date, fetched, "received")
        ledger = self.output().ledger
        for path in fetched + workbooks:
            size, sha = file_digest(path)
            LedgerTarget(ledger, RECEIVE_JOB, f"{label(self.date)}/{path.name}", today()).mark_done(
                direction="in", source=str(path), bytes=size, sha256=sha,
                destination=str(settings.share_dir) if path in workbooks else "archive")
        self.output().mark_done(direction="in", destination=str(settings.share_dir))


class ReceiveFromDps(DistrictWrapperTask):
    """DPS's answer to the outstanding send, delivered; nothing to do when no send waits.
    ``--date`` is accepted (cron passes none) and does not choose the send: the ledger does."""

    date = RunDateParameter(significant=False)

    def requires(self):
        outstanding = _outstanding()
        if outstanding is None:
            return []
        sent = outstanding["run_date"]
        ready = DpsResultsReady(date=sent)
        if not ready.complete():
            settings = DpsSettings.from_config()
            if clock.now() > outstanding["finished_at"] + dt.timedelta(hours=settings.deadline_hours):
                return [ready, DpsDeadlineMissed(date=sent)]
            if not getattr(self, "_said_waiting", False):  # luigi asks requires() more than once
                self._said_waiting = True
                logger.warning("waiting for DPS: %s and %s for %s (sent %s) not yet in TO_DFPS", RESULTS, COUNTS,
                               outstanding["item"], district_time(outstanding["finished_at"]))
        return DeliverDpsResults(date=sent)


def _outstanding() -> dict | None:
    """The newest send with no completed receive (one ledger query)."""
    return Ledger.of().outstanding(SEND_JOB, answered_by=RECEIVE_JOB)


def archive(day: dt.date, files: list[Path], kind: str) -> None:
    folder = data_dir() / "dps" / "archive" / label(day) / kind
    for f in files:
        with atomic_path(folder / f.name, group=file_group()) as tmp:
            shutil.copyfile(f, tmp)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)
