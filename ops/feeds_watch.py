"""``./run.sh feeds-watch [--interval S]``: the feeds watcher as one long-running process, for
a machine that wants files loaded within seconds of their arrival rather than at cron's next
five minutes. It makes the same passes as ``WatchFeeds`` (pipelines/feeds.py) — the same
tasks, ledger rows, failure rows and mails — started by the file system's events instead of
the clock:

- ``watchdog`` watches every active tImportConfig row's drop folder (folders of rows added
  later are watched from the next pass on);
- an event starts a pass once no event has come for ``[feeds] settle_seconds`` (the settle
  rule then holds for every file; one still being written is left and looked at again a
  settle window later);
- a pass also runs every ``--interval`` seconds (default 300), as cron's line would, so a
  missed event costs at most that;
- SIGTERM or Ctrl-C ends it after the pass in progress (exit 0).

Use it instead of the ``WatchFeeds`` cron line, not beside it: both would only take turns, as
each file's ledger row keeps it from being taken twice. Run it under systemd
(``Restart=on-failure``); details go to the run log, the console shows warnings only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
import threading
import time
from pathlib import Path

import luigi

from pipelines.base import ROOT
from pipelines.feed_files import configs, folders, is_temporary, ready_files, settle_seconds
from pipelines.failures import RunReport
from pipelines.feeds import WatchFeeds
from targets.errors import EtlError
from targets.logdb import setup_logging

logger = logging.getLogger(__name__)
COMMAND = "./run.sh luigi --module pipelines.feeds WatchFeeds"


class _Nudge:
    """watchdog's handler: any change in a watched folder marks the time of the last event."""

    def __init__(self):
        self.last: float | None = None
        self.lock = threading.Lock()

    def dispatch(self, event) -> None:
        if getattr(event, "is_directory", False):
            return
        with self.lock:
            self.last = time.monotonic()

    def take(self, quiet_for: float) -> bool:
        """True once (and then forgets it) if events came and the last is ``quiet_for`` old."""
        with self.lock:
            if self.last is not None and time.monotonic() - self.last >= quiet_for:
                self.last = None
                return True
            return False


def one_pass() -> tuple[bool, bool]:
    """(the pass succeeded, files are still waiting to settle)."""
    with RunReport(COMMAND):
        ok = luigi.build([WatchFeeds()], local_scheduler=True, log_level="WARNING")
    waiting = False
    for row in configs():
        _, left = ready_files(folders(row).source, settle_seconds())
        waiting = waiting or any(not is_temporary(p.name) for p in left)
    return ok, waiting


def watch(interval: float, stop: threading.Event, observer_factory=None) -> int:
    from watchdog.observers import Observer
    observer = (observer_factory or Observer)()
    nudge = _Nudge()
    watched: set[Path] = set()
    observer.start()
    next_pass, passes = 0.0, 0
    try:
        while not stop.is_set():
            try:
                for row in configs():
                    source = folders(row).source
                    if source not in watched and source.is_dir():
                        observer.schedule(nudge, str(source), recursive=False)
                        watched.add(source)
                        logger.info("watching %s", source)
                settle = settle_seconds()
                if time.monotonic() >= next_pass or nudge.take(settle):
                    ok, waiting = one_pass()
                    passes += 1
                    logger.info("pass %d %s%s", passes, "done" if ok else "had failures (recorded and mailed)",
                                "; files still settling" if waiting else "")
                    next_pass = time.monotonic() + (settle + 0.5 if waiting else interval)
            except EtlError as e:  # the database down, a bad setting: say it, try again later
                logger.error("feeds-watch: %s; trying again in %.0f s", e, interval)
                next_pass = time.monotonic() + interval
            stop.wait(0.5)
    finally:
        observer.stop()
        observer.join(10)
    logger.info("feeds-watch stopped after %d passes", passes)
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh feeds-watch", description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval", type=float, default=300.0, help="seconds between passes without events")
    args = ap.parse_args(argv)
    log = ROOT / "logs" / f"{dt.date.today():%Y-%m-%d}" / f"feeds-watch-{dt.datetime.now():%H%M%S}.log"
    setup_logging(process_type="feeds-watch", run_log=log, section="feeds_db")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"feeds-watch: watching the tImportConfig drop folders; log {log}", flush=True)
    return watch(args.interval, stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
