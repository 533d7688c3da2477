"""Demo: a synthetic roster file is written locally, uploaded to the ``feeds`` SFTP server,
pulled back, and COPYed into PostgreSQL with its ledger row in the same transaction; a
synthetic district is seeded into the warehouse folders, loaded into BigQuery (with the
Bluff + ASD merge) and the vendor views are deployed; the DPS exchange; the Feeds ETL
(stack/demo_feeds.py: client uploads over SFTP, MeetMax lists, loads, the report mail); and
the EIS portal's stand-in scraped in headless Chromium, its files loaded into BigQuery.

Part of the embedded stack, not of production: it seeds synthetic data and reads the stack's
own folders. Cadence: on demand (``./run.sh demo``). Sections: ``[etl] data_dir``,
``[sftp_feeds]``, ``[postgres]`` (password from ``PG_PASSWORD``), ``[stack]``. Rerun a past day:
``./run.sh luigi --module stack.demo DemoPipeline --date 2026-11-20``; a rerun skips every
step whose output exists and resumes at the first missing one.
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
import random
import sys
import zoneinfo
from pathlib import Path

import luigi

from ops.scheduler import build_kwargs, scheduler_url
from pipelines.base import (DistrictTask, DistrictWrapperTask, Progress, ROOT, RunDateParameter, counted, data_dir,
                            file_group, local_target, timezone, today, vendors_file)
from targets import clock
from targets.config import Section
from targets.ledger import Ledger, LedgerTarget
from targets.sftp import SftpClient, SftpFileTarget

logger = logging.getLogger(__name__)

JOB = "demo_roster"
TABLE = "demo.sample_roster"
COLUMNS = ["run_date", "student_id", "last_name", "first_name", "grade", "school_id"]
_LAST = ["García", "O'Brien", "Nguyen", "Smith, Jr.", "Müller", "Johnson", "Williams", "Okafor"]
_FIRST = ["Ana", "Liam", "Zoë", "Noah", "Mia", "José", "Aaliyah", "Chen"]
_GRADES = ["PK", "KG"] + [f"{g:02d}" for g in range(1, 13)]


def _name(date: dt.date) -> str:
    return f"sample_roster_{date:%Y%m%d}.csv"


class WriteSampleRoster(DistrictTask):
    """A synthetic roster CSV for the day, in ``<data_dir>/demo/outbound/``."""

    date = RunDateParameter()
    students = luigi.IntParameter(default=2000, significant=False)

    def output(self):
        return local_target(data_dir() / "demo" / "outbound" / _name(self.date))

    def run(self):
        with self.output().open("w") as fh:
            rows = _write_roster(fh, self.date, self.students)
        logger.info("wrote %d synthetic students to %s", rows, self.output().path)


class UploadSampleRoster(DistrictTask):
    """The roster on the feeds SFTP server."""

    date = RunDateParameter()

    def requires(self):
        return WriteSampleRoster(date=self.date)

    def output(self):
        return SftpFileTarget(SftpClient.from_config("feeds"), _name(self.date))

    def run(self):
        target = self.output()
        target.client.upload_atomic(self.input().path, target.name, progress=Progress(self, "upload"))


class DownloadSampleRoster(DistrictTask):
    """The roster pulled back from SFTP into ``<data_dir>/demo/inbound/``."""

    date = RunDateParameter()

    def requires(self):
        return UploadSampleRoster(date=self.date)

    def output(self):
        return local_target(data_dir() / "demo" / "inbound" / _name(self.date))

    def run(self):
        self.input().client.download(_name(self.date), self.output().path, progress=Progress(self, "download"),
                                     group=file_group())


class LoadSampleRoster(DistrictTask):
    """The day's roster rows in ``demo.sample_roster``; done = its dba.tDataLoads row."""

    date = RunDateParameter()

    def requires(self):
        return DownloadSampleRoster(date=self.date)

    def output(self):
        return LedgerTarget(Ledger.of(), JOB, _name(self.date), self.date)

    def run(self):
        ledger = self.output().ledger
        ledger.ensure_schema()
        with ledger.transaction() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS demo;"
                        "CREATE TABLE IF NOT EXISTS demo.sample_roster (run_date date NOT NULL,"
                        " student_id text NOT NULL, last_name text, first_name text, grade text,"
                        " school_id text)")
        ledger.copy_csv(self.input().path, TABLE, self.output().entry(direction="load"), columns=COLUMNS,
                        progress=Progress(self, "COPY into " + TABLE))


