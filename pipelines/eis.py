"""Tennessee's EIS portal (no API): reports downloaded and students looked up one by one in a
headless browser (targets/eis.py), into ``<data_dir>/eis/``, which the 03:00 warehouse load
takes into BigQuery (sources.toml: one table per file and day).

- ``EisAdmAuditStudentMembership`` (07:30) and ``EisSchoolErrorReports`` (07:35): one
  ``EisReport`` per school of ``[eis] schools`` → ``eis/<report>_<school>.csv``, for the school
  year to date (from 1 July).
- ``EisCohortTracking`` (02:00) and ``EisPriorEnrollment`` (the 1st of the month, 01:00): the
  students (``EisStudentList``: ``[eis] students_query`` on BigQuery, or ``students_file``) in
  chunks of ``chunk_size``, each chunk a file and a ledger row (``EisStudentChunk``), so a
  scrape stopped at student 3,000 of 5,000 resumes at the next chunk and never repeats a
  finished one; then ``eis/cohort_tracking.csv`` / ``eis/prior_enrollment.csv`` assembled
  from the chunks atomically. Chunks run in parallel with ``--workers N`` (a browser each).

Every step is done when its ledger row (``[postgres]``) exists for the date. Sections:
``[eis]``, ``[etl] data_dir``, ``[bigquery]``.
Run: ``./run.sh luigi --module pipelines.eis EisCohortTracking``.
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
from pathlib import Path

import luigi

from pipelines.base import DistrictTask, DistrictWrapperTask, RunDateParameter, data_dir, file_group, local_target
from targets.config import Section
from targets.eis import EisBrowser, EisSettings
from targets.errors import ConfigError
from targets.ledger import Ledger, LedgerTarget
from targets.local import atomic_open

logger = logging.getLogger(__name__)

# The reports' headers as EIS writes them: a download with another header is refused.
REPORT_HEADERS = {"adm_audit": ["School", "Student Key", "Grade", "Membership Days", "Start Date", "End Date"],
                  "school_errors": ["School", "Error Code", "Student Key", "Description"]}
COHORT_COLUMNS = ["Student Key", "Cohort Year", "Entry Date", "Status", "Withdrawal Code", "School", "Found"]
PRIOR_COLUMNS = ["Student Key", "School Year", "District", "School", "Entry Date", "Exit Date"]
OUTPUTS = {"cohort": ("cohort_tracking.csv", COHORT_COLUMNS), "prior": ("prior_enrollment.csv", PRIOR_COLUMNS)}

def browser() -> EisBrowser:
    """A browser session for one task (``with browser() as b``): opened and signed in for the
    task, closed when it ends, also in a worker process Luigi forks (whose exit runs no atexit
    handler, so a browser kept for the process would be left running)."""
    return EisBrowser(EisSettings.from_config())


def eis_section() -> Section:
    return Section("eis")


def schools() -> list[str]:
    found = [s.strip() for s in (eis_section().str("schools") or "").split(",") if s.strip()]
    if not found:
        raise ConfigError("[eis] schools is empty: the EIS school numbers whose reports are downloaded")
    return found


def school_year_start(day: dt.date) -> dt.date:
    return dt.date(day.year if day.month >= 7 else day.year - 1, 7, 1)


def eis_dir() -> Path:
    return data_dir() / "eis"


def work_dir(day: dt.date) -> Path:
    return data_dir() / "eis-work" / day.isoformat()


def ledger(job: str, item: str, day: dt.date) -> LedgerTarget:
    return LedgerTarget(Ledger.of(), job, item, day)


class EisReport(DistrictTask):
    """One report for one school → ``eis/<report>_<school>.csv``."""

    date = RunDateParameter()
    report = luigi.ChoiceParameter(choices=sorted(REPORT_HEADERS))
    school = luigi.Parameter()

    def output(self):
        return ledger("eis_report", f"{self.report}_{self.school}", self.date)

    def run(self):
        dest = eis_dir() / f"{self.report}_{self.school}.csv"
        self.set_status_message(f"EIS {self.report} for school {self.school}")
        with browser() as b:
            self.set_tracking_url(b.settings.url)
            size = b.download_report(self.report, self.school, school_year_start(self.date), self.date, dest,
                                     REPORT_HEADERS[self.report], group=file_group())
            logins = b.logins
        self.output().mark_done(direction="in", source=f"eis:{self.report}/{self.school}", destination=str(dest),
                                bytes=size, note=f"signed in {logins} times")


class EisAdmAuditStudentMembership(DistrictWrapperTask):
    date = RunDateParameter()

    def requires(self):
        return [EisReport(date=self.date, report="adm_audit", school=s) for s in schools()]


class EisSchoolErrorReports(DistrictWrapperTask):
    date = RunDateParameter()

    def requires(self):
        return [EisReport(date=self.date, report="school_errors", school=s) for s in schools()]


class EisStudentList(DistrictTask):
    """The students to look up: ``[eis] students_file`` (a CSV whose first column is the id), or
    ``students_query`` on BigQuery (default: the state student numbers of powerschool.students)."""

    date = RunDateParameter()

    def output(self):
        return local_target(work_dir(self.date) / "students.csv")

    def run(self):
        s = eis_section()
        source = s.path("students_file")
        if source is not None:
            with open(source, encoding="utf-8-sig", newline="") as fh, self.output().open("w") as out:
                rows = csv.reader(fh)
                next(rows, None)
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(["student"])
                writer.writerows([r[0].strip()] for r in rows if r and r[0].strip())
            return
        from targets.bigquery import BigQueryClient
        query = s.str("students_query", "SELECT DISTINCT State_StudentNumber AS student FROM powerschool.students"
                                        " WHERE State_StudentNumber IS NOT NULL ORDER BY 1")
        BigQueryClient.from_config().export(query, self.output().path, group=file_group())


def student_ids(day: dt.date) -> list[str]:
    with open(work_dir(day) / "students.csv", encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh)
        next(rows, None)
        return [r[0] for r in rows if r]


def chunk_size() -> int:
    size = eis_section().int("chunk_size", 100)
    if size < 1:
        raise ConfigError("[eis] chunk_size must be at least 1")
    return size


class EisStudentChunk(DistrictTask):
    """Students ``chunk * size`` … of the day's list looked up: a file and a ledger row."""

    date = RunDateParameter()
    kind = luigi.ChoiceParameter(choices=sorted(OUTPUTS))
    chunk = luigi.IntParameter()
    chunks = luigi.IntParameter(significant=False, default=0)

    def requires(self):
        return EisStudentList(date=self.date)

    def path(self) -> Path:
        return work_dir(self.date) / self.kind / f"chunk_{self.chunk:05d}.csv"

    def output(self):
        return ledger(f"eis_{self.kind}", f"chunk_{self.chunk:05d}", self.date)

    def run(self):
        size = chunk_size()
        ids = student_ids(self.date)[self.chunk * size:(self.chunk + 1) * size]
        columns = OUTPUTS[self.kind][1]
        def progress(n: int) -> None:
            self.set_status_message(f"chunk {self.chunk + 1} of {self.chunks or '?'}: {n} of {len(ids)} students")
            self.set_progress_percentage(int(n * 100 / max(len(ids), 1)))

        with browser() as b:
            self.set_tracking_url(b.settings.url)
            answers = b.lookup_many(ids, progress=progress)
            logins = b.logins
        with atomic_open(self.path()) as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
            writer.writeheader()
            for student in ids:
                cohort, prior = answers[student]
                if self.kind == "cohort":
                    writer.writerow(dict(cohort or {"Student Key": student}, Found="yes" if cohort else "no"))
                else:
                    writer.writerows(prior)
        self.output().mark_done(direction="in", source=f"eis:students {self.chunk * size + 1}-"
                                f"{self.chunk * size + len(ids)}", destination=str(self.path()), rows=len(ids),
                                note=f"signed in {logins} times")


