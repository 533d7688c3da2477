"""Every ``./run.sh`` command in one table: what it runs, the config it needs, the venv it
needs, its arguments and its help line. run.sh keeps what must be shell (the venv, the config,
``luigi`` runs with their locks and logs, the tests, the stack, the locks) and hands every other
command here; its usage text and its unknown-command message are made from this table, and
tests/ops/test_commands.py checks the README's command table against it. A new operator
command is a module with ``main(argv)`` and a row here.

Run by the system's Python without the venv for ``need`` and ``usage`` (so this module imports
nothing of the project at its top), and by the venv's for ``run``:

    python3 -S ops/commands.py usage            the usage text
    python3 -S ops/commands.py need NAME        "VENV CONFIG" for run.sh, or the unknown-command message (exit 2)
    python -m ops.commands run NAME ARGS...     the command, its errors one line (ops.one_line_errors)
"""
from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    args: str  # as the usage shows them
    help: str
    module: str | None = None  # its main(argv); None: run.sh's own (shell)
    config: str = "required"  # required | optional (when one exists) | none
    venv: str = "runtime"  # runtime | dev
    verb: bool = False  # the module's main takes the command's name first (ops.verbs)


COMMANDS = [
    Command("demo", "[--students N]", "start the embedded stack, run the demo flows, print a summary", venv="dev"),
    Command("test", "[--fast] [PYTEST ARGS]", "the test suite (--fast: without the tests that need the stack)",
            venv="dev"),
    Command("luigi", "ARGS...", "luigi with the project's config (the cron form), one copy per task; "
                                "--from D1 --to D2: one run per day"),
    Command("stack", "up|down|status", "the embedded local stack (state under var/)", venv="dev"),
    Command("scheduler", "[stop]", "luigid (visualiser, history) on 127.0.0.1:8082, state under var/; stop ends it",
            "ops.scheduler", config="optional"),
    Command("status", "[--date D]", "what ran, what failed and what was sent (from the ledger)", "ops.status"),
    Command("clear", "JOB --date D [--item NAME]", "the next run redoes that job's day (ledger rows superseded)",
            "ops.verbs", verb=True),
    Command("resend", "VENDOR", "the files last pushed to a vendor, sent again (recorded as a resend)"),
    Command("pause", "[FLOW] [--reason TEXT]", "a paused flow's runs do nothing and exit 0 (no FLOW: list)",
            "ops.verbs", verb=True),
    Command("resume", "FLOW", "the flow runs again", "ops.verbs", verb=True),
    Command("prune", "[--dry-run]", "remove files older than their [retention] age (recorded)"),
    Command("check", "[--probe-uploads]", "the doctor: config, secrets, folders, SFTP, PostgreSQL, BigQuery, SMTP",
            "ops.check"),
    Command("cron", "[--plain] [--markdown]", "print the crontab (or the README's schedule) from schedule.toml",
            "ops.cron", config="optional"),
    Command("systemd", "[--user U] [--out DIR]", "systemd services and timers from schedule.toml (instead of cron)",
            "ops.systemd", config="optional"),
    Command("sftp-trust", "NAME [--yes]", "show an SFTP server's host key and record it on request",
            "ops.sftp_trust"),
    Command("validate", "VENDOR|oneroster PATH",
            "a vendor's rules on a folder (or zip) of files, or any OneRoster zip to the letter; exit 1 on a problem",
            "ops.validate", config="optional"),
    Command("diagrams", "[--check]", "docs/erd.md from the migrated database, docs/flows.md from the registries",
            "ops.diagrams"),
    Command("feeds-db", "init", "the Feeds database, its owner and application roles, schema dba (idempotent)",
            "ops.feeds_db"),
    Command("dropoff", "sshd-config", "the clients' upload-only SFTP accounts for OpenSSH (setup and sshd_config)",
            "ops.dropoff"),
    Command("feeds-watch", "", "the feeds watcher as a long-running process (watchdog) instead of cron",
            "ops.feeds_watch"),
    Command("simulate", "--start D --days N", "the schedule run day by day on a private stack, invariants checked",
            venv="dev"),
    Command("bench", "NAME", "a benchmark from bench/ (its last lines are its figures)", venv="dev"),
    Command("install", "[--dev]", "reinstall .venv from the locks (the runtime's; --dev: the tests' too)"),
    Command("lock", "[-P NAME]", "regenerate the hash-pinned requirements*.txt from requirements*.in (pip-tools)",
            venv="dev"),
    Command("audit", "[--strict]", "known vulnerabilities of the runtime pins (requirements.txt); CI runs it",
            "ops.audit", config="none"),
]
BY_NAME = {c.name: c for c in COMMANDS}


def usage() -> str:
    width = max(len(f"{c.name} {c.args}".strip()) for c in COMMANDS)
    lines = ["usage: ./run.sh COMMAND [ARGS] [--district NAME]", ""]
    lines += [f"  ./run.sh {f'{c.name} {c.args}'.strip():<{width}}  {c.help}" for c in COMMANDS]
    lines += ["", "--district NAME with any command: that district of several (its overlay districts/NAME.cfg",
              "read over luigi.cfg; ETL_DISTRICTS_DIR names another folder); see docs/operations.md."]
    return "\n".join(lines)


def unknown(name: str) -> str:
    return f"run.sh: unknown command '{name}' ({', '.join(c.name for c in COMMANDS)})"


def need(name: str) -> int:
    command = BY_NAME.get(name)
    if command is None or command.module is None:
        print(unknown(name), file=sys.stderr)
        return 2
    print(command.venv, command.config)
    return 0


def run(name: str, argv: list[str]) -> int:
    import importlib

    from ops import one_line_errors
    command = BY_NAME[name]
    main = importlib.import_module(command.module).main
    return one_line_errors(name, main)([name, *argv] if command.verb else argv)


def cli(argv: list[str]) -> int:
    if argv[:1] == ["usage"]:
        print(usage())
        return 0
    if len(argv) == 2 and argv[0] == "need":
        return need(argv[1])
    if len(argv) >= 2 and argv[0] == "run" and argv[1] in BY_NAME:
        return run(argv[1], argv[2:])
    print(__doc__.split("\n\n")[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
