"""The watcher's rules: a file still being written (a temporary name, or changed within the
settle window by the one clock) is left for the next pass; a ready file is matched to the
first active config row whose regex matches its whole name."""
import datetime as dt
import os

from pipelines.feeds import match, ready_files
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


def test_a_watch_pass_takes_ready_files_sets_aside_unmatched_and_leaves_the_rest(stack_config, pg_settings):
    import luigi
    import luigi.configuration

    from pipelines.base import data_dir
    from pipelines.feeds import WatchFeeds
    from targets.postgres import PostgresClient
    from tests.ledger import ledger_rows
    parser = luigi.configuration.get_config()
    for key, value in (("dbname", pg_settings.dbname), ("user", "postgres"), ("password", "${PG_PASSWORD}")):
        parser.set("feeds_db", key, value)
    client = PostgresClient(pg_settings)
    client.migrate()
    with client.transaction() as cur:
        cur.execute("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, processing_dir, file_type,"
                    " target_schema, target_table) VALUES ('events', 'events_\\d{8}\\.xlsx', 'feeds/inbound',"
                    " 'feeds/processing', 'xlsx', 'feeds', 'events'), ('hostile', '.*\\.csv', 'feeds/inbound', NULL,"
                    " 'csv', 'feeds', 'x; drop table y')")
    inbox = data_dir() / "feeds" / "inbound"
    inbox.mkdir(parents=True)
    now = clock.now()
    _drop(inbox, "events_20261124.xlsx", 120, now)
    _drop(inbox, "clients.csv", 120, now)  # its only row is refused: unmatched
    _drop(inbox, "events_20261125.xlsx", 5, now)  # still being written
    _drop(inbox, "big.xlsx.part", 600, now)
    assert luigi.build([WatchFeeds()], local_scheduler=True)
    assert [p.name for p in (data_dir() / "feeds" / "processing").iterdir()] == ["events_20261124.xlsx"]
    assert [p.name for p in (inbox / "unmatched").iterdir()] == ["clients.csv"]
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["big.xlsx.part", "events_20261125.xlsx"]
    rows = ledger_rows(pg_settings, "job_name, item, note")
    assert sorted((j, i.split("|")[0], n) for j, i, n in rows) == [
        ("feeds_take", "events_20261124.xlsx", "config 1 (events)"), ("feeds_unmatched", "clients.csv", None)]
    assert luigi.build([WatchFeeds()], local_scheduler=True)  # the next pass: nothing new is ready
    assert len(ledger_rows(pg_settings, "item")) == 2
