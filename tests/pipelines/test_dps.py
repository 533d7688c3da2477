"""DFPS ↔ DPS exchange end to end, with PostgreSQL standing in for IMPACT's Oracle database
(no Oracle server can run here: the same SQL runs on PostgreSQL; Oracle settings are only
validated), the stack's DPS SFTP account (password login) and its SMTP server."""
import configparser
import datetime as dt
import os
import re
import subprocess
import sys
import time
import uuid

import luigi
import luigi.configuration
import pytest
from openpyxl import load_workbook

from pipelines.dps import COUNTS, RESULTS, TXT_NAME, ReceiveFromDps, SendToDps, sent_file, work_dir
from pipelines.dps_reconcile import norm_name, reconcile
from targets.errors import ConfigError
from targets.sourcedb import OracleSettings
from stack import free_port
from tests.ledger import ledger_rows

DAY = dt.date(2026, 12, 1)  # the send day: it reports FY2027 Q1 (Sep–Nov 2026), the quarter that ended

IMPACT = """
CREATE SCHEMA impact;
CREATE TABLE impact.runaway_episodes (person_id text, last_name text, first_name text, birth_date date, sex text,
                                      county text, runaway_date date, return_date date);
CREATE TABLE impact.sa_98_data (person_id text, conservatorship text, placement_type text);
CREATE TABLE impact.county_region (county text, region text);
INSERT INTO impact.county_region VALUES ('TRAVIS', '7'), ('HARRIS', '6'), ('BEXAR', '8');
INSERT INTO impact.runaway_episodes VALUES
 ('P1', 'Garcia', 'Ana', '2010-05-01', 'F', 'Travis', '2026-09-10', NULL),      -- DPS echoes P1
 ('P2', 'O''Brien Jr.', 'Zoë', '2011-02-03', 'F', 'Harris', '2026-10-01', NULL), -- DPS: OBRIEN / ZOE
 ('P3', 'Nguyen', 'Liam', '2009-12-12', 'M', 'Bexar', '2026-09-20', NULL),      -- only in IMPACT, 2 episodes
 ('P3', 'Nguyen', 'Liam', '2009-12-12', 'M', 'Bexar', '2026-11-02', NULL),
 ('P4', 'Old', 'Case', '2008-01-01', 'M', 'Travis', '2026-08-31', NULL);        -- previous quarter: not sent
INSERT INTO impact.sa_98_data VALUES ('P1', 'PMC', 'Foster'), ('P2', 'TMC', 'Kinship'), ('P3', 'PMC', 'GRO');
"""
RESULTS_TXT = ("DPS_ID|LAST_NAME|FIRST_NAME|DOB|SEX|COUNTY|REPORT_DATE|DFPS_PERSON_ID\n"
               "D1|GARCIA|ANA|20100501|F|TRAVIS|20260911|P1\n"
               "D2|OBRIEN|ZOE|02/03/2011|F|HARRIS|20261002|\n"
               "D9|SMITH|JOHN|20120707|M|BEXAR|20261015|\n"
               "D9|SMITH|JOHN|20120707|M|BEXAR|20261015|\n")
COUNTS_TXT = "COUNTY|RUNAWAY_EVENTS\nTRAVIS|1\nHARRIS|1\nBEXAR|3\n"


@pytest.fixture
def dps(stack_config, stack_var, pg_settings, tmp_path):
    conn = pg_settings.connect()
    with conn, conn.cursor() as cur:
        cur.execute(IMPACT)
    conn.close()
    tag = uuid.uuid4().hex[:8]
    root = stack_var / "sftp" / "root" / "dps"
    (root / "outbound" / tag).mkdir(parents=True)
    (root / "TO_DFPS" / tag).mkdir(parents=True)
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(stack_config)
    cfg["dps"] = {"source": "postgres", "source_section": "postgres", "outbound_dir": f"/outbound/{tag}",
                  "results_dir": f"/TO_DFPS/{tag}", "share_dir": str(tmp_path / "share"),
                  "stakeholders": "dps-team@dfps.example", "deadline_hours": "6"}
    with open(stack_config, "w") as fh:
        cfg.write(fh)
    parser = luigi.configuration.get_config()
    parser.clear()
    parser.reload()
    return {"outbound": root / "outbound" / tag, "results": root / "TO_DFPS" / tag, "share": tmp_path / "share",
            "cfg": stack_config, "mail": stack_var / "mail", "settings": pg_settings}


