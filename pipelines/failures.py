"""Every failure recorded and told. For any task that fails (``run()`` raised) or cannot even
be scheduled (``complete()`` or ``requires()`` raised: a server down, a changed host key), a
``failed`` ledger row with the task's job, item, date and the error's class and message (ids,
file names and rules only, secrets redacted). The row is keyed like the task's own ledger
target when it has one, so the success row of a rerun ends it in ``./run.sh status``; a task
without one is keyed by its family and parameters, and its next success marks the failure
``superseded``. At the end of a run with failures, one mail to ``[smtp] operators``
lists them with the command that reruns the run: one mail per run, never one per task.

``python -m pipelines`` (``./run.sh luigi``) and ``./run.sh simulate`` use it:
``with RunReport(command) as report: ...luigi runs...``.
"""
from __future__ import annotations

import datetime as dt
import logging
import os

import luigi
import luigi.configuration

from pipelines.base import today
from targets.config import with_district
from targets.errors import EtlError
from targets.luigi_patches import on_complete_error
from targets.logdb import redact
from targets.ledger import Ledger, LedgerEntry, LedgerTarget
from targets.process import new_run, run_uuid
from targets.runs import RunTracker
from targets.smtp import Mailer

logger = logging.getLogger(__name__)

_current: "RunReport | None" = None
_installed = False
_runs = 0  # runs reported in this process
MAX_ERROR = 600  # characters of an error kept in the ledger and the mail


def _ledger_output(task: luigi.Task) -> LedgerTarget | None:
    """The ledger target a task's failure is recorded under: the one its ``failure_target()``
    names (a step whose failure is its chain's, e.g. a feed file's conversion), else its own."""
    try:
        named = getattr(task, "failure_target", None)
        outputs = [named()] if named is not None else luigi.task.flatten(task.output())
    except Exception:  # the output itself may be what failed (config, an unreachable server)
        outputs = []
    return next((out for out in outputs if isinstance(out, LedgerTarget)), None)


def _ledger_of(task: luigi.Task) -> Ledger:
    """The ledger a task's rows go to: its target's (the Feeds database keeps its own)."""
    out = _ledger_output(task)
    return out.ledger if out is not None else Ledger.of()


def failure_key(task: luigi.Task) -> tuple[str, str, dt.date]:
    """(job, item, run date) a task's failure is recorded under: its ledger target's key when
    it has one (its success then shows the failure is over), else its family and parameters."""
    out = _ledger_output(task)
    if out is not None:
        return out.job, out.item, out.run_date
    date = getattr(task, "date", None)
    params = {k: v for k, v in task.to_str_params(only_significant=True).items() if k not in ("date", "district")}
    item = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "-"
    return task.task_family, item, date if isinstance(date, dt.date) else today()


def error_text(e: BaseException) -> str:
    """Class and message, redacted and bounded; our own errors carry ids and rules, never rows."""
    text = redact(f"{type(e).__name__}: {e}").replace("\n", " ")
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


