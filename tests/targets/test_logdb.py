"""dba.tLogEntry run log: rows in PostgreSQL, CSV fallback while it is down, replay, redaction."""
import logging
import os
import stat
import subprocess
import sys
import textwrap
import time
import uuid

from targets.config import register_secret
from targets.logdb import LogEntryHandler, RedactingFormatter, redact
from targets.process import run_uuid
from targets.postgres import PostgresClient, PostgresSettings
from stack import free_port


def _rows(settings):
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT run_uuid::text, process_type, stepcounter, username, step_runtime,"
                        " total_runtime, level, message FROM dba.tlogentry ORDER BY stepcounter")
            return cur.fetchall()
    finally:
        conn.close()


def _logger(handler):
    log = logging.getLogger(f"test.logdb.{uuid.uuid4().hex[:6]}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


def test_records_go_to_table_with_counters(pg_settings, tmp_path):
    PostgresClient(pg_settings).migrate()
    handler = LogEntryHandler(pg_settings, "test run", tmp_path / "fallback")
    log = _logger(handler)
    log.info("first step: %d files", 3)
    log.warning("second step")
    rows = _rows(pg_settings)
    assert [r[2] for r in rows] == [1, 2]
    assert {r[0] for r in rows} == {str(run_uuid())}
    assert rows[0][1] == "test run" and rows[0][3]
    assert rows[1][6] == "WARNING" and rows[0][7].endswith("first step: 3 files")
    assert rows[1][5] >= rows[0][5] >= 0 and rows[1][4] >= 0
    assert not (tmp_path / "fallback").exists()


def test_fallback_csv_while_down_then_replay(pg_settings, tmp_path):
    PostgresClient(pg_settings).migrate()
    down = PostgresSettings(host=pg_settings.host, port=free_port(), dbname=pg_settings.dbname,  # nothing listens
                            user=pg_settings.user, password=pg_settings.password)
    handler = LogEntryHandler(down, "test run", tmp_path / "fb", retry_after=0)
    log = _logger(handler)
    for i in range(5):
        log.info("while down %d", i)
    fallback = tmp_path / "fb" / "tLogEntry-fallback.csv"
    assert stat.S_IMODE(os.stat(fallback).st_mode) == 0o660
    assert len(fallback.read_text().splitlines()) == 6  # header + 5
    assert _rows(pg_settings) == []
    handler.settings = pg_settings  # the database is back
    log.info("back up")
    rows = _rows(pg_settings)
    assert [r[2] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[-1][7].endswith("back up")
    assert list((tmp_path / "fb").iterdir()) == []


def test_redaction_of_secrets_and_dsns():
    register_secret("s3cr3t-Value!")
    assert "s3cr3t" not in redact("connecting with s3cr3t-Value! now")
    assert redact("postgresql://etl:hunter22@db:5432/x") == "postgresql://etl:***@db:5432/x"
    assert "hunter22" not in redact("host=db password=hunter22 dbname=x")
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "pw %s", ("s3cr3t-Value!",), None)
    assert "s3cr3t" not in RedactingFormatter("%(message)s").format(rec)


def test_log_times_carry_their_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/Chicago")
    time.tzset()
    try:
        rec = logging.LogRecord("x", logging.WARNING, __file__, 1, "late", (), None)
        rec.created, rec.msecs = 1795500000.25, 250  # 2026-11-24 06:00 UTC: midnight in Chicago
        assert RedactingFormatter("%(asctime)s %(message)s").format(rec) == "2026-11-24 00:00:00,250 CST late"
        rec.created = 1784000000.0  # 2026-07-14 03:33:20 UTC: summer time
        assert RedactingFormatter("%(asctime)s").format(rec).endswith(" CDT")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_no_secret_in_any_log_of_a_run(stack_config, pg_settings, tmp_path):
    """A luigi run through `python -m pipelines` that logs its config and fails: grep every log."""
    module = tmp_path / "leaky_pipeline.py"
    module.write_text(textwrap.dedent("""
        import logging
        import luigi
        from targets.postgres import PostgresClient, PostgresSettings
        log = logging.getLogger("leaky")

        class Leaky(luigi.Task):
            def complete(self):
                return False
            def run(self):
                s = PostgresSettings.from_config()
                client = PostgresClient.pooled(s)
                client.migrate()
                log.info("settings %s at %s", s, s.describe())
                log.info("dsn postgresql://%s:%s@%s/%s", s.user, s.password, s.host, s.dbname)
                raise RuntimeError("failed with password=" + s.password)
    """))
    env = dict(os.environ, PYTHONPATH=f"{os.getcwd()}:{tmp_path}")
    proc = subprocess.run([sys.executable, "-m", "pipelines", "--module", "leaky_pipeline", "Leaky",
                           "--local-scheduler"], env=env, capture_output=True, text=True, cwd=os.getcwd())
    assert proc.returncode != 0
    assert "Leaky" in proc.stderr and "RuntimeError" in proc.stderr
    password = pg_settings.password
    assert password not in proc.stderr and password not in proc.stdout
    rows = _rows(pg_settings)
    assert rows and any("dsn postgresql://postgres:***@" in r[7] for r in rows)
    assert not any(password in r[7] for r in rows)


def test_a_forked_worker_logs_on_its_own_connection_and_numbers(pg_settings, tmp_path):
    # --workers N forks a process per task: a child writing on the parent's connection broke the
    # parent's session (the run hung), and its lines, numbered on from the parent's, were lost
    PostgresClient(pg_settings).migrate()
    handler = LogEntryHandler(pg_settings, "test run", tmp_path / "fallback")
    log = _logger(handler)
    log.info("parent before")
    children = []
    for n in range(2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for i in range(3):
                    log.info("child %d line %d", n, i)
                code = 0
            finally:
                os._exit(code)  # as Luigi's task processes end: no finalisers
        children.append(pid)
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)
    log.info("parent after")
    conn = pg_settings.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pid, stepcounter, message FROM dba.tlogentry ORDER BY pid, stepcounter")
            rows = cur.fetchall()
    finally:
        conn.close()
    assert [(s, m.split(": ")[-1]) for p, s, m in rows if p == os.getpid()] == [(1, "parent before"), (2, "parent after")]
    for n, pid in enumerate(children):
        assert [(s, m.split(": ")[-1]) for p, s, m in rows if p == pid] == [(i + 1, f"child {n} line {i}") for i in range(3)]
    assert not (tmp_path / "fallback").exists()
