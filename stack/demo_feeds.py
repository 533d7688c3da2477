"""The demo's Feeds part (``./run.sh demo``): the small firm's weekly ETL on the embedded stack.

1. ``./run.sh feeds-db init`` (idempotent), then, as the Feeds owner, three demo tables and
   three ``dba.tImportConfig`` rows: the MeetMax lists, client Acme's weekly events workbook,
   client Globex's client list;
2. the clients upload over SFTP to their upload-only drop-off accounts (Acme with its key, an
   xlsx whose header is on row 2 and which has one bad row; Globex with its password, a
   ``;``-separated CSV) — each upload once per day (``DemoClientUpload``'s ledger row);
3. the weekly chain (``FeedsWeekly``): the MeetMax stand-in's lists fetched and taken at once,
   the clients' files taken, converted, loaded, archived, and the report mailed.

The demo sets ``[feeds] settle_seconds`` to 2 (and waits that long) so that the uploads count as
finished; cron's passes use the configured window.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import random
import tempfile
import time
from pathlib import Path

import luigi
import luigi.configuration

from ops.feeds_db import FeedsDbSettings, init
from pipelines.base import DistrictTask, RunDateParameter, counted, data_dir
from pipelines.feed_files import feeds_ledger
from pipelines.feeds_weekly import FeedsWeekly
from stack.openssh import dropoff_settings
from stack.services import dropoff_root
from stack.state import StackState
from targets.config import Section
from targets.ledger import LedgerTarget
from targets.sftp import SftpClient

logger = logging.getLogger(__name__)

TABLES = ("CREATE TABLE IF NOT EXISTS feeds.events (event_id integer PRIMARY KEY, company text NOT NULL,"
          " starts date, seats integer, fee numeric(10,2));"
          "CREATE TABLE IF NOT EXISTS feeds.clients (client_id text NOT NULL, name text, joined date);"
          "CREATE TABLE IF NOT EXISTS feeds.companies (company text PRIMARY KEY, ticker text, sector text,"
          " attending text)")


def _rows(var: Path) -> list[tuple]:
    drop = dropoff_root(var)
    return [  # job, regex, source, processing, archive, error, type, sheet, header row, delimiter, table, mode, keys,
        #         max rejects, notify
        ("meetmax", r"meetmax_\d+\.xls", "feeds/inbound", None, None, None, "csv", None, 1, ",", "companies",
         "upsert", ["company"], 0, "research@feeds.example"),  # the stand-in's "XLS" is CSV text
        ("acme_events", r"events_\d{8}\.xlsx", str(drop / "acme" / "inbound"), "feeds/acme/processing",
         "feeds/acme/archive", "feeds/acme/error", "xlsx", "Events", 2, ",", "events", "upsert", ["event_id"], 5,
         "ir@acme.example, research@feeds.example"),
        ("globex_clients", r"clients_.*\.csv", str(drop / "globex" / "inbound"), "feeds/globex/processing",
         "feeds/globex/archive", "feeds/globex/error", "csv", None, 1, ";", "clients", "append", None, 0,
         "data@globex.example")]


def setup(var: Path) -> None:
    """The Feeds database, its demo tables and tImportConfig rows (all idempotent)."""
    settings = FeedsDbSettings.from_config()
    init(settings)
    conn = settings.as_owner().connect()
    with conn, conn.cursor() as cur:
        cur.execute(TABLES)
        for row in _rows(var):
            cur.execute("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, processing_dir,"
                        " archive_dir, error_dir, file_type, sheet, header_row, delimiter, target_schema,"
                        " target_table, load_mode, key_columns, max_rejects, notify) VALUES (%s, %s, %s, %s, %s,"
                        " %s, %s, %s, %s, %s, 'feeds', %s, %s, %s, %s, %s) ON CONFLICT (job_name, filename_regex)"
                        " DO NOTHING", row)
    conn.close()


def _events_workbook(path: Path, date: dt.date) -> None:
    from openpyxl import Workbook
    rng = random.Random(date.toordinal())
    book = Workbook()
    ws = book.active
    ws.title = "Events"
    ws.append([f"Acme investor events, week of {date}"])
    ws.append(["Event ID", "Company", "Starts", "Seats", "Fee"])
    for i in range(1, 41):
        ws.append([1000 + i, f"Company {rng.randint(1, 400)}", date + dt.timedelta(days=rng.randint(1, 60)),
                   rng.randint(20, 400), rng.randint(0, 50000) / 100])
    ws.append(["TBD", "Company to be announced", None, None, None])  # rejected: not an event id
    book.save(path)


def _clients_csv(path: Path, date: dt.date) -> None:
    rng = random.Random(date.toordinal() + 1)
    lines = ["Client ID;Name;Joined"] + [f"{i:05d};Client {rng.randint(1, 999)};{date - dt.timedelta(days=i)}"
                                         for i in range(1, 26)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class DemoClientUpload(DistrictTask):
    """A client's weekly file, uploaded over SFTP to its drop-off account, once a day."""

    date = RunDateParameter()
    client = luigi.ChoiceParameter(choices=["acme", "globex"])

    def output(self):
        return LedgerTarget(feeds_ledger(), "demo_client_upload", self.client, self.date)

    def run(self):
        var = Path(Section("stack").str("var", required=True))
        name = f"events_{self.date:%Y%m%d}.xlsx" if self.client == "acme" else f"clients_{self.date:%Y%m%d}.csv"
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / name
            (_events_workbook if self.client == "acme" else _clients_csv)(local, self.date)
            sftp = SftpClient(dropoff_settings(var, StackState.load(var), self.client))
            try:
                sftp.upload_atomic(local, name)
            finally:
                sftp.close()
            self.output().mark_done(direction="out", destination=f"{self.client}:/inbound/{name}",
                                    bytes=local.stat().st_size)


