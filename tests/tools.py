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
    return finish_tool(start_tool(args, env=env, program=program), timeout=timeout, log=log)


def start_tool(args: list[str], *, env: dict[str, str] | None = None, program: str = str(ROOT / "run.sh"),
               output: Path | None = None) -> subprocess.Popen:
    """``./run.sh *args`` started in a clean environment (``finish_tool`` waits for it). With
    ``output``, its stdout and stderr go to ``output``.out/.err, not pipes, so that a tool
    started early and read much later never blocks on a full pipe."""
    env = env or {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    out = err = subprocess.PIPE
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        out, err = open(f"{output}.out", "w"), open(f"{output}.err", "w")
    proc = subprocess.Popen([program, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=err, text=True, start_new_session=True)
    proc.output = output
    return proc


def finish_tool(proc: subprocess.Popen, *, timeout: float, log: Path | None = None) -> subprocess.CompletedProcess:
    """Wait for a started tool (see ``run_tool``)."""
    def read(wait: float):
        if proc.output is None:
            return proc.communicate(timeout=wait)
        proc.wait(timeout=wait)
        return (Path(f"{proc.output}.out").read_text(errors="replace"),
                Path(f"{proc.output}.err").read_text(errors="replace"))
    try:
        out, err = read(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR2)  # the stacks, into its run log (or stderr)
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = read(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            out = err = "(killed)"
        tail = log.read_text(errors="replace")[-12000:] if log is not None and log.exists() else "(no run log)"
        what = f"{Path(proc.args[0]).name} {' '.join(proc.args[1:])}"
        pytest.fail(f"{what} did not end within {timeout:.0f}s\n--- stdout\n{out[-4000:]}\n"
                    f"--- stderr\n{err[-4000:]}\n--- run log {log}\n{tail}", pytrace=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
