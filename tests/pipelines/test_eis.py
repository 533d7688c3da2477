"""The EIS flows in real headless Chromium (Debian's chromium + chromedriver) against the stand-in:
reports download whole and land in eis/ (a slow, delayed download waited for); a portal that
expires sessions and shows its error page now and then is signed into again and retried (with
backoff; a session ended while a report is prepared signs in again); a cohort scrape killed
half-way resumes without repeating a finished chunk; wrong credentials fail at once; a report
in a new layout is refused and kept aside; a step that fails for good leaves a screenshot and
the page it failed on (mode 0600); the 03:00 load takes the files into BigQuery."""
import configparser
import datetime as dt
import csv
import logging
import os
import signal
import stat
import subprocess
import sys
import time

import luigi
import luigi.configuration
import pytest

import stack
from pipelines.base import data_dir
from pipelines.failures import RunReport
from stack import free_port, wait_port
from stack.eis_standin import report_rows
from tests.ledger import ledger_rows

DAY = dt.date(2026, 11, 24)


def _standin(stack_var, tmp_path, *options) -> tuple[int, subprocess.Popen]:
    port = free_port()
    env = dict(os.environ, EIS_STANDIN_PASSWORD=stack.secrets(stack_var)["EIS_PASSWORD"], PYTHONPATH=str(stack.ROOT))
    log = tmp_path / f"eis-standin-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "stack.eis_standin", "--port", str(port), *options],
                            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    wait_port(port, 15, "EIS stand-in", log)
    return port, proc


@pytest.fixture
def portal(stack_config, stack_var, tmp_path):
    """A stand-in of this test's own, harsher than the stack's: sessions end after 8 requests,
    every 9th request is the error page."""
    port, proc = _standin(stack_var, tmp_path, "--session-requests", "8", "--error-every", "9", "--report-delay", "1",
                          "--chunk-delay", "0.15")
    parser = luigi.configuration.get_config()
    for key, value in (("url", f"http://127.0.0.1:{port}"), ("schools", "0010,0020"),
                       ("download_dir", str(tmp_path / "downloads")), ("evidence_dir", str(tmp_path / "evidence")),
                       ("chunk_size", "10"), ("students_file", str(tmp_path / "students.csv"))):
        parser.set("eis", key, value)
    (tmp_path / "students.csv").write_text("student\n" + "".join(f"S{100000 + i}\n" for i in range(27)) + "X999\n")
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def other_portal(portal, stack_var, tmp_path):
    """Another stand-in, started with the options given (``other_portal("--layout-change", ...)``),
    in place of the test's portal."""
    procs = []

    def start(*options):
        port, proc = _standin(stack_var, tmp_path, "--error-every", "0", "--report-delay", "1", *options)
        procs.append(proc)
        luigi.configuration.get_config().set("eis", "url", f"http://127.0.0.1:{port}")
        return port
    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def _build(*tasks):
    with RunReport("test", mail=False):
        return luigi.build(list(tasks), local_scheduler=True)


def test_reports_download_whole_and_land_in_eis(portal, pg_settings, tmp_path):
    from pipelines.eis import EisAdmAuditStudentMembership, EisSchoolErrorReports
    assert _build(EisAdmAuditStudentMembership(date=DAY), EisSchoolErrorReports(date=DAY))
    eis = data_dir() / "eis"
    assert sorted(p.name for p in eis.iterdir()) == ["adm_audit_0010.csv", "adm_audit_0020.csv",
                                                     "school_errors_0010.csv", "school_errors_0020.csv"]
    for report in ("adm_audit", "school_errors"):
        for school in ("0010", "0020"):
            rows = list(csv.reader((eis / f"{report}_{school}.csv").open()))
            assert rows[1:] == report_rows(report, school, "2026-07-01", "2026-11-24")  # whole, the year to date
            assert stat.S_IMODE((eis / f"{report}_{school}.csv").stat().st_mode) == 0o660
    assert list((tmp_path / "downloads").iterdir()) == []  # no partial or leftover download
    assert sorted(i for (i,) in ledger_rows(pg_settings, "item", job="eis_report", succeeded_only=True)) == [
        "adm_audit_0010", "adm_audit_0020", "school_errors_0010", "school_errors_0020"]
    assert _build(EisAdmAuditStudentMembership(date=DAY))  # the rerun: nothing
    assert len(ledger_rows(pg_settings, "item", job="eis_report")) == 4
    nxt = DAY + dt.timedelta(days=1)  # the next night: downloaded again, the year to the new date
    from targets import clock
    clock.set_now(clock.now() + dt.timedelta(days=1))
    assert _build(EisSchoolErrorReports(date=nxt))
    assert list(csv.reader((eis / "school_errors_0020.csv").open()))[1:] == \
        report_rows("school_errors", "0020", "2026-07-01", "2026-11-25")
    assert [d.isoformat() for (d,) in ledger_rows(pg_settings, "run_date", job="eis_report")].count("2026-11-25") == 2


