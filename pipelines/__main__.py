"""``python -m pipelines ARGS``: the luigi command line, with the project's logging installed
first (redacted console output, the run log named by ``ETL_RUN_LOG``, and the dba.tLogEntry
run log) and every failure recorded in the ledger and mailed once per run
(pipelines/failures.py). run.sh luigi calls this."""
import logging
import sys

import luigi.cmdline
import luigi.retcodes

from pipelines import peaks
from pipelines.base import root_task, timezone
from pipelines.workers import apply_session_limits, apply_worker_count, done_by_others, skip_done
from pipelines.failures import RunReport, command_line, end_run_row, run_log, run_row
from pipelines.pauses import describe, pause_of
from targets import clock
from targets.config import use_district
from targets.errors import ConfigError
from targets.logdb import setup_logging


# The Feeds ETL's modules keep their run log (dba.tLogEntry) in the Feeds database, as their ledger.
FEEDS_MODULES = ("pipelines.feeds", "pipelines.feeds_weekly", "pipelines.meetmax")


def log_section(argv: list[str]) -> str:
    module = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--module"), "")
    return "feeds_db" if module in FEEDS_MODULES else "postgres"


def district_of(argv: list[str]) -> str | None:
    """``--district NAME`` (or ``--district=NAME``), anywhere on a luigi command line, taken
    out of it: the district whose overlay this process reads before any task is built, and so
    every task's ``district`` (its default)."""
    for i, a in enumerate(argv):
        if a == "--district" and i + 1 < len(argv):
            name = argv[i + 1]
            del argv[i:i + 2]
            return name
        if a.startswith("--district="):
            del argv[i]
            return a.split("=", 1)[1]
    return None


def main(argv: list[str]) -> None:
    name = district_of(argv)
    if name is not None:  # run.sh passes it as ETL_DISTRICT (targets/config.py reads that at import)
        try:
            use_district(name)
        except ConfigError as e:
            print(f"pipelines: {e}", file=sys.stderr)
            sys.exit(2)
    clock.use_zone(timezone())  # the run log's times, and Luigi's, are the district's
    log = run_log()
    setup_logging(process_type="luigi " + " ".join(a for a in argv if not a.startswith("-"))[:200], run_log=log,
                  section=log_section(argv))
    peaks.install()
    apply_session_limits()
    apply_worker_count()
    skip_done()
    task = root_task(argv)
    run = run_row(task, argv)
    pause = pause_of(task) if task is not None else None
    if pause is not None:  # a state the operator chose, not a failure: exit 0, and status shows it ran so
        message = f"{task.task_family}: {describe(*pause)}"
        logging.getLogger("pipelines").warning("%s", message)
        end_run_row(run, 0, f"paused: {pause[0]}")
        sys.exit(0)
    code = 40
    try:
        with RunReport(command_line(argv), log=log):
            luigi.cmdline.luigi_run(argv)
        code = 0
    except SystemExit as e:  # luigi_run always ends so, with the run's exit status
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        if code == luigi.retcodes.retcode().not_run and done_by_others(task):
            code = 0
            raise SystemExit(0) from None
        raise
    finally:
        end_run_row(run, code)


if __name__ == "__main__":
    main(sys.argv[1:])
