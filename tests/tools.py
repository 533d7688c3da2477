"""Running one of our commands (``./run.sh simulate``, ``./run.sh bench ...``) from a test, so that
a run which hangs says where: past its timeout it is asked for its threads' stacks (SIGUSR2, see
targets/logdb.py), interrupted (its ``finally`` stops its private stack), killed if need be, and
the test fails with the end of its output and of its run log, stacks included."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipelines.base import ROOT

CLEAN_ENV = ("LUIGI_CONFIG_PATH", "ETL_SECRETS_ENV", "ETL_CLOCK", "ETL_FAULT_AT", "ETL_FAULT_LOG")


def run_tool(args: list[str], *, timeout: float, log: Path | None = None, env: dict[str, str] | None = None,
             program: str = str(ROOT / "run.sh")) -> subprocess.CompletedProcess:
    """``./run.sh *args`` in a clean environment; the completed process, or a failed test after
    ``timeout`` seconds (keep it under pytest's own timeout so that this, not pytest, reports)."""
    env = env or {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    proc = subprocess.Popen([program, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR2)  # the stacks, into its run log (or stderr)
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        tail = log.read_text(errors="replace")[-12000:] if log is not None and log.exists() else "(no run log)"
        pytest.fail(f"{Path(program).name} {' '.join(args)} did not end within {timeout:.0f}s\n--- stdout\n{out[-4000:]}\n"
                    f"--- stderr\n{err[-4000:]}\n--- run log {log}\n{tail}", pytrace=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
