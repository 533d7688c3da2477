"""Vendor pushes end to end on the embedded stack (BigQuery emulator, PostgreSQL, asyncssh
SFTP, SMTP), and CleverPush once against OpenSSH's sshd."""
import datetime as dt
import hashlib
import re
import time
import zipfile
from pathlib import Path

import luigi
import luigi.configuration

from pipelines.clever import CleverPush
from pipelines.otus import OtusPush
from pipelines.savvas import SavvasPush
from pipelines.vendors import export_dir
from stack import free_port
from targets.ledger import LedgerEntry
from targets import clock
from tests.ledger import ledger_rows, open_ledger

DAY = dt.date(2026, 11, 24)  # a Tuesday


def _ledger(settings, job):
    return ledger_rows(settings, "item, status, rows, bytes, sha256, run_date", job=job)


def _mails_since(stack_var, t0, subject):
    out = []
    for f in sorted((stack_var / "mail").glob("*.eml")):
        if f.stat().st_mtime >= t0:
            text = f.read_text()
            if subject in text:
                out.append(text)
    return out


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


CLEVER_FILES = ["enrollments.csv", "schools.csv", "sections.csv", "staff.csv", "students.csv", "teachers.csv"]


def test_clever_push_end_to_end_and_rerun_is_a_noop(vendors, pg_settings):
    assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    remote = vendors["clever"]
    assert sorted(p.name for p in remote.iterdir()) == CLEVER_FILES
    local = export_dir(DAY, "clever")
    ledger = _ledger(pg_settings, "push_clever")
    assert sorted(r[0] for r in ledger) == CLEVER_FILES and {r[1] for r in ledger} == {"succeeded"}
    for item, _, rows, size, sha, _ in ledger:
        assert _sha(remote / item) == _sha(local / item) == sha
        assert size == (remote / item).stat().st_size
        assert rows == len((local / item).read_text().splitlines()) - 1
    assert (remote / "students.csv").read_text().startswith("School_id,Student_id,Student_number,State_id,")
    mtimes = {p.name: p.stat().st_mtime_ns for p in remote.iterdir()}
    assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    assert len(_ledger(pg_settings, "push_clever")) == 6
    assert {p.name: p.stat().st_mtime_ns for p in remote.iterdir()} == mtimes


def test_shrink_guard_refuses_mails_and_force_sends(vendors, pg_settings, stack_var):
    client = open_ledger(pg_settings)
    client.record(LedgerEntry("push_clever", "students.csv", DAY - dt.timedelta(days=1), direction="out", rows=1000))
    t0 = time.time() - 1
    assert not luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    assert list(vendors["clever"].iterdir()) == []  # nothing sent for the vendor
    mails = _mails_since(stack_var, t0, "REFUSED: clever push for 2026-11-24")
    assert len(mails) == 1
    body = mails[0].replace("=\n", "")
    assert re.search(r"students\.csv: \d+ rows, 1000 at the last push \(2026-11-23\): lost \d+%, more than the 10% allowed",
                     body)
    assert "O'Brien" not in body and "@students" not in body  # no personal data in the mail
    assert list((export_dir(DAY, "clever") / "refused").iterdir())  # the refused files are kept
    assert luigi.build([CleverPush(date=DAY, force=True)], local_scheduler=True)
    assert sorted(p.name for p in vendors["clever"].iterdir()) == CLEVER_FILES
    assert len(_mails_since(stack_var, t0, "FORCED: clever push for 2026-11-24")) == 1


