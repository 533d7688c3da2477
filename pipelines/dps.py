"""DFPS ↔ DPS exchange: runaway/missing-youth records extracted from IMPACT (Oracle, or any
PostgreSQL with the same tables) → ``end_export.xlsx`` + ``End_txt_file.txt`` → DPS's SFTP
outbound folder; about two hours later DPS drops ``Dfps-missing-person-results.txt`` and
``Dfps-missing-person-counts.txt`` in ``TO_DFPS`` → three reconciliation workbooks → the
network share, and a summary mail (counts by region, never person rows) to the stakeholders.

Cron: ``./run.sh luigi --module pipelines.dps SendToDps`` when a report is due, and
``*/15 * * * * ./run.sh luigi --module pipelines.dps ReceiveFromDps`` — no process waits:
a receive run that finds the results missing logs "waiting for DPS" and exits 20 (Luigi's
missing-data code), distinct from a failure (30). Past the deadline (``[dps] deadline_hours``
after our send, default 6) it mails one alert and fails. The send never repeats: after
success its ledger row stops it, and a remote file with our sha256 (sent, then killed
before the ledger row) is recognised and not sent again.

Sections: ``[dps]`` (source, source_section, outbound_dir, results_dir, share_dir,
stakeholders, deadline_hours), ``[oracle]`` or the PostgreSQL source section, ``[sftp_dps]``,
``[smtp]``, ``[postgres]``, ``[etl]``. Matching rules and file layouts: docs/dps.md.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import luigi

from formats.pipe import DPS_COUNTS, DPS_RESULTS, DPS_SEND
from formats.spreadsheet import workbook_rows, write_workbook
from pipelines.base import ROOT, RunDateParameter, data_dir, file_group, local_target
from pipelines.texas import fiscal_quarter, fiscal_year, quarter_bounds
from targets import clock
from targets.config import Section
from targets.errors import BadInputError, DeadlineMissedError
from targets.local import atomic_path, file_digest
from targets.postgres import LedgerTarget, PostgresClient
from targets.sftp import SftpClient, SftpNewFilesTarget
from targets.smtp import Mailer
from targets.sourcedb import SourceDatabase

logger = logging.getLogger(__name__)

SQL_DIR = ROOT / "sql" / "dps"
TXT_NAME = DPS_SEND.name
XLSX_NAME = "end_export.xlsx"
RESULTS = DPS_RESULTS.name
COUNTS = DPS_COUNTS.name


@dataclass(frozen=True)
class DpsSettings:
    source: str
    source_section: str
    outbound_dir: str
    results_dir: str
    share_dir: Path
    stakeholders: tuple[str, ...]
    deadline_hours: float = 6.0

    @classmethod
    def from_config(cls) -> "DpsSettings":
        s = Section("dps")
        return cls(source=s.str("source", "oracle"), source_section=s.str("source_section", "oracle"),
                   outbound_dir=s.str("outbound_dir", "/outbound"), results_dir=s.str("results_dir", "/TO_DFPS"),
                   share_dir=s.path("share_dir", required=True),
                   stakeholders=tuple(a.strip() for a in (s.str("stakeholders") or "").split(",") if a.strip()),
                   deadline_hours=s.float("deadline_hours", 6.0))


def period(day: dt.date) -> tuple[int, int, dt.date, dt.date]:
    fy, q = fiscal_year(day), fiscal_quarter(day)
    return (fy, q) + quarter_bounds(fy, q)


def work_dir(day: dt.date) -> Path:
    return data_dir() / "dps" / day.isoformat()


# ---------------------------------------------------------------- send

class ExtractForDps(luigi.Task):
    """The quarter's runaway records: the file for DPS and its Excel reference copy."""

    date = RunDateParameter()

    def output(self):
        return {"txt": local_target(work_dir(self.date) / TXT_NAME),
                "xlsx": local_target(work_dir(self.date) / XLSX_NAME)}

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


class SendToDps(luigi.Task):
    """The txt file on DPS's server; done = its ledger row (sha256). Never sent twice."""

    date = RunDateParameter()

    def requires(self):
        return ExtractForDps(date=self.date)

    def output(self):
        return LedgerTarget(PostgresClient.from_config(), "dps_send", TXT_NAME, self.date)

    def run(self):
        settings = DpsSettings.from_config()
        local = Path(self.input()["txt"].path)
        size, sha = file_digest(local)
        client = SftpClient.from_config("dps")
        remote = f"{settings.outbound_dir.rstrip('/')}/{TXT_NAME}"
        if client.exists(remote) and client.sha256(remote) == sha:
            logger.info("DPS already has this %s (sha256 matches): recorded, not sent again", TXT_NAME)
        else:
            client.upload_atomic(local, remote)
        self.output().mark_done(direction="out", source=str(local), rows=_count_lines(local) - 1, bytes=size,
                                sha256=sha, destination=f"sftp://dps{client.path(remote)}")
        archive(self.date, [local, Path(self.input()["xlsx"].path)], "sent")