def _clock_now() -> str:
    """The suite's clock for a child process: its "now" must be the one the send was recorded by."""
    from targets import clock
    return clock.now().isoformat()


def _build(*tasks):
    return luigi.build(list(tasks), local_scheduler=True, detailed_summary=True)


def _ledger(settings, job):
    return ledger_rows(settings, "item, status, sha256", job=job)


def _mails(folder, t0, subject):
    return [f.read_text() for f in sorted(folder.glob("*.eml")) if f.stat().st_mtime >= t0 and subject in f.read_text()]


def test_send_wait_receive_and_workbooks(dps):
    t0 = time.time() - 1
    assert _build(SendToDps(date=DAY)).status.name == "SUCCESS"
    sent = (dps["outbound"] / TXT_NAME).read_text().splitlines()
    assert sent[0] == "PERSON_ID|LAST_NAME|FIRST_NAME|DOB|SEX|COUNTY|RUNAWAY_DATE"
    assert sent[1:] == ["P1|Garcia|Ana|20100501|F|TRAVIS|20260910", "P2|O'Brien Jr.|Zoë|20110203|F|HARRIS|20261001",
                        "P3|Nguyen|Liam|20091212|M|BEXAR|20260920", "P3|Nguyen|Liam|20091212|M|BEXAR|20261102"]
    (sent_row,) = _ledger(dps["settings"], "dps_send")
    ref = load_workbook(work_dir(DAY) / "end_export_FY2027_Q1.xlsx").active
    assert ref.freeze_panes == "A2" and ref["A1"].value == "Person Id" and ref["D2"].value.date() == dt.date(2010, 5, 1)

    # before DPS answers: waiting (missing data), not failed
    waiting = _build(ReceiveFromDps(date=DAY))
    assert waiting.status.name == "MISSING_EXT"
    assert not dps["share"].exists()

    (dps["results"] / RESULTS).write_text(RESULTS_TXT)
    (dps["results"] / COUNTS).write_text(COUNTS_TXT)
    assert _build(ReceiveFromDps(date=DAY)).status.name == "SUCCESS"
    books = sorted(p.name for p in dps["share"].iterdir())
    assert books == ["DPS_not_in_IMPACT_FY2027_Q1.xlsx", "DPS_total_runaway_events_FY2027_Q1.xlsx",
                     "IMPACT_not_in_DPS_FY2027_Q1.xlsx"]
    impact_only = [r for r in load_workbook(dps["share"] / books[2]).active.iter_rows(values_only=True)]
    assert impact_only[0] == ("Person Id", "Last Name", "First Name", "Dob", "County", "Region", "Episodes",
                              "First Runaway Date", "Conservatorship", "Placement Type")
    assert impact_only[1][:4] == ("P3", "Nguyen", "Liam", dt.datetime(2009, 12, 12))
    assert impact_only[1][4:] == ("BEXAR", "8", 2, dt.datetime(2026, 9, 20), "PMC", "GRO") and len(impact_only) == 2
    dps_only = list(load_workbook(dps["share"] / books[0]).active.iter_rows(values_only=True))
    assert dps_only[1] == ("D9", "SMITH", "JOHN", dt.datetime(2012, 7, 7), "BEXAR", "8", dt.datetime(2026, 10, 15), 2)
    assert len(dps_only) == 2
    totals = list(load_workbook(dps["share"] / books[1]).active.iter_rows(values_only=True))
    assert totals[1:] == [("6", 1, 1, 0), ("7", 1, 1, 0), ("8", 2, 3, 1), ("TOTAL", 4, 5, 1)]
    mail = _mails(dps["mail"], t0, "DPS runaway reconciliation FY2027 Q1")
    assert len(mail) == 1
    body = mail[0]
    assert "Nguyen" not in body and "SMITH" not in body
    text = body.replace("=\n", "").replace("\r\n", "\n")
    # where the workbooks are; what each count counts; how the difference is taken
    assert f"The workbooks, on the share {dps['share']}:\n  {dps['share'] / books[2]}\n" in text
    assert "Youths (people) found on one side only, by region:" in text
    assert re.search(r"\n8 +1 +1\n", text)  # Bexar's region: P3 only in IMPACT, D9 only at DPS
    assert "(DPS - IMPACT: more at DPS when positive)" in text and re.search(r"\nTOTAL +4 +5 +\+1\n", text)
    assert (work_dir(DAY).parent / "archive" / "FY2027_Q1" / "received" / RESULTS).exists()
    assert [r[0] for r in _ledger(dps["settings"], "dps_receive")][-1] == "FY2027_Q1"
    assert [r[0] for r in _ledger(dps["settings"], "dps_send")] == ["FY2027_Q1"]

    # never twice: the send and the receive are done
    mtime = (dps["outbound"] / TXT_NAME).stat().st_mtime_ns
    assert _build(SendToDps(date=DAY), ReceiveFromDps(date=DAY)).status.name == "SUCCESS"
    assert (dps["outbound"] / TXT_NAME).stat().st_mtime_ns == mtime
    assert _ledger(dps["settings"], "dps_send") == [sent_row]
    assert len(_mails(dps["mail"], t0, "DPS runaway reconciliation")) == 1


