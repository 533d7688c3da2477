"""A dropped file's whole chain against the stack's PostgreSQL: taken when ready, converted
(one CSV per sheet, 0660), loaded per its tImportConfig row with the ledger row in the same
transaction, archived; a rerun does nothing; a changed file reloads per its mode, the same
content is not loaded twice; a bad workbook or too many rejected rows go to the error folder
with a failed row in the Feeds ledger, and the other files load."""
import csv
import datetime as dt
import stat

import pytest

from targets import clock
from targets.errors import ServerRefusedError
from tests.feedfiles import age, events_workbook, table, watch_pass, write
from tests.ledger import ledger_rows

def test_dropped_files_flow_to_their_tables_and_a_rerun_does_nothing(feeds, pg_settings):
    client, inbox = feeds
    events_workbook(inbox / "events_20261123.xlsx", [(1, "Acme", dt.date(2026, 12, 1), "00A"), (2, "Globex", None, "GX")])
    (inbox / "clients_w48.csv").write_text("Client ID;Name;Joined\n007;Ada;2026-01-05\n008;Bob;\n")
    age(inbox / "clients_w48.csv")
    (inbox / "events_20261124.xlsx.part").write_bytes(b"half")  # still uploading
    age(write(inbox / "notes.txt", "?"))
    assert watch_pass()
    assert table(client, "SELECT event_id, company, starts, ticker FROM feeds.events ORDER BY 1") == [
        (1, "Acme", dt.date(2026, 12, 1), "00A"), (2, "Globex", None, "GX")]
    assert table(client, "SELECT client_id, name, joined FROM feeds.clients ORDER BY 1") == [
        ("007", "Ada", dt.date(2026, 1, 5)), ("008", "Bob", None)]  # leading zeros kept
    archived = sorted(p.name for p in (inbox / "archive").rglob("*") if p.is_file())
    assert [n.split("_", 1)[1] for n in archived] == ["clients_w48.csv", "events_20261123.csv", "events_20261123.xlsx"]
    assert {p.parent.name for p in (inbox / "archive").rglob("*.*")} == {"2026-11-24"}  # the day they were dropped
    converted = next(p for p in (inbox / "archive").rglob("*_events_20261123.csv"))
    assert stat.S_IMODE(converted.stat().st_mode) == 0o660
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["events_20261124.xlsx.part"]
    assert [p.name for p in (inbox / "unmatched").iterdir()] == ["notes.txt"]
    assert not any((inbox / "processing").glob("*.*"))
    loads = ledger_rows(pg_settings, "job_name, split_part(item, '|', 1), status, rows, rejected",
                        succeeded_only=True)
    assert sorted(loads) == [("feeds_clients", "clients_w48.csv", "succeeded", 2, 0),
                             ("feeds_events", "events_20261123.xlsx", "succeeded", 2, 0),
                             ("feeds_take", "clients_w48.csv", "succeeded", None, None),
                             ("feeds_take", "events_20261123.xlsx", "succeeded", None, None),
                             ("feeds_unmatched", "notes.txt", "succeeded", None, None)]
    assert watch_pass()  # the next pass: nothing new
    assert len(ledger_rows(pg_settings)) == len(loads)