def test_a_file_refused_by_its_rules_is_checked_afresh_after_the_fix(vendors, pg_settings, stack_var):
    """Each file is checked by a task of its own; a refusal sets aside the files and their
    checks, so the rerun exports and checks again (a stale check would refuse it again)."""
    from pipelines.vendors import ExportVendorFile
    t0 = time.time() - 1
    assert luigi.build([ExportVendorFile(date=DAY, vendor="clever", file=f) for f in CLEVER_FILES],
                       local_scheduler=True)
    enrollments = export_dir(DAY, "clever") / "enrollments.csv"
    with open(enrollments, "a") as fh:  # a student no students.csv knows: found from students.csv's column
        fh.write("101,5001,NOSUCH\n")
    assert not luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    assert list(vendors["clever"].iterdir()) == []
    body = _mails_since(stack_var, t0, "REFUSED: clever push for 2026-11-24")[0].replace("=\n", "")
    assert re.search(r"enrollments\.csv, row \d+, column Student_id: NOSUCH is not a Student_id in students\.csv",
                     body)
    kept = next((export_dir(DAY, "clever") / "refused").iterdir())
    assert sorted(p.name for p in (kept / "_checked").iterdir()) == sorted(f"{f}.json" for f in CLEVER_FILES)
    assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)  # exported and checked afresh: sent
    assert sorted(p.name for p in vendors["clever"].iterdir()) == CLEVER_FILES


def test_failed_upload_resumes_without_exporting_again(vendors, pg_settings):
    parser = luigi.configuration.get_config()
    port = parser.get("sftp_clever", "port")
    parser.set("sftp_clever", "port", str(free_port()))  # the server is unreachable
    parser.set("sftp_clever", "backoff", "0.05")
    assert not luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    exported = {p.name: p.stat().st_mtime_ns for p in export_dir(DAY, "clever").glob("*.csv")}
    assert sorted(exported) == CLEVER_FILES and _ledger(pg_settings, "push_clever") == []
    parser.set("sftp_clever", "port", port)
    assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    assert {p.name: p.stat().st_mtime_ns for p in export_dir(DAY, "clever").glob("*.csv")} == exported
    assert sorted(p.name for p in vendors["clever"].iterdir()) == CLEVER_FILES


def test_savvas_sends_one_zip_without_folders(vendors, pg_settings):
    assert luigi.build([SavvasPush(date=DAY)], local_scheduler=True)
    assert [p.name for p in vendors["savvas"].iterdir()] == ["DISTRICT.zip"]
    with zipfile.ZipFile(vendors["savvas"] / "DISTRICT.zip") as zf:
        names = zf.namelist()
        assert sorted(names) == sorted(f"{n}.txt" for n in ["CODE_DISTRICT", "SCHOOL", "STUDENT", "STAFF", "PIF_SECTION",
                                                            "PIF_SECTION_STAFF", "PIF_SECTION_STUDENT", "ENROLLMENT",
                                                            "ASSIGNMENT"])
        assert zf.read("STUDENT.txt").startswith(b'"student_code","last_name","first_name"')
    (item, status, rows, *_), = _ledger(pg_settings, "push_savvas")
    assert (item, status) == ("DISTRICT.zip", "succeeded") and rows > 40


def test_ellevation_and_powerschool_import(vendors, pg_settings):
    from pipelines.ellevation import EllevationPush
    from pipelines.slots import SftpOperationsLocal
    assert luigi.build([EllevationPush(date=DAY), SftpOperationsLocal(date=DAY)], local_scheduler=True)
    assert sorted(p.name for p in vendors["ellevation"].iterdir()) == [
        "Staff-Roster.csv", "Student-Course-Schedules.csv", "Student-Demographics.csv"]
    assert (vendors["ellevation"] / "Student-Demographics.csv").read_text().startswith("StudentID,StateID,LastName,")
    ps = (vendors["powerschool"] / "google_addresses.csv").read_text().splitlines()
    assert ps[0] == "Student_Number,Email_Address" and len(ps) > 10
    assert {r[1] for r in _ledger(pg_settings, "push_powerschool")} == {"succeeded"}


