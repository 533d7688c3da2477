"""The load ledger, ``dba.tDataLoads``: one row per attempt at one item of one job for one run
date. ``Ledger(db)`` wraps a PostgreSQL client (targets/postgres.py) with the ledger's verbs
(one query answers all of a job's items for a date, failures are recorded once per run, a load
and its row commit in one transaction, ...); ``Ledger.of(section)`` is how pipelines reach it
(one per database and process, so its memory of what is done is shared). The targets that say
"done" with it (``LedgerTarget``, ``LedgerItemTarget``) own ``mark_done`` and ``mark_failed``. Timestamps come from the one clock (targets/clock.py). Every row belongs to
the district this process serves (``--district``; '' for one district) and every verb reads
that district's rows only: several districts share one ledger without seeing each other.
Every row is written through one column list (``LEDGER_COLUMNS``, ``ledger_row``); run
tracking lives in targets/runs.py, the process identity in targets/process.py.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import luigi
import psycopg2
import psycopg2.errors
from psycopg2 import sql

from targets import clock, faults
from targets.config import district
from targets.errors import BadInputError, TransientError
from targets.postgres import PostgresClient
from targets.process import run_uuid, worker

logger = logging.getLogger(__name__)

LEDGER = sql.Identifier("dba", "tdataloads")


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
    rejected: int | None = None  # rows a load refused (and wrote to its rejects file)
    note: str | None = None  # what is special about the row, e.g. a resend of the current data


# The ledger row's columns, written in one place (every INSERT into dba.tDataLoads is made here).
LEDGER_COLUMNS = ("run_uuid", "job_name", "item", "run_date", "direction", "source", "destination", "status", "rows",
                  "bytes", "sha256", "started_at", "finished_at", "error", "note", "rejected", "worker", "district")


def ledger_row(e: "LedgerEntry", status: str, error: str | None,
               finished: bool = True) -> tuple[sql.Composable, list]:
    """(the column list, the values) of ``e``'s row with ``status``: finished now by the one
    clock (so a simulated day's rows carry its times), or not yet (a run that has only
    started)."""
    now = clock.now()
    end = now if finished else None
    values = [str(run_uuid()), e.job, e.item, e.run_date, e.direction, e.source, e.destination, status, e.rows,
              e.bytes, e.sha256, e.started_at or now, end, error, e.note, e.rejected, worker(), district()]
    return sql.SQL(", ").join(sql.Identifier(c) for c in LEDGER_COLUMNS), values


def _placeholders(values: list) -> sql.Composable:
    return sql.SQL(", ").join(sql.Placeholder() * len(values))


@dataclass
class LoadResult:
    status: str  # succeeded | skipped
    rows: int
    bytes: int
    sha256: str


_LEDGERS: dict[PostgresClient, "Ledger"] = {}
_LEDGERS_LOCK = threading.Lock()


class Ledger:
    """The ledger in the database behind ``db`` (a ``PostgresClient``): its verbs, each one
    query in its own transaction unless it says otherwise."""

    def __init__(self, db: PostgresClient):
        self.db = db
        self._done_cache: dict[tuple[str, str, dt.date], tuple[float, dict[str, str | None]]] = {}

    @classmethod
    def of(cls, section: str = "postgres") -> "Ledger":
        """The ledger of the database in ``[section]`` (``postgres``; the Feeds database keeps
        its own, ``feeds_db``): one per pooled client, so every target of a process shares what
        it knows is done."""
        db = PostgresClient.from_config(section)
        with _LEDGERS_LOCK:
            return _LEDGERS.setdefault(db, cls(db))

    def transaction(self):
        """A transaction on the ledger's database (reports read the ledger with their own SQL)."""
        return self.db.transaction()

    def ensure_schema(self) -> None:
        self.db.ensure_schema()

    def describe(self) -> str:
        return self.db.settings.describe()

    def done_items(self, job: str, run_date: dt.date, max_age: float = 2.0) -> dict[str, str | None]:
        """Items of ``job`` with a succeeded row for ``run_date``, with the sha256 recorded:
        one query serves every target of the job for that date."""
        key = (district(), job, run_date)
        cached = self._done_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        try:
            with self.transaction() as cur:
                cur.execute(sql.SQL("SELECT item, sha256 FROM {} WHERE district = %s AND job_name = %s AND run_date = %s"
                                    " AND status = 'succeeded'").format(LEDGER), (district(), job, run_date))
                items = dict(cur.fetchall())
        except psycopg2.errors.UndefinedTable:
            items = {}  # no ledger yet: nothing is done
        self._done_cache[key] = (time.monotonic(), items)
        return items

    def forget(self) -> None:
        """Drop what this process remembers of the ledger (another process changed it)."""
        self._done_cache.clear()

    def is_done(self, job: str, item: str, run_date: dt.date, sha256: str | None = None) -> bool:
        """A succeeded row exists (for exactly this content, when ``sha256`` is given). Only a
        yes comes from the cache: another process (a worker of this run, or on another host)
        may have done the item a moment ago, so a no is asked again."""
        done = self.done_items(job, run_date)
        if item not in done or (sha256 is not None and done[item] != sha256):
            done = self.done_items(job, run_date, max_age=0)
        return item in done and (sha256 is None or done[item] == sha256)

    def last_success(self, job: str, item: str | None, before: dt.date | None = None) -> dict | None:
        """The newest succeeded row for (job, item) — for any item of the job when ``item`` is
        None — optionally before a run date."""
        # note through to_jsonb: a ledger not yet migrated to 004 (no note column) still answers,
        # and a read never migrates
        where = [sql.SQL("district = %s"), sql.SQL("job_name = %s"), sql.SQL("status = 'succeeded'")]
        params: list = [district(), job]
        if item is not None:
            where.append(sql.SQL("item = %s"))
            params.append(item)
        if before:
            where.append(sql.SQL("run_date < %s"))
            params.append(before)
        query = sql.SQL("SELECT run_date, item, rows, bytes, sha256, source, destination, finished_at,"
                        " to_jsonb(t) ->> 'note' AS note FROM {} t WHERE {}"
                        " ORDER BY run_date DESC, finished_at DESC, load_id DESC LIMIT 1").format(
            LEDGER, sql.SQL(" AND ").join(where))
        try:
            with self.transaction() as cur:
                cur.execute(query, params)
                row = cur.fetchone()
                return dict(zip([d.name for d in cur.description], row)) if row is not None else None
        except psycopg2.errors.UndefinedTable:
            return None  # no ledger yet: nothing succeeded

    def last_day_rows(self, job: str) -> int:
        """The rows ``job`` succeeded with on its latest run date (0 if none): one query."""
        query = sql.SQL("SELECT COALESCE(SUM(rows), 0) FROM {0} WHERE district = %s AND job_name = %s AND"
                        " status = 'succeeded' AND run_date = (SELECT max(run_date) FROM {0} WHERE district = %s AND"
                        " job_name = %s AND status = 'succeeded')").format(LEDGER)
        try:
            with self.transaction() as cur:
                cur.execute(query, (district(), job, district(), job))
                return int(cur.fetchone()[0])
        except psycopg2.errors.UndefinedTable:
            return 0

    def outstanding(self, job: str, answered_by: str) -> dict | None:
        """The newest success of ``job`` whose item has no success in ``answered_by`` (e.g. the
        DPS send still waiting for its receive), or None: one query."""
        query = sql.SQL("SELECT item, run_date, sha256, finished_at FROM {0} s WHERE s.district = %s AND"
                        " s.job_name = %s AND s.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM {0} r WHERE"
                        " r.district = s.district AND r.job_name = %s AND r.item = s.item AND r.status = 'succeeded')"
                        " ORDER BY s.finished_at DESC LIMIT 1").format(LEDGER)
        try:
            with self.transaction() as cur:
                cur.execute(query, (district(), job, answered_by))
                row = cur.fetchone()
                return dict(zip([d.name for d in cur.description], row)) if row else None
        except psycopg2.errors.UndefinedTable:
            return None

    def success_with_sha(self, job: str, sha256: str) -> dict | None:
        """The newest success of ``job`` for this exact content (which quarter a remote file is)."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("SELECT item, run_date, finished_at FROM {} WHERE district = %s AND job_name = %s"
                                " AND sha256 = %s AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1"
                                ).format(LEDGER), (district(), job, sha256))
            row = cur.fetchone()
            return dict(zip([d.name for d in cur.description], row)) if row else None

    def item_dates(self, job: str) -> dict[str, dt.date]:
        """Each item of ``job`` with the run date of its first success (e.g. the day each remote
        file was pulled): one query."""
        try:
            with self.transaction() as cur:
                cur.execute(sql.SQL("SELECT item, min(run_date) FROM {} WHERE district = %s AND job_name = %s"
                                    " AND status = 'succeeded' GROUP BY item").format(LEDGER), (district(), job))
                return dict(cur.fetchall())
        except psycopg2.errors.UndefinedTable:
            return {}

    def has_item(self, job: str, item: str) -> bool:
        """A succeeded row for (job, item) on any run date (e.g. a remote file already pulled)."""
        try:
            with self.transaction() as cur:
                cur.execute(sql.SQL("SELECT 1 FROM {} WHERE district = %s AND job_name = %s AND item = %s"
                                    " AND status = 'succeeded' LIMIT 1").format(LEDGER), (district(), job, item))
                return cur.fetchone() is not None
        except psycopg2.errors.UndefinedTable:
            return False

    def _insert_ledger(self, cur, e: LedgerEntry, status: str, error: str | None = None) -> None:
        names, values = ledger_row(e, status, error)
        cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(LEDGER, names, _placeholders(values)), values)

    def record_failure_once(self, entry: LedgerEntry, error: str) -> bool:
        """A failed row for this run's (job, item, date) unless this run wrote one already (a
        task that recorded its own failure, then raised); True if written."""
        self.ensure_schema()
        names, values = ledger_row(entry, "failed", error)
        with self.transaction() as cur:
            cur.execute(sql.SQL("INSERT INTO {0} ({1}) SELECT {2} WHERE NOT EXISTS (SELECT 1 FROM {0} WHERE"
                                " run_uuid = %s AND job_name = %s AND item = %s AND run_date = %s AND status ="
                                " 'failed')").format(LEDGER, names, _placeholders(values)),
                        values + [str(run_uuid()), entry.job, entry.item, entry.run_date])
            return cur.rowcount == 1

    def supersede_failures(self, job: str, item: str, run_date: dt.date) -> int:
        """A later success: earlier failed rows of (job, item, date) become 'superseded', so
        ``./run.sh status`` stops listing them. Returns how many."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("UPDATE {} SET status = 'superseded' WHERE district = %s AND job_name = %s"
                                " AND item = %s AND run_date = %s AND status = 'failed'").format(LEDGER),
                        (district(), job, item, run_date))
            return cur.rowcount

    def undo(self, job: str, item: str) -> int:
        """A flow takes back a step of its own (a file it took, then set aside): the succeeded
        rows of (job, item), on any date, become 'superseded', so the step runs again when the
        same item comes back. Returns how many."""
        with self.transaction() as cur:
            cur.execute(sql.SQL("UPDATE {} SET status = 'superseded' WHERE district = %s AND job_name = %s"
                                " AND item = %s AND status = 'succeeded'").format(LEDGER), (district(), job, item))
            count = cur.rowcount
        self.forget()
        return count

    def clear(self, job: str, run_date: dt.date, item: str | None, action: LedgerEntry) -> list[dict]:
        """An operator's clear: the succeeded and failed rows of (job, date[, item]) become
        'superseded' (the next run does them again) and ``action`` is recorded, in one
        transaction. Returns the rows cleared (item, status, destination)."""
        self.ensure_schema()
        where = sql.SQL("district = %s AND job_name = %s AND run_date = %s AND status IN ('succeeded', 'failed')")
        params: list = [district(), job, run_date]
        if item is not None:
            where = sql.SQL(" AND ").join([where, sql.SQL("item = %s")])
            params.append(item)
        with self.transaction() as cur:
            cur.execute(sql.SQL("WITH old AS (SELECT load_id, item, status, destination FROM {0} WHERE {1} FOR UPDATE)"
                                " UPDATE {0} t SET status = 'superseded' FROM old WHERE t.load_id = old.load_id"
                                " RETURNING old.item, old.status, old.destination").format(LEDGER, where), params)
            cleared = [dict(item=i, status=st, destination=d) for i, st, d in sorted(cur.fetchall())]
            if cleared:
                self._insert_ledger(cur, action, "succeeded")
        self.forget()
        return cleared

    def record(self, entry: LedgerEntry, status: str = "succeeded", error: str | None = None,
               replace: bool = False) -> None:
        """Write a ledger row in its own transaction (SFTP and BigQuery transfers, failures).

        ``replace``: an earlier success for the same (job, item, date) becomes 'superseded' in
        the same transaction (a changed file reloaded for the same day).
        """
        self.ensure_schema()
        with self.transaction() as cur:
            if replace and status == "succeeded":
                cur.execute(sql.SQL("UPDATE {} SET status = 'superseded' WHERE district = %s AND job_name = %s"
                                    " AND item = %s AND run_date = %s AND status = 'succeeded'").format(LEDGER),
                            (district(), entry.job, entry.item, entry.run_date))
            self._insert_ledger(cur, entry, status, error)
        if status == "succeeded":
            self._mark_done(entry)

    @contextlib.contextmanager
    def loading(self, entry: LedgerEntry) -> Iterator["psycopg2.extensions.cursor"]:
        """One transaction for a load and its ledger row: the block loads (and fills in the
        entry's counts), the succeeded row is written at the block's end, and both commit
        together — or neither does."""
        self.ensure_schema()
        entry.started_at = entry.started_at or clock.now()
        with self.transaction() as cur:
            yield cur
            self._insert_ledger(cur, entry, "succeeded")
            faults.point(f"pg.commit:{entry.job}:{entry.item}")
        self._mark_done(entry)

    def copy_csv(self, path: str | os.PathLike, table: str, entry: LedgerEntry, columns: list[str] | None = None,
                 replace: bool = False, delimiter: str = ",", header: bool = True,
                 encoding: str = "UTF8", progress: Callable[[int, int], None] | None = None) -> LoadResult:
        """COPY a CSV file into ``schema.table`` and write its ledger row in the same transaction.

        A crash before the commit leaves neither rows nor ledger row; a racing second load of the
        same (job, item, date) is rolled back whole and reported as skipped; a file PostgreSQL
        refuses is a failed row naming the file, row and column.
        """
        entry.destination = entry.destination or f"{self.describe()}#{table}"
        entry.source = entry.source or os.fspath(path)
        try:
            with self.loading(entry) as cur:
                entry.rows, entry.bytes, entry.sha256 = self.db.copy_into(
                    cur, path, table, columns, replace, delimiter, header, encoding, progress)
        except psycopg2.errors.UniqueViolation as e:
            if e.diag.constraint_name != "tdataloads_one_success":
                raise
            logger.info("%s %s for %s was loaded by another run; this load was rolled back",
                        entry.job, entry.item, entry.run_date)
            self._mark_done(entry)
            return LoadResult("skipped", 0, 0, "")
        except BadInputError as e:
            self.record(entry, "failed", error=str(e))
            raise
        except TransientError as e:
            with contextlib.suppress(TransientError):
                self.record(entry, "failed", error=str(e))
            raise
        logger.info("loaded %s rows (%s bytes) into %s for %s %s", entry.rows, entry.bytes, table,
                    entry.job, entry.item)
        return LoadResult("succeeded", entry.rows, entry.bytes, entry.sha256)

    def _mark_done(self, entry: LedgerEntry) -> None:
        cached = self._done_cache.get((district(), entry.job, entry.run_date))
        if cached is not None:
            cached[1][entry.item] = entry.sha256