def test_a_changed_file_reloads_per_its_mode_and_the_same_content_is_not_loaded_twice(feeds, pg_settings):
    client, inbox = feeds
    events_workbook(inbox / "events_20261116.xlsx", [(1, "Acme", None, "A"), (2, "Globex", None, "G")])
    age(write(inbox / "clients_a.csv", "client_id;name\n1;Ada\n"))
    assert watch_pass()
    clock.set_now(clock.now() + dt.timedelta(days=7))
    events_workbook(inbox / "events_20261123.xlsx", [(2, "Globex Corp", None, "G"), (3, "Initech", None, "I")])
    age(write(inbox / "clients_b.csv", "client_id;name\n2;Bob\n"))
    assert watch_pass()
    assert table(client, "SELECT event_id, company FROM feeds.events ORDER BY 1") == [
        (1, "Acme"), (2, "Globex Corp"), (3, "Initech")]  # upsert: one updated, one inserted, one kept
    assert table(client, "SELECT client_id FROM feeds.clients ORDER BY 1") == [("1",), ("2",)]  # append
    notes = ledger_rows(pg_settings, "split_part(item, '|', 1), note", job="feeds_events")
    assert notes[-1] == ("events_20261123.xlsx", "inserted 1, updated 1, unchanged 0, rejected 0")
    age(write(inbox / "clients_b2.csv", "client_id;name\n2;Bob\n"))  # the same content again, another name
    assert watch_pass()
    assert table(client, "SELECT count(*) FROM feeds.clients") == [(2,)]
    assert ledger_rows(pg_settings, "split_part(item, '|', 1), rows, note", job="feeds_clients")[-1][:2] == \
        ("clients_b2.csv", 0)
    assert "not loaded again" in ledger_rows(pg_settings, "note", job="feeds_clients")[-1][0]


def test_bad_workbooks_and_too_many_rejects_go_to_the_error_folder_and_the_rest_loads(feeds, pg_settings):
    client, inbox = feeds
    age(write(inbox / "events_20261120.xlsx", "PK\x03\x04 not a zip at all" * 20))
    from formats.spreadsheet import OLE2
    (inbox / "events_20261118.xlsx").write_bytes(OLE2 + b"\x00" * 4096)  # password-protected: an OLE2 container
    age(inbox / "events_20261118.xlsx")
    import zipfile
    with zipfile.ZipFile(inbox / "events_20261119.xlsx", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * 50_000_000)  # a zip bomb
    age(inbox / "events_20261119.xlsx")
    events_workbook(inbox / "events_20261121.xlsx", [(1, "Acme", None, "A")], sheet="Wrong")  # no sheet 'Events'
    events_workbook(inbox / "events_20261122.xlsx", [("x", "Bad", None, ""), ("y", "Worse", None, ""), (5, "Good", None, "")])
    events_workbook(inbox / "events_20261123.xlsx", [("+1+2", "@SUM(A1)", None, ""), (6, "Good", None, "")])  # 1 allowed
    age(write(inbox / "clients_ok.csv", "client_id;name\n9;Ida\n"))
    assert not watch_pass()
    assert table(client, "SELECT event_id FROM feeds.events") == [(6,)]
    assert table(client, "SELECT client_id FROM feeds.clients") == [("9",)]
    errors = sorted(p.name for p in (inbox / "error").rglob("*") if p.is_file())
    assert errors == ["events_20261118.xlsx", "events_20261119.xlsx", "events_20261120.xlsx", "events_20261121.xlsx",
                      "events_20261122.xlsx", "events_20261122.xlsx.rejects.csv", "events_20261123.xlsx.rejects.csv"]
    rejects = next((inbox / "error").rglob("events_20261122.xlsx.rejects.csv"))
    assert list(csv.reader(rejects.open()))[:3] == [["sheet", "row", "column", "reason", "values..."],
                                                    ["Events", "3", "Event ID", "not a valid integer", "x", "Bad", "",
                                                     ""],
                                                    ["Events", "4", "Event ID", "not a valid integer", "y", "Worse",
                                                     "", ""]]
    # people open the rejects file in Excel: formula-like values show as text, never run
    rejects = next((inbox / "error").rglob("events_20261123.xlsx.rejects.csv"))
    assert list(csv.reader(rejects.open()))[1][4:6] == ["'+1+2", "'@SUM(A1)"]
    failed = sorted((i.split("|")[0], e) for i, e in ledger_rows(pg_settings, "item, error", job="feeds_events")
                    if e)
    assert [f[0] for f in failed] == ["events_20261118.xlsx", "events_20261119.xlsx", "events_20261120.xlsx",
                                      "events_20261121.xlsx", "events_20261122.xlsx"]
    assert "events_20261118.xlsx: is encrypted (password-protected)" in failed[0][1]
    assert "events_20261119.xlsx: compresses" in failed[1][1] and "(a zip bomb?)" in failed[1][1]
    assert "is not a readable .xlsx workbook" in failed[2][1] and "moved to" in failed[2][1]
    assert "has no sheet 'Events' (sheets: Cover, Wrong)" in failed[3][1]
    assert "2 rows rejected, more than max_rejects = 1" in failed[4][1]
    assert ledger_rows(pg_settings, "rows, rejected", job="feeds_events", succeeded_only=True) == [(1, 1)]
    assert watch_pass()  # nothing left to fail: the bad files are in the error folder