def test_otus_goes_on_mondays_only(vendors, pg_settings):
    assert luigi.build([OtusPush(date=DAY)], local_scheduler=True)  # Tuesday: nothing to do
    assert list(vendors["otus"].iterdir()) == []
    monday = dt.date(2026, 11, 23)
    clock.set_now(dt.datetime(2026, 11, 23, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))))
    assert luigi.build([OtusPush(date=monday)], local_scheduler=True)
    assert [p.name for p in vendors["otus"].iterdir()] == ["OTUS_Attendance_Discipline.csv"]


def test_clever_push_against_openssh(loaded_district, openssh, pg_settings):
    s = openssh.settings()
    parser = luigi.configuration.get_config()
    for key, value in (("host", s.host), ("port", str(s.port)), ("user", s.user), ("key_file", str(s.key_file)),
                       ("known_hosts", str(s.known_hosts)), ("remote_dir", s.remote_dir)):
        parser.set("sftp_clever", key, value)
    assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    from pathlib import Path
    remote = Path(s.remote_dir)
    assert sorted(p.name for p in remote.iterdir()) == CLEVER_FILES
    assert _sha(remote / "students.csv") == _sha(export_dir(DAY, "clever") / "students.csv")


def test_dry_run_reports_and_sends_nothing(vendors, pg_settings, capsys):
    assert luigi.build([CleverPush(date=DAY, dry_run=True)], local_scheduler=True)
    out = capsys.readouterr().out
    assert "DRY RUN clever for 2026-11-24: would send (nothing was sent)" in out
    assert re.search(r"students\.csv: \d+ rows, Student_id: \+\d+ -0 \(no earlier push\)", out)
    assert list(vendors["clever"].iterdir()) == [] and _ledger(pg_settings, "push_clever") == []
    assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    # the day sent: a dry run says so, and its summary line says it was a dry run (a new process:
    # the first dry run's task object, reported, is not reused)
    luigi.task_register.Register.clear_instance_cache()
    result = luigi.build([CleverPush(date=DAY, dry_run=True)], local_scheduler=True, detailed_summary=True)
    out = capsys.readouterr().out
    assert "DRY RUN clever for 2026-11-24: already sent (6 files): a push would send nothing again" in out
    assert "CleverPush(district=, date=2026-11-24, vendor=clever, dry_run=True)" in result.summary_text
    # pretend the last push held a student who is gone today
    from pipelines.vendors import pushed_copy, vendor
    copy = pushed_copy(vendor("clever"), "students.csv")
    copy.write_text(copy.read_text() + "101,S-GONE,S-GONE,,X,Y,Z,5,F,01/01/2015,,N,\n")
    assert luigi.build([CleverPush(date=DAY + dt.timedelta(days=1), dry_run=True)], local_scheduler=True)
    out = capsys.readouterr().out
    assert re.search(r"students\.csv: \d+ rows, Student_id: \+0 -1 since the last push \(removed e\.g\. S-GONE\)", out)
    assert len(_ledger(pg_settings, "push_clever")) == 6  # the dry run sent nothing


def test_a_failed_push_is_recorded_listed_and_mailed_once(vendors, pg_settings, stack_var):
    """Server down: every file's failure is a ledger row keyed like its upload, ./run.sh status
    lists it, one mail names them and the rerun command; the rerun delivers and the list empties."""
    from ops.status import report
    from pipelines.failures import RunReport
    parser = luigi.configuration.get_config()
    port = parser.get("sftp_clever", "port")
    parser.set("sftp_clever", "port", str(free_port()))
    parser.set("sftp_clever", "backoff", "0.05")
    before = set((stack_var / "mail").glob("*.eml"))
    with RunReport("./run.sh luigi --module pipelines.clever CleverPush --date 2026-11-24"):
        assert not luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    failed = ledger_rows(pg_settings, "item, status, error", job="push_clever")
    assert sorted(r[0] for r in failed) == CLEVER_FILES and {r[1] for r in failed} == {"failed"}
    assert all(r[2].startswith("TransientError: SFTP 'clever'") and "unreachable" in r[2] for r in failed)
    mails = [f.read_text() for f in set((stack_var / "mail").glob("*.eml")) - before]
    assert len(mails) == 1 and "Subject: FAILED: ./run.sh luigi --module pipelines.clever CleverPush" in mails[0]
    assert "push_clever students.csv (2026-11-24): TransientError" in mails[0].replace("=\n", "")
    status = report(open_ledger(pg_settings), DAY)
    assert status.count("push_clever") >= 6 and "students.csv (2026-11-24" in status
    parser.set("sftp_clever", "port", port)
    with RunReport("rerun"):
        assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    still = report(open_ledger(pg_settings), DAY).split("Still failing (no success since):")[1].split("\n\n")[0]
    assert still.strip() == "nothing"
    assert len(set((stack_var / "mail").glob("*.eml")) - before) == 1  # the good run mails nothing