class RunReport:
    """One run's failures: ledger rows as they happen, one mail at the end."""

    def __init__(self, command: str, log: str | None = None, mail: bool = True):
        self.command, self.log, self.mail = command, log, mail
        self.failed: list[tuple[str, str, dt.date, str]] = []

    def __enter__(self) -> "RunReport":
        global _current, _runs
        _install()
        # Fixed before any worker forks, so every ledger row and log entry of the run shares
        # it: the process's own id for its first run, a new one for each later run (simulate).
        new_run() if _runs else run_uuid()
        _runs += 1
        _current = self
        return self

    def __exit__(self, *exc) -> None:
        global _current
        _current = None
        if self.failed and self.mail:
            self._send_mail()

    def task_failed(self, task: luigi.Task, e: BaseException | str) -> None:
        job, item, day = failure_key(task)
        error = error_text(e) if isinstance(e, BaseException) else e
        self.failed.append((job, item, day, error))
        try:
            _ledger_of(task).record_failure_once(LedgerEntry(job, item, day, direction="task"), error)
        except (EtlError, OSError) as le:  # the ledger is down too: the mail and the log still say it
            logger.error("could not record the failure of %s in the ledger: %s", task.task_id, le)

    def task_succeeded(self, task: luigi.Task) -> None:
        if _ledger_output(task) is not None and getattr(task, "failure_target", None) is None:
            return  # its own success row follows the failed one: both stay, status sees the success
        job, item, day = failure_key(task)
        try:
            _ledger_of(task).supersede_failures(job, item, day)
        except (EtlError, OSError) as le:
            logger.warning("could not mark earlier failures of %s superseded: %s", task.task_id, le)

    def _send_mail(self) -> None:
        try:
            rows = RunTracker(Ledger.of()).run_failures(str(run_uuid()))
            failed = [(r["job_name"], r["item"], r["run_date"], r["error"]) for r in rows]
        except (EtlError, OSError):
            failed = []
        # this process's own failures, also those in another ledger (the Feeds database's)
        failed += [f for f in self.failed if f[:3] not in {g[:3] for g in failed}]
        lines = [f"{len(failed)} failed in: {self.command}", ""]
        lines += [f"- {job} {item} ({day}): {error}" for job, item, day, error in failed]
        lines += ["", "Fix the cause, then run the same command again; it resumes where it failed:",
                  f"  {self.command}"]
        if self.log:
            lines += ["", f"Run log: {self.log}"]
        lines += ["", "./run.sh status shows what is still failing."]
        try:
            Mailer.from_config().send(f"FAILED: {self.command} ({len(failed)} failed)",
                                      with_district("\n".join(lines)))
        except (EtlError, OSError) as me:
            logger.error("the failure mail could not be sent: %s", me)


def _install() -> None:
    """Luigi's event handlers are global: install ours once per process."""
    global _installed
    if _installed:
        return

    def failed(task, exception):
        if _current is not None:
            _current.task_failed(task, exception)

    def succeeded(task):
        if _current is not None:
            _current.task_succeeded(task)

    luigi.Task.event_handler(luigi.Event.FAILURE)(failed)
    luigi.Task.event_handler(luigi.Event.BROKEN_TASK)(failed)
    luigi.Task.event_handler(luigi.Event.SUCCESS)(succeeded)

    # An exception in complete() (a server down, a changed host key) reaches no event with the
    # exception (targets/luigi_patches.py): recorded too (tests/test_run_sh.py).
    def complete_error(task, formatted_traceback):
        if _current is not None:
            _current.task_failed(task, traceback_error(formatted_traceback))

    on_complete_error(complete_error)
    _installed = True


def traceback_error(formatted_traceback: str) -> str:
    """``Class: message`` from a formatted traceback's last line, redacted and bounded."""
    last = next((line for line in reversed(formatted_traceback.strip().splitlines()) if line.strip()), "")
    name, sep, message = last.partition(": ")
    text = redact(f"{name.rsplit('.', 1)[-1]}{sep}{message}")
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


def command_line(argv: list[str]) -> str:
    """How an operator reruns this run."""
    # --district was taken out of argv (pipelines/__main__.py): with_district puts it after the command
    return with_district("./run.sh luigi " + " ".join(a for a in argv if a not in ("--local-scheduler",)))


def run_log() -> str | None:
    return os.environ.get("ETL_RUN_LOG") or None


# ---------------------------------------------------------------- the run's own row

def run_ledger_section() -> str:
    """Where the 'run' rows go: the main ledger, which ./run.sh status reads (the Feeds
    database only on a machine without one)."""
    return "postgres" if luigi.configuration.get_config().has_section("postgres") else "feeds_db"


def run_row(task: luigi.Task | None, argv: list[str]):
    """(ledger, row id) of this run's 'run' row, or None (not a task luigi would run, or the
    ledger is down: the run goes on; its failures are mailed)."""
    if task is None:
        return None
    try:
        runs = RunTracker(Ledger.of(run_ledger_section()))
        day = getattr(task, "date", None)
        return runs, runs.run_started(task.task_family, day if day is not None else today(), command_line(argv))
    except Exception as e:
        logger.warning("this run is not in the ledger: %s", e)
        return None


def end_run_row(run, code: int, note: str | None = None) -> None:
    if run is None:
        return
    try:
        run[0].run_finished(run[1], code, note)
    except Exception as e:
        logger.warning("the end of this run is not in the ledger: %s", e)