def test_killed_after_upload_before_ledger_is_not_sent_again(dps):
    from pipelines.dps import ExtractForDps
    from targets.sftp import SftpClient, SftpSettings
    assert _build(ExtractForDps(date=DAY)).status.name == "SUCCESS"
    # the upload happened, then the process died before writing the ledger row
    client = SftpClient(SftpSettings.from_config("dps"))
    client.upload_atomic(sent_file(DAY), f"/outbound/{dps['outbound'].name}/{TXT_NAME}")
    mtime = (dps["outbound"] / TXT_NAME).stat().st_mtime_ns
    time.sleep(0.05)
    assert _build(SendToDps(date=DAY)).status.name == "SUCCESS"
    assert (dps["outbound"] / TXT_NAME).stat().st_mtime_ns == mtime  # recognised by sha256, not re-sent
    assert [r[:2] for r in _ledger(dps["settings"], "dps_send")] == [("FY2027_Q1", "succeeded")]


def test_deadline_passed_one_alert_and_nonzero_exit(dps):
    assert _build(SendToDps(date=DAY)).status.name == "SUCCESS"
    text = dps["cfg"].read_text().replace("deadline_hours = 6", "deadline_hours = 0")
    assert "deadline_hours = 0" in text
    dps["cfg"].write_text(text)
    t0 = time.time() - 1
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(dps["cfg"]), ETL_CLOCK=_clock_now())  # the suite's day
    runs = [subprocess.run([sys.executable, "-m", "pipelines", "--module", "pipelines.dps", "ReceiveFromDps",
                            "--date", DAY.isoformat(), "--local-scheduler"], env=env, capture_output=True, text=True)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [30, 30]  # [retcode] task_failed
    assert "DPS results for FY2027 Q1 missing after the deadline" in runs[0].stderr
    assert len(_mails(dps["mail"], t0, "ALERT: DPS results missing for FY2027 Q1")) == 1
    # each run's failed row and its log entries share the run's id
    failed = {r[0] for r in ledger_rows(dps["settings"], "run_uuid::text, status") if r[1] == "failed"}
    conn = dps["settings"].connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT run_uuid::text FROM dba.tlogentry")
        logged = {r[0] for r in cur.fetchall()}
    conn.close()
    assert len(failed) == 2 and logged == failed  # one id per run, in its log and its ledger


def test_looking_past_the_deadline_sends_and_writes_nothing(dps):
    """requires(), output() and complete() only look: the alert is mailed by a task's run()."""
    assert _build(SendToDps(date=DAY)).status.name == "SUCCESS"
    luigi.configuration.get_config().set("dps", "deadline_hours", "0")
    before = set(dps["mail"].glob("*.eml"))  # the session's mail folder is shared: only new files count

    def alerts():
        return [f for f in set(dps["mail"].glob("*.eml")) - before if "ALERT: DPS results missing" in f.read_text()]
    rows = ledger_rows(dps["settings"], "job_name, item, status")
    receive = ReceiveFromDps(date=DAY)
    for _ in range(3):
        assert not receive.complete()
        assert [t.task_family for t in receive.requires()] == ["DpsResultsReady", "DpsDeadlineMissed"]
        assert not receive.requires()[0].complete()
    assert alerts() == []
    assert ledger_rows(dps["settings"], "job_name, item, status") == rows
    assert _build(receive).status.name == "FAILED"
    assert len(alerts()) == 1
    assert ledger_rows(dps["settings"], "job_name, item, status") == rows + [("dps_alert", "FY2027_Q1", "succeeded")]


def test_waiting_exits_20_and_says_so(dps):
    assert _build(SendToDps(date=DAY)).status.name == "SUCCESS"
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(dps["cfg"]), ETL_CLOCK=_clock_now())  # the suite's day
    run = subprocess.run([sys.executable, "-m", "pipelines", "--module", "pipelines.dps", "ReceiveFromDps",
                          "--date", DAY.isoformat(), "--local-scheduler"], env=env, capture_output=True, text=True)
    assert run.returncode == 20  # [retcode] missing_data: waiting, not a failure
    assert "waiting for DPS" in run.stderr