class LedgerTarget(luigi.Target):
    """Done when dba.tDataLoads has a succeeded row for (job, item, run date) — and, when
    ``sha256`` is given, for that exact content, so a changed file is loaded again.

    The target owns its verbs, as Luigi's ``PostgresTarget.touch``: ``mark_done`` after a
    verified transfer, ``mark_failed`` when it did not happen. A load into PostgreSQL writes
    its row inside the data's transaction instead (``Ledger.copy_csv(..., entry())``).
    """

    def __init__(self, ledger: Ledger, job: str, item: str, run_date: dt.date, sha256: str | None = None):
        self.ledger, self.job, self.item, self.run_date, self.sha256 = ledger, job, item, run_date, sha256

    def exists(self) -> bool:
        return self.ledger.is_done(self.job, self.item, self.run_date, self.sha256)

    def entry(self, **fields) -> LedgerEntry:
        """The ledger row this target stands for, with ``fields`` (rows, bytes, source, ...)."""
        return LedgerEntry(job=self.job, item=self.item, run_date=self.run_date, **fields)

    def mark_done(self, **fields) -> None:
        """Record the success (``fields``: direction, source, destination, rows, bytes, sha256,
        started_at). A content-keyed target (``sha256`` given) supersedes an earlier success for
        the same job, item and date: the file changed and was done again."""
        if self.sha256 is not None:
            fields.setdefault("sha256", self.sha256)
        self.ledger.record(self.entry(**fields), replace=self.sha256 is not None)

    def mark_failed(self, error: BaseException | str, **fields) -> None:
        """Record a failed attempt with its error (file, row, column and rule for bad input)."""
        self.ledger.record(self.entry(**fields), status="failed", error=str(error))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.job!r}, {self.item!r}, {self.run_date})"


def file_item(name: str, size: int, mtime: int) -> str:
    """The ledger item of a file seen once: its name, size and mtime (a replaced file is new)."""
    return f"{name}|{size}|{mtime}"


class LedgerItemTarget(LedgerTarget):
    """Done when the ledger has a succeeded row for (job, item) on *any* run date, e.g. a remote
    file (keyed by name, size and mtime) that was pulled once; marked done under ``run_date``."""

    def exists(self) -> bool:
        return self.ledger.has_item(self.job, self.item)
