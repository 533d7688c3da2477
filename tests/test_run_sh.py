"""run.sh end to end, as an operator runs it: demo twice, resume after a broken step, the
one-copy lock, exit codes and per-run logs. Each test uses its own embedded stack folder."""
import datetime as dt
import os
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

import stack
from pipelines.views import view_files
from registry.vendors import load_vendors

pytestmark = pytest.mark.stack  # runs ./run.sh and the demo's stack: ./run.sh test --fast leaves it out

ROOT = Path(__file__).resolve().parent.parent


def _run(args, var, timeout=600, **kw):
    env = dict(os.environ, ETL_VAR=str(var))
    env.pop("LUIGI_CONFIG_PATH", None)
    env.pop("ETL_SECRETS_ENV", None)
    env.update(kw.pop("env", {}))
    return subprocess.run([str(ROOT / "run.sh"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


@pytest.fixture(scope="module")
def demo_var(tmp_path_factory):
    var = tmp_path_factory.mktemp("demo-var")
    yield var
    _run(["stack", "down"], var)


PLURAL = re.compile(r"(?<![\d.,])1 (files|problems|recipients|rows|items|checks|tasks|days|steps|slots|mails|errors|"
                    r"warnings|records|students|youths|events|bytes|changes|vendors|duplicates|conflicting duplicates)\b")
BARE_TIME = re.compile(r"(?<![\d:+-])\d{2}:\d{2}(?::\d{2}(?:[,.]\d+)?)?(?![\d:,.])(?! ?(?:[A-Z]{3,5}|[+-]\d{2}:?\d{2})\b)")


def first_hour_problems(what: str, text: str, times: bool = True) -> list[str]:
    """What a district engineer must not meet in the first hour, in one command's output: a
    traceback, a warning our own config causes, a wrong plural, a time without its zone."""
    found = []
    if "Traceback (most recent call last)" in text:
        found.append(f"{what}: a traceback")
    found += [f"{what}: {m.group(0)}" for m in re.finditer(r"\b\w+Warning\b: .*", text)]
    found += [f"{what}: '{m.group(0)}'" for m in PLURAL.finditer(text)]
    if times:
        found += [f"{what}: a time without its zone: ...{text[max(0, m.start() - 30):m.end() + 5]!r}"
                  for m in BARE_TIME.finditer(text)]
    return found


def _steps(name: str, n: int) -> str:
    return f"{name} x{n}" if n > 1 else name


def vendor_steps(day) -> list[str]:
    """The demo's vendor steps on ``day``, counted from vendors.toml and sql/views as shipped (a
    vendor or a view added there changes them with no change here): every view deployed, each
    file exported and checked from its view, each vendor's files checked together, each item (a
    file, or the one zip) uploaded."""
    due = [v for v in load_vendors(ROOT / "vendors.toml").vendors.values() if v.runs_on(day)]
    files = [f for v in due for f in v.files]
    return [_steps("DeployView", len(view_files())), _steps("ExportVendorFile", len(files)),
            _steps("CheckVendorFile", len(files)), _steps("CheckVendorFiles", len(due)),
            _steps("UploadVendorItem", sum(len(v.items()) for v in due))]


def test_demo_twice_second_run_does_no_work(demo_var):
    # the first hour starts here: a fresh stack passes the doctor
    up = _run(["stack", "up"], demo_var)
    assert up.returncode == 0, up.stderr
    doctor = _run(["check"], demo_var)
    assert doctor.returncode == 0 and "FAIL" not in doctor.stdout and "\nwarn" not in doctor.stdout, doctor.stdout
    assert first_hour_problems("check", doctor.stdout + doctor.stderr) == []
    first = _run(["demo", "--students", "300", "--date", "2026-11-02"], demo_var)
    assert first.returncode == 0, first.stdout + first.stderr
    ran = re.search(r"Demo for 2026-11-02: ran \d+ steps: (.*)\.", first.stdout)
    assert ran, first.stdout[-3000:]
    for step in ("WriteSampleRoster", "UploadSampleRoster", "DownloadSampleRoster", "LoadSampleRoster",
                 "SeedDistrict", "PullFile x3", "MergeExports", "LoadFileToBigQuery x23",
                 *vendor_steps(dt.date(2026, 11, 2)), "SeedImpact", "SendToDps", "FetchDpsResults", "ReconcileDps", "DeliverDpsResults",
                 "DemoClientUpload x2", "DownloadMeetMaxList x3", "TakeFeedFile x5", "ConvertFeedFile",
                 "ImportFeedFile x5", "ArchiveFeedFile x5", "FeedsReportMail x3",
                 "EisStudentList", "EisStudentChunk", "EisCohortTracking", "EisReport x8"):
        assert step in ran.group(1), step
    # the Feeds ETL: clients' uploads over SFTP and the MeetMax lists, loaded; the report mailed
    assert re.search(r"feeds\.events\s+40 rows", first.stdout) and re.search(r"feeds\.clients\s+25 rows", first.stdout)
    assert re.search(r"feeds\.companies\s+60 rows", first.stdout)
    assert re.search(r"feeds_acme_events\s+succeeded\s+1 item\s+40 rows\s+1 rejected", first.stdout)
    assert "Report mails (3, text + HTML, over TLS):" in first.stdout
    # EIS in headless Chromium: the files land in eis/ and the load takes them into BigQuery
    assert re.search(r"EIS files .*: adm_audit_0010\.csv, .*cohort_tracking\.csv, .*school_errors_0040\.csv",
                     first.stdout)
    assert re.search(r"district-local\.eis\.cohort_tracking_20261102\s+60 rows", first.stdout)
    assert "300 rows in demo.sample_roster for 2026-11-02" in first.stdout
    assert re.search(r"district-local\.powerschool\.students\s+300 rows", first.stdout)
    assert f"BigQuery views deployed ({len(view_files())})" in first.stdout
    assert "DPS exchange: waiting for DPS" in first.stdout  # the stand-in answers seconds after the send
    # 2 November reports the quarter that ended: FY2026 Q4 (Jun–Aug)
    assert re.search(r"DPS workbooks on the share .*: DPS_not_in_IMPACT_FY2026_Q4\.xlsx, "
                     r"DPS_total_runaway_events_FY2026_Q4\.xlsx, IMPACT_not_in_DPS_FY2026_Q4\.xlsx", first.stdout)
    # 2026-11-02 is a Monday: OTUS gets its weekly file too
    assert re.search(r"clever\s+upload/enrollments.csv, .*upload/teachers.csv", first.stdout)
    assert re.search(r"otus\s+upload/OTUS_Attendance_Discipline.csv, upload/savvas_scores_20261102.csv",
                     first.stdout)
    second = _run(["demo", "--students", "300", "--date", "2026-11-02"], demo_var)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "nothing to do" in second.stdout and "ran " not in second.stdout
    assert "300 rows in demo.sample_roster for 2026-11-02" in second.stdout
    assert re.search(r"demo_roster\s+succeeded\s+1 item\s+300 rows", second.stdout)
    assert re.search(r"warehouse\s+succeeded\s+23 items", second.stdout)
    assert re.search(r"push_clever\s+succeeded\s+6 items", second.stdout)
    status = _run(["status", "--date", "2026-11-02"], demo_var)
    assert status.returncode == 0, status.stderr
    assert re.search(r"push_clever\s+6 succeeded\s+0 failed", status.stdout)
    assert re.search(r"push_clever\s+students\.csv\s+\d+ rows .* -> sftp://clever/upload/students\.csv",
                     status.stdout)
    assert "Still failing (no success since):\n  nothing" in status.stdout
    assert first_hour_problems("demo", first.stdout + first.stderr) == [], first_hour_problems("demo", first.stdout + first.stderr)


def test_the_first_hour_after_the_demo(demo_var, tmp_path):
    """Right after the demo, as a new user goes on: status (text and HTML), the verbs, the mails.
    No MISSED for a run that ran, no traceback, no warning of our own making, every plural right,
    every time with its zone (a page that says its zone once at the top counts)."""
    assert _run(["stack", "up"], demo_var).returncode == 0
    problems = []
    just_after = {"ETL_CLOCK": "2026-11-02T07:30:00-06:00"}  # the demo played 2 November from 07:00
    status = _run(["status", "--date", "2026-11-02"], demo_var, env=just_after)
    assert status.returncode == 0, status.stderr
    assert "MISSED" not in status.stdout and "times America/Chicago" in status.stdout.splitlines()[0]
    problems += first_hour_problems("status", status.stdout + status.stderr, times=False)
    page = tmp_path / "status.html"
    html = _run(["status", "--date", "2026-11-02", "--html", str(page)], demo_var, env=just_after)
    assert html.returncode == 0, html.stderr
    text = page.read_text()
    assert "Missed runs" not in text and "Times America/Chicago" in text
    problems += first_hour_problems("status --html", text, times=False)
    for verb in (["pause", "ellevation", "--reason", "trying it"], ["pause"], ["resume", "ellevation"],
                 ["validate", "clever", str(demo_var / "data" / "exports" / "2026-11-02" / "clever")],
                 ["prune", "--dry-run"], ["cron"], ["cron", "--plain"], ["clear", "push_otus", "--date", "2026-11-02"]):
        done = _run(verb, demo_var)
        assert done.returncode == 0, (verb, done.stdout, done.stderr)
        problems += first_hour_problems(" ".join(verb[:2]), done.stdout + done.stderr, times=verb[0] != "cron")
    for subject, body in _mails(demo_var):
        problems += first_hour_problems(f"mail {subject!r}", f"{subject}\n{body}", times=False)
    assert problems == []


def test_the_cards_plain_luigi_form_from_another_folder_runs_as_run_sh_does(demo_var, tmp_path):
    """`luigi --module pipelines.clever CleverPush`, the venv's own luigi, from a folder that is
    not the checkout and without PYTHONPATH: the same run as run.sh's (its configuration, run log,
    run row, summary), nothing re-sent for a day already sent; a missing configuration and a
    central scheduler that is not running are one line each."""
    assert _run(["stack", "up"], demo_var).returncode == 0
    env = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "ETL_SECRETS_ENV", "PYTHONPATH")}
    env.update(ETL_VAR=str(demo_var), ETL_CLOCK="2026-11-02T12:00:00-06:00")
    plain = [str(ROOT / ".venv" / "bin" / "luigi"), "--module", "pipelines.clever", "CleverPush"]
    sent = "SELECT count(*) FROM dba.tdataloads WHERE job_name = 'push_clever' AND run_date = '2026-11-02'"
    runs = "SELECT count(*) FROM dba.tdataloads WHERE job_name = 'run' AND run_date = '2026-11-02' AND note = 'exit 0'"
    before = _psql(demo_var, sent), _psql(demo_var, runs)
    done = subprocess.run(plain, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    log = Path(re.search(r"run.sh: log: (\S+)", done.stderr).group(1))
    assert log.parent.parent == ROOT / "logs" and " INFO " in log.read_text()
    if not stack.port_open(8082):  # luigi's default central scheduler, which the plain form asks for
        assert ("run.sh: no central scheduler answers at http://localhost:8082/ (luigi's default); running with "
                "the local scheduler instead") in done.stderr
    assert "===== Luigi Execution Summary =====" in done.stdout and "CleverPush" in done.stdout
    assert _psql(demo_var, sent) == before[0]  # the day was sent by the demo: nothing again
    assert _psql(demo_var, runs)[0][0] == before[1][0][0] + 1

    port = stack.free_port()
    elsewhere = subprocess.run(plain, cwd=tmp_path, env=dict(env, ETL_SCHEDULER_URL=f"http://127.0.0.1:{port}/"),
                               capture_output=True, text=True, timeout=300)
    assert elsewhere.returncode == 0, elsewhere.stdout[-3000:] + elsewhere.stderr
    assert (f"no central scheduler answers at http://127.0.0.1:{port}/ (ETL_SCHEDULER_URL); running with the local "
            "scheduler instead") in elsewhere.stderr

    (tmp_path / "empty").mkdir()
    bare = subprocess.run(plain, cwd=tmp_path, env=dict(env, ETL_VAR=str(tmp_path / "empty")), capture_output=True,
                          text=True, timeout=300)
    assert bare.returncode == 2 and bare.stdout == ""
    assert bare.stderr.startswith("run.sh: no configuration: set ETL_SECRETS_ENV") and bare.stderr.count("\n") == 1


def _mails(var):
    """(subject, body) of every message the stack's SMTP server kept."""
    import email
    import email.policy
    out = []
    for f in sorted((var / "mail").glob("*.eml")):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        out.append((msg["Subject"], msg.get_body().get_content()))
    return out


def test_a_feeds_run_logs_to_the_feeds_database(demo_var):
    """The Feeds ETL keeps its run log (dba.tLogEntry) where its ledger is: in the Feeds database."""
    assert _run(["stack", "up"], demo_var).returncode == 0
    done = _run(["luigi", "--module", "pipelines.feeds", "WatchFeeds"], demo_var)
    assert done.returncode == 0, done.stdout + done.stderr
    feeds = _psql(demo_var, "SELECT count(*) FROM dba.tlogentry WHERE process_type = 'luigi pipelines.feeds WatchFeeds'",
                  dbname="Feeds")
    district = _psql(demo_var, "SELECT count(*) FROM dba.tlogentry WHERE process_type = 'luigi pipelines.feeds"
                               " WatchFeeds'")
    assert feeds[0][0] > 0 and district == [(0,)]


def _drop_feeds_db(var):
    import json

    import psycopg2
    port = json.loads((var / "stack.json").read_text())["ports"]["postgres"]
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=stack.secrets(var)["PG_PASSWORD"],
                            dbname="district")
    conn.autocommit = True  # DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "Feeds" WITH (FORCE)')
            cur.execute("DROP ROLE IF EXISTS feeds_app")
            cur.execute("DROP ROLE IF EXISTS feeds_owner")
    finally:
        conn.close()


def _psql(var, statement, dbname="district"):
    import json

    import psycopg2
    port = json.loads((var / "stack.json").read_text())["ports"]["postgres"]
    password = stack.secrets(var)["PG_PASSWORD"]
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=password, dbname=dbname)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_unreachable_server_fails_the_run_with_a_clear_message(demo_var):
    assert _run(["stack", "up"], demo_var).returncode == 0
    pid = int((demo_var / "run" / "servers.pid").read_text())
    os.killpg(pid, 15)
    while True:
        try:
            os.kill(pid, 0)
            time.sleep(0.05)
        except ProcessLookupError:
            break
    cfg = demo_var / "luigi.cfg"  # retry quickly: the server stays down for this run
    cfg.write_text(cfg.read_text().replace("[sftp_feeds]\n", "[sftp_feeds]\nbackoff = 0.1\n"))
    down = _run(["luigi", "--module", "stack.demo", "DemoPipeline", "--date", "2026-11-03"], demo_var)
    assert down.returncode == 35, down.stdout[-3000:]  # [retcode] scheduling_error: outputs uncheckable
    assert "SFTP server 'feeds'" in down.stdout and "unreachable" in down.stdout
    # the task whose completeness could not be checked has a failed ledger row
    rows = _psql(demo_var, "SELECT job_name, status, error FROM dba.tdataloads WHERE run_date = '2026-11-03'"
                           " ORDER BY job_name <> 'run', load_id")
    assert [(j, s) for j, s, _ in rows] == [("run", "failed"), ("UploadSampleRoster", "failed")]
    assert "unreachable" in rows[1][2]
    assert _psql(demo_var, "SELECT note FROM dba.tdataloads WHERE job_name = 'run' AND run_date = '2026-11-03'") \
        == [("exit 35",)]  # the run itself: its exit status
    assert _run(["stack", "up"], demo_var).returncode == 0


