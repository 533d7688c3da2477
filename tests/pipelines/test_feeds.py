"""The Feeds chain against the stack's PostgreSQL: the watcher's rules (a file still being
written is left for the next pass; a ready file belongs to the first active row whose regex
matches its whole name), then drop → processing → CSV → table → archive, reruns, changed
files, bad workbooks and bad rows."""
import datetime as dt
import os

from pipelines.feed_files import match, ready_files
from registry.import_config import check_rows
from targets import clock


def _drop(folder, name, age_seconds, now):
    path = folder / name
    path.write_text("x")
    t = now.timestamp() - age_seconds
    os.utime(path, (t, t))
    return path


def test_files_still_being_written_are_left_for_the_next_pass(tmp_path):
    now = clock.now()
    _drop(tmp_path, "events_20261124.xlsx", 120, now)
    _drop(tmp_path, "clients.csv", 5, now)  # still growing
    for name in ("big.xlsx.part", "upload.filepart", ".events.xlsx.tmp", "~$events.xlsx", "movie.crdownload"):
        _drop(tmp_path, name, 600, now)
    (tmp_path / "a_folder").mkdir()
    ready, waiting = ready_files(tmp_path, settle_seconds=30)
    assert [f.path.name for f in ready] == ["events_20261124.xlsx"]
    assert sorted(p.name for p in waiting) == sorted(["clients.csv", "big.xlsx.part", "upload.filepart",
                                                      ".events.xlsx.tmp", "~$events.xlsx", "movie.crdownload"])
    later = now + dt.timedelta(minutes=1)  # the next pass, a minute on: the csv has settled
    ready, _ = ready_files(tmp_path, settle_seconds=30, now=later)
    assert [f.path.name for f in ready] == ["clients.csv", "events_20261124.xlsx"]
    assert ready_files(tmp_path / "missing") == ([], [])


def test_a_name_matches_the_first_active_row_whose_regex_matches_it_whole():
    base = {"source_dir": "in", "file_type": "xlsx", "target_schema": "feeds", "target_table": "events"}
    configs, refused = check_rows([dict(base, config_id=1, job_name="off", filename_regex=r"events_.*", active=False),
                                   dict(base, config_id=2, job_name="events", filename_regex=r"events_\d{8}\.xlsx"),
                                   dict(base, config_id=3, job_name="any", filename_regex=r".*\.xlsx")], {"feeds"})
    assert refused == []
    assert match("events_20261124.xlsx", configs).job_name == "events"
    assert match("events_20261124.xlsx.bak", configs) is None  # the whole name, not a prefix
    assert match("clients.xlsx", configs).job_name == "any"
    assert match("notes.txt", configs) is None


def test_a_file_delivered_by_our_own_downloader_is_ready_at_once(tmp_path):
    now = clock.now()
    _drop(tmp_path, "meetmax_119180.xls", 1, now)
    _drop(tmp_path, "meetmax_119181.xls.part", 600, now)
    ready, _ = ready_files(tmp_path, settle_seconds=30, trusted=["meetmax_119180.xls", "meetmax_119181.xls.part"])
    assert [f.path.name for f in ready] == ["meetmax_119180.xls"]


def test_on_a_replayed_day_a_file_written_now_is_aged_by_the_system_clock(tmp_path):
    import time
    clock.set_now(dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.timezone.utc))  # ./run.sh demo --date 2026-11-02
    fresh, settled = tmp_path / "fresh.csv", tmp_path / "settled.csv"
    fresh.write_text("x")
    settled.write_text("x")
    os.utime(settled, (time.time() - 60, time.time() - 60))
    ready, waiting = ready_files(tmp_path, settle_seconds=30)
    assert [f.path.name for f in ready] == ["settled.csv"] and [p.name for p in waiting] == ["fresh.csv"]