def test_clients_upload_by_sftp_into_their_upload_only_drop_off_and_the_rows_load(feeds, pg_settings, stack_var,
                                                                                  stack_state, tmp_path):
    import uuid

    from stack import dropoff_root
    from stack.openssh import dropoff_settings
    from targets.sftp import SftpClient
    client, _ = feeds
    tag = uuid.uuid4().hex[:8]  # the stack's drop-off folders outlive this test
    with client.transaction() as cur:
        for who in ("acme", "globex"):
            cur.execute("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, processing_dir,"
                        " archive_dir, error_dir, file_type, target_schema, target_table) VALUES (%s, %s, %s,"
                        " 'feeds/processing', 'feeds/archive', 'feeds/error', 'csv', 'feeds', 'clients')",
                        (f"{who}_clients", f"{who}_{tag}_.*\\.csv", str(dropoff_root(stack_var) / who / "inbound")))
    uploads = {}
    for who, rows in (("acme", "client_id,name\nA1,Ada\nA2,Al\n"), ("globex", "client_id,name\nG1,Gil\n")):
        local = tmp_path / f"{who}_{tag}_w48.csv"
        local.write_text(rows)
        sftp = SftpClient(dropoff_settings(stack_var, stack_state, who))  # acme by key, globex by password
        sftp.upload_atomic(local, local.name)
        assert local.name in sftp.listdir("/inbound")
        with pytest.raises(ServerRefusedError, match="refused: "):
            sftp.download(local.name, tmp_path / "back.csv")  # upload-only: no reading back
        with pytest.raises(ServerRefusedError, match="refused: "):
            sftp.remove(local.name)
        with pytest.raises(ServerRefusedError, match="refused: "):
            sftp.upload_atomic(local, "/outside.csv")  # only /inbound takes files
        sftp.close()
        uploads[who] = dropoff_root(stack_var) / who / "inbound" / local.name
    for path in uploads.values():
        age(path)
    assert watch_pass()
    assert table(client, "SELECT client_id FROM feeds.clients ORDER BY 1") == [("A1",), ("A2",), ("G1",)]
    assert not any(p.exists() for p in uploads.values())  # taken from the drop-off, archived
    loads = ledger_rows(pg_settings, "job_name, rows", succeeded_only=True)
    assert ("feeds_acme_clients", 2) in loads and ("feeds_globex_clients", 1) in loads


def test_an_excel_97_2003_file_flows_like_the_others(feeds, pg_settings):
    import shutil
    from pathlib import Path
    client, inbox = feeds
    with client.transaction() as cur:
        cur.execute("INSERT INTO dba.timportconfig (job_name, filename_regex, source_dir, file_type, sheet,"
                    " header_row, target_schema, target_table, load_mode, key_columns) VALUES ('legacy',"
                    " 'acme_.*\\.xls', 'feeds/inbound', 'xls', 'Events', 2, 'feeds', 'events', 'upsert', '{event_id}')")
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "feeds" / "events_biff8.xls"
    age(Path(shutil.copy(fixture, inbox / "acme_w48.xls")))
    assert watch_pass()
    assert table(client, "SELECT event_id, company, starts FROM feeds.events ORDER BY 1") == [
        (101, "Acme & Sons", dt.date(2026, 12, 1)), (102, "Globex", dt.date(2027, 1, 15)), (104, "Initech", None)]
    assert ledger_rows(pg_settings, "rows, note", job="feeds_legacy") == [
        (3, "inserted 3, updated 0, unchanged 0, rejected 0; columns not in the table: 5")]


