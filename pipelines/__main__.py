"""``python -m pipelines ARGS``: the luigi command line, with the project's logging installed
first (redacted console output, the run log named by ``ETL_RUN_LOG``, and the dba.tLogEntry
run log) and every failure recorded in the ledger and mailed once per run
(pipelines/failures.py). run.sh luigi calls this."""
import logging
import sys

import luigi.cmdline

from pipelines.failures import RunReport, command_line, run_log
from pipelines.pauses import paused_command
from targets.logdb import setup_logging


# The Feeds ETL's modules keep their run log (dba.tLogEntry) in the Feeds database, as their ledger.
FEEDS_MODULES = ("pipelines.feeds", "pipelines.feeds_weekly", "pipelines.meetmax")


def log_section(argv: list[str]) -> str:
    module = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--module"), "")
    return "feeds_db" if module in FEEDS_MODULES else "postgres"


def main(argv: list[str]) -> None:
    log = run_log()
    setup_logging(process_type="luigi " + " ".join(a for a in argv if not a.startswith("-"))[:200], run_log=log,
                  section=log_section(argv))
    message = paused_command(argv)
    if message is not None:  # a state the operator chose, not a failure: exit 0
        logging.getLogger("pipelines").warning("%s", message)
        sys.exit(0)
    run = started(argv)
    code = 40
    try:
        with RunReport(command_line(argv), log=log):
            luigi.cmdline.luigi_run(argv)
        code = 0
    except SystemExit as e:  # luigi_run always ends so, with the run's exit status
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        raise
    finally:
        if run is not None:
            try:
                run[0].run_finished(run[1], code)
            except Exception as e:
                logging.getLogger("pipelines").warning("the end of this run is not in the ledger: %s", e)


def started(argv: list[str]):
    """(ledger, row id) of this run's 'run' row, or None (not a task luigi would run, or the
    ledger is down: the run goes on; its failures are mailed)."""
    from pipelines.base import root_task, today
    from targets.postgres import PostgresClient
    task = root_task(argv)
    if task is None:
        return None
    try:
        client = PostgresClient.from_config(log_section(argv))
        day = getattr(task, "date", None)
        return client, client.run_started(task.task_family, day if day is not None else today(), command_line(argv))
    except Exception as e:
        logging.getLogger("pipelines").warning("this run is not in the ledger: %s", e)
        return None


if __name__ == "__main__":
    main(sys.argv[1:])
