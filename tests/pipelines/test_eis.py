"""The EIS flows in real headless Chromium (Debian's chromium + chromedriver) against the stand-in:
reports download whole and land in eis/ (a slow, delayed download waited for); a portal that
expires sessions and shows its error page now and then is signed into again and retried; a
cohort scrape killed half-way resumes without repeating a finished chunk; wrong credentials
fail at once; a step that keeps failing leaves a screenshot and the page source (mode 0600);
the 03:00 load takes the files into BigQuery."""
import configparser
import datetime as dt
import csv
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


@pytest.fixture
def portal(stack_config, stack_var, tmp_path):
    """A stand-in of this test's own, harsher than the stack's: sessions end after 8 requests,
    every 9th request is the error page."""
    port = free_port()
    env = dict(os.environ, EIS_STANDIN_PASSWORD=stack.secrets(stack_var)["EIS_PASSWORD"], PYTHONPATH=str(stack.ROOT))
    log = tmp_path / "eis-standin.log"
    proc = subprocess.Popen([sys.executable, "-m", "stack.eis_standin", "--port", str(port), "--session-requests",
                             "8", "--error-every", "9", "--report-delay", "1", "--chunk-delay", "0.15"],
                            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    wait_port(port, 15, "EIS stand-in", log)
    parser = luigi.configuration.get_config()
    for key, value in (("url", f"http://127.0.0.1:{port}"), ("schools", "0010,0020"),
                       ("download_dir", str(tmp_path / "downloads")), ("evidence_dir", str(tmp_path / "evidence")),
                       ("chunk_size", "10"), ("students_file", str(tmp_path / "students.csv"))):
        parser.set("eis", key, value)
    (tmp_path / "students.csv").write_text("student\n" + "".join(f"S{100000 + i}\n" for i in range(27)) + "X999\n")
    yield port
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
    monkeypatch.setenv("EIS_PASSWORD", right)
    luigi.configuration.get_config().set("eis", "url", "http://127.0.0.1:9/")  # nothing answers: fails for good
    luigi.configuration.get_config().set("eis", "retries", "1")
    with pytest.raises(Exception, match="after 2 tries"), browser() as b:
        b.download_report("adm_audit", "0010", DAY, DAY, tmp_path / "x.csv", ["School"])
    evidence = sorted((tmp_path / "evidence").iterdir())
    assert [p.suffix for p in evidence] == [".html", ".png"]
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