class SeedDistrict(DistrictTask):
    """A synthetic district's PowerSchool exports (and Bluff's and ASD's) in the data folders."""

    date = RunDateParameter()
    students = luigi.IntParameter(default=2000, significant=False)

    def _partner_files(self) -> dict[str, Path]:
        """What the partners offer on the embedded SFTP servers (their side of the pulls)."""
        from stack import pull_folder
        root = Section("stack").path("sftp_root", required=True)
        return {"idm": pull_folder(root, "clever_idm") / f"clever_idm_{self.date:%Y%m%d}.csv",
                "scores": pull_folder(root, "savvas_scores") / f"savvas_scores_{self.date:%Y%m%d}.csv",
                "easyiep": pull_folder(root, "easyiep") / f"easyiep_{self.date:%Y%m%d}.csv"}

    def output(self):
        from stack.district import FILES
        root = data_dir()
        files = [root / "powerschool_combined" / name for name in FILES]
        files += [root / "bluff" / "students.csv", root / "asd" / "students.csv"]
        return [local_target(f) for f in files + list(self._partner_files().values())]

    def run(self):
        from stack.district import generate, generate_partner_files, generate_merge_inputs
        partner = self._partner_files()
        counts = generate(data_dir() / "powerschool_combined", students=self.students, today=self.date,
                          idm_file=partner["idm"])
        generate_merge_inputs(data_dir())
        generate_partner_files(data_dir() / "powerschool_combined" / "students.csv", partner["scores"],
                               partner["easyiep"], self.date)
        logger.info("seeded a synthetic district: %d students, %d sections", counts["students.csv"],
                    counts["sections.csv"])


class SeedImpact(DistrictTask):
    """Synthetic runaway episodes for the quarter in the IMPACT stand-in database."""

    date = RunDateParameter()

    def output(self):
        return LedgerTarget(Ledger.of(), "demo_seed", "impact", self.date)

    def run(self):
        from pipelines.dps import DpsSettings, period
        from targets.postgres import PostgresSettings
        _, _, start, end = period(self.date)
        rng = random.Random(self.date.toordinal())
        counties = {"TRAVIS": "7", "HARRIS": "6", "BEXAR": "8", "DALLAS": "3", "EL PASO": "10", "LUBBOCK": "1"}
        conn = PostgresSettings.from_config(DpsSettings.from_config().source_section).connect()
        with conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS impact;"
                        "CREATE TABLE IF NOT EXISTS impact.runaway_episodes (person_id text, last_name text,"
                        " first_name text, birth_date date, sex text, county text, runaway_date date, return_date date);"
                        "CREATE TABLE IF NOT EXISTS impact.sa_98_data (person_id text, conservatorship text,"
                        " placement_type text);"
                        "CREATE TABLE IF NOT EXISTS impact.county_region (county text, region text);"
                        "TRUNCATE impact.runaway_episodes, impact.sa_98_data, impact.county_region")
            cur.executemany("INSERT INTO impact.county_region VALUES (%s, %s)", list(counties.items()))
            days = (end - start).days
            for i in range(60):
                pid = f"{7000000 + i}"
                county = rng.choice(sorted(counties))
                for _ in range(rng.choice([1, 1, 1, 2])):
                    cur.execute("INSERT INTO impact.runaway_episodes VALUES (%s,%s,%s,%s,%s,%s,%s,NULL)",
                                (pid, rng.choice(_LAST), rng.choice(_FIRST),
                                 dt.date(2009 + rng.randint(0, 5), rng.randint(1, 12), rng.randint(1, 28)),
                                 rng.choice("MF"), county.title(), start + dt.timedelta(days=rng.randint(0, days))))
                cur.execute("INSERT INTO impact.sa_98_data VALUES (%s, %s, %s)",
                            (pid, rng.choice(["PMC", "TMC"]), rng.choice(["Foster", "Kinship", "GRO"])))
        conn.close()
        self.output().mark_done(direction="in", rows=60)


class DemoPipeline(DistrictWrapperTask):
    """Everything the demo runs for one day before the warehouse load."""

    date = RunDateParameter()

    def requires(self):
        return [LoadSampleRoster(date=self.date), SeedDistrict(date=self.date)]


def _demo_runs(date: dt.date) -> list[list[luigi.Task]]:
    """The demo's runs in order, as cron would start them. Each is built after the one
    before, since a slot's tasks are the files its folders hold when it is scheduled."""
    from pipelines.slots import SftpOperations, SftpOperationsLocal, SftpOperationsMisc
    from pipelines.views import DeployViews
    from pipelines.warehouse import BigQueryOperations, BigQueryOperationsMisc
    return [[DemoPipeline(date=date)],
            [SftpOperationsMisc(date=date)],                                   # 06:50 pulls
            [BigQueryOperations(date=date), BigQueryOperationsMisc(date=date)],  # 03:00, 06:55 loads
            [DeployViews()],
            [SftpOperations(date=date), SftpOperationsLocal(date=date)]]       # 05:00, 07:05 sends