def test_a_refused_file_dropped_again_after_the_fix_goes_through_the_whole_chain(feeds, pg_settings):
    """Too many rejects: the file is set aside, nothing made from it is kept and its take is
    undone. The cause fixed (max_rejects raised) and the same file moved back (its mtime kept:
    the same ledger item), the next pass takes, converts and loads it afresh."""
    client, inbox = feeds
    events_workbook(inbox / "events_20261122.xlsx", [("x", "Bad", None, ""), ("y", "Worse", None, ""),
                                                      (5, "Good", None, "")])
    age(inbox / "events_20261122.xlsx")
    assert not watch_pass()
    (refused,) = (inbox / "error").rglob("events_20261122.xlsx")
    assert not any((inbox / "processing").rglob("*.csv"))  # its CSV went with it
    with client.transaction() as cur:
        cur.execute("UPDATE dba.timportconfig SET max_rejects = 5 WHERE job_name = 'events'")
    refused.rename(inbox / "events_20261122.xlsx")
    import luigi
    luigi.task_register.Register.clear_instance_cache()  # the next pass is a new process: its row read afresh
    assert watch_pass()
    assert table(client, "SELECT event_id FROM feeds.events") == [(5,)]
    assert ledger_rows(pg_settings, "split_part(item, '|', 1), rows, rejected", job="feeds_events",
                       succeeded_only=True) == [("events_20261122.xlsx", 1, 2)]
    assert [p.name.split("_", 1)[1] for p in (inbox / "archive").rglob("*.xlsx")] == ["events_20261122.xlsx"]


def test_a_workbook_that_crashes_its_reader_is_set_aside_not_retried_on_every_pass(feeds, pg_settings, monkeypatch):
    """Issue 27 item 3: ConvertFeedFile set aside only BadInputError; any other error from a
    reader (an ISO time cell's ValueError, a KeyError for a missing sheet part, a native
    panic, which is a BaseException) left the file in processing, failed again on every pass.
    Now the file goes to the error folder with a failed row naming the error's type and where
    it was raised (never its message: it may quote a cell), and the other files load. A full
    disk is not the file's fault: it stays and is retried."""
    import pipelines.feeds as feeds_module
    client, inbox = feeds
    events_workbook(inbox / "events_20261124.xlsx", [(1, "Panics", None, "A")])
    events_workbook(inbox / "events_20261125.xlsx", [(2, "Fine", None, "B")])

    class PanicException(BaseException):  # what pyo3 raises for a Rust panic (python-calamine), by its name
        pass
    real = feeds_module.to_csv

    def reader(path, dest, **kw):
        if "20261124" in str(path):
            raise PanicException("assertion failed: cell value 'SECRET-NAME' out of range")
        return real(path, dest, **kw)
    monkeypatch.setattr(feeds_module, "to_csv", reader)
    assert not watch_pass()
    assert table(client, "SELECT event_id FROM feeds.events") == [(2,)]
    assert [p.name for p in (inbox / "error").rglob("*.xlsx")] == ["events_20261124.xlsx"]
    (error,) = [e for i, e in ledger_rows(pg_settings, "item, error", job="feeds_events") if e]
    assert "the workbook reader failed on it (PanicException at test_feeds_chain.py:" in error
    assert "SECRET-NAME" not in error
    assert watch_pass()  # set aside: the next pass has nothing to fail

    # a full disk while converting: the file stays where it is, and the next pass converts it
    events_workbook(inbox / "events_20261126.xlsx", [(3, "Later", None, "C")])

    def full(path, dest, **kw):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(feeds_module, "to_csv", full)
    assert not watch_pass()
    assert not list((inbox / "error").rglob("events_20261126.xlsx"))
    monkeypatch.setattr(feeds_module, "to_csv", real)
    assert watch_pass()
    assert table(client, "SELECT event_id FROM feeds.events ORDER BY 1") == [(2,), (3,)]
