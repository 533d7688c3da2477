"""Texas fiscal year and quarter at every boundary and in leap years."""
import datetime as dt

import pytest

from pipelines.texas import ended_quarter, fiscal_quarter, fiscal_year, period_label, quarter_bounds, quarter_label

D = dt.date


@pytest.mark.parametrize("day,fy,q", [
    (D(2024, 8, 31), 2024, 4), (D(2024, 9, 1), 2025, 1),
    (D(2024, 11, 30), 2025, 1), (D(2024, 12, 1), 2025, 2),
    (D(2025, 2, 28), 2025, 2), (D(2025, 3, 1), 2025, 3),
    (D(2024, 2, 29), 2024, 2), (D(2024, 3, 1), 2024, 3),   # leap year
    (D(2025, 5, 31), 2025, 3), (D(2025, 6, 1), 2025, 4),
    (D(2025, 1, 1), 2025, 2), (D(2025, 12, 31), 2026, 2),
])
def test_fiscal_year_and_quarter(day, fy, q):
    assert (fiscal_year(day), fiscal_quarter(day)) == (fy, q)


@pytest.mark.parametrize("fy,q,start,end", [
    (2025, 1, D(2024, 9, 1), D(2024, 11, 30)),
    (2025, 2, D(2024, 12, 1), D(2025, 2, 28)),
    (2024, 2, D(2023, 12, 1), D(2024, 2, 29)),   # leap February
    (2025, 3, D(2025, 3, 1), D(2025, 5, 31)),
    (2025, 4, D(2025, 6, 1), D(2025, 8, 31)),
])
def test_quarter_bounds(fy, q, start, end):
    assert quarter_bounds(fy, q) == (start, end)
    assert fiscal_year(start) == fiscal_year(end) == fy
    assert fiscal_quarter(start) == fiscal_quarter(end) == q


def test_every_day_of_a_leap_fiscal_year_is_in_exactly_its_quarter():
    day = D(2023, 9, 1)
    while day <= D(2024, 8, 31):
        start, end = quarter_bounds(fiscal_year(day), fiscal_quarter(day))
        assert start <= day <= end and fiscal_year(day) == 2024
        day += dt.timedelta(days=1)
    assert period_label(D(2024, 2, 29)) == "FY2024_Q2"
    with pytest.raises(ValueError):
        quarter_bounds(2025, 5)


def test_a_send_reports_the_quarter_that_ended():
    assert ended_quarter(D(2026, 12, 1)) == (2027, 1)   # 1 December: Sep–Nov
    assert ended_quarter(D(2027, 3, 1)) == (2027, 2)    # 1 March: Dec–Feb
    assert ended_quarter(D(2027, 6, 1)) == (2027, 3)    # 1 June: Mar–May
    assert ended_quarter(D(2026, 9, 1)) == (2026, 4)    # 1 September: Jun–Aug of the fiscal year before
    assert ended_quarter(D(2024, 2, 29)) == (2024, 1)
    assert quarter_label(*ended_quarter(D(2026, 12, 1))) == "FY2027_Q1"
