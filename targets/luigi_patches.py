"""Every use of Luigi's private API, in one place (docs/architecture.md).

Luigi 3.8.1 offers no public hook for these five needs, so each reaches a name that begins
with an underscore, or replaces a method of Luigi's own class. A Luigi upgrade may rename any
of them silently: tests/test_luigi_patches.py pins the version and fails when a name is gone.
Each function says why Luigi needs it.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterator

import luigi
import luigi.configuration
import luigi.parameter
import luigi.worker

LUIGI_VERSION = "3.8.1"  # the version these were written against (requirements.in pins it)


def late_default(parameter: luigi.Parameter, task_name: str, param_name: str,
                 default: Callable[[], object]) -> Iterator[tuple[object, object]]:
    """A parameter's values, then ``default()`` computed now.

    Why: Luigi evaluates a parameter's default once, when the class is defined; a run date of
    "today" or the process's ``--district`` must be read when the task is built. Luigi yields
    the command line's value, then the config's, then the default through the private
    ``Parameter._value_iterator``, with ``_no_value`` for a missing one."""
    for value, warning in luigi.parameter.Parameter._value_iterator(parameter, task_name, param_name):
        if value is not luigi.parameter._no_value:
            yield value, warning
    yield default(), None


_skipping = False


def run_only_if_not_done(logger: logging.Logger) -> None:
    """A task is run only if it is not complete when its worker starts it.

    Why: luigid hands a task again when the worker that ran it died before saying so (killed
    after its ledger row was written); Luigi then checks the task's dependencies, not the task,
    and would send a file a second time. The check goes where Luigi's worker process starts
    the task: the private ``TaskProcess._run_get_new_deps``."""
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


_complete_error_hooked = False


def on_complete_error(record: Callable[[luigi.Task, str], None]) -> None:
    """``record(task, formatted_traceback)`` for every exception a task's ``complete()`` raised.

    Why: such an exception (a server down, a changed host key) reaches no event that carries
    it: Luigi logs the traceback through the private ``Worker._log_complete_error`` and fires
    DEPENDENCY_MISSING, as for data that is merely missing."""
    global _complete_error_hooked
    if _complete_error_hooked:
        return
    logged = luigi.worker.Worker._log_complete_error

    def complete_error(worker, task, formatted_traceback):
        logged(worker, task, formatted_traceback)
        record(task, formatted_traceback)

    luigi.worker.Worker._log_complete_error = complete_error
    _complete_error_hooked = True


def add_config_path(path: str) -> None:
    """Read ``path`` over the config files already read (a district's overlay).

    Why: Luigi keeps its list of config files in the private class attribute
    ``LuigiConfigParser._config_paths``; ``reload()`` rereads that list."""
    parser = luigi.configuration.get_config()
    type(parser)._config_paths.append(str(path))
    parser.reload()


def set_config_paths(paths: list[str]) -> None:
    """Read only ``paths`` from now on (a simulated district's own luigi.cfg).

    Why: as ``add_config_path``: Luigi's list of config files is private."""
    parser = luigi.configuration.get_config()
    type(parser)._config_paths = [str(p) for p in paths]
    parser.clear()
    parser.reload()


def history_templates(path: str) -> None:
    """Serve luigid's task-history pages from ``path`` (our copies, without the CDN links).

    Why: Luigi's server takes its templates from the package's folder, with no setting; its
    handler's ``get_template_path`` (Tornado's hook) is replaced in this process only."""
    import luigi.server
    luigi.server.BaseTaskHistoryHandler.get_template_path = lambda self: path
