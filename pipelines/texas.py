"""The Texas state fiscal calendar: FY runs 1 Sep – 31 Aug and is named for the year it ends
(FY2025 = Sep 2024 – Aug 2025); Q1 Sep–Nov, Q2 Dec–Feb, Q3 Mar–May, Q4 Jun–Aug."""
from __future__ import annotations

import calendar
import datetime as dt


def fiscal_year(day: dt.date) -> int:
    return day.year + 1 if day.month >= 9 else day.year


def fiscal_quarter(day: dt.date) -> int:
    return (day.month - 9) % 12 // 3 + 1


def quarter_bounds(fy: int, quarter: int) -> tuple[dt.date, dt.date]:
    """First and last day of a fiscal quarter."""
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1-4, got {quarter}")
    first_month = (9 + 3 * (quarter - 1) - 1) % 12 + 1
    year = fy - 1 if first_month >= 9 else fy
    start = dt.date(year, first_month, 1)
    end_month = (first_month + 1) % 12 + 1
    end_year = year + (1 if end_month < first_month else 0)
    return start, dt.date(end_year, end_month, calendar.monthrange(end_year, end_month)[1])


def period_label(day: dt.date) -> str:
    """``FY2025_Q2`` for the fiscal quarter holding ``day``."""
    return f"FY{fiscal_year(day)}_Q{fiscal_quarter(day)}"


def ended_quarter(day: dt.date) -> tuple[int, int]:
    """(FY, quarter) of the fiscal quarter that ended before the one holding ``day``: what a
    report sent on 1 December is about (Sep–Nov, Q1)."""
    fy, q = fiscal_year(day), fiscal_quarter(day)
    return (fy - 1, 4) if q == 1 else (fy, q - 1)


def quarter_label(fy: int, quarter: int) -> str:
    """``FY2027_Q1``: how file names carry a fiscal quarter."""
    return f"FY{fy}_Q{quarter}"