WRAPPERS = {"DemoPipeline", "WatchFeeds", "FeedsReport", "FeedsWeekly", "EisAdmAuditStudentMembership",
            "EisSchoolErrorReports", "BigQueryOperations", "BigQueryOperationsMisc", "DeployViews", "SftpOperations",
            "SftpOperationsMisc", "SftpOperationsLocal", "PullFiles", "CleverIdmPull", "SavvasScoresPull",
            "EasyIepPull", "VendorPush", "CleverPush", "SavvasPush", "EllevationPush", "OtusPush",
            "PowerSchoolImport", "OtusScoresForward", "ForwardPulledFiles", "ReceiveFromDps"}


def _write_roster(fh, date: dt.date, students: int) -> int:
    rng = random.Random(date.toordinal())
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(1, students + 1):
        writer.writerow([date.isoformat(), f"S{100000 + i}", rng.choice(_LAST), rng.choice(_FIRST),
                         rng.choice(_GRADES), f"{rng.randint(1, 12):03d}"])
    return students


def main(argv: list[str]) -> int:
    """``./run.sh demo``: run the demo for today and say what was done (or that nothing was)."""
    import argparse

    from targets.logdb import setup_logging
    ap = argparse.ArgumentParser(prog="run.sh demo")
    ap.add_argument("--students", type=int, default=2000)
    ap.add_argument("--date", type=dt.date.fromisoformat, default=None)
    args = ap.parse_args(argv)
    from targets import clock
    clock.use_zone(timezone())  # its summary and log in the district's time, as status shows it
    # named by the wall clock, as run.sh names its logs (the demo may play another day)
    log = ROOT / "logs" / f"{dt.date.today():%Y-%m-%d}" / f"demo-{dt.datetime.now():%H%M%S}.log"
    setup_logging(process_type="demo", run_log=log)  # the console stays quiet; details in the log
    logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:  # the DPS wait says itself what it waits for
        if type(handler) is logging.StreamHandler:
            handler.addFilter(lambda record: not record.getMessage().startswith(("Data for DpsResultsReady(",
                                                                                 "waiting for DPS: ")))
    if args.date:  # the demo plays that day: its pushes send "today's" data
        clock.set_now(dt.datetime.combine(args.date, dt.time(7, 0), zoneinfo.ZoneInfo(timezone())))
    date = args.date or today()
    ran: list[str] = []
    luigi.Task.event_handler(luigi.Event.SUCCESS)(lambda task: ran.append(task.task_family))
    # Same as --WriteSampleRoster-students N (and --SeedDistrict-students N) on the command line.
    for task in ("WriteSampleRoster", "SeedDistrict"):
        luigi.configuration.get_config().set(task, "students", str(args.students))
    for tasks in _demo_runs(date):
        if not _build(tasks):
            return 1
    if not _dps_exchange(date):
        return 1
    from stack import demo_feeds
    if not demo_feeds.run(date, _build):
        return 1
    if not _eis(date):
        return 1
    work = [t for t in ran if t not in WRAPPERS]
    print()
    if work:
        counts = {t: work.count(t) for t in dict.fromkeys(work)}
        print(f"Demo for {date}: ran {len(work)} steps: " +
              ", ".join(f"{t} x{n}" if n > 1 else t for t, n in counts.items()) + ".")
    else:
        print(f"Demo for {date}: nothing to do; every step was already complete (no work done).")
    _print_summary(date)
    return 0


def _eis(date: dt.date) -> bool:
    """The EIS portal (its stand-in) in headless Chromium: the cohort records of the first 60
    students, the ADM audit and error reports of each school, then the warehouse load again,
    which takes the new files in eis/ into BigQuery."""
    from pipelines.eis import EisAdmAuditStudentMembership, EisCohortTracking, EisSchoolErrorReports
    from pipelines.warehouse import BigQueryOperations
    luigi.configuration.get_config().set(
        "eis", "students_query", "SELECT DISTINCT State_StudentNumber AS student FROM powerschool.students"
                                 " WHERE State_StudentNumber IS NOT NULL ORDER BY 1 LIMIT 60")
    return _build([EisCohortTracking(date=date), EisAdmAuditStudentMembership(date=date),
                   EisSchoolErrorReports(date=date)]) and _build([BigQueryOperations(date=date)])


