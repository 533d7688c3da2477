"""Each task's peak memory and CPU in the run log: ``peak_rss_mb=N task=ID cpu_s=S`` when it
ends (CPU: user and system seconds of its process while it ran).

The kernel keeps a process's resident high-water mark (``VmHWM``); it is reset when a task
starts (writing 5 to ``/proc/self/clear_refs``), so each task is measured alone whether it
runs in the worker's own process (one worker) or in a process of its own (``--workers N``).
``./run.sh bench nightly`` reads these lines for ``nightly_peak_rss_mb``. Elsewhere than
Linux nothing is logged.
"""
from __future__ import annotations

import ctypes
import gc
import logging
import re
import resource
from pathlib import Path

import luigi

logger = logging.getLogger(__name__)

_STATUS = Path("/proc/self/status")
_installed = False
LINE = re.compile(r"peak_rss_mb=(\d+) task=(\S+)")
CPU = re.compile(r"task=(\S+) cpu_s=([\d.]+)")
_cpu_at_start: dict[str, float] = {}
_rss_at_start: dict[str, int] = {}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


def _glibc():
    """glibc, or None (another C library: nothing is trimmed or limited)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
        except OSError:
            _libc = False
    return _libc or None


def release() -> None:
    """Give back to the system what earlier tasks of this process freed (one worker runs every
    task in one process): a cycle collection, then glibc's free lists trimmed."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


_libc = None
_M_ARENA_MAX, _M_MMAP_THRESHOLD = -8, -3  # mallopt's parameters (glibc malloc.h)
ARENAS = 2
MMAP_THRESHOLD = 1 << 20


def tune_malloc(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """glibc's malloc set for a worker that runs big tasks one after another (unless
    ``MALLOC_ARENA_MAX`` or ``MALLOC_MMAP_THRESHOLD_`` say otherwise):

    - at most ``arenas`` arenas: glibc gives threads that allocate at once arenas of their own
      (up to eight per core) and keeps what they freed there, so gRPC's and Arrow's threads
      left 100-150 MB behind each big export, which the next task started from;
    - blocks of ``mmap_threshold`` bytes or more always mapped, so freeing one gives it back:
      glibc otherwise raises that threshold to the largest block freed, and an export's
      13 MB messages came from the heap and stayed there.

    ``./run.sh bench oneroster``: the largest task 415 MB with glibc's defaults (docs/oneroster.md
    has the rest). Set before the first threads."""
    import os
    libc = _glibc()
    if libc is None:
        return False
    done = False
    if not os.environ.get("MALLOC_ARENA_MAX"):
        done = libc.mallopt(_M_ARENA_MAX, arenas) == 1
    if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        done = libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 and done
    return done


def install() -> None:
    """Log every task's peak from now on in this process (and the workers it forks), with
    malloc tuned (``tune_malloc``)."""
    global _installed
    if _installed:
        return
    tune_malloc()

    def started(task):
        release()
        reset()
        _cpu_at_start[task.task_id] = _cpu()
        _rss_at_start[task.task_id] = peak_mb() or 0

    def ended(task, *_):
        mb = peak_mb()
        cpu = _cpu() - _cpu_at_start.pop(task.task_id, _cpu())
        start = _rss_at_start.pop(task.task_id, 0)
        if mb is not None:  # start_mb: what the process held when the task began (earlier tasks' leftovers)
            logger.info("peak_rss_mb=%d task=%s cpu_s=%.2f start_mb=%d", mb, task.task_id, cpu, start)

    luigi.Task.event_handler(luigi.Event.START)(started)
    luigi.Task.event_handler(luigi.Event.SUCCESS)(ended)
    luigi.Task.event_handler(luigi.Event.FAILURE)(ended)
    _installed = True


def largest(log_text: str) -> tuple[int, str] | None:
    """The largest ``(peak MB, task id)`` a run log holds."""
    found = [(int(mb), task) for mb, task in LINE.findall(log_text)]
    return max(found) if found else None
