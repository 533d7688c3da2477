"""``./run.sh feeds-db init`` against the embedded PostgreSQL: the database, an owner role with
CREATEDB, an application role with only what loads need, schema dba migrated, SCRAM-SHA-256
passwords; a second run changes nothing; sslmode passes through."""
import uuid

import psycopg2
import pytest
from psycopg2 import sql

from ops.feeds_db import FeedsDbSettings, init
from pipelines.base import ROOT
from targets.errors import ConfigError
from targets.postgres import PostgresSettings


@pytest.fixture
def feeds(stack_state, pg_password):
    tag = uuid.uuid4().hex[:8]
    app = PostgresSettings(host="127.0.0.1", port=stack_state.ports["postgres"], dbname=f"Feeds_{tag}",
                           user=f"feeds_app_{tag}", password="app-" + tag * 2)
    settings = FeedsDbSettings(app=app, owner=f"feeds_owner_{tag}", owner_password="own-" + tag * 2,
                               admin_password=pg_password)
    yield settings
    conn = settings.admin_connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(app.dbname)))
        for role in (app.user, settings.owner):
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    conn.close()


def _admin(settings, query, params=()):
    conn = settings.admin_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_init_creates_the_database_roles_and_privileges_once(feeds):
    done = init(feeds)
    assert f"database {feeds.app.dbname} created, owned by {feeds.owner}" in done
    assert any(line.startswith("schema dba migrated: 001_dba_schema.sql") for line in done)
    roles = dict((r, (login, createdb, pw.startswith("SCRAM-SHA-256$")))
                 for r, login, createdb, pw in _admin(feeds, "SELECT rolname, rolcanlogin, rolcreatedb, rolpassword"
                                                              " FROM pg_authid WHERE rolname IN (%s, %s)",
                                                      (feeds.owner, feeds.app.user)))
    assert roles == {feeds.owner: (True, True, True), feeds.app.user: (True, False, True)}
    assert init(feeds) == []  # idempotent: nothing changes the second time

    owner = psycopg2.connect(**{k: v for k, v in vars(feeds.as_owner()).items()
                                if k in ("host", "port", "dbname", "user", "password")})
    with owner, owner.cursor() as cur:
        cur.execute("CREATE TABLE feeds.events (event_id int PRIMARY KEY, title text)")
    owner.close()
    app = feeds.app.connect()
    app.autocommit = True
    with app.cursor() as cur:  # what a load does
        cur.execute("CREATE TEMP TABLE staging (event_id int, title text)")
        cur.execute("INSERT INTO feeds.events VALUES (1, 'a') ON CONFLICT (event_id) DO UPDATE SET title = 'b'")
        cur.execute("TRUNCATE feeds.events")
        cur.execute("INSERT INTO dba.tdataloads (run_uuid, job_name, item, run_date, direction, status)"
                    " VALUES (gen_random_uuid(), 'feeds', 'x', current_date, 'load', 'succeeded')")
        cur.execute("SELECT count(*) FROM dba.timportconfig")
        for forbidden in ("CREATE TABLE feeds.mine (x int)", "DROP TABLE feeds.events",
                          "CREATE TABLE public.mine (x int)", "DELETE FROM dba.tdataloads",
                          "INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, file_type,"
                          " target_schema, target_table) VALUES ('j', 'x', '/x', 'csv', 'feeds', 'events')",
                          "INSERT INTO dba.schema_migrations VALUES (999, 'mine')"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(forbidden)
    app.close()
    public = PostgresSettings(host=feeds.app.host, port=feeds.app.port, dbname=feeds.app.dbname,
                              user=feeds.owner, password=feeds.owner_password)
    assert public.connect() is not None  # the owner can connect; PUBLIC cannot (CONNECT revoked)
    assert _admin(feeds, "SELECT has_database_privilege('public', %s, 'CONNECT')", (feeds.app.dbname,)) == [(False,)]


def test_sslmode_passes_through(feeds):
    """The embedded server has no TLS: sslmode=require is refused by libpq, so it was passed on."""
    strict = FeedsDbSettings(app=PostgresSettings(**{**vars(feeds.app), "sslmode": "require"}), owner=feeds.owner,
                             owner_password=feeds.owner_password, admin_password=feeds.admin_password)
    with pytest.raises(psycopg2.OperationalError, match="server does not support SSL"):
        init(strict)


def test_the_application_role_loads_through_our_clients_and_never_migrates(feeds, tmp_path):
    """What the pipelines do as feeds_app: check no migration is pending (a read), load a file
    with its ledger row, record a task's success; a migration pending that the role may not
    apply is a clear error naming the command that applies it."""
    import datetime as dt
    from targets.feed_loader import FeedPart, load_feed
    from targets.ledger import Ledger, LedgerEntry, LedgerTarget
    from targets.postgres import PostgresClient
    init(feeds)
    owner = psycopg2.connect(**{k: v for k, v in vars(feeds.as_owner()).items()
                                if k in ("host", "port", "dbname", "user", "password")})
    with owner, owner.cursor() as cur:
        cur.execute("CREATE TABLE feeds.events (event_id int PRIMARY KEY, title text)")
    owner.close()
    client = Ledger(PostgresClient(feeds.app))
    assert client.db.pending_migrations() == []
    path = tmp_path / "events.csv"
    path.write_text("event_id,title\n1,One\n")
    day = dt.date(2026, 11, 24)
    result = load_feed(client, [FeedPart(path)], "feeds", "events", "upsert", ["event_id"],
                       LedgerEntry("feeds_events", "events.csv", day))
    assert result.inserted == 1
    LedgerTarget(client, "feeds_weekly", "chain", day).mark_done(direction="task")
    assert LedgerTarget(client, "feeds_weekly", "chain", day).exists()
    client.db.close()
    later = tmp_path / "sql"
    later.mkdir()
    for f in (ROOT / "sql").glob("*.sql"):
        (later / f.name).write_text(f.read_text())
    (later / "999_later.sql").write_text("CREATE TABLE dba.later (x int);")
    with pytest.raises(ConfigError, match=rf"migrations 999_later.sql are not applied and {feeds.app.user} may not "
                                          r"apply them; run ./run.sh feeds-db init"):
        PostgresClient(feeds.app).ensure_schema(later)