def test_broken_step_then_rerun_resumes_there(demo_var):
    assert _run(["stack", "up"], demo_var).returncode == 0
    # Break the load: the table exists with a column the file's values do not fit.
    _psql(demo_var, "CREATE SCHEMA IF NOT EXISTS demo; DROP TABLE IF EXISTS demo.sample_roster;"
                    "CREATE TABLE demo.sample_roster (run_date date, student_id text, last_name text,"
                    " first_name text, grade integer, school_id text)")
    broken = _run(["luigi", "--module", "stack.demo", "DemoPipeline", "--date", "2026-11-04"], demo_var)
    assert broken.returncode == 30, broken.stdout[-3000:]  # [retcode] task_failed
    assert re.search(r"sample_roster_20261104\.csv, row \d+, column grade: invalid input syntax", broken.stdout)
    assert "LoadSampleRoster" in broken.stdout
    log = Path(re.search(r"run.sh: log: (\S+)", broken.stderr).group(1)).read_text()
    assert "column grade" in log
    assert " INFO " not in broken.stdout and " INFO " in log  # the console is quiet; details are in the log
    failed_mail = [body for subject, body in _mails(demo_var)
                   if subject == "FAILED: ./run.sh luigi --module stack.demo DemoPipeline --date 2026-11-04 (1 failed)"]
    assert len(failed_mail) == 1 and "- demo_roster sample_roster_20261104.csv (2026-11-04): " in failed_mail[0]
    assert "column grade" in failed_mail[0] and "--date 2026-11-04\r\n" in failed_mail[0]  # what to rerun
    secrets = list(stack.secrets(demo_var).values())
    assert secrets and not any(v in log or v in broken.stdout for v in secrets)
    assert _psql(demo_var, "SELECT status FROM dba.tdataloads WHERE run_date = '2026-11-04' AND job_name <> 'run'") \
        == [("failed",)]
    status = _run(["status", "--date", "2026-11-04"], demo_var).stdout
    assert re.search(r"Still failing.*\n  demo_roster sample_roster_20261104\.csv .*column grade: invalid input", status)
    assert (demo_var / "sftp" / "root" / "feeds" / "inbound" / "sample_roster_20261104.csv").exists()

    _psql(demo_var, "ALTER TABLE demo.sample_roster ALTER COLUMN grade TYPE text")
    resumed = _run(["luigi", "--module", "stack.demo", "DemoPipeline", "--date", "2026-11-04"], demo_var)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    ran = re.search(r"(\d+) ran successfully:(.*?)\n\n", resumed.stdout, re.S)
    assert ran and ran.group(1) == "2", resumed.stdout  # the load and the wrapper, nothing before them
    assert "LoadSampleRoster" in ran.group(2)
    # Luigi stops looking upstream at the first complete output: the download.
    complete = re.search(r"complete ones were encountered:(.*?)\n\* ", resumed.stdout, re.S)
    assert complete and "DownloadSampleRoster" in complete.group(1) and "Write" not in complete.group(1)
    assert _psql(demo_var, "SELECT status FROM dba.tdataloads WHERE run_date = '2026-11-04' AND job_name <> 'run'"
                           " ORDER BY load_id") == [("failed",), ("succeeded",)]
    assert _psql(demo_var, "SELECT status, note FROM dba.tdataloads WHERE run_date = '2026-11-04' AND job_name = 'run'"
                           " ORDER BY load_id") == [("failed", "exit 30"), ("succeeded", "exit 0")]


