"""How a spreadsheet cell's value is written as CSV text: explicitly, since the readers
disagree on how to print values (``1.0`` vs ``1``, date text). Integral floats without ``.0``,
dates ``YYYY-MM-DD``, times ``YYYY-MM-DD HH:MM:SS``, durations ``H:MM:SS`` (hours past 24, as
Excel's ``[h]:mm:ss``), booleans ``true``/``false``, empty cells empty; text as it is (so leading zeros stay). ``formula_like``: text a spreadsheet program
would run as a formula (CSV/formula injection), for the files we write for people."""
from __future__ import annotations

import datetime as dt
import re


def format_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds") if value.microsecond == 0 else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return duration(value)
    return str(value)


def duration(value: dt.timedelta) -> str:
    """A duration as Excel shows an elapsed-time format (``[h]:mm:ss``): hours past 24 as they
    are, seconds rounded (``255:10:10``, not Python's ``10 days, 15:10:10``)."""
    total = round(value.total_seconds())
    sign, total = ("-" if total < 0 else ""), abs(total)
    return f"{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def formula_like(value) -> bool:
    """Text that Excel or LibreOffice would take as a formula when a person opens or edits the
    cell (OWASP's list: ``= + - @``, tab, carriage return); a plain signed number is not one."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(value)


def neutralise(value: str) -> str:
    """A CSV value for a file people open in a spreadsheet program: formula-like text gets a
    leading apostrophe, so it shows as the text it is instead of running (OWASP's advice)."""
    return "'" + value if formula_like(value) else value