# ---------------------------------------------------------------- wait and receive

def _send_time(day: dt.date) -> dt.datetime | None:
    row = PostgresClient.from_config().last_success("dps_send", TXT_NAME)
    if row is None or row["run_date"] != day:
        return None
    return row["finished_at"]


class DpsResultsReady(luigi.ExternalTask):
    """DPS's two result files are in TO_DFPS and newer than our send."""

    date = RunDateParameter()

    def output(self):
        results_dir = DpsSettings.from_config().results_dir.rstrip("/")
        return SftpNewFilesTarget(SftpClient.from_config("dps"), [f"{results_dir}/{n}" for n in (RESULTS, COUNTS)],
                                  since=_send_time(self.date))


class DpsDeadlineMissed(luigi.Task):
    """Fails on every run until DPS answers: its results did not come before the deadline.
    The alert is mailed once (its ledger row, job ``dps_alert``, stops a second mail)."""

    date = RunDateParameter()

    def complete(self):
        return False  # a state to report on every run, not a product to build once

    def run(self):
        settings = DpsSettings.from_config()
        sent = _send_time(self.date)
        alert = LedgerTarget(PostgresClient.from_config(), "dps_alert", "deadline", self.date)
        if not alert.exists():
            Mailer.from_config().send(
                f"ALERT: DPS results missing for {book_period(self.date)}",
                f"We sent {TXT_NAME} to DPS at {sent:%Y-%m-%d %H:%M} UTC. {RESULTS} and {COUNTS} were not in "
                f"TO_DFPS {settings.deadline_hours:g} hours later. The receive job keeps checking every 15 "
                f"minutes; please contact DPS.")
            alert.mark_done(direction="in")
        raise DeadlineMissedError(f"DPS results missing after the deadline ({settings.deadline_hours:g} hours after "
                                  f"our send of {sent:%Y-%m-%d %H:%M} UTC); the alert was mailed")


class FetchDpsResults(luigi.Task):
    """DPS's two files, copied here atomically."""

    date = RunDateParameter()

    def requires(self):
        return DpsResultsReady(date=self.date)

    def output(self):
        return {n: local_target(work_dir(self.date) / "results" / n) for n in (RESULTS, COUNTS)}

    def run(self):
        settings = DpsSettings.from_config()
        client = SftpClient.from_config("dps")
        for name, target in self.output().items():
            client.download(f"{settings.results_dir.rstrip('/')}/{name}", target.path, group=file_group())


class ReconcileDps(luigi.Task):
    """The three reconciliation workbooks for the quarter."""

    date = RunDateParameter()

    def requires(self):
        return {"sent": ExtractForDps(date=self.date), "results": FetchDpsResults(date=self.date)}

    def output(self):
        fy, q, *_ = period(self.date)
        names = [f"IMPACT_not_in_DPS_{fy}_Q{q}.xlsx", f"DPS_not_in_IMPACT_{fy}_Q{q}.xlsx",
                 f"DPS_total_runaway_events_{fy}_Q{q}.xlsx"]
        return [local_target(work_dir(self.date) / "reports" / n) for n in names]

    def run(self):
        sent = DPS_SEND.read(self.input()["sent"]["txt"].path)
        results = DPS_RESULTS.read(self.input()["results"][RESULTS].path)
        counts = DPS_COUNTS.read(self.input()["results"][COUNTS].path)
        settings = DpsSettings.from_config()
        db = SourceDatabase.from_config(settings.source, settings.source_section)
        regions = {str(r["county"]).strip().upper(): r["region"] for r in db.query((SQL_DIR / "county_region.sql").read_text())}
        sa98 = {str(r["person_id"]): r for r in db.query((SQL_DIR / "sa_98_data.sql").read_text())}
        report = reconcile(sent, results, counts, regions)
        for person in report.impact_only:  # who they are in care: what stakeholders follow up on
            extra = sa98.get(person["person_id"], {})
            person["conservatorship"] = extra.get("conservatorship")
            person["placement_type"] = extra.get("placement_type")
        outs = self.output()
        for target, (title, rows, columns) in zip(outs, (
                ("IMPACT not in DPS", report.impact_only, IMPACT_ONLY_COLUMNS),
                ("DPS not in IMPACT", report.dps_only, DPS_ONLY_COLUMNS),
                ("Runaway events by region", report.totals, TOTALS_COLUMNS))):
            with target.temporary_path() as tmp:
                write_workbook(tmp, title, rows, columns)