def test_second_copy_of_a_running_task_is_refused(demo_var, tmp_path):
    assert _run(["stack", "up"], demo_var).returncode == 0
    (tmp_path / "slow_flow.py").write_text(textwrap.dedent("""
        import time, luigi
        class Slow(luigi.Task):
            def complete(self):
                return False
            def run(self):
                time.sleep(4)
    """))
    env = dict(os.environ, ETL_VAR=str(demo_var), PYTHONPATH=str(tmp_path))
    env.pop("LUIGI_CONFIG_PATH", None)
    first = subprocess.Popen([str(ROOT / "run.sh"), "luigi", "--module", "slow_flow", "Slow"], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    second = _run(["luigi", "--module", "slow_flow", "Slow"], demo_var, env={"PYTHONPATH": str(tmp_path)})
    first.communicate(timeout=60)
    assert second.returncode == 3
    assert "already running" in second.stderr


def test_a_date_range_runs_each_day(demo_var):
    assert _run(["stack", "up"], demo_var).returncode == 0
    ranged = _run(["luigi", "--module", "stack.demo", "DemoPipeline", "--from", "2026-11-05", "--to", "2026-11-06"],
                  demo_var)
    assert ranged.returncode == 0, ranged.stdout[-3000:] + ranged.stderr
    assert ranged.stderr.count("run.sh: log:") == 2 and "run.sh: 2026-11-06" in ranged.stderr
    rows = _psql(demo_var, "SELECT run_date::text FROM dba.tdataloads WHERE job_name = 'demo_roster'"
                           " AND run_date BETWEEN '2026-11-05' AND '2026-11-06' AND status = 'succeeded' ORDER BY 1")
    assert rows == [("2026-11-05",), ("2026-11-06",)]
    bad = _run(["luigi", "--module", "stack.demo", "DemoPipeline", "--from", "2026-11-05"], demo_var)
    assert bad.returncode == 2 and "--from and --to go together" in bad.stderr


def test_feeds_db_init_twice(demo_var):
    assert _run(["stack", "up"], demo_var).returncode == 0
    _drop_feeds_db(demo_var)  # the demo made it: start from a server without it
    first = _run(["feeds-db", "init"], demo_var)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "database Feeds created, owned by feeds_owner" in first.stdout
    second = _run(["feeds-db", "init"], demo_var)
    assert second.returncode == 0 and second.stdout.strip().endswith("up to date; nothing changed"), second.stdout
    assert "Feeds" in _psql(demo_var, "SELECT datname FROM pg_database WHERE datname = 'Feeds'")[0]