def test_name_normalisation_and_duplicates():
    assert norm_name("O'Brien Jr.") == norm_name("OBRIEN") == "OBRIEN"
    assert norm_name("Zoë") == "ZOE" and norm_name("de la Cruz III") == "DELACRUZ"
    rec = reconcile([{"person_id": "P1", "last_name": "A", "first_name": "B", "dob": "20100101", "county": "X",
                      "runaway_date": "20260901"}],
                    [{"dps_id": "D1", "last_name": "a", "first_name": "b", "dob": "2010-01-01", "county": "X",
                      "report_date": "20260902", "dfps_person_id": ""}] * 2,
                    [{"county": "X", "runaway_events": "2"}], {"X": "1"})
    assert rec.matched == 1 and rec.impact_only == [] and rec.dps_only == []
    assert rec.totals == [{"region": "1", "impact_events": 1, "dps_events": 2, "difference": 1},
                          {"region": "TOTAL", "impact_events": 1, "dps_events": 2, "difference": 1}]


def test_oracle_settings_are_validated():
    """No Oracle server runs here: only the settings' checks are exercised."""
    with pytest.raises(ConfigError, match="dsn must be host:port/service_name"):
        OracleSettings(user="impact_ro", dsn="impact-db", password="x").validate()
    with pytest.raises(ConfigError, match="port must be 1-65535"):
        OracleSettings(user="impact_ro", dsn="db:70000/IMPACTP", password="x").validate()
    with pytest.raises(ConfigError, match="password is empty"):
        OracleSettings(user="impact_ro", dsn="db:1521/IMPACTP").validate()
    with pytest.raises(ConfigError, match="not a valid Oracle user name"):
        OracleSettings(user="1bad user", dsn="db:1521/IMPACTP", password="x").validate()
    OracleSettings(user="impact_ro", dsn="impact-db.example:1521/IMPACTP", password="x").validate()


CHICAGO = dt.timezone(dt.timedelta(hours=-6))  # the district's winter offset


def _answer(dps, at: dt.datetime):
    """DPS drops its two files at ``at`` (file times as DPS's server would set them)."""
    for name, text in ((RESULTS, RESULTS_TXT), (COUNTS, COUNTS_TXT)):
        (dps["results"] / name).write_text(text)
        os.utime(dps["results"] / name, (at.timestamp(), at.timestamp()))


def _graph(task):
    seen, todo = [], [task]
    while todo:
        t = todo.pop()
        seen.append(t.task_family)
        todo += luigi.task.flatten(t.requires())
    return seen


def test_the_receive_finds_its_send_across_midnight_and_then_has_nothing_to_do(dps):
    from targets import clock
    luigi.configuration.get_config().set("dps", "deadline_hours", "24")
    try:
        clock.set_now(dt.datetime(2026, 12, 1, 6, 0, tzinfo=CHICAGO))
        assert _build(SendToDps()).status.name == "SUCCESS"  # --date defaults to the clock's today
        clock.set_now(dt.datetime(2026, 12, 1, 23, 45, tzinfo=CHICAGO))
        assert _build(ReceiveFromDps()).status.name == "MISSING_EXT"  # waiting, not failed
        assert "ExtractForDps" not in _graph(ReceiveFromDps())  # the receive never extracts
        _answer(dps, dt.datetime(2026, 12, 2, 0, 30, tzinfo=CHICAGO))
        clock.set_now(dt.datetime(2026, 12, 2, 0, 45, tzinfo=CHICAGO))  # a new day: the send was "yesterday"
        assert _build(ReceiveFromDps()).status.name == "SUCCESS"
        assert sorted(p.name for p in dps["share"].iterdir())[0] == "DPS_not_in_IMPACT_FY2027_Q1.xlsx"
        # Nothing outstanding now: done at once, touching neither the source database nor SFTP.
        parser = luigi.configuration.get_config()
        parser.set("dps", "source", "nowhere")
        parser.set("sftp_dps", "port", str(free_port()))
        clock.set_now(dt.datetime(2026, 12, 5, 9, 0, tzinfo=CHICAGO))
        t0 = time.monotonic()
        result = _build(ReceiveFromDps())
        assert result.status.name == "SUCCESS" and time.monotonic() - t0 < 3, result.summary_text
        assert [r[0] for r in _ledger(dps["settings"], "dps_receive")][-1] == "FY2027_Q1"
    finally:
        clock.set_now(None)


