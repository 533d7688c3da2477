"""Run date parameter and progress reporting."""
import datetime as dt
import zoneinfo

import luigi

from pipelines.base import Progress, RunDateParameter, today


class _Dated(luigi.Task):
    date = RunDateParameter()


def test_run_date_defaults_to_today_in_the_district_time_zone():
    from targets import clock
    # the one clock, not the machine's: this test failed every day after 06:00 UTC of the real
    # 25 November because it compared the set clock with datetime.now()
    assert _Dated().date == clock.now().astimezone(zoneinfo.ZoneInfo("America/Chicago")).date() == today()
    clock.set_now(dt.datetime(2026, 12, 1, 5, 30, tzinfo=dt.timezone.utc))  # 23:30 on 30 November in Chicago
    assert _Dated().date == dt.date(2026, 11, 30) == today()
    clock.set_now(dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc))  # midnight there: the new month
    assert _Dated().date == dt.date(2026, 12, 1)
    assert _Dated(date=dt.date(2026, 1, 5)).date == dt.date(2026, 1, 5)
    assert _Dated.from_str_params({"date": "2025-09-01"}).date == dt.date(2025, 9, 1)


class _Recorder:
    def __init__(self):
        self.pcts, self.messages = [], []

    def set_progress_percentage(self, pct):
        self.pcts.append(pct)

    def set_status_message(self, msg):
        self.messages.append(msg)


def test_progress_reports_percentages_and_always_the_end():
    task = _Recorder()
    p = Progress(task, "upload", interval=3600)
    for done in range(0, 1001, 100):
        p(done, 1000)
    assert task.pcts[0] == 0 and task.pcts[-1] == 100
    assert len(task.pcts) == 2  # throttled: the first call and the last
    assert task.messages[-1] == "upload: 1,000 of 1,000 bytes"


def test_an_export_counts_rows_not_bytes():
    task = _Recorder()
    p = Progress(task, "export users.csv", unit="rows")
    p(2500, 2500)
    assert task.messages == ["export users.csv: 2,500 of 2,500 rows"]