class ReceiveFromDps(luigi.Task):
    """The quarter's workbooks on the share, the stakeholders mailed, the files archived."""

    date = RunDateParameter()

    def requires(self):
        ready = DpsResultsReady(date=self.date)
        if not ready.complete():
            sent = _send_time(self.date)
            settings = DpsSettings.from_config()
            if sent is not None and clock.now() > sent + dt.timedelta(hours=settings.deadline_hours):
                return [ready, DpsDeadlineMissed(date=self.date)]
            if not getattr(self, "_said_waiting", False):  # luigi asks requires() more than once
                self._said_waiting = True
                logger.warning("waiting for DPS: %s not yet in TO_DFPS%s", " and ".join((RESULTS, COUNTS)),
                               f" (sent {sent:%Y-%m-%d %H:%M} UTC)" if sent else " (nothing sent for this date yet)")
        return ReconcileDps(date=self.date)

    def output(self):
        return LedgerTarget(PostgresClient.from_config(), "dps_receive", "delivered", self.date)

    def run(self):
        settings = DpsSettings.from_config()
        workbooks = [Path(t.path) for t in self.input()]
        for book in workbooks:
            with atomic_path(settings.share_dir / book.name, group=file_group()) as tmp:
                shutil.copyfile(book, tmp)
        summary = summary_text(self.date, workbooks)
        Mailer.from_config().send(f"DPS runaway reconciliation {book_period(self.date)}", summary,
                                  to=list(settings.stakeholders) or None)
        fetched = [work_dir(self.date) / "results" / n for n in (RESULTS, COUNTS)]
        archive(self.date, fetched, "received")
        client = self.output().client
        for path in fetched + workbooks:
            size, sha = file_digest(path)
            LedgerTarget(client, "dps_receive", path.name, self.date).mark_done(
                direction="in", source=str(path), bytes=size, sha256=sha,
                destination=str(settings.share_dir) if path in workbooks else "archive")
        self.output().mark_done(direction="in", destination=str(settings.share_dir))


def book_period(day: dt.date) -> str:
    fy, q, *_ = period(day)
    return f"FY{fy} Q{q}"


def archive(day: dt.date, files: list[Path], kind: str) -> None:
    folder = data_dir() / "dps" / "archive" / day.isoformat() / kind
    for f in files:
        with atomic_path(folder / f.name, group=file_group()) as tmp:
            shutil.copyfile(f, tmp)


# ---------------------------------------------------------------- pure transforms

_SUFFIX = re.compile(r"\b(JR|SR|II|III|IV)\b")


