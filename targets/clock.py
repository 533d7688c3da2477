"""The one clock: every "now" and "today" in the code comes from here, so a test or
``./run.sh simulate`` can set it.

Setting the clock (``set_now(moment)``, or ``ETL_CLOCK=2026-12-01T06:00:00-06:00`` in the
environment of a process) moves it to that moment and lets it run on from there: durations
and timeouts stay real. Ledger rows take their timestamps from this clock too.
"""
from __future__ import annotations

import datetime as dt
import os
import time
import zoneinfo

_offset: float | None = None  # seconds to add to the real time; None: not set in this process


def _env_offset() -> float:
    text = os.environ.get("ETL_CLOCK")
    if not text:
        return 0.0
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"ETL_CLOCK={text!r} needs a UTC offset (e.g. 2026-12-01T06:00:00-06:00)")
    return moment.timestamp() - time.time()


def now() -> dt.datetime:
    """Now, as an aware UTC datetime."""
    global _offset
    if _offset is None:
        _offset = _env_offset()
    return dt.datetime.fromtimestamp(time.time() + _offset, dt.timezone.utc)


def today(zone: str) -> dt.date:
    """Today in a time zone (the district's, ``[etl] timezone``)."""
    return now().astimezone(zoneinfo.ZoneInfo(zone)).date()


def set_now(moment: dt.datetime | None) -> None:
    """Run the clock from ``moment`` on (aware datetime); None: the real time again."""
    global _offset
    if moment is None:
        _offset = 0.0
        return
    if moment.tzinfo is None:
        raise ValueError("set_now needs an aware datetime")
    _offset = moment.timestamp() - time.time()


def use_zone(zone: str) -> None:
    """Every local time this process writes, whoever formats it (our log lines, Luigi's own, its
    task history), in ``zone`` (the district's): one clock for an operator to read, whatever the
    machine's zone. Call it once, where a process starts."""
    zoneinfo.ZoneInfo(zone)  # an unknown zone fails here, by its name
    os.environ["TZ"] = zone
    time.tzset()
