"""Two worker processes (standing in for two hosts) against one luigid run the same 05:00
slot: every task runs once, the ledger says which process ran what, and when one worker is
killed mid-slot the other carries on and a rerun finishes what the dead one held."""
from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time

import stack
from stack import free_port
from tests.luigid import child_config, start_luigid
from tests.ledger import ledger_rows

DAY = dt.date(2026, 11, 24)  # a Tuesday: Clever, SAVVAS, Ellevation (OTUS goes on Mondays)
ITEMS = {"push_clever": 6, "push_savvas": 1, "push_ellevation": 3}


def _worker(cfg: str, url: str, log) -> subprocess.Popen:
    env = dict(os.environ, LUIGI_CONFIG_PATH=cfg, PYTHONPATH=str(stack.ROOT), ETL_CLOCK=f"{DAY}T05:00:00-06:00")
    return subprocess.Popen([sys.executable, "-m", "pipelines", "--module", "pipelines.slots", "SftpOperations",
                             "--date", str(DAY), "--scheduler-url", url], cwd=stack.ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def _pushes(pg_settings):
    rows = []
    for job in ITEMS:
        rows += [(job, *r) for r in ledger_rows(pg_settings, "item, status, worker", job=job)]
    return rows


def test_two_workers_run_each_task_once_and_survive_one_killed(vendors, pg_settings, tmp_path):
    cfg = child_config(tmp_path, worker_disconnect_delay=3, retry_delay=1)
    port = free_port()
    luigid = start_luigid(tmp_path, cfg, port)
    url = f"http://127.0.0.1:{port}"
    try:
        # 1. both workers on the whole slot: each upload once, shared between them
        logs = [open(tmp_path / f"worker{i}.log", "wb") for i in (1, 2)]
        workers = [_worker(cfg, url, log) for log in logs]
        assert [w.wait(timeout=300) for w in workers] == [0, 0], (tmp_path / "worker1.log").read_text()
        rows = _pushes(pg_settings)
        assert sorted((job, n) for job, n in ITEMS.items()) == sorted(
            (job, len([r for r in rows if r[0] == job and r[2] == "succeeded"])) for job in ITEMS)
        assert all(r[2] == "succeeded" for r in rows)  # nothing ran twice, nothing failed
        ran_by = {r[3].split(":")[1] for r in rows}
        assert ran_by <= {str(w.pid) for w in workers}, ran_by  # the ledger says who sent each file
        done = [re.findall(r"\] Worker .* done +(.+)$", (tmp_path / f"worker{i}.log").read_text(), re.M) for i in (1, 2)]
        assert all(done), "each worker ran part of the slot"
        assert len(done[0]) + len(done[1]) == len(set(done[0]) | set(done[1]))  # and no task ran twice

        # 2. the next day's slot: one worker killed (kill -9) once it has sent something
        nxt = DAY + dt.timedelta(days=1)
        global_day = nxt
        env_day = f"{global_day}T05:00:00-06:00"
        procs = []
        for i in (1, 2):
            env = dict(os.environ, LUIGI_CONFIG_PATH=cfg, PYTHONPATH=str(stack.ROOT), ETL_CLOCK=env_day)
            procs.append(subprocess.Popen([sys.executable, "-m", "pipelines", "--module", "pipelines.slots",
                                           "SftpOperations", "--date", str(nxt), "--scheduler-url", url],
                                          cwd=stack.ROOT, env=env, stdout=open(tmp_path / f"day2-{i}.log", "wb"),
                                          stderr=subprocess.STDOUT))
        victim, survivor = procs
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            mine = [r for r in _pushes(pg_settings) if r[3] and r[3].endswith(f":{victim.pid}")
                    and r[2] == "succeeded" and r not in rows]
            if mine or victim.poll() is not None:
                break
            time.sleep(0.05)
        assert victim.poll() is None, "the worker to kill ended before it sent anything"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivor.wait(timeout=300)
        # whatever the dead worker held is done by a rerun (cron's next run, or the operator)
        env = dict(os.environ, LUIGI_CONFIG_PATH=cfg, PYTHONPATH=str(stack.ROOT), ETL_CLOCK=env_day)
        rerun = subprocess.run([sys.executable, "-m", "pipelines", "--module", "pipelines.slots", "SftpOperations",
                                "--date", str(nxt), "--scheduler-url", url], cwd=stack.ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout[-3000:]
        day2 = ledger_rows(pg_settings, "job_name, item, status, run_date, worker")
        for job, n in ITEMS.items():
            done = [r for r in day2 if r[0] == job and r[3] == nxt and r[2] == "succeeded"]
            assert len(done) == n, (job, done)  # each once, whoever sent it
        runs = [r for r in day2 if r[0] == "run" and r[3] == nxt]
        killed = [r for r in runs if r[4].endswith(f":{victim.pid}")]
        assert killed and killed[0][2] == "failed"  # the killed worker's run: reaped by the rerun
    finally:
        luigid.send_signal(signal.SIGTERM)
        luigid.wait(timeout=30)