def test_a_bigquery_that_refuses_connections_fails_the_slot_within_twice_io_timeout(vendors, pg_settings, stack_var):
    """Issue 26: each of Clever's six exports waited the whole [bigquery] timeout (600 s) on a
    BigQuery that refused connections, one after another. Now the first call (the view each
    export reads, checked before it is exported) gives up after io_timeout and the others fail
    at once with its reason: one failed row each, one mail, within twice io_timeout; the rerun
    on a BigQuery that answers delivers."""
    import time

    from pipelines.failures import RunReport
    parser = luigi.configuration.get_config()
    endpoint, io_timeout = parser.get("bigquery", "api_endpoint"), parser.get("bigquery", "io_timeout", fallback=None)
    parser.set("bigquery", "api_endpoint", f"http://127.0.0.1:{free_port()}")
    parser.set("bigquery", "io_timeout", "3")
    before = set((stack_var / "mail").glob("*.eml"))
    try:
        t0 = time.monotonic()
        with RunReport("./run.sh luigi --module pipelines.clever CleverPush --date 2026-11-24"):
            assert not luigi.build([CleverPush(date=DAY)], local_scheduler=True)
        took = time.monotonic() - t0
    finally:
        parser.set("bigquery", "api_endpoint", endpoint)
        if io_timeout is None:
            parser.remove_option("bigquery", "io_timeout")
        else:
            parser.set("bigquery", "io_timeout", io_timeout)
    assert took < 2 * 3 + 4, took  # twice io_timeout, and the run's own seconds
    failed = ledger_rows(pg_settings, "item, status, error", job="DeployView")  # the first BigQuery call of each
    assert len(failed) == 6 and {r[1] for r in failed} == {"failed"}, failed
    fast = [r for r in failed if "could not be reached earlier in this run" in r[2]]
    assert len(fast) == 5 and all("ConnectionError" in r[2] for r in failed), failed
    mails = [f.read_text() for f in set((stack_var / "mail").glob("*.eml")) - before]
    assert len(mails) == 1 and "Subject: FAILED:" in mails[0]
    from targets.process import new_run
    new_run()  # the next run asks again
    with RunReport("rerun"):
        assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)


def test_a_failed_step_without_a_ledger_row_is_recorded_and_superseded(vendors, pg_settings):
    """An export that fails (its view lacks a column the header names) gets a failed row under
    its own task name; the next success of that export supersedes it."""
    from ops.status import report
    from pipelines.failures import RunReport
    from pipelines.vendors import ExportVendorFile
    registry = Path(luigi.configuration.get_config().get("vendors", "vendors_file"))
    good = registry.read_text()
    registry.write_text(good.replace('"Principal_email", "School_address",', '"Principal_email", "No_such_column",', 1))
    task = ExportVendorFile(date=DAY, vendor="clever", file="schools.csv")
    with RunReport("x", mail=False):
        assert not luigi.build([task], local_scheduler=True)
    (row,) = ledger_rows(pg_settings, "item, status, direction, error", job="ExportVendorFile")
    assert row[:3] == ("file=schools.csv, vendor=clever", "failed", "task") and "No_such_column" in row[3]
    assert "ExportVendorFile file=schools.csv, vendor=clever" in report(open_ledger(pg_settings), DAY)
    registry.write_text(good)
    with RunReport("x", mail=False):
        assert luigi.build([task], local_scheduler=True)
    assert ledger_rows(pg_settings, "status", job="ExportVendorFile") == [("superseded",)]
    failing = report(open_ledger(pg_settings), DAY).split("Still failing")[1].split("\n\n")[0]
    assert failing == " (no success since):\n  nothing"