class EisScrape(DistrictTask):
    """Every chunk of the day's students, then the assembled file in ``eis/``."""

    date = RunDateParameter()
    kind = "cohort"

    def requires(self):
        return EisStudentList(date=self.date)

    def output(self):
        return ledger(f"eis_{self.kind}", OUTPUTS[self.kind][0], self.date)

    def run(self):
        total = len(student_ids(self.date))
        count = -(-total // chunk_size())
        chunks = [EisStudentChunk(date=self.date, kind=self.kind, chunk=i, chunks=count) for i in range(count)]
        done = sum(1 for c in chunks if c.complete())
        self.set_status_message(f"{total} students in {count} chunks; {done} done before this run")
        yield chunks  # Luigi's dynamic dependencies: a finished chunk is not run again
        name, columns = OUTPUTS[self.kind]
        dest = eis_dir() / name
        rows = 0
        with atomic_open(dest, group=file_group()) as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            for c in chunks:
                with open(c.path(), encoding="utf-8", newline="") as fh:
                    part = csv.reader(fh)
                    next(part, None)
                    for row in part:
                        writer.writerow(row)
                        rows += 1
        self.set_progress_percentage(100)
        self.output().mark_done(direction="in", destination=str(dest), rows=rows,
                                note=f"{total} students in {count} chunks")
        logger.info("EIS %s: %d students, %d rows in %s", self.kind, total, rows, dest)


class EisCohortTracking(EisScrape):
    """Each student's cohort record → ``eis/cohort_tracking.csv`` (nightly)."""

    kind = "cohort"


class EisPriorEnrollment(EisScrape):
    """Each student's prior enrollment history → ``eis/prior_enrollment.csv`` (monthly)."""

    kind = "prior"
