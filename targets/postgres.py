"""PostgreSQL: a pooled client from ``[postgres]``, numbered migrations, and COPY of a CSV file
inside a caller's transaction. The load ledger wraps this client (targets/ledger.py ``Ledger``:
its verbs, its targets, and a load whose data and ledger row commit together).

Settings: ``[postgres] host, port, dbname, user, password = ${PG_PASSWORD}, sslmode,
connect_timeout, io_timeout``. Identifiers are always composed with ``psycopg2.sql``.

``io_timeout`` (seconds, default 120; 0 = the operating system's defaults) bounds how long a
connection whose network died stays open: libpq's TCP keepalives probe an idle connection
(a long query, a COPY waiting on the server) and ``tcp_user_timeout`` ends one whose sent data
goes unacknowledged, so a cable pulled mid-COPY fails the task (a TransientError, retried by the
next run) instead of hanging it until someone notices. A server that is alive but slow is not
cut: that is the server's ``statement_timeout`` to decide.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from targets import faults
from targets.config import Section
from targets.errors import BadInputError, ConfigError, TransientError

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_MIGRATION_LOCK = 7_245_001  # pg_advisory_xact_lock key: one migrator at a time

@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None
    connect_timeout: int = 10
    io_timeout: int = 120
    application_name: str = "district-etl"

    @classmethod
    def from_config(cls, section: str = "postgres") -> "PostgresSettings":
        s = Section(section)
        return cls(host=s.str("host", required=True), port=s.int("port", 5432),
                   dbname=s.str("dbname", required=True), user=s.str("user", required=True),
                   password=s.secret("password"), sslmode=s.str("sslmode"),
                   connect_timeout=s.int("connect_timeout", 10), io_timeout=s.int("io_timeout", 120))

    def connect(self, **overrides) -> "psycopg2.extensions.connection":
        kwargs = dict(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                      password=self.password, connect_timeout=self.connect_timeout,
                      application_name=self.application_name)
        if self.sslmode:
            kwargs["sslmode"] = self.sslmode
        kwargs.update(self.dead_network_options())
        kwargs.update(overrides)
        return psycopg2.connect(**{k: v for k, v in kwargs.items() if v is not None})

    def dead_network_options(self) -> dict[str, int]:
        """libpq options that end a connection whose network died within about ``io_timeout``
        seconds: keepalive probes start after a third of it, three probes a sixth apart, and
        data unacknowledged for ``io_timeout`` ends it."""
        if self.io_timeout <= 0:
            return {}
        idle, interval = max(1, self.io_timeout // 3), max(1, self.io_timeout // 6)
        return dict(keepalives=1, keepalives_idle=idle, keepalives_interval=interval, keepalives_count=3,
                    tcp_user_timeout=self.io_timeout * 1000)

    def describe(self) -> str:
        """Where, without secrets: safe to log."""
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.dbname}"


class HashingReader:
    """Wraps a binary file for COPY: counts bytes and hashes them as PostgreSQL reads."""

    def __init__(self, raw, total: int = 0, progress: Callable[[int, int], None] | None = None,
                 label: str = "copy"):
        self._raw = raw
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.total = total
        self.progress = progress
        self.label = label
        self._half = False

    def read(self, size: int = -1) -> bytes:
        block = self._raw.read(size)
        self.sha.update(block)
        self.bytes += len(block)
        if self.progress is not None:
            self.progress(self.bytes, self.total)
        if not self._half and self.bytes * 2 >= self.total:
            self._half = True
            faults.point(f"pg.copy.mid:{self.label}")  # a kill here: COPY half sent, nothing committed
        return block


_POOL: dict[tuple[int, PostgresSettings], "PostgresClient"] = {}
_POOL_LOCK = threading.Lock()


class PostgresClient:
    """One pooled connection per server and process; transactions, migrations and COPY."""

    def __init__(self, settings: PostgresSettings, retries: int = 3, backoff: float = 1.0):
        self.settings = settings
        self.retries = retries
        self.backoff = backoff
        self._conn = None
        self._migrated = False
        self._lock = threading.RLock()

    @classmethod
    def from_config(cls, section: str = "postgres") -> "PostgresClient":
        """The process's pooled client for the server in ``[section]``."""
        return cls.pooled(PostgresSettings.from_config(section))

    @classmethod
    def pooled(cls, settings: PostgresSettings) -> "PostgresClient":
        key = (os.getpid(), settings)
        with _POOL_LOCK:
            client = _POOL.get(key)
            if client is None:
                client = _POOL[key] = cls(settings)
            return client

    # -- connection and transactions

    def _connection(self):
        if self._conn is not None and self._conn.closed == 0:
            return self._conn
        last = None
        for attempt in range(1, self.retries + 1):
            try:
                self._conn = self.settings.connect()
                return self._conn
            except psycopg2.OperationalError as e:
                last = e
                logger.warning("PostgreSQL %s unreachable (attempt %d of %d)", self.settings.describe(),
                               attempt, self.retries)
                if attempt < self.retries:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
        raise TransientError(f"PostgreSQL {self.settings.describe()} unreachable: "
                             f"{str(last).strip().splitlines()[0]}") from last

    @contextlib.contextmanager
    def transaction(self) -> Iterator["psycopg2.extensions.cursor"]:
        """A cursor in one transaction: committed when the block ends, rolled back on error."""
        with self._lock:
            conn = self._connection()
            try:
                with conn.cursor() as cur:
                    yield cur
                conn.commit()
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                self._drop()
                raise TransientError(f"PostgreSQL {self.settings.describe()}: connection lost: "
                                     f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from e
            except BaseException:
                if conn.closed == 0:
                    conn.rollback()
                raise

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- migrations

    def ensure_schema(self, sql_dir: Path = SQL_DIR) -> None:
        """Apply pending migrations once per client (before the first ledger write). A role that
        may only read and write rows (the Feeds application role) finds none pending and
        changes nothing; if some are pending it cannot apply, that is said with the fix."""
        if self._migrated:
            return
        pending = self.pending_migrations(sql_dir)
        if pending:
            try:
                self.migrate(sql_dir)
            except psycopg2.errors.InsufficientPrivilege as e:
                raise ConfigError(f"{self.settings.describe()}: migrations {', '.join(pending)} are not applied and "
                                  f"{self.settings.user} may not apply them; run ./run.sh feeds-db init (or migrate "
                                  "as the database's owner)") from e
        self._migrated = True

    def pending_migrations(self, sql_dir: Path = SQL_DIR) -> list[str]:
        """The ``sql/NNN_*.sql`` files the database has not had yet (a read)."""
        files = sorted(sql_dir.glob("[0-9][0-9][0-9]_*.sql"))
        try:
            with self.transaction() as cur:
                cur.execute("SELECT version FROM dba.schema_migrations")
                done = {v for (v,) in cur.fetchall()}
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
            done = set()
        return [p.name for p in files if int(p.name[:3]) not in done]

    def migrate(self, sql_dir: Path = SQL_DIR) -> list[str]:
        """Apply ``sql/NNN_*.sql`` files not applied yet, each in its own transaction, in order."""
        files = sorted(p for p in sql_dir.glob("[0-9][0-9][0-9]_*.sql"))
        applied = []
        with self.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute("CREATE SCHEMA IF NOT EXISTS dba")
            cur.execute("CREATE TABLE IF NOT EXISTS dba.schema_migrations (version integer PRIMARY KEY,"
                        " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for path in files:
            version = int(path.name[:3])
            with self.transaction() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                cur.execute("SELECT 1 FROM dba.schema_migrations WHERE version = %s", (version,))
                if cur.fetchone():
                    continue
                cur.execute(path.read_text())
                cur.execute("INSERT INTO dba.schema_migrations (version, name) VALUES (%s, %s)",
                            (version, path.name))
                applied.append(path.name)
        if applied:
            logger.info("applied migrations %s to %s", ", ".join(applied), self.settings.describe())
        return applied

    # -- COPY

    def copy_into(self, cur, path: str | os.PathLike, table: str, columns: list[str] | None = None,
                  replace: bool = False, delimiter: str = ",", header: bool = True, encoding: str = "UTF8",
                  progress: Callable[[int, int], None] | None = None) -> tuple[int, int, str]:
        """COPY a CSV file into ``schema.table`` inside the caller's transaction (``cur``; the
        ledger's ``copy_csv`` writes the load's row in the same one); ``replace`` empties the
        table first. Returns (rows, bytes, sha256 of the bytes sent). Bad rows raise
        ``BadInputError`` with the file, row and column (no row data is kept)."""
        target = _table_identifier(table)
        cols = sql.SQL("") if not columns else sql.SQL(" ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns))
        copy = sql.SQL("COPY {}{} FROM STDIN WITH (FORMAT csv, HEADER {}, DELIMITER {}, ENCODING {})").format(
            target, cols, sql.SQL("true" if header else "false"), sql.Literal(delimiter), sql.Literal(encoding))
        with open(path, "rb") as raw:
            if replace:
                cur.execute(sql.SQL("TRUNCATE {}").format(target))
            reader = HashingReader(raw, os.fstat(raw.fileno()).st_size, progress, label=table)
            try:
                cur.copy_expert(copy, reader, size=1 << 20)
            except (psycopg2.DataError, psycopg2.IntegrityError) as e:
                raise self.bad_input(path, e) from e
        return cur.rowcount, reader.bytes, reader.sha.hexdigest()

    @staticmethod
    def bad_input(path, e: psycopg2.Error) -> BadInputError:
        """Turn PostgreSQL's COPY error into file, row, column and rule (no row data is kept)."""
        context = (e.diag.context or "").strip()
        m = re.search(r"line (\d+)(?:, column ([^:]+))?", context)
        row = int(m.group(1)) if m else None
        column = m.group(2) if m else None
        return BadInputError(os.fspath(path), e.diag.message_primary or type(e).__name__, row=row, column=column)


def _table_identifier(table: str) -> sql.Composable:
    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"table must be 'schema.table' or 'table', got {table!r}")
    return sql.Identifier(*parts)
