"""A luigid of a test's own, and the test's configuration written out for processes of their
own (workers, luigid): the fixtures' changes included."""
from __future__ import annotations

import os
import subprocess
import sys

import luigi.configuration

import stack
from stack import wait_port


def child_config(tmp_path, **scheduler) -> str:
    """This test's configuration (the fixtures' changes included) for processes of their own."""
    config = luigi.configuration.get_config()
    for key, value in scheduler.items():
        config.set("scheduler", key, str(value))
    # the several-hosts shape (docs/operations.md): a worker waits while another runs what its
    # next task needs, for at most a minute without work of its own
    config.set("worker", "keep_alive", "true")
    config.set("worker", "max_keep_alive_idle_duration", "60 seconds")
    path = tmp_path / "child.cfg"
    with open(path, "w") as fh:
        config.write(fh)
    return str(path)


def start_luigid(tmp_path, cfg: str, port: int) -> subprocess.Popen:
    var = tmp_path / "luigid-var"
    var.mkdir(exist_ok=True)
    env = dict(os.environ, ETL_VAR=str(var), PYTHONPATH=str(stack.ROOT), LUIGI_CONFIG_PATH=cfg)
    env.pop("ETL_SCHEDULER_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "ops.scheduler", "--port", str(port), "--logdir", str(var / "logs")],
                            cwd=stack.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_port(port, 20, "luigid", var / "logs" / "luigid.log")
    return proc
