"""How a spreadsheet cell's value is written as CSV text: explicitly, since the readers
disagree on how to print values (``1.0`` vs ``1``, date text). Integral floats without ``.0``,
dates ``YYYY-MM-DD``, times ``YYYY-MM-DD HH:MM:SS``, durations ``H:MM:SS[.ffffff]`` (hours past
24, as Excel's ``[h]:mm:ss``), booleans ``true``/``false``, empty cells empty; text as it is (so leading zeros stay). ``formula_like``: text a spreadsheet program
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
    are (``255:10:10``, not Python's ``10 days, 15:10:10``), a fraction of a second as a
    time's (``0:00:59.600000``)."""
    micro = value // dt.timedelta(microseconds=1)
    sign, micro = ("-" if micro < 0 else ""), abs(micro)
    seconds, fraction = divmod(micro, 1_000_000)
    text = f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{text}.{fraction:06d}" if fraction else text


DATE_FORMATS = set(range(14, 18)) | {22} | set(range(27, 37)) | set(range(50, 59))  # Excel's built-in ids
TIME_FORMATS = set(range(18, 22)) | {45, 47}
DURATION_FORMATS = {46}
LAST_SERIAL = 2_958_465  # 9999-12-31: past it Excel shows #######, and so the number stays a number


def format_kind(code: str) -> str | None:
    """'date' for a date or time format code, 'duration' for an elapsed one, else None."""
    text = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code)
    if re.search(r"\[(h+|m+|s+)\]", text, re.I):
        return "duration"
    text = re.sub(r"\[[^\]]*\]", "", text)
    return "date" if re.search(r"[dmyhs]", text, re.I) and text.lower() != "general" else None


def builtin_kind(format_id: int) -> str | None:
    """The kind of one of Excel's built-in number formats (ids below 164), by id."""
    if format_id in DATE_FORMATS or format_id in TIME_FORMATS:
        return "date"
    return "duration" if format_id in DURATION_FORMATS else None


def serial_value(number: float, kind: str | None, date1904: bool, negative_from_31st: bool = False,
                 null_date: dt.datetime | None = None):
    """A number as a cell's format kind shows it: a ``timedelta`` for a duration; for a date
    format a ``time`` (under a day), ``date`` (a whole day) or ``datetime``, to the
    millisecond Excel keeps, in the 1900 or 1904 date system; else the number.

    Excel has no date for a negative serial (it shows #######). One is counted back from
    30 December 1899, as LibreOffice and openpyxl show it, or with ``negative_from_31st`` from
    31 December, as xlrd has always read a .xls. With ``null_date`` (an OpenDocument file's),
    serials count from it as LibreOffice counts, with no 29 February 1900."""
    if kind is None or abs(number) > LAST_SERIAL:
        return number
    if kind == "duration":
        return dt.timedelta(milliseconds=round(number * 86_400_000))
    if 0 <= number < 1:
        return (dt.datetime(2000, 1, 1) + dt.timedelta(milliseconds=round(number * 86_400_000))).time()
    if null_date is None and not date1904 and (0 < number < 60 or (number < 0 and negative_from_31st)):
        number += 1  # 1900 is not a leap year; Excel's serial 60 is a 29 February that never was
    epoch = null_date or (dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30))
    moment = epoch + dt.timedelta(milliseconds=round(number * 86_400_000))
    return moment.date() if moment.time() == dt.time(0) else moment


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
