"""PostgreSQL: a pooled client from ``[postgres]``, numbered migrations, the load ledger
(``dba.tDataLoads``) and its target, and a CSV loader whose data and ledger row commit together.

Settings: ``[postgres] host, port, dbname, user, password = ${PG_PASSWORD}, sslmode,
connect_timeout``. Identifiers are always composed with ``psycopg2.sql``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import luigi
import psycopg2
import psycopg2.errors
from psycopg2 import sql

from targets import clock
from targets.config import Section
from targets.errors import BadInputError, TransientError

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LEDGER = sql.Identifier("dba", "tdataloads")
_MIGRATION_LOCK = 7_245_001  # pg_advisory_xact_lock key: one migrator at a time

_run_uuid: uuid.UUID | None = None


def run_uuid() -> uuid.UUID:
    """One id per process invocation, shared by ledger rows and log entries."""
    global _run_uuid
    if _run_uuid is None:
        _run_uuid = uuid.uuid4()
    return _run_uuid


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None
    connect_timeout: int = 10
    application_name: str = "district-etl"

    @classmethod
    def from_config(cls, section: str = "postgres") -> "PostgresSettings":
        s = Section(section)
        return cls(host=s.str("host", required=True), port=s.int("port", 5432),
                   dbname=s.str("dbname", required=True), user=s.str("user", required=True),
                   password=s.secret("password"), sslmode=s.str("sslmode"),
                   connect_timeout=s.int("connect_timeout", 10))

    def connect(self, **overrides) -> "psycopg2.extensions.connection":
        kwargs = dict(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                      password=self.password, connect_timeout=self.connect_timeout,
                      application_name=self.application_name)
        if self.sslmode:
            kwargs["sslmode"] = self.sslmode
        kwargs.update(overrides)
        return psycopg2.connect(**{k: v for k, v in kwargs.items() if v is not None})

    def describe(self) -> str:
        """Where, without secrets: safe to log."""
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass
class LedgerEntry:
    """One row of dba.tDataLoads (one attempt at one item of one job for one run date)."""

    job: str
    item: str
    run_date: dt.date
    direction: str = "load"
    source: str | None = None
    destination: str | None = None
    rows: int | None = None
    bytes: int | None = None
    sha256: str | None = None
    started_at: dt.datetime | None = None


@dataclass
class LoadResult:
    status: str  # succeeded | skipped
    rows: int
    bytes: int
    sha256: str


class _HashingReader:
    """Wraps a binary file for COPY: counts bytes and hashes them as PostgreSQL reads."""

    def __init__(self, raw, total: int = 0, progress: Callable[[int, int], None] | None = None):
        self._raw = raw
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.total = total
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        block = self._raw.read(size)
        self.sha.update(block)
        self.bytes += len(block)
        if self.progress is not None:
            self.progress(self.bytes, self.total)
        return block


_POOL: dict[tuple[int, PostgresSettings], "PostgresClient"] = {}
_POOL_LOCK = threading.Lock()


class PostgresClient:
    """One pooled connection per server and process; verbs for migrations, ledger and COPY."""

    def __init__(self, settings: PostgresSettings, retries: int = 3, backoff: float = 1.0):
        self.settings = settings
        self.retries = retries
        self.backoff = backoff
        self._conn = None
        self._migrated = False
        self._lock = threading.RLock()
        self._done_cache: dict[tuple[str, dt.date], tuple[float, set[str]]] = {}

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

    def ensure_schema(self) -> None:
        """Apply pending migrations once per client (before the first ledger write)."""
        if not self._migrated:
            self.migrate()
            self._migrated = True

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

    # -- the ledger

    def done_items(self, job: str, run_date: dt.date, max_age: float = 2.0) -> dict[str, str | None]:
        """Items of ``job`` with a succeeded row for ``run_date``, with the sha256 recorded:
        one query serves every target of the job for that date."""
        key = (job, run_date)
        cached = self._done_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        try:
            with self.transaction() as cur:
                cur.execute(sql.SQL("SELECT item, sha256 FROM {} WHERE job_name = %s AND run_date = %s"
                                    " AND status = 'succeeded'").format(LEDGER), (job, run_date))
                items = dict(cur.fetchall())
        except psycopg2.errors.UndefinedTable:
            items = {}  # no ledger yet: nothing is done
        self._done_cache[key] = (time.monotonic(), items)
        return items

    def is_done(self, job: str, item: str, run_date: dt.date, sha256: str | None = None) -> bool:
        """A succeeded row exists (for exactly this content, when ``sha256`` is given)."""
        done = self.done_items(job, run_date)
        return item in done and (sha256 is None or done[item] == sha256)

    def last_success(self, job: str, item: str, before: dt.date | None = None) -> dict | None:
        """The newest succeeded row for (job, item), optionally before a run date."""
        query = sql.SQL("SELECT run_date, rows, bytes, sha256, source, destination, finished_at FROM {}"
                        " WHERE job_name = %s AND item = %s AND status = 'succeeded'"
                        + (" AND run_date < %s" if before else "") +
                        " ORDER BY run_date DESC, finished_at DESC LIMIT 1").format(LEDGER)
        with self.transaction() as cur:
            cur.execute(query, (job, item, before) if before else (job, item))
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d.name for d in cur.description], row))

    def outstanding(self, job: str, answered_by: str) -> dict | None:
        """The newest success of ``job`` whose item has no success in ``answered_by`` (e.g. the
        DPS send still waiting for its receive), or None: one query."""
        query = sql.SQL("SELECT item, run_date, sha256, finished_at FROM {0} s WHERE s.job_name = %s AND"
                        " s.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM {0} r WHERE r.job_name = %s AND"
                        " r.item = s.item AND r.status = 'succeeded') ORDER BY s.finished_at DESC LIMIT 1"
                        ).format(LEDGER)
        try:
            with self.transaction() as cur:
                cur.execute(query, (job, answered_by))
                row = cur.fetchone()
                return dict(zip([d.name for d in cur.description], row)) if row else None
        except psycopg2.errors.UndefinedTable:
            return None

    def success_with_sha(self, job: str, sha256: str) -> dict | None:
        """The newest success of ``job`` for this exact content (which quarter a remote file is)."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("SELECT item, run_date, finished_at FROM {} WHERE job_name = %s AND sha256 = %s"
                                " AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1").format(LEDGER),
                        (job, sha256))
            row = cur.fetchone()
            return dict(zip([d.name for d in cur.description], row)) if row else None

    def item_dates(self, job: str) -> dict[str, dt.date]:
        """Each item of ``job`` with the run date of its first success (e.g. the day each remote
        file was pulled): one query."""
        try:
            with self.transaction() as cur:
                cur.execute(sql.SQL("SELECT item, min(run_date) FROM {} WHERE job_name = %s AND status = 'succeeded'"
                                    " GROUP BY item").format(LEDGER), (job,))
                return dict(cur.fetchall())
        except psycopg2.errors.UndefinedTable:
            return {}

    def has_item(self, job: str, item: str) -> bool:
        """A succeeded row for (job, item) on any run date (e.g. a remote file already pulled)."""
        try:
            with self.transaction() as cur:
                cur.execute(sql.SQL("SELECT 1 FROM {} WHERE job_name = %s AND item = %s AND status = 'succeeded'"
                                    " LIMIT 1").format(LEDGER), (job, item))
                return cur.fetchone() is not None
        except psycopg2.errors.UndefinedTable:
            return False

    def _insert_ledger(self, cur, e: LedgerEntry, status: str, error: str | None = None) -> None:
        finished = clock.now()  # the one clock, so a simulated day's rows carry its times
        cur.execute(sql.SQL(
            "INSERT INTO {} (run_uuid, job_name, item, run_date, direction, source, destination, status,"
            " rows, bytes, sha256, started_at, finished_at, error)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(LEDGER), (str(run_uuid()), e.job, e.item, e.run_date, e.direction, e.source, e.destination,
                           status, e.rows, e.bytes, e.sha256, e.started_at or finished, finished, error))

    def record_failure_once(self, entry: LedgerEntry, error: str) -> bool:
        """A failed row for this run's (job, item, date) unless this run wrote one already (a
        task that recorded its own failure, then raised); True if written."""
        self.ensure_schema()
        finished = clock.now()
        with self.transaction() as cur:
            cur.execute(sql.SQL(
                "INSERT INTO {0} (run_uuid, job_name, item, run_date, direction, source, destination, status,"
                " started_at, finished_at, error) SELECT %s, %s, %s, %s, %s, %s, %s, 'failed', %s, %s, %s"
                " WHERE NOT EXISTS (SELECT 1 FROM {0} WHERE run_uuid = %s AND job_name = %s AND item = %s"
                " AND run_date = %s AND status = 'failed')").format(LEDGER),
                (str(run_uuid()), entry.job, entry.item, entry.run_date, entry.direction, entry.source,
                 entry.destination, entry.started_at or finished, finished, error,
                 str(run_uuid()), entry.job, entry.item, entry.run_date))
            return cur.rowcount == 1

    def supersede_failures(self, job: str, item: str, run_date: dt.date) -> int:
        """A later success: earlier failed rows of (job, item, date) become 'superseded', so
        ``./run.sh status`` stops listing them. Returns how many."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("UPDATE {} SET status = 'superseded' WHERE job_name = %s AND item = %s"
                                " AND run_date = %s AND status = 'failed'").format(LEDGER), (job, item, run_date))
            return cur.rowcount

    def run_failures(self, uuid: str) -> list[dict]:
        """The failed rows one run wrote (what its failure mail lists)."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("SELECT job_name, item, run_date, error FROM {} WHERE run_uuid = %s"
                                " AND status = 'failed' ORDER BY load_id").format(LEDGER), (uuid,))
            return [dict(zip([d.name for d in cur.description], row)) for row in cur.fetchall()]

    def record(self, entry: LedgerEntry, status: str = "succeeded", error: str | None = None,
               replace: bool = False) -> None:
        """Write a ledger row in its own transaction (SFTP and BigQuery transfers, failures).

        ``replace``: an earlier success for the same (job, item, date) becomes 'superseded' in
        the same transaction (a changed file reloaded for the same day).
        """
        self.ensure_schema()
        with self.transaction() as cur:
            if replace and status == "succeeded":
                cur.execute(sql.SQL("UPDATE {} SET status = 'superseded' WHERE job_name = %s AND item = %s"
                                    " AND run_date = %s AND status = 'succeeded'").format(LEDGER),
                            (entry.job, entry.item, entry.run_date))
            self._insert_ledger(cur, entry, status, error)
        if status == "succeeded":
            self._mark_done(entry)

    def _mark_done(self, entry: LedgerEntry) -> None:
        cached = self._done_cache.get((entry.job, entry.run_date))
        if cached is not None:
            cached[1][entry.item] = entry.sha256

    # -- loading

    def copy_csv(self, path: str | os.PathLike, table: str, entry: LedgerEntry, columns: list[str] | None = None,
                 replace: bool = False, delimiter: str = ",", header: bool = True,
                 encoding: str = "UTF8", progress: Callable[[int, int], None] | None = None) -> LoadResult:
        """COPY a CSV file into ``schema.table`` and write its ledger row in the same transaction.

        A crash before the commit leaves neither rows nor ledger row; a racing second load of the
        same (job, item, date) is rolled back whole and reported as skipped.
        """
        target = _table_identifier(table)
        cols = sql.SQL("") if not columns else sql.SQL(" ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns))
        copy = sql.SQL("COPY {}{} FROM STDIN WITH (FORMAT csv, HEADER {}, DELIMITER {}, ENCODING {})").format(
            target, cols, sql.SQL("true" if header else "false"), sql.Literal(delimiter), sql.Literal(encoding))
        self.ensure_schema()
        entry.started_at = entry.started_at or clock.now()
        entry.destination = entry.destination or f"{self.settings.describe()}#{table}"
        entry.source = entry.source or os.fspath(path)
        try:
            with self.transaction() as cur, open(path, "rb") as raw:
                if replace:
                    cur.execute(sql.SQL("TRUNCATE {}").format(target))
                reader = _HashingReader(raw, os.fstat(raw.fileno()).st_size, progress)
                cur.copy_expert(copy, reader, size=1 << 20)
                entry.rows, entry.bytes, entry.sha256 = cur.rowcount, reader.bytes, reader.sha.hexdigest()
                self._insert_ledger(cur, entry, "succeeded")
        except psycopg2.errors.UniqueViolation as e:
            if e.diag.constraint_name != "tdataloads_one_success":
                raise self._bad_input(path, e) from e
            logger.info("%s %s for %s was loaded by another run; this load was rolled back",
                        entry.job, entry.item, entry.run_date)
            self._mark_done(entry)
            return LoadResult("skipped", 0, 0, "")
        except (psycopg2.DataError, psycopg2.IntegrityError) as e:
            err = self._bad_input(path, e)
            self.record(entry, "failed", error=str(err))
            raise err from e
        except TransientError as e:
            with contextlib.suppress(TransientError):
                self.record(entry, "failed", error=str(e))
            raise
        self._mark_done(entry)
        logger.info("loaded %s rows (%s bytes) into %s for %s %s", entry.rows, entry.bytes, table,
                    entry.job, entry.item)
        return LoadResult("succeeded", entry.rows, entry.bytes, entry.sha256)

    @staticmethod
    def _bad_input(path, e: psycopg2.Error) -> BadInputError:
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


class LedgerTarget(luigi.Target):
    """Done when dba.tDataLoads has a succeeded row for (job, item, run date) — and, when
    ``sha256`` is given, for that exact content, so a changed file is loaded again.

    The target owns its verbs, as Luigi's ``PostgresTarget.touch``: ``mark_done`` after a
    verified transfer, ``mark_failed`` when it did not happen. A load into PostgreSQL writes
    its row inside the data's transaction instead (``PostgresClient.copy_csv(..., entry())``).
    """

    def __init__(self, client: PostgresClient, job: str, item: str, run_date: dt.date, sha256: str | None = None):
        self.client, self.job, self.item, self.run_date, self.sha256 = client, job, item, run_date, sha256

    def exists(self) -> bool:
        return self.client.is_done(self.job, self.item, self.run_date, self.sha256)

    def entry(self, **fields) -> LedgerEntry:
        """The ledger row this target stands for, with ``fields`` (rows, bytes, source, ...)."""
        return LedgerEntry(job=self.job, item=self.item, run_date=self.run_date, **fields)

    def mark_done(self, **fields) -> None:
        """Record the success (``fields``: direction, source, destination, rows, bytes, sha256,
        started_at). A content-keyed target (``sha256`` given) supersedes an earlier success for
        the same job, item and date: the file changed and was done again."""
        if self.sha256 is not None:
            fields.setdefault("sha256", self.sha256)
        self.client.record(self.entry(**fields), replace=self.sha256 is not None)

    def mark_failed(self, error: BaseException | str, **fields) -> None:
        """Record a failed attempt with its error (file, row, column and rule for bad input)."""
        self.client.record(self.entry(**fields), status="failed", error=str(error))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.job!r}, {self.item!r}, {self.run_date})"


class LedgerItemTarget(LedgerTarget):
    """Done when the ledger has a succeeded row for (job, item) on *any* run date, e.g. a remote
    file (keyed by name, size and mtime) that was pulled once; marked done under ``run_date``."""

    def exists(self) -> bool:
        return self.client.has_item(self.job, self.item)
