"""Run log: every log record of a run goes to ``dba.tLogEntry``, or to a CSV file while
PostgreSQL is unreachable, replayed into the table on the next successful connection.

Each record carries the invocation's run_uuid, a step counter, the user, the process type and
the step and total runtimes. A formatter redacts registered secrets and DSN passwords from
every line, whatever handler writes it.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import faulthandler
import getpass
import glob
import io
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import psycopg2
from psycopg2.extras import execute_values

from targets.config import known_secrets
from targets.process import run_uuid
from targets.postgres import PostgresSettings

FIELDS = ["logged_at", "run_uuid", "process_type", "pid", "stepcounter", "username", "step_runtime",
          "total_runtime", "level", "message"]
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*('[^']*'|\S+)")


def redact(text: str) -> str:
    """Hide registered secret values and anything that looks like a password in a DSN."""
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, "***")
    text = _DSN_PASSWORD.sub(r"\1***@", text)
    return _KV_PASSWORD.sub(r"\1=***", text)


class RedactingFormatter(logging.Formatter):
    """Secrets redacted; times with their zone (the machine's local time, e.g. ``CST``), so a
    line read by an operator in another zone is not an hour off."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = self.converter(record.created)
        return f"{time.strftime('%Y-%m-%d %H:%M:%S', moment)},{int(record.msecs):03d} {time.strftime('%Z', moment)}"


class LogEntryHandler(logging.Handler):
    """Writes records to dba.tLogEntry; falls back to ``<fallback_dir>/tLogEntry-fallback.csv``.

    The handler owns its own autocommit connection, so log rows never join (or roll back with)
    a data transaction. After a failed connection it waits ``retry_after`` seconds before trying
    again, so a database outage costs one connect timeout, not one per line.
    """

    def __init__(self, settings: PostgresSettings, process_type: str, fallback_dir: str | os.PathLike,
                 retry_after: float = 30.0, connect_timeout: int = 3, level: int = logging.INFO):
        super().__init__(level)
        self.settings = settings
        self.process_type = process_type
        self.fallback_dir = Path(fallback_dir)
        self.retry_after = retry_after
        self.connect_timeout = connect_timeout
        self.username = getpass.getuser()
        self.started = time.time()
        self._last = self.started
        self._step = 0
        self._conn = None
        self._pid = os.getpid()
        self._inherited: list = []  # a parent's connections, never used nor closed here
        self._down_until = 0.0
        self._local = threading.local()
        self.setFormatter(RedactingFormatter("%(name)s: %(message)s"))

    @property
    def fallback_file(self) -> Path:
        return self.fallback_dir / "tLogEntry-fallback.csv"

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False):
            return  # a record logged while we write one (e.g. by a driver) is not logged again
        self._local.busy = True
        try:
            with self.lock:
                self._own_process()
                self._step += 1
                row = {
                    "logged_at": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
                    "run_uuid": str(run_uuid()), "process_type": self.process_type,
                    "pid": self._pid, "stepcounter": self._step, "username": self.username,
                    "step_runtime": round(record.created - self._last, 6),
                    "total_runtime": round(record.created - self.started, 6),
                    "level": record.levelname, "message": self.format(record)[:10000],
                }
                self._last = record.created
                if not self._write_db([row]):
                    self._write_fallback(row)
                elif self.fallback_file.exists():  # e.g. lines logged before the table existed
                    self._replay()
        except Exception:  # a logging failure must never break the run it describes
            self.handleError(record)
        finally:
            self._local.busy = False

    def _own_process(self) -> None:
        """In a process forked from the one that made the handler (``--workers N``): its lines
        are numbered from 1 under its own pid, on a connection of its own. The parent's
        connection is kept, unused: closing it here would end the parent's session."""
        if self._pid == os.getpid():
            return
        self._pid, self._step, self._down_until = os.getpid(), 0, 0.0
        if self._conn is not None:
            self._inherited.append(self._conn)
            self._conn = None

    def _connection(self):
        if self._conn is not None and self._conn.closed == 0:
            return self._conn
        if time.monotonic() < self._down_until:
            return None
        try:
            self._conn = self.settings.connect(connect_timeout=self.connect_timeout,
                                               application_name="district-etl-log")
            self._conn.autocommit = True
        except psycopg2.OperationalError:
            self._conn = None
            self._down_until = time.monotonic() + self.retry_after
            return None
        self._replay()
        return self._conn

    def _write_db(self, rows: list[dict]) -> bool:
        conn = self._connection()
        if conn is None:
            return False
        try:
            with conn.cursor() as cur:
                execute_values(cur, "INSERT INTO dba.tlogentry (" + ", ".join(FIELDS) + ") VALUES %s"
                               " ON CONFLICT DO NOTHING",
                               [tuple(r.get(f) or 0 if f == "pid" else r[f] for f in FIELDS) for r in rows])
            return True
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self._conn = None
            self._down_until = time.monotonic() + self.retry_after
            return False
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn):
            return False  # not migrated yet: keep the rows in the fallback file

    def _write_fallback(self, row: dict) -> None:
        self.fallback_dir.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=FIELDS)
        new = not self.fallback_file.exists()
        if not new and not self._same_header():  # written by an older version: replayed on its own
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.fallback_file, f"{self.fallback_file}.replaying-{os.getpid()}-{time.time_ns()}")
            new = True
        if new:
            writer.writeheader()
        writer.writerow(row)
        fd = os.open(self.fallback_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o660)
        try:
            os.fchmod(fd, 0o660)
            os.write(fd, buf.getvalue().encode("utf-8"))  # one write: appends from processes interleave whole
        finally:
            os.close(fd)

    def _same_header(self) -> bool:
        try:
            with open(self.fallback_file, encoding="utf-8") as fh:
                return fh.readline().strip() == ",".join(FIELDS)
        except FileNotFoundError:
            return True

    def _replay(self) -> None:
        """Move the fallback file aside (only one process wins) and insert its rows."""
        pending = sorted(glob.glob(str(self.fallback_dir / "tLogEntry-fallback.csv.replaying-*")))
        if self.fallback_file.exists():
            claimed = f"{self.fallback_file}.replaying-{os.getpid()}-{time.time_ns()}"
            try:
                os.rename(self.fallback_file, claimed)
                pending.append(claimed)
            except FileNotFoundError:
                pass
        for path in pending:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.DictReader(fh) if r.get("run_uuid")]
            if rows and not self._write_db(rows):
                return  # keep the file for the next successful connection
            os.unlink(path)