def run(date: dt.date, build) -> bool:
    """The Feeds part of the demo for ``date``: ``build`` runs tasks as the demo does."""
    var = Path(Section("stack").str("var", required=True))
    setup(var)
    parser = luigi.configuration.get_config()
    parser.set("feeds", "settle_seconds", "2")
    uploads = [DemoClientUpload(date=date, client=c) for c in ("acme", "globex")]
    fresh = not all(u.complete() for u in uploads)
    if not build(uploads):
        return False
    if fresh:
        time.sleep(2.5)  # the uploads settle
    return build([FeedsWeekly(date=date)])


def summary(date: dt.date, mail_dir: Path) -> list[str]:
    client = feeds_ledger()
    with client.transaction() as cur:
        cur.execute("SELECT 'feeds.events', count(*) FROM feeds.events UNION ALL SELECT 'feeds.clients', count(*)"
                    " FROM feeds.clients UNION ALL SELECT 'feeds.companies', count(*) FROM feeds.companies")
        tables = cur.fetchall()
        cur.execute("SELECT job_name, status, count(*), coalesce(sum(rows), 0), coalesce(sum(rejected), 0)"
                    " FROM dba.tdataloads WHERE run_date = %s GROUP BY 1, 2 ORDER BY 1, 2", (date,))
        ledger = cur.fetchall()
    lines = ["  Feeds database (the small firm's weekly ETL):"]
    lines += [f"    {t:18} {counted(n, 'row'):>11}" for t, n in tables]
    lines += [f"    {job:22} {status:10} {counted(items, 'item'):>9} {counted(rows, 'row'):>11} {rejected:>3} rejected"
              for job, status, items, rows, rejected in ledger]
    for path in sorted(data_dir().glob("feeds/*/error/*/*.rejects.csv")):
        lines.append(f"    Rejects: {path}")
    reports = []
    for path in sorted(mail_dir.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(msg["Subject"]).startswith(f"Feeds weekly report {date - dt.timedelta(days=6)} to {date}"):
            reports.append((path, msg))
    lines.append(f"    Report mails ({len(reports)}, text + HTML, over TLS):")
    lines += [f"      {p.name} to {counted(len(str(m['To']).split(',')), 'recipient')}: {m['Subject']}"
              for p, m in reports]
    if reports:
        lines += ["", "    " + "\n    ".join(reports[-1][1].get_body(("plain",)).get_content().rstrip().splitlines())]
    return lines
