"""PostgreSQL client, migrations, the ledger (``Ledger`` over the client) and its COPY loader against
the embedded PostgreSQL."""
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import luigi
import pytest

from targets.errors import BadInputError
from targets.ledger import Ledger, LedgerEntry, LedgerTarget
from targets.postgres import PostgresClient
from tests.netproxy import can_blackhole

DAY = dt.date(2026, 11, 24)


def _client(settings):
    """A ledger over a client of its own (a process's view: its cache knows only its own rows)."""
    return Ledger(PostgresClient(settings))


def _csv(path, n, bad_row=None):
    with open(path, "w") as fh:
        fh.write("student_id,name,grade\n")
        for i in range(1, n + 1):
            grade = "x" if i == bad_row else str(i % 13)
            fh.write(f'{i},"Name, {i}",{grade}\n')
    return path


def _prepare(client):
    client.db.migrate()
    with client.transaction() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS demo;"
                    "CREATE TABLE IF NOT EXISTS demo.students (student_id int, name text, grade int)")


def _fetch(settings, query):
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchone()
    finally:
        conn.close()


def _count(settings, query):
    return _fetch(settings, query)[0]


def test_migrations_are_idempotent(pg_settings):
    client = PostgresClient(pg_settings)
    first = client.migrate()
    assert first[0] == "001_dba_schema.sql" and first == sorted(first)
    assert client.migrate() == []
    for table in ("tdataloads", "timportconfig", "tlogentry"):
        assert _count(pg_settings, f"SELECT count(*) FROM information_schema.tables "
                                   f"WHERE table_schema='dba' AND table_name='{table}'") == 1


def test_copy_writes_rows_and_ledger_row_together(pg_settings, tmp_path):
    client = _client(pg_settings)
    _prepare(client)
    target = LedgerTarget(client, "demo_load", "students.csv", DAY)
    assert not target.exists()
    res = client.copy_csv(_csv(tmp_path / "s.csv", 500), "demo.students", target.entry())
    assert (res.status, res.rows) == ("succeeded", 500)
    assert res.bytes == os.path.getsize(tmp_path / "s.csv")
    assert target.exists()
    assert _count(pg_settings, "SELECT count(*) FROM demo.students") == 500
    row = client.last_success("demo_load", "students.csv")
    assert (row["rows"], row["sha256"]) == (500, res.sha256)


def test_second_load_of_same_item_is_rolled_back(pg_settings, tmp_path):
    """The unique success index makes a racing duplicate load roll back with its data."""
    client = _client(pg_settings)
    _prepare(client)
    path = _csv(tmp_path / "s.csv", 50)
    client.copy_csv(path, "demo.students", LedgerEntry("demo_load", "students.csv", DAY))
    other = _client(pg_settings)  # a second process's view: its cache knows nothing
    res = other.copy_csv(path, "demo.students", LedgerEntry("demo_load", "students.csv", DAY))
    assert res.status == "skipped"
    assert _count(pg_settings, "SELECT count(*) FROM demo.students") == 50


def test_bad_row_names_file_row_and_column_and_loads_nothing(pg_settings, tmp_path):
    client = _client(pg_settings)
    _prepare(client)
    path = _csv(tmp_path / "bad.csv", 20, bad_row=7)
    with pytest.raises(BadInputError) as err:
        client.copy_csv(path, "demo.students", LedgerEntry("demo_load", "bad.csv", DAY))
    assert err.value.file == str(path)
    assert err.value.row == 8  # line 8 of the file: header + 7
    assert err.value.column == "grade"
    assert "invalid input syntax for type integer" in err.value.rule
    assert _count(pg_settings, "SELECT count(*) FROM demo.students") == 0
    assert _count(pg_settings, "SELECT count(*) FROM dba.tdataloads WHERE status='failed'") == 1
    assert not client.is_done("demo_load", "bad.csv", DAY)