def _stacks_on_request(stream) -> None:
    """``kill -USR2 PID`` writes every thread's stack (file, line, function: no data) to the run
    log, or to stderr without one: where a stuck run waits, without stopping it. USR2 because
    Luigi's worker takes USR1 (stop scheduling new tasks)."""
    if hasattr(signal, "SIGUSR2") and threading.current_thread() is threading.main_thread():
        faulthandler.register(signal.SIGUSR2, file=stream, all_threads=True)


def setup_logging(process_type: str, level: int = logging.INFO, to_database: bool = True,
                  run_log: str | os.PathLike | None = None, section: str = "postgres") -> None:
    """Console (redacted) plus dba.tLogEntry with CSV fallback, for one run of the pipelines
    (``section``: the database whose tLogEntry it is, e.g. ``feeds_db`` for the Feeds ETL).

    With ``run_log`` (``./run.sh luigi`` names one per run) every record goes to that file and
    the console shows only warnings and errors: cron and terminals stay quiet, the details are
    in the file."""
    root = logging.getLogger()
    root.setLevel(level)
    fmt = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    if run_log:
        Path(run_log).parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(run_log, encoding="utf-8")
        to_file.setFormatter(fmt)
        root.addHandler(to_file)
        console.setLevel(logging.WARNING)
    root.addHandler(console)
    _stacks_on_request(to_file.stream if run_log else sys.stderr)
    if not to_database:
        return
    from targets.config import Section
    from targets.errors import ConfigError
    try:
        settings = PostgresSettings.from_config(section)
        fallback = Section("etl").path("log_fallback_dir", default="log-fallback")
    except ConfigError as e:
        logging.getLogger(__name__).warning("run log not written to PostgreSQL: %s", e)
        return
    root.addHandler(LogEntryHandler(settings, process_type, fallback))
