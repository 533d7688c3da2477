"""./run.sh status against the schedule: a run of ./run.sh luigi leaves a 'run' row (also when
it fails); a slot due this morning with no run is MISSED, one that ran shows when and how; each
job shows the age of its last success; --json gives the same as data."""
import datetime as dt
import json
import os
import subprocess
import sys

from formats.png import read_png
from ops import status
from pipelines import digest
from pipelines.base import ROOT
from targets import clock
from targets.ledger import LedgerEntry
from targets.runs import RunTracker
from targets.postgres import PostgresClient
from tests.ledger import ledger_rows, open_ledger

DAY = dt.date(2026, 11, 24)
CST = dt.timezone(dt.timedelta(hours=-6))
CONFIGURED = {"etl", "postgres", "bigquery", "smtp"}  # no [dps], [feeds], [eis]: their slots are not expected


def _at(h, m, s=0):
    clock.set_now(dt.datetime(2026, 11, 24, h, m, s, tzinfo=CST))


def test_nothing_is_missed_before_the_installations_first_run(stack_config, pg_settings):
    """A fresh install whose first run (the demo's, at noon) is its first ledger row: the slots
    due that morning were not missed, it was not there; a due time after it is."""
    client = open_ledger(pg_settings, migrate=True)
    _at(12, 0)
    tracker = RunTracker(client)
    tracker.run_finished(tracker.run_started("DemoPipeline", DAY, "./run.sh demo"), 0)
    _at(12, 40)
    runs = {r["task"]: r for r in digest.collect(client, DAY, sections=CONFIGURED)["runs"]}
    assert [r["task"] for r in runs.values() if r["missed"]] == []
    assert runs["BigQueryOperations"]["due"] == 1 and runs["BigQueryOperations"]["started"] == 0
    _at(23, 55)  # that evening: nothing ran after the demo, but nothing was due after noon either
    assert [r["task"] for r in digest.collect(client, DAY, sections=CONFIGURED)["runs"] if r["missed"]] == []
    clock.set_now(dt.datetime(2026, 11, 25, 8, 0, tzinfo=CST))  # the next morning, with no cron: missed
    runs = {r["task"]: r for r in digest.collect(client, DAY + dt.timedelta(days=1), sections=CONFIGURED)["runs"]}
    assert runs["BigQueryOperations"]["missed"] == ["2026-11-25T03:00:00-06:00"]