def norm_name(name: str | None) -> str:
    """Upper case, accents folded, suffixes (JR, SR, II…) and non-letters removed."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().upper()
    text = _SUFFIX.sub(" ", re.sub(r"[^A-Z ]", " ", text))
    return "".join(text.split())


def parse_date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def person_key(last: str, first: str, dob) -> tuple[str, str, dt.date | None]:
    return norm_name(last), norm_name(first), parse_date(dob)


def wrangle(episodes: list[dict], sa98: dict, regions: dict) -> list[dict]:
    rows = []
    for e in episodes:
        extra = sa98.get(e["person_id"], {})
        rows.append({"person_id": str(e["person_id"]), "last_name": (e["last_name"] or "").strip(),
                     "first_name": (e["first_name"] or "").strip(), "birth_date": parse_date(e["birth_date"]),
                     "sex": (e["sex"] or "").strip().upper()[:1], "county": (e["county"] or "").strip().upper(),
                     "region": regions.get((e["county"] or "").strip().upper(), "UNKNOWN"),
                     "runaway_date": parse_date(e["runaway_date"]),
                     "conservatorship": extra.get("conservatorship"), "placement_type": extra.get("placement_type")})
    return rows


def send_records(rows: list[dict]) -> list[list[str]]:
    """``End_txt_file.txt`` records in the DPS_SEND layout: dates YYYYMMDD (docs/dps.md)."""
    return [[r["person_id"], r["last_name"], r["first_name"],
             r["birth_date"].strftime("%Y%m%d") if r["birth_date"] else "", r["sex"], r["county"],
             r["runaway_date"].strftime("%Y%m%d") if r["runaway_date"] else ""] for r in rows]


IMPACT_ONLY_COLUMNS = ["person_id", "last_name", "first_name", "dob", "county", "region", "episodes",
                       "first_runaway_date", "conservatorship", "placement_type"]
DPS_ONLY_COLUMNS = ["dps_id", "last_name", "first_name", "dob", "county", "region", "report_date", "rows_in_dps_file"]
TOTALS_COLUMNS = ["region", "impact_events", "dps_events", "difference"]


@dataclass
class Reconciliation:
    impact_only: list[dict]
    dps_only: list[dict]
    totals: list[dict]
    matched: int


def reconcile(sent: list[dict], results: list[dict], counts: list[dict], regions: dict) -> Reconciliation:
    """Who is in our file but not DPS's, who is in DPS's but not ours, and events by region.

    A DPS row matches a person when its DFPS_PERSON_ID is our PERSON_ID, or else when the
    normalised last name, first name and date of birth agree. Several episodes of one person
    are one person (counted as episodes); repeated DPS rows with one DPS_ID are one record.
    """
    people: dict[str, dict] = {}
    by_key: dict[tuple, str] = {}
    for r in sent:
        pid = r["person_id"]
        p = people.setdefault(pid, {"person_id": pid, "last_name": r["last_name"], "first_name": r["first_name"],
                                    "dob": parse_date(r["dob"]), "county": r["county"],
                                    "region": regions.get(r["county"].upper(), "UNKNOWN"), "episodes": 0,
                                    "first_runaway_date": parse_date(r["runaway_date"])})
        p["episodes"] += 1
        day = parse_date(r["runaway_date"])
        if day and (p["first_runaway_date"] is None or day < p["first_runaway_date"]):
            p["first_runaway_date"] = day
        by_key.setdefault(person_key(r["last_name"], r["first_name"], r["dob"]), pid)
    dps_records: dict[str, dict] = {}
    for r in results:
        rec = dps_records.setdefault(r["dps_id"], dict(r, rows_in_dps_file=0))
        rec["rows_in_dps_file"] += 1
    matched_people, dps_only = set(), []
    for dps_id, r in dps_records.items():
        pid = r["dfps_person_id"] if r["dfps_person_id"] in people else by_key.get(
            person_key(r["last_name"], r["first_name"], r["dob"]))
        if pid:
            matched_people.add(pid)
        else:
            dps_only.append({"dps_id": dps_id, "last_name": r["last_name"], "first_name": r["first_name"],
                             "dob": parse_date(r["dob"]), "county": r["county"].upper(),
                             "region": regions.get(r["county"].upper(), "UNKNOWN"),
                             "report_date": parse_date(r["report_date"]), "rows_in_dps_file": r["rows_in_dps_file"]})
    impact_only = [p for pid, p in sorted(people.items()) if pid not in matched_people]
    impact_events = Counter(regions.get(r["county"].upper(), "UNKNOWN") for r in sent)
    dps_events: Counter = Counter()
    for c in counts:
        try:
            dps_events[regions.get(c["county"].upper(), "UNKNOWN")] += int(c["runaway_events"])
        except ValueError as e:
            raise BadInputError(COUNTS, f"RUNAWAY_EVENTS {c['runaway_events']!r} is not a whole number") from e
    totals = [{"region": reg, "impact_events": impact_events[reg], "dps_events": dps_events[reg],
               "difference": dps_events[reg] - impact_events[reg]}
              for reg in sorted(set(impact_events) | set(dps_events), key=_region_order)]
    totals.append({"region": "TOTAL", "impact_events": sum(impact_events.values()),
                   "dps_events": sum(dps_events.values()),
                   "difference": sum(dps_events.values()) - sum(impact_events.values())})
    return Reconciliation(impact_only, sorted(dps_only, key=lambda r: r["dps_id"]), totals, len(matched_people))


def _region_order(region) -> tuple:
    text = str(region)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def summary_text(day: dt.date, workbooks: list[Path]) -> str:
    """The stakeholders' mail: counts by region only, never person rows."""
    impact_only, dps_only, totals = (workbook_rows(p) for p in workbooks)
    by_region: dict = defaultdict(lambda: [0, 0])
    for row in impact_only:
        by_region[row[5]][0] += 1
    for row in dps_only:
        by_region[row[5]][1] += 1
    lines = [f"DPS runaway reconciliation for {book_period(day)} (workbooks on the share).", "",
             f"{'Region':10} {'IMPACT not in DPS':>18} {'DPS not in IMPACT':>18}"]
    for region in sorted(by_region, key=_region_order):
        lines.append(f"{str(region):10} {by_region[region][0]:>18} {by_region[region][1]:>18}")
    lines += ["", f"{'Region':10} {'IMPACT events':>14} {'DPS events':>11} {'Difference':>11}"]
    for row in totals:
        lines.append(f"{str(row[0]):10} {row[1]:>14} {row[2]:>11} {row[3]:>11}")
    return "\n".join(lines) + "\n"


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)
