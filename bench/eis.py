"""The EIS cohort scrape against the stand-in, with one browser and with two in parallel:

    ./run.sh bench eis [--students 5000] [--chunk 100]

A private stack (PostgreSQL for the ledger, the EIS stand-in) and a student list of
``--students`` ids; ``EisCohortTracking`` is run in its own process twice, for two dates (so
nothing is reused): with ``--workers 1`` (one browser session) and with ``--workers 2`` (two
sessions, one per worker). Wall time, students per minute, and the peak memory (PSS, so
shared pages count once) of the whole process tree (Python, chromedriver and Chromium),
sampled every 0.2 s. The last lines are
``eis_students_per_min=X`` (one browser) and ``eis_parallel_speedup=Y`` (goal ≥ 1.6 on two
cores).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

import stack


def _tree_rss(pid: int) -> int:
    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:  # PSS: shared pages split among the processes that share them (RSS would count them twice)
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


LOGS = stack.ROOT / "logs" / "bench"


def _run(var: Path, day: dt.date, workers: int, env: dict) -> tuple[float, float, int]:
    """(seconds, peak MB of the process tree, exit status) of one scrape; its run log is kept in
    ``logs/bench/eis-<workers>.log``."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"eis-{workers}.log"
    log.unlink(missing_ok=True)
    env = dict(env, ETL_RUN_LOG=str(log))
    cmd = [sys.executable, "-m", "pipelines", "--module", "pipelines.eis", "EisCohortTracking", "--date",
           day.isoformat(), "--local-scheduler", "--workers", str(workers)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=stack.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, done = 0, threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    return time.monotonic() - started, peak / 1e6, code


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=5000)
    ap.add_argument("--chunk", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eis-") as tmp:
        var = Path(tmp) / "var"
        stack.up(var, with_bigquery=False, dps_standin=False)
        try:
            students = Path(tmp) / "students.csv"
            with open(students, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["student"])
                w.writerows([f"S{200000 + i}"] for i in range(args.students))
            cfg = var / "luigi.cfg"
            text = cfg.read_text().replace("chunk_size = 50", f"chunk_size = {args.chunk}\nstudents_file = {students}")
            text = text.replace(f"evidence_dir = {var / 'log' / 'eis'}", f"evidence_dir = {LOGS / 'eis-evidence'}")
            cfg.write_text(text)
            env = dict(os.environ, PYTHONPATH=str(stack.ROOT), **stack.config_env(var))
            env.pop("ETL_CLOCK", None)
            one = _run(var, dt.date(2026, 11, 2), 1, env)
            two = _run(var, dt.date(2026, 11, 3), 2, env)
        finally:
            stack.down(var)
    for label, (seconds, mb, code) in (("one browser ", one), ("two browsers", two)):
        print(f"{label}: {args.students:,} students in {seconds:6.1f} s = {args.students * 60 / seconds:7.0f} "
              f"students/min, peak {mb:5.0f} MB (process tree, PSS), exit {code}")
    for workers, (_, _, code) in ((1, one), (2, two)):
        if code:
            print(f"the run with {workers} browser(s) failed: see {LOGS / f'eis-{workers}.log'}")
    print(f"eis_students_per_min={args.students * 60 / one[0]:.0f}")
    print(f"eis_parallel_speedup={one[0] / two[0]:.2f}")
    return 0 if one[2] == two[2] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
