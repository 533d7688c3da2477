"""The generic importer's database side against the stack's PostgreSQL 18: append, replace and
upsert through a COPY-filled stage, rejects by line and column, max_rejects, the ledger row in
the load's transaction, and a load killed between COPY and commit leaving nothing."""
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from targets.errors import BadInputError, ConfigError
from targets.feed_loader import FeedPart, TooManyRejects, column_name, load_feed
from targets.ledger import LedgerEntry
from tests.ledger import ledger_rows, open_ledger

DAY = dt.date(2026, 11, 24)


@pytest.fixture
def feeds(pg_settings):
    client = open_ledger(pg_settings, migrate=True)
    with client.transaction() as cur:
        cur.execute("CREATE SCHEMA feeds; CREATE TABLE feeds.events (event_id integer PRIMARY KEY,"
                    " title text NOT NULL, starts date, seats integer, source text DEFAULT 'client')")
    yield client
    client.db.close()


def _rows(client, query="SELECT event_id, title, starts, seats, source FROM feeds.events ORDER BY 1"):
    with client.transaction() as cur:
        cur.execute(query)
        return cur.fetchall()


def _csv(tmp_path, text, name="events.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(textwrap.dedent(text).lstrip().encode(encoding))
    return path


def _entry(item="events.csv"):
    return LedgerEntry("feeds_events", item, DAY)


def test_headers_map_to_columns_by_name():
    assert column_name(" Event ID ") == "event_id"
    assert column_name("Starts (date)") == "starts_date"
    assert column_name("SEATS") == "seats"


def test_an_append_loads_good_rows_and_rejects_bad_ones_by_line_and_column(feeds, pg_settings, tmp_path):
    path = _csv(tmp_path, """
        Event ID,Title,Starts,Seats,Notes
        1,Opening,2026-12-01,100,ignored
        x2,Bad id,2026-12-01,5,
        3,Bad date,2026-02-30,5,
        4,,2026-12-02,5,
        ,,,,
        5,Closing,,0012,
    """)
    result = load_feed(feeds, [FeedPart(path)], "feeds", "events", "append", None, _entry(), max_rejects=3)
    assert (result.inserted, result.updated, result.ignored) == (2, 0, ["Notes"])
    assert [(r.line, r.column, r.reason) for r in sorted(result.rejects, key=lambda r: r.line)] == [
        (3, "Event ID", "not a valid integer"), (4, "Starts", "not a valid date"), (5, "Title", "is empty but required")]
    # line 6, every field empty (a spacer), is skipped, not rejected
    assert _rows(feeds) == [(1, "Opening", dt.date(2026, 12, 1), 100, "client"), (5, "Closing", None, 12, "client")]
    assert ledger_rows(pg_settings, "job_name, item, status, rows, rejected, note") == [
        ("feeds_events", "events.csv", "succeeded", 2, 3,
         "inserted 2, updated 0, unchanged 0, rejected 3; columns not in the table: 1")]


def test_the_rejects_are_handed_over_before_the_load_commits(feeds, pg_settings, tmp_path):
    """The caller writes its rejects file from ``on_rejects`` inside the load's transaction: if
    that fails (or the process dies there), neither rows nor ledger row are committed, so a
    committed load always has its rejects file and the rerun writes it."""
    path = _csv(tmp_path, """
        event_id,title
        1,One
        x,Bad
    """)
    seen = []

    def fail(rejects):
        seen.append(len(rejects))
        raise OSError("disk full")

    with pytest.raises(OSError):
        load_feed(feeds, [FeedPart(path)], "feeds", "events", "append", None, _entry(), max_rejects=3,
                  on_rejects=fail)
    assert seen == [1] and _rows(feeds) == [] and ledger_rows(pg_settings, "status") == []
    result = load_feed(feeds, [FeedPart(path)], "feeds", "events", "append", None, _entry(), max_rejects=3,
                       on_rejects=seen.append)
    assert result.inserted == 1 and len(seen[-1]) == 1 and ledger_rows(pg_settings, "status") == [("succeeded",)]


def test_more_rejects_than_allowed_load_nothing(feeds, pg_settings, tmp_path):
    path = _csv(tmp_path, """
        event_id,title
        1,One
        two,Two
    """)
    with pytest.raises(TooManyRejects) as e:
        load_feed(feeds, [FeedPart(path)], "feeds", "events", "append", None, _entry(), max_rejects=0)
    assert "1 rows rejected, more than max_rejects = 0" in str(e.value)
    assert [(r.line, r.column) for r in e.value.rejects] == [(3, "event_id")]
    assert _rows(feeds) == [] and ledger_rows(pg_settings) == []


def test_an_upsert_updates_and_inserts_exactly(feeds, pg_settings, tmp_path):
    first = _csv(tmp_path, """
        event_id,title,seats
        1,One,10
        2,Two,20
        3,Three,30
    """, "w1.csv")
    load_feed(feeds, [FeedPart(first)], "feeds", "events", "upsert", ["event_id"], _entry("w1.csv"))
    second = _csv(tmp_path, """
        event_id,title,seats
        2,Two,25
        3,Three,30
        4,Four,40
        4,Four again,41
    """, "w2.csv")
    result = load_feed(feeds, [FeedPart(second)], "feeds", "events", "upsert", ["event_id"], _entry("w2.csv"),
                       max_rejects=1)
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert [(r.line, r.reason) for r in result.rejects] == [(4, "repeats the key of line 5, which loads instead")]
    assert _rows(feeds, "SELECT event_id, title, seats FROM feeds.events ORDER BY 1") == [
        (1, "One", 10), (2, "Two", 25), (3, "Three", 30), (4, "Four again", 41)]
    assert ledger_rows(pg_settings, "item, rows, rejected")[-1] == ("w2.csv", 2, 1)


def test_a_replace_swaps_the_whole_table_in_one_transaction(feeds, tmp_path):
    load_feed(feeds, [FeedPart(_csv(tmp_path, "event_id,title\n1,One\n2,Two\n", "a.csv"))], "feeds", "events",
              "replace", None, _entry("a.csv"))
    result = load_feed(feeds, [FeedPart(_csv(tmp_path, "event_id,title\n7,Seven\n", "b.csv"))], "feeds", "events",
                       "replace", None, _entry("b.csv"))
    assert result.inserted == 1 and _rows(feeds, "SELECT event_id FROM feeds.events") == [(7,)]


def test_rows_of_another_width_and_other_encodings_are_rewritten_then_loaded(feeds, tmp_path):
    ragged = _csv(tmp_path, "event_id;title;seats\n1;Café;3\n2;Two\n3;Three;3;extra\n4;Four;4\n", "r.csv", "cp1252")
    result = load_feed(feeds, [FeedPart(ragged, delimiter=";", encoding="cp1252")], "feeds", "events", "append", None,
                       _entry("r.csv"), max_rejects=5)
    assert sorted((r.line, r.reason) for r in result.rejects) == [(3, "has 2 fields, the header has 3"),
                                                                  (4, "has 4 fields, the header has 3")]
    wide = _csv(tmp_path, "event_id\ttitle\n10\tZéro\nbad\tX\n", "u.txt", "utf-16")
    result = load_feed(feeds, [FeedPart(wide, delimiter="\t", encoding="utf-16")], "feeds", "events", "append", None,
                       _entry("u.txt"), max_rejects=5)
    assert [(r.line, r.column) for r in result.rejects] == [(3, "event_id")]
    assert _rows(feeds, "SELECT event_id, title FROM feeds.events ORDER BY 1") == [
        (1, "Café"), (4, "Four"), (10, "Zéro")]


def test_a_file_that_cannot_load_is_refused_whole_and_names_the_rule(feeds, pg_settings, tmp_path):
    with pytest.raises(BadInputError, match="has no column for title"):
        load_feed(feeds, [FeedPart(_csv(tmp_path, "event_id,seats\n1,2\n"))], "feeds", "events", "append", None,
                  _entry())
    with pytest.raises(BadInputError, match="both name column 'title'"):
        load_feed(feeds, [FeedPart(_csv(tmp_path, "event_id,Title,TITLE\n1,a,b\n"))], "feeds", "events", "append",
                  None, _entry())
    load_feed(feeds, [FeedPart(_csv(tmp_path, "event_id,title\n1,One\n"))], "feeds", "events", "append", None,
              _entry("first.csv"))
    with pytest.raises(BadInputError, match="events_pkey"):  # append of a key already there
        load_feed(feeds, [FeedPart(_csv(tmp_path, "event_id,title\n1,Again\n"))], "feeds", "events", "append", None,
                  _entry("again.csv"))
    with pytest.raises(ConfigError, match="does not exist"):  # quoted, so a hostile name is only a missing table
        load_feed(feeds, [FeedPart(_csv(tmp_path, "event_id,title\n1,One\n"))], "feeds",
                  'events; DROP TABLE feeds.events; --', "append", None, _entry())
    assert _rows(feeds, "SELECT event_id, title FROM feeds.events") == [(1, "One")]
    assert [r[0] for r in ledger_rows(pg_settings)] == ["first.csv"]


def test_a_load_killed_between_copy_and_commit_leaves_nothing(feeds, pg_settings, pg_password, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("event_id,title\n" + "".join(f"{i},Event {i}\n" for i in range(1, 20001)))
    script = textwrap.dedent(f"""
        import datetime as dt, os, signal
        from targets.feed_loader import FeedPart, load_feed
        from targets.ledger import Ledger, LedgerEntry
        from targets.postgres import PostgresClient, PostgresSettings
        client = Ledger(PostgresClient(PostgresSettings(host={pg_settings.host!r}, port={pg_settings.port},
                                                        dbname={pg_settings.dbname!r}, user="postgres",
                                                        password=os.environ["PG_PASSWORD"])))
        def progress(done, total):
            if done >= total:  # the whole file is in the stage: die before the commit
                os.kill(os.getpid(), signal.SIGKILL)
        load_feed(client, [FeedPart({str(path)!r})], "feeds", "events", "append", None,
                  LedgerEntry("feeds_events", "big.csv", dt.date(2026, 11, 24)), progress=progress)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PG_PASSWORD": pg_password},
                          cwd=os.getcwd(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _rows(feeds) == [] and ledger_rows(pg_settings) == []


def test_rejects_name_the_line_a_record_starts_on_when_values_span_lines(feeds, tmp_path):
    path = _csv(tmp_path, 'event_id,title\n1,"two\nlines"\nbad,x\n3,\n4,"a\nb\nc"\n5,""\nsix,y\n')
    result = load_feed(feeds, [FeedPart(path)], "feeds", "events", "append", None, _entry(), max_rejects=9)
    assert sorted((r.line, r.column) for r in result.rejects) == [(4, "event_id"), (5, "title"), (9, "title"),
                                                                 (10, "event_id")]
    ragged = _csv(tmp_path, 'event_id,title\n1,"two\nlines",extra\n2,"x\ny"\nbad,z\n', "ragged.csv")
    result = load_feed(feeds, [FeedPart(ragged)], "feeds", "events", "append", None, _entry("ragged.csv"),
                       max_rejects=9)
    assert sorted((r.line, r.reason) for r in result.rejects) == [(2, "has 3 fields, the header has 2"),
                                                                 (6, "not a valid integer")]
