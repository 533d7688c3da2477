"""``./run.sh feeds-db init [--admin-dsn DSN]``: the Feeds database in one command, idempotent.

Creates (or brings up to date) on the server of ``[feeds_db]``:
- the owner role (``owner``, LOGIN CREATEDB, password ``owner_password = ${FEEDS_OWNER_PASSWORD}``),
  which owns the database, its schemas and tables;
- the application role (``user``, LOGIN only, password ``password = ${FEEDS_APP_PASSWORD}``):
  CONNECT and TEMPORARY (staging tables) on the database, USAGE on ``dba`` and the data schema
  (``data_schema``, default ``feeds``); on the data tables SELECT/INSERT/UPDATE/DELETE/TRUNCATE,
  on the ledger and the run log SELECT/INSERT/UPDATE, on ``tImportConfig`` SELECT (now and
  for later tables: default privileges; SELECT on ``dba.schema_migrations``, to see that no
  migration is pending) — it cannot create, alter or drop anything;
- the database (``dbname``, default ``Feeds``; CONNECT revoked from PUBLIC) with schema ``dba``
  migrated (sql/NNN_*.sql, as the owner) and the data schema.

Passwords are stored as SCRAM-SHA-256 (``password_encryption`` is set for the session; md5
is deprecated since PostgreSQL 18 and falls to a stolen hash, SCRAM does not). The admin
connection is ``--admin-dsn`` (or ``FEEDS_ADMIN_DSN``; e.g. ``host=db.example user=postgres
sslmode=require``) or ``[feeds_db] admin_user, admin_password, admin_dbname``; ``sslmode``
passes through to every connection. Every statement composes identifiers with
``psycopg2.sql``. A second run changes nothing and says so.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

import psycopg2
from psycopg2 import sql

from targets.config import Section
from targets.errors import ConfigError
from targets.postgres import PostgresClient, PostgresSettings

# What the loads need: on data tables every row change (replace truncates, upsert updates);
# on the ledger and the run log rows added and marked superseded; tImportConfig only read.
APP_TABLE_PRIVILEGES = {"feeds": "SELECT, INSERT, UPDATE, DELETE, TRUNCATE", "dba": "SELECT, INSERT, UPDATE"}


@dataclass(frozen=True)
class FeedsDbSettings:
    app: PostgresSettings  # what the Feeds loads connect as
    owner: str
    owner_password: str | None = field(repr=False)
    data_schema: str = "feeds"
    admin_dsn: str | None = field(default=None, repr=False)
    admin_user: str = "postgres"
    admin_password: str | None = field(default=None, repr=False)
    admin_dbname: str = "postgres"

    @classmethod
    def from_config(cls, section: str = "feeds_db", admin_dsn: str | None = None) -> "FeedsDbSettings":
        s = Section(section)
        app = PostgresSettings.from_config(section)
        owner_password = s.secret("owner_password")
        if not app.password or not owner_password:
            raise ConfigError(f"[{section}] password and owner_password are required (${{FEEDS_APP_PASSWORD}}, "
                              "${FEEDS_OWNER_PASSWORD})")
        return cls(app=app, owner=s.str("owner", "feeds_owner"), owner_password=owner_password,
                   data_schema=s.str("data_schema", "feeds"),
                   admin_dsn=admin_dsn or os.environ.get("FEEDS_ADMIN_DSN") or None,
                   admin_user=s.str("admin_user", "postgres"), admin_password=s.secret("admin_password"),
                   admin_dbname=s.str("admin_dbname", "postgres"))

    def admin_connect(self, dbname: str | None = None):
        if self.admin_dsn:
            overrides = {"dbname": dbname} if dbname else {}
            return psycopg2.connect(self.admin_dsn, **overrides,
                                    **({"sslmode": self.app.sslmode} if self.app.sslmode and
                                       "sslmode" not in self.admin_dsn else {}))
        return PostgresSettings(host=self.app.host, port=self.app.port, dbname=dbname or self.admin_dbname,
                                user=self.admin_user, password=self.admin_password, sslmode=self.app.sslmode,
                                connect_timeout=self.app.connect_timeout).connect()

    def as_owner(self) -> PostgresSettings:
        return PostgresSettings(host=self.app.host, port=self.app.port, dbname=self.app.dbname, user=self.owner,
                                password=self.owner_password, sslmode=self.app.sslmode,
                                connect_timeout=self.app.connect_timeout)


def init(s: FeedsDbSettings) -> list[str]:
    """Bring the server to the wanted state; returns what changed (empty: nothing to do)."""
    done: list[str] = []
    conn = s.admin_connect()
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute("SET password_encryption = 'scram-sha-256'")
            for role, password, attrs in ((s.owner, s.owner_password, "LOGIN CREATEDB NOCREATEROLE NOSUPERUSER"),
                                          (s.app.user, s.app.password, "LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER")):
                done += _role(cur, role, password, attrs)
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (s.app.dbname,))
            row = cur.fetchone()
            db = sql.Identifier(s.app.dbname)
            if row is None:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(db, sql.Identifier(s.owner)))
                done.append(f"database {s.app.dbname} created, owned by {s.owner}")
            elif row[0] != s.owner:
                cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(s.owner)))
                done.append(f"database {s.app.dbname} now owned by {s.owner} (was {row[0]})")
            cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            cur.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, sql.Identifier(s.app.user)))
    finally:
        conn.close()
    owner = PostgresClient(s.as_owner())
    try:
        applied = owner.migrate()
        if applied:
            done.append(f"schema dba migrated: {', '.join(applied)}")
        with owner.transaction() as cur:
            done += _schema_and_grants(cur, s)
    finally:
        owner.close()
    return done


def _role(cur, role: str, password: str | None, attrs: str) -> list[str]:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    row = cur.fetchone()
    ident = sql.Identifier(role)
    if row is None:
        cur.execute(sql.SQL("CREATE ROLE {} " + attrs + " PASSWORD %s").format(ident), (password,))
        return [f"role {role} created ({attrs.split()[1].lower()})"]
    # set the attributes and the password again: a rotated secret takes effect, a hand change is undone
    cur.execute(sql.SQL("ALTER ROLE {} " + attrs + " PASSWORD %s").format(ident), (password,))
    return []


def _schema_and_grants(cur, s: FeedsDbSettings) -> list[str]:
    done = []
    app, owner = sql.Identifier(s.app.user), sql.Identifier(s.owner)
    cur.execute("SELECT nspname FROM pg_namespace WHERE nspname = %s", (s.data_schema,))
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(s.data_schema), owner))
        done.append(f"schema {s.data_schema} created")
    cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    for schema, privileges in (("dba", APP_TABLE_PRIVILEGES["dba"]), (s.data_schema, APP_TABLE_PRIVILEGES["feeds"])):
        nsp = sql.Identifier(schema)
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(nsp, app))
        cur.execute(sql.SQL("GRANT " + privileges + " ON ALL TABLES IN SCHEMA {} TO {}").format(nsp, app))
        cur.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(nsp, app))
        cur.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT " + privileges +
                            " ON TABLES TO {}").format(owner, nsp, app))
        cur.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES"
                            " TO {}").format(owner, nsp, app))
    # the migrations' bookkeeping is the owner's to write; the application only reads whether
    # any is pending (before its first ledger write); the import registry is read, not written
    cur.execute(sql.SQL("REVOKE ALL ON dba.schema_migrations FROM {}").format(app))
    cur.execute(sql.SQL("GRANT SELECT ON dba.schema_migrations TO {}").format(app))
    cur.execute(sql.SQL("REVOKE INSERT, UPDATE ON dba.timportconfig FROM {}").format(app))
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh feeds-db", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["init"])
    ap.add_argument("--admin-dsn", help="libpq DSN of an admin connection (default: FEEDS_ADMIN_DSN, or "
                                        "[feeds_db] admin_user/admin_password)")
    args = ap.parse_args(argv)
    try:
        settings = FeedsDbSettings.from_config(admin_dsn=args.admin_dsn)
        done = init(settings)
    except ConfigError as e:
        print(f"feeds-db: {e}", file=sys.stderr)
        return 2
    except psycopg2.Error as e:
        print(f"feeds-db: {settings.app.describe()}: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    for line in done:
        print(line)
    print(f"{settings.app.describe()}: " + ("up to date; nothing changed" if not done else f"{len(done)} changes"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