def _subprocess_config(stack_config, tmp_path) -> str:
    """This test's luigi.cfg as a file, for a child process."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(stack_config)
    parser = luigi.configuration.get_config()
    for key in ("url", "schools", "download_dir", "evidence_dir", "chunk_size", "students_file"):
        cfg.set("eis", key, parser.get("eis", key))
    path = tmp_path / "child.cfg"
    with open(path, "w") as fh:
        cfg.write(fh)
    return str(path)


def test_a_cohort_scrape_killed_half_way_resumes_without_repeating_chunks(portal, pg_settings, stack_config,
                                                                          stack_var, tmp_path):
    from targets.postgres import PostgresClient
    PostgresClient(pg_settings).migrate()  # the ledger this test watches while the child runs
    env = dict(os.environ, LUIGI_CONFIG_PATH=_subprocess_config(stack_config, tmp_path), **stack.secrets(stack_var))
    child = subprocess.Popen([sys.executable, "-m", "pipelines", "--module", "pipelines.eis", "EisCohortTracking",
                              "--date", str(DAY), "--local-scheduler"], cwd=stack.ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(ledger_rows(pg_settings, "item", job="eis_cohort",
                                                          succeeded_only=True)) < 1:
        time.sleep(0.3)
    os.killpg(child.pid, signal.SIGKILL)  # the browser and its driver with it
    child.wait(10)
    first = [i for (i,) in ledger_rows(pg_settings, "item", job="eis_cohort", succeeded_only=True)]
    assert 1 <= len(first) < 3, first  # killed half-way: one or two of three chunks done
    from pipelines.eis import EisCohortTracking
    assert _build(EisCohortTracking(date=DAY))
    items = [i for (i,) in ledger_rows(pg_settings, "item", job="eis_cohort", succeeded_only=True)]
    assert sorted(items) == ["chunk_00000", "chunk_00001", "chunk_00002", "cohort_tracking.csv"]  # none twice
    rows = list(csv.DictReader((data_dir() / "eis" / "cohort_tracking.csv").open()))
    assert len(rows) == 28 and rows[-1] == {"Student Key": "X999", "Cohort Year": "", "Entry Date": "", "Status": "",
                                            "Withdrawal Code": "", "School": "", "Found": "no"}
    assert all(r["Found"] == "yes" and r["Cohort Year"] for r in rows[:-1])
    notes = [n for (n,) in ledger_rows(pg_settings, "note", job="eis_cohort", succeeded_only=True)]
    assert any(n.startswith("signed in") and int(n.split()[2]) >= 2 for n in notes), notes  # sessions end after
    # 8 requests: the chunk signed in again and went on


def test_wrong_credentials_fail_at_once_and_a_failing_step_leaves_private_evidence(portal, pg_settings, tmp_path,
                                                                                   monkeypatch):
    from pipelines.eis import EisReport, browser
    right = os.environ["EIS_PASSWORD"]
    monkeypatch.setenv("EIS_PASSWORD", "not-the-password")
    started = time.monotonic()
    assert not _build(EisReport(date=DAY, report="adm_audit", school="0010"))
    assert time.monotonic() - started < 20  # one sign-in, no retry storm
    (error,) = [e for (e,) in ledger_rows(pg_settings, "error", job="eis_report") if e]
    assert "LoginError: EIS refused the sign-in of user 'district_etl'" in error and "not-the-password" not in error
    (page,) = (tmp_path / "evidence").glob("*.html")  # the portal's answer, kept; the password is not in it
    assert "Invalid user name or password" in page.read_text() and "not-the-password" not in page.read_text()
    monkeypatch.setenv("EIS_PASSWORD", right)
    luigi.configuration.get_config().set("eis", "url", "http://127.0.0.1:9/")  # nothing answers: fails for good
    luigi.configuration.get_config().set("eis", "retries", "1")
    with pytest.raises(Exception, match="after 2 tries"), browser() as b:
        b.download_report("adm_audit", "0010", DAY, DAY, tmp_path / "x.csv", ["School"])
    evidence = sorted((tmp_path / "evidence").iterdir())
    assert sorted(p.suffix for p in evidence) == [".html", ".html", ".png", ".png"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in evidence)
    assert stat.S_IMODE((tmp_path / "evidence").stat().st_mode) == 0o700
    assert all("password" not in p.name for p in evidence)


def test_the_0300_load_takes_the_eis_files_into_bigquery(portal, google_stack, bq_client, pg_settings):
    from pipelines.eis import EisSchoolErrorReports
    from pipelines.warehouse import LoadFileToBigQuery
    assert _build(EisSchoolErrorReports(date=DAY))
    assert _build(LoadFileToBigQuery(date=DAY, folder="eis", filename="school_errors_0010.csv"))
    rows = bq_client.query("SELECT count(*) AS n FROM eis.school_errors_0010_20261124")
    assert rows == [{"n": len(report_rows("school_errors", "0010", "2026-07-01", "2026-11-24"))}]


def test_prior_enrollment_lists_every_students_history(portal, pg_settings):
    from pipelines.eis import EisPriorEnrollment
    from stack.eis_standin import prior_enrollments
    assert _build(EisPriorEnrollment(date=DAY))
    rows = list(csv.DictReader((data_dir() / "eis" / "prior_enrollment.csv").open()))
    expected = [r for i in range(27) for r in prior_enrollments(f"S{100000 + i}")]  # X999: not found, no rows
    assert rows == expected
    assert [i for (i,) in ledger_rows(pg_settings, "item", job="eis_prior", succeeded_only=True)][-1] == \
        "prior_enrollment.csv"


def test_a_session_that_ends_while_a_report_is_prepared_signs_in_again(other_portal, pg_settings):
    from pipelines.eis import EisReport
    other_portal("--expire-while-preparing", "1")
    assert _build(EisReport(date=DAY, report="adm_audit", school="0030"))
    rows = list(csv.reader((data_dir() / "eis" / "adm_audit_0030.csv").open()))
    assert rows[1:] == report_rows("adm_audit", "0030", "2026-07-01", "2026-11-24")
    assert ledger_rows(pg_settings, "note", job="eis_report", succeeded_only=True) == [("signed in 2 times",)]


def test_a_report_in_a_new_layout_is_refused_kept_aside_and_leaves_evidence(other_portal, pg_settings, tmp_path):
    from pipelines.eis import EisReport
    other_portal("--layout-change", "school_errors")
    assert not _build(EisReport(date=DAY, report="school_errors", school="0010"))
    assert _build(EisReport(date=DAY, report="adm_audit", school="0010"))  # the other report still comes
    assert sorted(p.name for p in (data_dir() / "eis").iterdir()) == ["adm_audit_0010.csv"]
    (error,) = [e for (e,) in ledger_rows(pg_settings, "error", job="eis_report") if e]
    assert ("school_errors_0010.csv, row 1: EIS changed the report's layout: columns ['Description'] missing, "
            "['Description (new)'] new") in error
    assert list((tmp_path / "downloads").iterdir()) == []
    evidence = sorted((tmp_path / "evidence").iterdir())
    assert sorted(p.suffix for p in evidence) == [".csv", ".html", ".png"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in evidence)
    (page,) = [p for p in evidence if p.suffix == ".html"]
    assert "<h1" in page.read_text() and "Your report is" in page.read_text()  # the report page it failed on
    (kept,) = [p for p in evidence if p.suffix == ".csv"]
    assert kept.name.endswith("-school_errors_0010.csv") and kept.name in error
    assert kept.read_text().splitlines()[0].endswith("Description (new)")


def test_the_error_page_is_retried_with_backoff_and_a_step_that_keeps_failing_leaves_that_page(
        other_portal, pg_settings, tmp_path, caplog):
    from pipelines.eis import EisReport
    luigi.configuration.get_config().set("eis", "backoff", "0.5")
    other_portal("--error-first", "2")  # the report page answers the error page twice, then works
    caplog.set_level(logging.WARNING, logger="targets.eis")
    assert _build(EisReport(date=DAY, report="adm_audit", school="0040"))
    assert [r.getMessage() for r in caplog.records if r.name == "targets.eis"] == [
        "EIS report adm_audit for school 0040: PortalHiccup; try 2 of 5 in 0.5 s",
        "EIS report adm_audit for school 0040: PortalHiccup; try 3 of 5 in 1.0 s"]
    assert not (tmp_path / "evidence").exists()  # nothing failed for good: no evidence
    luigi.configuration.get_config().set("eis", "retries", "2")
    other_portal("--error-first", "100")  # it keeps answering the error page
    assert not _build(EisReport(date=DAY, report="school_errors", school="0040"))
    (error,) = [e for (e,) in ledger_rows(pg_settings, "error", job="eis_report") if e]
    assert "EIS report school_errors for school 0040: PortalHiccup Error after 3 tries" in error
    (page,) = (tmp_path / "evidence").glob("*.html")
    assert "An unexpected error has occurred" in page.read_text()
    assert "report_school_errors_for_school_0040" in page.name


def test_only_failures_in_a_row_count_against_the_retries(other_portal, pg_settings):
    """Every 4th request is the error page: a batch of look-ups fails every few students, but
    each try gets further, so two retries are enough however long the chunk."""
    from pipelines.eis import EisStudentChunk
    for key, value in (("retries", "2"), ("backoff", "0.1")):
        luigi.configuration.get_config().set("eis", key, value)
    other_portal("--error-every", "4")
    assert _build(EisStudentChunk(date=DAY, kind="cohort", chunk=0))
    rows = list(csv.DictReader(open(data_dir() / "eis-work" / str(DAY) / "cohort" / "chunk_00000.csv")))
    assert [r["Student Key"] for r in rows] == [f"S{100000 + i}" for i in range(10)]
    assert all(r["Found"] == "yes" for r in rows)