def test_an_empty_extract_is_refused_and_force_sends_it(dps):
    conn = dps["settings"].connect()
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM impact.runaway_episodes")
    conn.close()
    from targets.postgres import PostgresClient
    PostgresClient(dps["settings"]).migrate()
    before = set(dps["mail"].glob("*.eml"))
    assert _build(SendToDps(date=DAY)).status.name == "FAILED"
    assert list(dps["outbound"].iterdir()) == [] and _ledger(dps["settings"], "dps_send") == []
    mails = [f.read_text() for f in set(dps["mail"].glob("*.eml")) - before]
    refused = [m for m in mails if "REFUSED: DPS send for FY2027 Q1" in m]
    assert len(refused) == 1 and "is empty (header only)" in refused[0] and "--force" in refused[0]
    assert _build(SendToDps(date=DAY, force=True)).status.name == "SUCCESS"
    assert [p.name for p in dps["outbound"].iterdir()] == [TXT_NAME]
    assert any("FORCED: DPS send for FY2027 Q1" in f.read_text() for f in set(dps["mail"].glob("*.eml")) - before)


def test_a_refused_send_resends_from_the_data_as_it_is_at_the_rerun(dps):
    """IMPACT had no episodes yet: refused, the empty extract set aside; the episodes are loaded
    (the cause fixed, as the mail asks) and the plain rerun extracts again and sends them."""
    conn = dps["settings"].connect()
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE impact.loaded_later AS SELECT * FROM impact.runaway_episodes;"
                    "DELETE FROM impact.runaway_episodes")
    conn.close()
    before = set(dps["mail"].glob("*.eml"))
    assert _build(SendToDps(date=DAY)).status.name == "FAILED"
    (refused,) = [f.read_text() for f in set(dps["mail"].glob("*.eml")) - before]
    assert "the rerun extracts again from IMPACT" in refused.replace("=\n", "")
    assert not sent_file(DAY).exists()
    (kept,) = (work_dir(DAY) / "refused").iterdir()
    assert sorted(p.name for p in kept.iterdir()) == ["End_txt_file_FY2027_Q1.txt", "end_export_FY2027_Q1.xlsx"]
    assert len((kept / "End_txt_file_FY2027_Q1.txt").read_text().splitlines()) == 1  # the header only

    conn = dps["settings"].connect()
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO impact.runaway_episodes SELECT * FROM impact.loaded_later")
    conn.close()
    assert _build(SendToDps(date=DAY)).status.name == "SUCCESS"
    assert len((dps["outbound"] / TXT_NAME).read_text().splitlines()) == 5  # the header and the quarter's 4
    assert [r[:2] for r in _ledger(dps["settings"], "dps_send")][-1] == ("FY2027_Q1", "succeeded")


def test_an_unanswered_earlier_quarter_is_never_replaced(dps):
    conn = dps["settings"].connect()
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO impact.runaway_episodes VALUES ('P9', 'Kim', 'Bo', '2012-03-04', 'M', 'Travis',"
                    " '2027-01-15', NULL)")
    conn.close()
    march = dt.date(2027, 3, 1)  # reports FY2027 Q2 (Dec–Feb)
    assert _build(SendToDps(date=DAY)).status.name == "SUCCESS"
    q1 = (dps["outbound"] / TXT_NAME).read_bytes()
    before = set(dps["mail"].glob("*.eml"))
    assert _build(SendToDps(date=march)).status.name == "FAILED"
    assert (dps["outbound"] / TXT_NAME).read_bytes() == q1  # Q1's file, still waiting for DPS, is kept
    mails = [f.read_text() for f in set(dps["mail"].glob("*.eml")) - before]
    assert any("REFUSED: DPS send for FY2027 Q2" in m and "our FY2027_Q1 send, not answered yet" in m.replace("=\n", "")
               for m in mails)
    _answer(dps, dt.datetime.now(dt.timezone.utc))
    assert _build(ReceiveFromDps()).status.name == "SUCCESS"  # Q1 answered and delivered
    assert _build(SendToDps(date=march)).status.name == "SUCCESS"  # now Q2 may replace it
    assert (dps["outbound"] / TXT_NAME).read_text().splitlines()[1:] == ["P9|Kim|Bo|20120304|M|TRAVIS|20270115"]
    assert [r[0] for r in _ledger(dps["settings"], "dps_send")] == ["FY2027_Q1", "FY2027_Q2"]