def test_runs_due_and_never_started_are_missed_and_ages_are_shown(stack_config, pg_settings, capsys, tmp_path):
    client = open_ledger(pg_settings, migrate=True)
    tracker = RunTracker(client)
    clock.set_now(dt.datetime(2026, 11, 23, 5, 0, 2, tzinfo=CST))  # the installation ran yesterday already
    tracker.run_finished(tracker.run_started("SftpOperations", DAY - dt.timedelta(days=1), "./run.sh luigi"), 0)
    _at(5, 0, 2)
    run = tracker.run_started("SftpOperations", DAY, "./run.sh luigi --module pipelines.slots SftpOperations")
    _at(5, 4)
    client.record(LedgerEntry(job="push_clever", item="students.csv", run_date=DAY, direction="out", rows=40,
                              destination="sftp://clever/students.csv"))
    tracker.run_finished(run, 0)
    _at(6, 50, 1)
    misc = tracker.run_started("SftpOperationsMisc", DAY, "./run.sh luigi --module pipelines.slots SftpOperationsMisc")
    tracker.run_finished(misc, 30)
    _at(8, 0, 30)  # BigQueryOperations (03:00), BigQueryOperationsMisc (06:55) and SftpOperationsLocal (07:05) never ran
    data = digest.collect(client, DAY, sections=CONFIGURED)
    by_task = {r["task"]: r for r in data["runs"]}
    assert by_task["SftpOperations"]["missed"] == [] and by_task["SftpOperations"]["last_note"] == "exit 0"
    assert by_task["SftpOperationsMisc"]["last_status"] == "failed"  # it ran (not missed) and failed
    assert by_task["BigQueryOperations"]["missed"] == ["2026-11-24T03:00:00-06:00"]
    assert by_task["SftpOperationsLocal"]["missed"] == ["2026-11-24T07:05:00-06:00"]
    assert "SendToDps" not in by_task and "EisCohortTracking" not in by_task  # not configured here
    _at(7, 5, 1)  # a paused slot's run is recorded as skipped: it happened, it is not missed
    local = tracker.run_started("SftpOperationsLocal", DAY, "./run.sh luigi --module pipelines.slots SftpOperationsLocal")
    tracker.run_finished(local, 0, "paused: powerschool")
    _at(8, 0, 30)
    data = digest.collect(client, DAY, sections=CONFIGURED)
    by_task = {r["task"]: r for r in data["runs"]}
    assert by_task["SftpOperationsLocal"]["missed"] == []
    assert (by_task["SftpOperationsLocal"]["last_status"], by_task["SftpOperationsLocal"]["last_note"]) == (
        "skipped", "exit 0, paused: powerschool")
    (clever,) = [j for j in data["jobs"] if j["job"] == "push_clever"]
    assert clever["last_success_age"] == "2 h 56 min"
    assert all(j["job"] not in ("run", "operator") for j in data["jobs"])

    page = digest.text(data)
    assert "MISSED 1: 03:00 (cron or the machine was down" in page
    assert "last started 07:05, skipped (exit 0, paused: powerschool)" in page
    assert "SftpOperations               due   1, started   1; last started 05:00, succeeded (exit 0)" in page
    assert "last success 2 h 56 min ago" in page

    _at(23, 0)  # the evening: a quiet day's JSON for monitoring
    assert status.main(["--date", str(DAY), "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["date"] == "2026-11-24" and {r["task"] for r in parsed["runs"]} >= {"SftpOperations"}
    assert parsed["rows_sent"] == {"push_clever": {"2026-11-24": 40}}

    page = tmp_path / "status.html"  # the same page as HTML, with the 30-day chart of rows sent
    assert status.main(["--date", str(DAY), "--html", str(page)]) == 0
    doc = page.read_text()
    assert doc.startswith("<!doctype html>") and "<h2>Missed runs</h2>" in doc and "BigQueryOperations" in doc
    assert "<h2>Rows sent per vendor, 2026-10-26 to 2026-11-24</h2>" in doc
    assert "40 rows in 1 day; most 40" in doc
    src = doc.split("<img src='data:image/png;base64,")[1].split("'")[0]
    import base64
    width, height, pixels = read_png(base64.b64decode(src))
    assert (width, height) == (30 * 10 - 2, 61)  # 30 bars of 8 pixels, 2 between, over a one-pixel axis
    column = [row[-1] for row in pixels[:-1]]  # the last day's bar (2026-11-24) fills the height
    assert set(column) == {1}
    assert [row[0] for row in pixels[:-1]] == [0] * 58 + [2, 2]  # the first day (nothing sent): a grey stub


def test_every_run_of_run_sh_luigi_leaves_a_run_row_also_a_failed_one(stack_config, pg_settings, stack_var):
    from pipelines.failures import run_ledger_section
    assert run_ledger_section() == "postgres"  # also for the Feeds modules: the ledger status reads
    PostgresClient(pg_settings).migrate()
    env = dict(os.environ, ETL_CLOCK="2026-11-24T12:00:00-06:00")
    child = subprocess.run([sys.executable, "-m", "pipelines", "--module", "pipelines.vendors", "VendorPush",
                            "--vendor", "clever", "--date", "2026-11-20", "--local-scheduler"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 30, child.stderr[-2000:]  # a past date is refused
    ((item, run_date, state, note, source),) = ledger_rows(pg_settings, "item, run_date, status, note, source",
                                                           job="run")
    assert item.startswith("VendorPush 2026-11-24T18:00:") and run_date == dt.date(2026, 11, 20)
    assert (state, note) == ("failed", "exit 30") and source.startswith("./run.sh luigi --module pipelines.vendors")


def test_with_the_ledger_down_status_says_so_in_one_line(stack_config, capsys):
    import luigi.configuration

    from ops import one_line_errors
    from stack import free_port
    luigi.configuration.get_config().set("postgres", "port", str(free_port()))  # nothing listens there
    assert one_line_errors("status", status.main)(["--date", str(DAY)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("run.sh status: PostgreSQL ") and "unreachable" in err and "./run.sh stack up" in err
    assert "Traceback" not in err and len(err.splitlines()) == 2


def test_a_killed_run_becomes_failed_with_a_note_when_the_next_run_starts(stack_config, pg_settings):
    """kill -9 leaves the run's row 'started' (the process cannot write anything); the next run
    on this host sees its process is gone and marks it failed ('killed'), so status shows it."""
    client = open_ledger(pg_settings, migrate=True)
    code = ("import sys, os, signal, datetime as dt; from targets.postgres import PostgresClient, PostgresSettings;"
            "from targets.ledger import Ledger;"
            "from targets.runs import RunTracker;"
            f"s = PostgresSettings(host={pg_settings.host!r}, port={pg_settings.port}, dbname={pg_settings.dbname!r},"
            f" user={pg_settings.user!r}, password=os.environ['PGPW']);"
            "RunTracker(Ledger(PostgresClient(s))).run_started('SftpOperationsMisc', dt.date(2026, 11, 24), './run.sh luigi x');"
            "os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PGPW": pg_settings.password,
                                                             "ETL_CLOCK": "2026-11-24T06:50:00-06:00",
                                                             "PYTHONPATH": str(ROOT)}, capture_output=True)
    assert done.returncode == -9, done.stderr
    _at(6, 55)
    alive = RunTracker(client).run_started("SftpOperations", DAY, "./run.sh luigi y")  # this process: alive, left alone
    with client.transaction() as cur:
        cur.execute("SELECT split_part(item, ' ', 1), status, note, error FROM dba.tdataloads WHERE job_name = 'run'"
                    " AND run_date = %s", (DAY,))
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    assert rows["SftpOperationsMisc"][:2] == ("failed", "killed"), rows
    assert "ended without finishing" in rows["SftpOperationsMisc"][2]
    assert rows["SftpOperations"][0] == "started"
    RunTracker(client).run_finished(alive, 0)
    _at(8, 0)
    data = digest.collect(client, DAY, sections=CONFIGURED)
    by_task = {r["task"]: r for r in data["runs"]}
    assert (by_task["SftpOperationsMisc"]["last_status"], by_task["SftpOperationsMisc"]["last_note"]) == (
        "failed", "killed")
    assert "failed (killed)" in digest.text(data)
