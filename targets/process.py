"""Who is running: this process as the ledger names it (``host:pid``, ``pid.start``), whether a
process a run row names still lives, and the run id that ledger rows and log entries share."""
from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

_HOST = socket.gethostname().split(".")[0]


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot; Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_id() -> str:
    """This process as the ledger's run rows name it: ``pid.start`` (a reused pid is another process)."""
    start = _start_ticks(os.getpid())
    return f"{os.getpid()}.{start}" if start else str(os.getpid())


def worker() -> str:
    """Who writes a ledger row: ``host:pid`` (with ``--workers N`` each task has a process of its
    own; workers on several hosts share the ledger)."""
    return f"{_HOST}:{os.getpid()}"


def process_alive(ident: str) -> bool:
    """Whether the process a run row names (``pid`` or ``pid.start``) still runs on this machine."""
    pid, _, start = ident.partition(".")
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return not start or _start_ticks(int(pid)) in (None, start)

_run_uuid: uuid.UUID | None = None


def new_run() -> uuid.UUID:
    """Start a new run id (several runs in one process, e.g. ./run.sh simulate)."""
    global _run_uuid
    _run_uuid = uuid.uuid4()
    return _run_uuid


def run_uuid() -> uuid.UUID:
    """One id per process invocation, shared by ledger rows and log entries."""
    global _run_uuid
    if _run_uuid is None:
        _run_uuid = uuid.uuid4()
    return _run_uuid