def test_killed_between_copy_and_commit_leaves_nothing_and_rerun_loads_once(pg_settings, tmp_path):
    """Hold a lock on the ledger so the loader blocks right after its COPY, kill it there."""
    client = _client(pg_settings)
    _prepare(client)
    path = _csv(tmp_path / "s.csv", 10_000)
    blocker = pg_settings.connect()
    with blocker.cursor() as cur:
        cur.execute("LOCK TABLE dba.tdataloads IN SHARE MODE")  # blocks INSERT, not COPY
    script = textwrap.dedent(f"""
        import datetime as dt
        from targets.ledger import LedgerEntry
        from targets.ledger import Ledger
        from targets.postgres import PostgresClient, PostgresSettings
        s = PostgresSettings(host={pg_settings.host!r}, port={pg_settings.port}, dbname={pg_settings.dbname!r},
                             user="postgres", password={pg_settings.password!r}, connect_timeout=10)
        Ledger(PostgresClient(s)).copy_csv({str(path)!r}, "demo.students",
                                           LedgerEntry("demo_load", "students.csv", dt.date(2026, 11, 24)))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    try:
        waiting = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not waiting:
            # a fresh connection each time: activity statistics are frozen inside a transaction
            waiting = _fetch(pg_settings, "SELECT query, pid FROM pg_stat_activity WHERE datname = current_database()"
                                          " AND wait_event_type = 'Lock'")
            time.sleep(0.05)
        assert waiting and "INSERT INTO" in waiting[0] and "tdataloads" in waiting[0]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        blocker.rollback()
        blocker.close()
    # the server notices the dead client and rolls its transaction back
    deadline = time.monotonic() + 30
    while _count(pg_settings, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {waiting[1]}") > 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _count(pg_settings, "SELECT count(*) FROM demo.students") == 0
    assert _count(pg_settings, "SELECT count(*) FROM dba.tdataloads") == 0

    # The rerun, through a Luigi task whose output is the ledger target, loads exactly once,
    # and a third run is skipped by the target without loading.
    class LoadStudents(luigi.Task):
        date = luigi.DateParameter()

        def output(self):
            return LedgerTarget(client, "demo_load", "students.csv", self.date)

        def run(self):
            client.copy_csv(path, "demo.students", self.output().entry())

    assert luigi.build([LoadStudents(date=DAY)], local_scheduler=True)
    assert luigi.build([LoadStudents(date=DAY)], local_scheduler=True)
    assert _count(pg_settings, "SELECT count(*) FROM demo.students") == 10_000
    assert _count(pg_settings, "SELECT count(*) FROM dba.tdataloads") == 1


def test_reload_of_changed_content_supersedes_the_old_success(pg_settings):
    client = _client(pg_settings)
    client.db.migrate()
    entry = LedgerEntry("warehouse", "powerschool_combined/students.csv", DAY, sha256="a" * 64, rows=10)
    client.record(entry)
    assert LedgerTarget(client, entry.job, entry.item, DAY, sha256="a" * 64).exists()
    assert not LedgerTarget(client, entry.job, entry.item, DAY, sha256="b" * 64).exists()
    newer = LedgerEntry(entry.job, entry.item, DAY, sha256="b" * 64, rows=12)
    client.record(newer, replace=True)
    fresh = _client(pg_settings)
    assert fresh.is_done(entry.job, entry.item, DAY, "b" * 64)
    assert not fresh.is_done(entry.job, entry.item, DAY, "a" * 64)
    statuses = _fetch(pg_settings, "SELECT string_agg(status, ',' ORDER BY load_id) FROM dba.tdataloads")[0]
    assert statuses == "superseded,succeeded"


def test_ledger_target_verbs(pg_settings):
    """mark_done / mark_failed write the target's own row; a content-keyed target supersedes
    the earlier success of its key; an item target is done whatever the day it was marked."""
    from targets.ledger import LedgerItemTarget
    client = _client(pg_settings)
    plain = LedgerTarget(client, "push_x", "a.csv", DAY)
    plain.mark_failed(ValueError("server unreachable"), direction="out")
    assert not plain.exists()
    plain.mark_done(direction="out", rows=3, bytes=10, sha256="c" * 64)
    assert plain.exists() and _client(pg_settings).is_done("push_x", "a.csv", DAY)
    keyed = LedgerTarget(client, "load_x", "b.csv", DAY, sha256="a" * 64)
    keyed.mark_done(direction="load", rows=1)
    LedgerTarget(client, "load_x", "b.csv", DAY, sha256="b" * 64).mark_done(direction="load", rows=2)
    assert not LedgerTarget(_client(pg_settings), "load_x", "b.csv", DAY, sha256="a" * 64).exists()
    once = LedgerItemTarget(client, "pull_x", "f.csv|5|1", DAY - dt.timedelta(days=3))
    assert not once.exists()
    once.mark_done(direction="in")
    assert LedgerItemTarget(_client(pg_settings), "pull_x", "f.csv|5|1", DAY).exists()
    rows = _fetch(pg_settings, "SELECT string_agg(job_name || ':' || status || ':' || coalesce(sha256, '-') || ':'"
                               " || coalesce(error, '-'), ' ' ORDER BY load_id) FROM dba.tdataloads")[0]
    assert rows == ("push_x:failed:-:server unreachable push_x:succeeded:" + "c" * 64 + ":- "
                    "load_x:superseded:" + "a" * 64 + ":- load_x:succeeded:" + "b" * 64 + ":- "
                    "pull_x:succeeded:-:-")


def test_reads_of_a_ledger_not_created_yet_answer_nothing(pg_settings):
    from pipelines.feed_files import import_config_rows
    client = _client(pg_settings)  # a fresh database: no dba schema at all
    assert client.last_success("job", "item") is None and client.outstanding("a", "b") is None
    assert client.item_dates("job") == {} and not client.has_item("job", "item")
    assert not client.is_done("job", "item", DAY) and import_config_rows(client) == []
    assert _fetch(pg_settings, "SELECT count(*) FROM pg_namespace WHERE nspname = 'dba'")[0] == 0  # nothing created


def _query_in_thread(client, query):
    import threading
    outcome = {}

    def run():
        t0 = time.monotonic()
        try:
            with client.transaction() as cur:
                cur.execute(query)
            outcome["result"] = "returned"
        except Exception as e:  # noqa: BLE001 - what ended it is the point of the test
            outcome["result"] = e
        outcome["seconds"] = time.monotonic() - t0

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.skipif(can_blackhole() is not None, reason=str(can_blackhole()))
def test_a_dead_network_mid_query_fails_within_the_io_timeout_instead_of_hanging(pg_settings):
    """The network dies (every packet dropped, keepalive answers included) while a query waits on
    the server: with io_timeout 3 the task's connection fails as a TransientError within seconds;
    with the system's defaults (io_timeout 0, the old behaviour) it is still waiting 12 s later."""
    import dataclasses

    from targets.errors import TransientError
    from tests.netproxy import TcpProxy, blackhole
    proxy = TcpProxy(pg_settings.port).start()
    try:
        outcomes = {}
        for io_timeout in (3, 0):
            settings = dataclasses.replace(pg_settings, host="127.0.0.1", port=proxy.port, io_timeout=io_timeout)
            client = PostgresClient(settings, retries=1)
            with client.transaction() as cur:
                cur.execute("SELECT 1")  # connected; the query below starts on a live network
            thread, outcome = _query_in_thread(client, "SELECT pg_sleep(20)")
            time.sleep(0.5)
            with blackhole(proxy.port):
                thread.join(12)
            outcomes[io_timeout] = (thread.is_alive(), outcome)
        alive, outcome = outcomes[3]
        assert not alive and isinstance(outcome["result"], TransientError), outcome
        assert outcome["seconds"] < 9, outcome
        assert "connection lost" in str(outcome["result"])
        alive, outcome = outcomes[0]
        assert alive, f"without keepalives the query should still hang: {outcome}"  # the detector works
    finally:
        proxy.stop()


def test_each_district_has_its_own_ledger_rows(pg_settings, monkeypatch):
    """One ledger, several districts (--district): the same file on the same day succeeds once
    per district, and every verb reads its own district's rows only."""
    import targets.ledger
    client = _client(pg_settings)
    client.db.migrate()
    for name in ("north", "south"):
        monkeypatch.setattr(targets.ledger, "district", lambda name=name: name)
        assert not client.is_done("push_clever", "students.csv", DAY)
        assert client.last_success("push_clever", None) is None
        LedgerTarget(client, "push_clever", "students.csv", DAY).mark_done(direction="out", rows=len(name))
        assert client.is_done("push_clever", "students.csv", DAY)
        assert client.last_success("push_clever", "students.csv")["rows"] == len(name)
        assert client.last_day_rows("push_clever") == len(name)
    monkeypatch.setattr(targets.ledger, "district", lambda: "")
    assert not client.is_done("push_clever", "students.csv", DAY) and not client.has_item("push_clever", "students.csv")
    with pytest.raises(Exception, match="tdataloads_one_success"):  # still once per district
        monkeypatch.setattr(targets.ledger, "district", lambda: "south")
        client.forget()
        client.record(LedgerEntry("push_clever", "students.csv", DAY, direction="out"))
    assert _fetch(pg_settings, "SELECT string_agg(district || ':' || status, ' ' ORDER BY load_id)"
                               " FROM dba.tdataloads")[0] == "north:succeeded south:succeeded"


def test_every_pipeline_of_a_process_shares_one_ledger_per_database(stack_config):
    """``Ledger.of(section)`` is the one ledger of that database in this process (what one
    target records as done, the next one knows); the Feeds database's is another."""
    main = Ledger.of()
    assert Ledger.of("postgres") is main and main.db is PostgresClient.from_config()
    assert Ledger.of("feeds_db") is not main and Ledger.of("feeds_db") is Ledger.of("feeds_db")