def test_nothing_outstanding_costs_one_ledger_query(dps, monkeypatch):
    from targets.ledger import Ledger
    asked = []
    real = Ledger.outstanding
    monkeypatch.setattr(Ledger, "outstanding", lambda self, *a, **k: asked.append(a) or real(self, *a, **k))
    assert _build(ReceiveFromDps()).status.name == "SUCCESS"
    assert len(asked) == 1


def test_the_quarter_boundary_with_several_workers_and_one_session(dps):
    """The send on 1 December, the answer after midnight and the days with nothing to do, each
    run with three workers (tasks in processes of their own) and one DPS session at a time."""
    import os

    from pipelines.workers import apply_session_limits
    from targets import clock
    config = luigi.configuration.get_config()
    config.set("dps", "deadline_hours", "24")
    config.set("sftp_dps", "max_sessions", "1")

    def build(*tasks):
        return luigi.build(list(tasks), local_scheduler=True, detailed_summary=True, workers=3)
    t0 = time.time()  # mails from here on (the test before mails the same quarter's reconciliation)
    try:
        assert apply_session_limits(config)["sftp_dps"] == 1
        clock.set_now(dt.datetime(2026, 11, 30, 6, 0, tzinfo=CHICAGO))  # the day before: nothing outstanding
        assert build(ReceiveFromDps()).status.name == "SUCCESS"
        assert not any(dps["outbound"].iterdir())  # nothing sent (nor any ledger made)
        clock.set_now(dt.datetime(2026, 12, 1, 6, 0, tzinfo=CHICAGO))  # the quarter's send (its own cron line)
        assert build(SendToDps()).status.name == "SUCCESS"
        clock.set_now(dt.datetime(2026, 12, 1, 6, 15, tzinfo=CHICAGO))  # the receive's next look
        assert build(ReceiveFromDps()).status.name == "MISSING_EXT"  # DPS has not answered yet: waiting
        assert [r[:2] for r in _ledger(dps["settings"], "dps_send")] == [("FY2027_Q1", "succeeded")]
        _answer(dps, dt.datetime(2026, 12, 2, 0, 30, tzinfo=CHICAGO))
        clock.set_now(dt.datetime(2026, 12, 2, 0, 45, tzinfo=CHICAGO))
        assert build(ReceiveFromDps()).status.name == "SUCCESS"
        assert build(SendToDps(date=dt.date(2026, 12, 1))).status.name == "SUCCESS"  # done: once a quarter
        assert sorted(p.name for p in dps["share"].iterdir())[0] == "DPS_not_in_IMPACT_FY2027_Q1.xlsx"
        rows = ledger_rows(dps["settings"], "job_name, item, status, worker")
        done = [r for r in rows if r[0] in ("dps_send", "dps_receive")]
        assert all(r[2] == "succeeded" for r in done) and len({r[:2] for r in done}) == len(done)  # each once
        assert [r[1] for r in done if r[0] == "dps_send"] == ["FY2027_Q1"] and ("dps_receive", "FY2027_Q1") in {
            r[:2] for r in done}
        assert all(not r[3].endswith(f":{os.getpid()}") for r in done)  # each in a worker process of its own
        clock.set_now(dt.datetime(2026, 12, 2, 9, 0, tzinfo=CHICAGO))  # the next runs: nothing to do
        assert build(SendToDps(), ReceiveFromDps()).status.name == "SUCCESS"
        assert ledger_rows(dps["settings"], "job_name, item, status, worker") == rows
        assert len(_mails(dps["mail"], t0, "DPS runaway reconciliation FY2027 Q1")) == 1
    finally:
        clock.set_now(None)
        config.remove_option("sftp_dps", "max_sessions")
        config.remove_option("resources", "sftp_dps")
