"""Demo chain: a synthetic roster file is written locally, uploaded to the ``feeds`` SFTP server,
pulled back, and COPYed into PostgreSQL with its ledger row in the same transaction.

Cadence: on demand (``./run.sh demo``). Sections: ``[etl] data_dir``, ``[sftp_feeds]``,
``[postgres]`` (password from ``PG_PASSWORD``). Rerun a past day:
``./run.sh luigi --module pipelines.demo DemoPipeline --date 2026-11-20``; a rerun skips every
step whose output exists and resumes at the first missing one.
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
import random
import sys

import luigi

from pipelines.base import Progress, RunDateParameter, data_dir, file_group, local_target, today
from targets.postgres import LedgerTarget, PostgresClient
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


class WriteSampleRoster(luigi.Task):
    """A synthetic roster CSV for the day, in ``<data_dir>/demo/outbound/``."""

    date = RunDateParameter()
    students = luigi.IntParameter(default=2000, significant=False)

    def output(self):
        return local_target(data_dir() / "demo" / "outbound" / _name(self.date))

    def run(self):
        with self.output().open("w") as fh:
            rows = _write_roster(fh, self.date, self.students)
        logger.info("wrote %d synthetic students to %s", rows, self.output().path)


class UploadSampleRoster(luigi.Task):
    """The roster on the feeds SFTP server."""

    date = RunDateParameter()

    def requires(self):
        return WriteSampleRoster(date=self.date)

    def output(self):
        return SftpFileTarget(SftpClient.from_config("feeds"), _name(self.date))

    def run(self):
        target = self.output()
        target.client.upload_atomic(self.input().path, target.name, progress=Progress(self, "upload"))


class DownloadSampleRoster(luigi.Task):
    """The roster pulled back from SFTP into ``<data_dir>/demo/inbound/``."""

    date = RunDateParameter()

    def requires(self):
        return UploadSampleRoster(date=self.date)

    def output(self):
        return local_target(data_dir() / "demo" / "inbound" / _name(self.date))

    def run(self):
        self.input().client.download(_name(self.date), self.output().path, progress=Progress(self, "download"),
                                     group=file_group())


class LoadSampleRoster(luigi.Task):
    """The day's roster rows in ``demo.sample_roster``; done = its dba.tDataLoads row."""

    date = RunDateParameter()

    def requires(self):
        return DownloadSampleRoster(date=self.date)

    def output(self):
        return LedgerTarget(PostgresClient.from_config(), JOB, _name(self.date), self.date)

    def run(self):
        client = self.output().client
        client.ensure_schema()
        with client.transaction() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS demo;"
                        "CREATE TABLE IF NOT EXISTS demo.sample_roster (run_date date NOT NULL,"
                        " student_id text NOT NULL, last_name text, first_name text, grade text,"
                        " school_id text)")
        client.copy_csv(self.input().path, TABLE, self.output().entry(direction="load"), columns=COLUMNS,
                        progress=Progress(self, "COPY into " + TABLE))


class DemoPipeline(luigi.WrapperTask):
    """Everything the demo runs for one day."""

    date = RunDateParameter()

    def requires(self):
        return LoadSampleRoster(date=self.date)


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
    setup_logging(process_type="demo")
    logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    date = args.date or today()
    ran: list[str] = []
    luigi.Task.event_handler(luigi.Event.SUCCESS)(lambda task: ran.append(task.task_family))
    # Same as --WriteSampleRoster-students N on the luigi command line.
    luigi.configuration.get_config().set("WriteSampleRoster", "students", str(args.students))
    result = luigi.build([DemoPipeline(date=date)], local_scheduler=True, detailed_summary=True)
    ok = result.scheduling_succeeded and result.status.name.startswith("SUCCESS")
    work = [t for t in ran if t != "DemoPipeline"]
    print()
    if not ok:
        print(result.summary_text)
        print("Demo FAILED; fix the cause and run ./run.sh demo again: it resumes at the failed step.")
        return 1
    if work:
        print(f"Demo for {date}: ran {len(work)} steps: {', '.join(work)}.")
    else:
        print(f"Demo for {date}: nothing to do; every step was already complete (no work done).")
    _print_summary(date)
    return 0


def _print_summary(date: dt.date) -> None:
    from targets.config import Section
    client = PostgresClient.from_config()
    with client.transaction() as cur:
        cur.execute("SELECT job_name, item, run_date, status, rows, bytes, left(sha256, 12), finished_at"
                    " FROM dba.tdataloads ORDER BY load_id DESC LIMIT 5")
        ledger = cur.fetchall()
        cur.execute("SELECT count(*) FROM demo.sample_roster WHERE run_date = %s", (date,))
        rows = cur.fetchone()[0]
    print(f"  PostgreSQL: {rows} rows in {TABLE} for {date}")
    print("  Ledger (dba.tDataLoads, newest first):")
    for job, item, run_date, status, n, size, sha, at in ledger:
        print(f"    {job:12} {item:28} {run_date} {status:9} rows={n} bytes={size} sha256={sha}… {at:%H:%M:%S}")
    stack = Section("stack") if luigi.configuration.get_config().has_section("stack") else None
    if stack is not None:
        print(f"  SFTP folders (embedded): {stack.str('sftp_root')}")
        print(f"  Mail (embedded):         {stack.str('mail_dir')}")
    print(f"  Local files:             {data_dir() / 'demo'}")
    print("  Visualiser: ./run.sh scheduler, then open http://127.0.0.1:8082 (runs then report there)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
