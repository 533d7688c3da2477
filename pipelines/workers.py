"""What running a night on several workers needs (``--workers N``, or workers on several
hosts asking one luigid; docs/operations.md): per-server SFTP session limits as Luigi
resources, the worker count from luigi.cfg, a task handed to a worker when it is already
complete is not run again, and a run whose remaining tasks other workers ran ends 0.
"""
from __future__ import annotations

import logging
import os
import socket

import luigi
import luigi.worker

from targets.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_MAX_SESSIONS = 2


def sftp_sessions(*servers: str) -> dict[str, int]:
    """A task's Luigi resources while it holds an SFTP session to each of ``servers``: with
    ``--workers N`` the scheduler runs at most ``[sftp_<server>] max_sessions`` of them at once
    (``apply_session_limits``)."""
    return {f"sftp_{server}": 1 for server in servers}


def apply_session_limits(config=None) -> dict[str, int]:
    """Each ``[sftp_<server>]``'s ``max_sessions`` (default 2) as the scheduler's
    ``[resources] sftp_<server>``, unless ``[resources]`` names it already; returns the
    limits. Called by ``python -m pipelines`` (the local scheduler) and ``./run.sh
    scheduler`` (luigid): the limits hold for every worker that asks the same scheduler."""
    config = config or luigi.configuration.get_config()
    limits = {}
    for section in config.sections():
        if section.startswith("sftp_"):
            key = section  # the resource is named as the section: sftp_<server>
            if config.has_option("resources", key):
                limits[key] = config.getint("resources", key)
                continue
            value = config.get(section, "max_sessions", fallback=str(DEFAULT_MAX_SESSIONS))
            try:
                limits[key] = max(1, int(value))
            except ValueError:
                raise ConfigError(f"[{section}] max_sessions must be a whole number, got {value!r}") from None
            if not config.has_section("resources"):
                config.add_section("resources")
            config.set("resources", key, str(limits[key]))
    return limits


def cpu_slot() -> dict[str, int]:
    """The resources of a task that keeps a core busy (a vendor file's check): one of this
    host's cores, ``cpu_<host>`` (``apply_cpu_limit``)."""
    return {f"cpu_{socket.gethostname().split('.')[0]}": 1}


def apply_cpu_limit(config=None) -> int:
    """``[resources] cpu_<host>`` = this host's cores, unless set: with ``--workers N`` above
    the cores, the CPU-bound tasks never outnumber them (more would share the cores, each
    slower, and the longest chain later) while exports and uploads, which wait on servers,
    take the other workers. luigid knows a host's cores only from its own ``[resources]``
    (unset there: one such task at a time per host). Returns the limit."""
    config = config or luigi.configuration.get_config()
    key = next(iter(cpu_slot()))
    if config.has_option("resources", key):
        return config.getint("resources", key)
    if not config.has_section("resources"):
        config.add_section("resources")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    config.set("resources", key, str(cores))
    return cores


def apply_worker_count(config=None) -> None:
    """``[worker] workers = N`` as Luigi's own ``[core] workers`` (tasks of a run at once, each
    in a process of its own); ``--workers N`` on the command line still wins."""
    config = config or luigi.configuration.get_config()
    if config.has_option("worker", "workers"):
        if not config.has_option("core", "workers"):
            config.set("core", "workers", config.get("worker", "workers"))
        config.remove_option("worker", "workers")  # Luigi's [worker] has no such setting: it would warn


_skipping = False


def skip_done() -> None:
    """A task is run only if it is not complete when its worker starts it. luigid hands a task
    again when the worker that ran it died before saying so (killed after its ledger row was
    written): run again, it would send the file a second time. Luigi checks the task's
    dependencies then, not the task itself."""
    global _skipping
    if _skipping:
        return
    run = luigi.worker.TaskProcess._run_get_new_deps

    def run_unless_done(process):
        try:
            done = process.task.complete()
        except Exception:  # let run() meet the problem, as before
            done = False
        if done:
            logger.info("%s is complete already (another worker finished it); not run again", process.task)
            return []
        return run(process)

    luigi.worker.TaskProcess._run_get_new_deps = run_unless_done
    _skipping = True


def done_by_others(task) -> bool:
    """Tasks this worker was not given (another worker, on this host or another, held them)
    left the run "not run" (exit 25); if the run's task is complete now, the run did its part
    and the slot is done: exit 0 (the ledger says which worker sent what)."""
    try:
        if task is not None and task.complete():
            logger.info("%s is complete: other workers ran the rest", task.task_family)
            return True
    except Exception as e:  # the question failed: keep the exit status luigi gave
        logger.warning("could not check whether %s is complete: %s", task.task_family, e)
    return False
