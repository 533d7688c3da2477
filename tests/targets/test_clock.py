"""The one clock: set in a process or through ETL_CLOCK, it moves "now", "today" (in the
district's zone, across midnight) and the ledger's timestamps; unset, it is the real time."""
import datetime as dt
import os
import subprocess
import sys
import zoneinfo

import luigi

from pipelines.base import ROOT, RunDateParameter, today
from targets import clock
from targets.ledger import LedgerTarget
from tests.ledger import ledger_rows, open_ledger

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


class _Dated(luigi.Task):
    date = RunDateParameter()


def test_set_clock_moves_now_today_and_default_dates():
    try:
        clock.set_now(dt.datetime(2026, 12, 1, 5, 30, tzinfo=dt.timezone.utc))  # 23:30 on Nov 30 in Chicago
        assert today() == dt.date(2026, 11, 30)
        assert _Dated().date == dt.date(2026, 11, 30)
        clock.set_now(dt.datetime(2026, 12, 1, 0, 5, tzinfo=CHICAGO))  # just after midnight there
        assert today() == dt.date(2026, 12, 1) and abs(clock.now() - dt.datetime(2026, 12, 1, 6, 5,
                                                                                 tzinfo=dt.timezone.utc)).seconds < 5
    finally:
        clock.set_now(None)
    assert abs((clock.now() - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 1


def test_a_process_takes_the_clock_from_the_environment():
    env = dict(os.environ, ETL_CLOCK="2027-03-01T06:00:00-06:00", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", "from targets import clock; print(clock.today('America/Chicago'))"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == "2027-03-01"


def test_ledger_rows_carry_the_clock_time(pg_settings):
    moment = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    try:
        clock.set_now(moment)
        LedgerTarget(open_ledger(pg_settings), "job", "item", dt.date(2026, 12, 1)).mark_done(direction="out")
    finally:
        clock.set_now(None)
    ((started, finished),) = ledger_rows(pg_settings, "started_at, finished_at")
    assert abs((finished - moment).total_seconds()) < 5 and started == finished