def _build(tasks: list[luigi.Task]) -> bool:
    result = luigi.build(tasks, detailed_summary=True, **build_kwargs())
    if result.scheduling_succeeded and result.status.name.startswith("SUCCESS"):
        return True
    print()
    print(result.summary_text)
    print("Demo FAILED; fix the cause and run ./run.sh demo again: it resumes at the failed step.")
    return False


def _dps_exchange(date: dt.date, patience: float = 60.0) -> bool:
    """Send to the DPS stand-in, then receive as the 15-minute cron job would: a run that
    finds no results says it is waiting and ends; a later run completes."""
    import time

    from pipelines.dps import ReceiveFromDps, SendToDps
    if not _build([SeedImpact(date=date), SendToDps(date=date)]):
        return False
    deadline = time.monotonic() + patience
    while True:
        result = luigi.build([ReceiveFromDps(date=date)], detailed_summary=True, **build_kwargs())
        if result.status.name.startswith("SUCCESS"):
            return True
        if result.status.name != "MISSING_EXT" or time.monotonic() > deadline:
            print(result.summary_text)
            return False
        print("DPS exchange: waiting for DPS (exit status 20 under cron); the stand-in answers a few "
              "seconds after our send, checking again...", flush=True)
        time.sleep(3)


def _print_summary(date: dt.date) -> None:
    db = Ledger.of()
    with db.transaction() as cur:
        cur.execute("SELECT job_name, status, count(*), sum(rows), max(finished_at) FROM dba.tdataloads"
                    " WHERE run_date = %s GROUP BY 1, 2 ORDER BY 1, 2", (date,))
        ledger = cur.fetchall()
        cur.execute("SELECT count(*) FROM demo.sample_roster WHERE run_date = %s", (date,))
        rows = cur.fetchone()[0]
        cur.execute("SELECT destination, rows FROM dba.tdataloads WHERE job_name = 'warehouse' AND run_date = %s"
                    " AND status = 'succeeded' ORDER BY destination", (date,))
        tables = cur.fetchall()
    print(f"  PostgreSQL: {counted(rows, 'row')} in {TABLE} for {date}")
    print(f"  Ledger (dba.tDataLoads) for {date}:")
    for job, status, items, n, at in ledger:
        print(f"    {job:12} {status:10} {counted(items, 'item'):>9} {counted(n or 0, 'row'):>13}   "
              f"last at {at.astimezone():%H:%M:%S %Z}")
    print(f"  BigQuery tables loaded for {date}:")
    for table, n in tables:
        print(f"    {table:60} {counted(n, 'row'):>13}")
    from pipelines.views import view_files
    views = list(view_files())
    print(f"  BigQuery views deployed ({len(views)}): {', '.join(v.split('.', 1)[1] for v in views)}")
    for report in sorted((data_dir() / "reports").glob(f"*{date.isoformat()}*")):
        print(f"  Report: {report}")
    stack_root = Section("stack").path("sftp_root") if luigi.configuration.get_config().has_section("stack") else None
    if stack_root is not None:
        print("  Files on the vendors' SFTP servers (embedded):")
        for server in sorted({v.server for v in vendors_file().vendors.values()}):  # vendors.toml's push servers
            files = sorted(p.relative_to(stack_root / server) for p in (stack_root / server).rglob("*") if p.is_file())
            print(f"    {server:12} {', '.join(str(f) for f in files) or '(none yet)'}")
    stack = Section("stack") if luigi.configuration.get_config().has_section("stack") else None
    if stack is not None:
        print(f"  SFTP folders (embedded): {stack.str('sftp_root')}")
        print(f"  Mail (embedded):         {stack.str('mail_dir')}")
    from pipelines.dps import DpsSettings
    share = DpsSettings.from_config().share_dir
    books = sorted(p.name for p in share.glob("*.xlsx")) if share.exists() else []
    print(f"  DPS workbooks on the share ({share}): {', '.join(books) or '(none)'}")
    eis = sorted(p.name for p in (data_dir() / "eis").glob("*.csv")) if (data_dir() / "eis").is_dir() else []
    print(f"  EIS files (headless Chromium on the stand-in, loaded by the warehouse load): {', '.join(eis) or '(none)'}")
    print(f"  Local files:             {data_dir() / 'demo'}")
    if stack is not None:
        from stack import demo_feeds
        print("\n".join(demo_feeds.summary(date, Path(stack.str("mail_dir")))))
    url = scheduler_url()
    print(f"  Visualiser:              {url} (this run's tasks and /history)" if url else
          "  Visualiser:              not running; to watch a run there: ./run.sh scheduler (in another terminal),"
          " then a day the demo has not run yet, e.g. ./run.sh demo --date YYYY-MM-DD (a rerun of this day has"
          " nothing to do: one dot)")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            print(f"  Run log:                 {handler.baseFilename}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