def test_a_past_date_is_refused_unless_resent_and_a_sent_day_stays_done(vendors, pg_settings):
    """The views hold today's data: a push for another day refuses (failed row naming the
    command), --resend sends today's data for that day with a note, and a day already sent is
    a no-op later."""
    from pipelines.failures import RunReport
    past = DAY - dt.timedelta(days=3)
    with RunReport("x", mail=False):
        result = luigi.build([SavvasPush(date=past)], local_scheduler=True, detailed_summary=True)
    assert result.status.name == "FAILED" and list(vendors["savvas"].iterdir()) == []
    ((job, item, status, error),) = ledger_rows(pg_settings, "job_name, item, status, error", job="PastDatePushRefused")
    assert (item, status) == ("vendor=savvas", "failed")
    assert "savvas push for 2026-11-21: the views hold today's data (2026-11-24)" in error and "--resend" in error
    assert luigi.build([SavvasPush(date=past, resend=True)], local_scheduler=True)
    ((note, run_date),) = ledger_rows(pg_settings, "note, run_date", job="push_savvas")
    assert note.startswith("resend: the data of 2026-11-24 sent for 2026-11-21; ids: ") and run_date == past
    assert [p.name for p in vendors["savvas"].iterdir()] == ["DISTRICT.zip"]
    assert luigi.build([SavvasPush(date=DAY)], local_scheduler=True)
    clock.set_now(dt.datetime(2026, 11, 27, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))))
    result = luigi.build([SavvasPush(date=DAY)], local_scheduler=True, detailed_summary=True)
    assert result.status.name == "SUCCESS"  # sent on its day: a later rerun of that day is a no-op
    assert len(ledger_rows(pg_settings, "item", job="push_savvas")) == 2


def test_parallel_uploads_keep_to_the_servers_session_limit(vendors, pg_settings):
    # four workers, six Clever files, [sftp_clever] max_sessions = 1: the uploads (each in a
    # process of its own, with its own SFTP session) never overlap in time
    from pipelines.workers import apply_session_limits
    config = luigi.configuration.get_config()
    config.set("sftp_clever", "max_sessions", "1")
    try:
        assert apply_session_limits(config)["sftp_clever"] == 1
        assert luigi.build([CleverPush(date=DAY)], local_scheduler=True, workers=4)
    finally:
        config.remove_option("sftp_clever", "max_sessions")
        config.remove_option("resources", "sftp_clever")
    spans = sorted(ledger_rows(pg_settings, "started_at, finished_at, worker", job="push_clever", succeeded_only=True))
    assert len(spans) == 6
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
    assert len({w for _, _, w in spans}) == 6  # each upload in a process of its own, and the ledger says which


def test_the_biggest_vendors_chain_starts_first(vendors, pg_settings):
    # with --workers N the chain of the vendor that sent most rows last time is scheduled first
    import pipelines.vendors as pv
    from pipelines.vendors import CheckVendorFiles, UploadVendorItem
    assert luigi.build([CleverPush(date=DAY)], local_scheduler=True)
    pv._PRIORITIES.clear()
    clever = CheckVendorFiles(date=DAY, vendor="clever").priority
    assert clever == 10 * len(str(sum(r[2] for r in _ledger(pg_settings, "push_clever"))))
    assert UploadVendorItem(date=DAY, vendor="clever", item="students.csv").priority == clever
    assert CheckVendorFiles(date=DAY, vendor="savvas").priority == 0  # never sent: no hint
