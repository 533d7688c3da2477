"""Each task's peak memory in the run log: ``peak_rss_mb=N task=ID`` when it ends.

The kernel keeps a process's resident high-water mark (``VmHWM``); it is reset when a task
starts (writing 5 to ``/proc/self/clear_refs``), so each task is measured alone whether it
runs in the worker's own process (one worker) or in a process of its own (``--workers N``).
``./run.sh bench nightly`` reads these lines for ``nightly_peak_rss_mb``. Elsewhere than
Linux nothing is logged.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import luigi

logger = logging.getLogger(__name__)

_STATUS = Path("/proc/self/status")
_installed = False
LINE = re.compile(r"peak_rss_mb=(\d+) task=(\S+)")


def peak_mb() -> int | None:
    """This process's resident high-water mark since the last reset, in MB (None off Linux)."""
    try:
        found = re.search(r"VmHWM:\s+(\d+) kB", _STATUS.read_text())
    except OSError:
        return None
    return int(found.group(1)) // 1024 if found else None


def reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def install() -> None:
    """Log every task's peak from now on in this process (and the workers it forks)."""
    global _installed
    if _installed:
        return

    def started(task):
        reset()

    def ended(task, *_):
        mb = peak_mb()
        if mb is not None:
            logger.info("peak_rss_mb=%d task=%s", mb, task.task_id)

    luigi.Task.event_handler(luigi.Event.START)(started)
    luigi.Task.event_handler(luigi.Event.SUCCESS)(ended)
    luigi.Task.event_handler(luigi.Event.FAILURE)(ended)
    _installed = True


def largest(log_text: str) -> tuple[int, str] | None:
    """The largest ``(peak MB, task id)`` a run log holds."""
    found = [(int(mb), task) for mb, task in LINE.findall(log_text)]
    return max(found) if found else None
