"""The 05:00 slot at district scale: a 50,000-student synthetic district on a private embedded
stack; the slot (Clever, SAVVAS, Ellevation, OTUS on a Monday) runs once, then again.

    ./run.sh bench nightly [--students 50000]

Setup (not timed): seed, load into the BigQuery emulator, deploy the views. Timed: the slot
as cron runs it (``python -m pipelines --module pipelines.slots SftpOperations``, a fresh
process), then the same command again. Last lines: ``slot_0500_seconds=X`` and
``noop_rerun_seconds=Y`` (goal < 3 s); the rerun's SSH connections are counted from the
SFTP server's log (goal: at most one per server).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stack
from stack import ROOT

MONDAY = dt.date(2026, 11, 23)


def _env(var: Path) -> dict:
    # The runs play MONDAY (pushes send only today's data).
    return dict(os.environ, PYTHONPATH=str(ROOT), ETL_CLOCK=f"{MONDAY}T05:00:00-06:00", **stack.config_env(var))


def _luigi(var: Path, module: str, task: str, *extra: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines", "--module", module, task, "--local-scheduler",
                           *extra], cwd=ROOT, env=_env(var),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-4000:])
        raise SystemExit(f"{task} failed (exit {proc.returncode})")
    return seconds


def _ssh_connections(var: Path) -> int:
    log = var / "log" / "servers.log"
    return len(re.findall(r"Accepted SSH client connection", log.read_text(errors="replace"))) if log.exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=50_000)
    args = ap.parse_args()
    from stack.district import generate, generate_merge_inputs
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp:
        var = Path(tmp) / "var"
        stack.up(var, with_bigquery=True)
        try:
            t0 = time.perf_counter()
            data = var / "data"
            counts = generate(data / "powerschool_combined", students=args.students, today=MONDAY,
                              idm_file=data / "powerschool_combined" / "clever_idm_students.csv")
            generate_merge_inputs(data)
            _luigi(var, "pipelines.warehouse", "BigQueryOperations", "--date", MONDAY.isoformat())
            _luigi(var, "pipelines.views", "DeployViews")
            print(f"setup: {args.students:,} students, {counts['enrollments.csv']:,} enrollments, "
                  f"{counts['attendance.csv']:,} attendance rows loaded in {time.perf_counter() - t0:.1f}s")
            slot = _luigi(var, "pipelines.slots", "SftpOperations", "--date", MONDAY.isoformat())
            sent = sorted(str(p.relative_to(var / "sftp" / "root")) for p in (var / "sftp" / "root").rglob("*")
                          if p.is_file() and any(s in str(p) for s in ("/clever/", "/savvas/SIS", "/ellevation/",
                                                                          "/otus/")))
            print(f"05:00 slot: {slot:.1f}s, sent {len(sent)} files: {', '.join(sent)}")
            before = _ssh_connections(var)
            rerun = _luigi(var, "pipelines.slots", "SftpOperations", "--date", MONDAY.isoformat())
            ssh = _ssh_connections(var) - before
            print(f"no-op rerun: {rerun:.2f}s, {ssh} SSH connections opened (0 = every output answered by "
                  f"the ledger, one query per vendor)")
            print(f"slot_0500_seconds={slot:.1f}")
            print(f"noop_rerun_seconds={rerun:.2f}")
        finally:
            stack.down(var)
    return 0


if __name__ == "__main__":
    sys.exit(main())
