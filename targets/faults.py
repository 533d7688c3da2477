"""Named points where a process can be killed on purpose, for ``./run.sh bench faults`` and its
short version in the suite (tests/bench/test_faults.py).

The clients call ``point("sftp.put.mid:students.csv")`` at the places a real outage hurts most:
a task's start, half-way through an upload, a download, a COPY or a local write, just after a
rename and just before the ledger row that records it. Nothing happens unless the environment
asks:

- ``ETL_FAULT_LOG=FILE``: every point reached is appended to FILE, one per line (the bench's
  clean night lists the points it will kill at);
- ``ETL_FAULT_AT=NAME``: the process sends itself SIGKILL the first time it reaches NAME, as
  ``kill -9`` or a power cut would (no ``finally``, no ``atexit``, no ledger row); several
  names, one per line: at the first of them it reaches (the log's last line says which).

Names carry no data values: a task's family and the names of our own files and tables, with
dates written as ``D`` so one night's list applies to any other night.
"""
from __future__ import annotations

import os
import re
import signal

# differ night to night (or district to district): not part of a point's name
_DATA_PARAMS = {"date", "size", "mtime", "sha256", "link", "district"}
_DATES = re.compile(r"20\d\d-?\d\d-?\d\d(?:T[\d:]+Z?)?")
_QUARTERS = re.compile(r"FY\d{4}_Q\d")
_FILE_STAMPS = re.compile(r"\|\d+\|\d+")  # a dropped file's ledger item: name|size|mtime


def normalise(name: str) -> str:
    """A point's name with its dates, quarters and file stamps made general (``D``, ``FYQ``),
    so the same point on another night has the same name."""
    return _FILE_STAMPS.sub("", _QUARTERS.sub("FYQ", _DATES.sub("D", name)))


def point(name: str) -> None:
    """Reached ``name``: recorded and/or killed here when the environment asks (see above)."""
    log, at = os.environ.get("ETL_FAULT_LOG"), os.environ.get("ETL_FAULT_AT")
    if not log and not at:
        return
    name = normalise(name)
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (name.replace("\n", " ") + "\n").encode())
        finally:
            os.close(fd)
    if at and name in at.split("\n"):
        os.kill(os.getpid(), signal.SIGKILL)


def task_points() -> None:
    """A point at the start of every task (``start:<family>(<parameters but the date>)``),
    installed once per process by pipelines.base when the environment asks for points."""
    if not (os.environ.get("ETL_FAULT_LOG") or os.environ.get("ETL_FAULT_AT")):
        return
    import luigi

    def on_start(task: luigi.Task) -> None:
        params = ",".join(f"{k}={v}" for k, v in task.to_str_params(only_significant=True).items()
                          if k not in _DATA_PARAMS)
        point(f"start:{task.task_family}({params})")

    luigi.Task.event_handler(luigi.Event.START)(on_start)
