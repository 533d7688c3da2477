"""What running a night on several workers needs (``--workers N``, or workers on several
hosts asking one luigid; docs/operations.md): per-server SFTP session limits as Luigi
resources, the worker count from luigi.cfg, a task handed to a worker when it is already
complete is not run again, and a run whose remaining tasks other workers ran ends 0.
"""
from __future__ import annotations

import logging

import luigi

from targets.errors import ConfigError
from targets.luigi_patches import run_only_if_not_done

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


def apply_worker_count(config=None) -> None:
    """An older config's ``[worker] workers = N`` as Luigi's own ``[core] workers`` (tasks of a
    run at once, each in a process of its own; luigi.cfg sets the default there now, so a
    district's overlay that still says [worker] wins over it); ``--workers N`` on the command
    line still wins."""
    config = config or luigi.configuration.get_config()
    if config.has_option("worker", "workers"):
        config.set("core", "workers", config.get("worker", "workers"))
        config.remove_option("worker", "workers")  # Luigi's [worker] has no such setting: it would warn


def skip_done() -> None:
    """A task is run only if it is not complete when its worker starts it: luigid hands a
    task again when the worker that ran it died before saying so (killed after its ledger row
    was written), and run again it would send the file a second time (targets/luigi_patches.py)."""
    run_only_if_not_done(logger)


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
