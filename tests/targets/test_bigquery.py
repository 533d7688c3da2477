"""BigQuery (bqemulator through the official client) and GCS (gcp-storage-emulator)."""
import csv
import datetime as dt
import uuid

import openpyxl
import pytest

from formats.csv_dialect import CsvDialect
from targets.errors import BadInputError


def _ds():
    return f"t_{uuid.uuid4().hex[:10]}"


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_load_replaces_and_queries_back(bq_client, tmp_path):
    ds = _ds()
    f = _write(tmp_path / "students.csv", 'id,name,grade\n1,"O\'Brien, Ana",KG\n2,Zoë,01\n')
    out = bq_client.load_file(f, f"{ds}.students", schema=[("id", "INT64"), ("name", "STRING"), ("grade", "STRING")])
    assert out.rows == 2 and out.bytes == f.stat().st_size and len(out.sha256) == 64
    again = bq_client.load_file(f, f"{ds}.students", schema=[("id", "INT64"), ("name", "STRING"), ("grade", "STRING")])
    assert again.rows == 2
    rows = bq_client.query(f"SELECT id, name, grade FROM {ds}.students ORDER BY id")
    assert rows == [{"id": 1, "name": "O'Brien, Ana", "grade": "KG"}, {"id": 2, "name": "Zoë", "grade": "01"}]


def test_pipe_delimited_txt_and_xlsx(bq_client, tmp_path):
    ds = _ds()
    txt = _write(tmp_path / "scores.txt", "id|score\n1|98.5\n2|77\n", "latin-1")
    assert bq_client.load_file(txt, f"{ds}.scores", file_format="txt", delimiter="|", encoding="ISO-8859-1",
                               schema=[("id", "INT64"), ("score", "FLOAT64")]).rows == 2
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["id", "enrolled", "name"])
    ws.append([1, dt.date(2026, 8, 12), "Müller"])
    ws.append([2.0, dt.date(2026, 9, 1), None])
    wb.save(tmp_path / "enroll.xlsx")
    out = bq_client.load_file(tmp_path / "enroll.xlsx", f"{ds}.enroll", file_format="xlsx", sheet="Data",
                              schema=[("id", "INT64"), ("enrolled", "DATE"), ("name", "STRING")])
    assert out.rows == 2
    rows = bq_client.query(f"SELECT id, enrolled, name FROM {ds}.enroll ORDER BY id")
    assert rows == [{"id": 1, "enrolled": dt.date(2026, 8, 12), "name": "Müller"},
                    {"id": 2, "enrolled": dt.date(2026, 9, 1), "name": None}]


def test_bad_file_names_the_problem(bq_client, tmp_path):
    f = _write(tmp_path / "bad.csv", "id,name\nx,Ana\n")
    with pytest.raises(BadInputError) as err:
        bq_client.load_file(f, f"{_ds()}.bad", schema=[("id", "INT64"), ("name", "STRING")])
    assert err.value.file == str(f)


@pytest.mark.parametrize("path", ["storage", "pages"])
def test_export_streams_pages_in_the_dialect(bq_client, bq_pages_client, tmp_path, path):
    bq_client = bq_client if path == "storage" else bq_pages_client
    ds = _ds()
    f = _write(tmp_path / "s.csv", "id,name,active,born\n" + "".join(
        f"{i},\"Name, {i}\",{'true' if i % 2 else 'false'},2010-01-{i % 28 + 1:02d}\n" for i in range(1, 2501)))
    bq_client.load_file(f, f"{ds}.s", schema=[("id", "INT64"), ("name", "STRING"), ("active", "BOOL"),
                                              ("born", "DATE")])
    seen = []
    dialect = CsvDialect(quoting="all", line_ending="\r\n", true="1", false="0", date_format="%m/%d/%Y")
    out = bq_client.export(f"SELECT id AS Student_id, name AS Name, active AS Active, born AS DOB FROM {ds}.s ORDER BY id",
                           tmp_path / "out" / "students.csv", dialect=dialect, page_size=1000,
                           progress=lambda done, total: seen.append((done, total)))
    assert out.rows == 2500 and out.columns == ["Student_id", "Name", "Active", "DOB"]
    assert seen[-1] == (2500, 2500) and len(seen) >= 3  # page by page
    raw = (tmp_path / "out" / "students.csv").read_bytes()
    assert raw.startswith(b'"Student_id","Name","Active","DOB"\r\n"1","Name, 1","1","01/02/2010"\r\n')
    with open(tmp_path / "out" / "students.csv", newline="") as fh:
        assert len(list(csv.reader(fh))) == 2501


def test_deploy_view_only_when_sql_changed(bq_client):
    ds = _ds()
    bq_client.ensure_dataset(ds)
    bq_client.bq.query(f"CREATE TABLE {ds}.t AS SELECT 1 AS id").result()
    sql = f"SELECT id AS Student_id FROM `{bq_client.settings.project}.{ds}.t`"
    assert bq_client.deploy_view(f"{ds}.v", sql) is True
    assert bq_client.deploy_view(f"{ds}.v", sql) is False
    assert bq_client.deploy_view(f"{ds}.v", sql + " WHERE id > 0") is True
    # An explicit alias keeps the vendor's column case (the emulator lower-cases SELECT *).
    assert bq_client.query(f"SELECT Student_id AS Student_id FROM {ds}.v") == [{"Student_id": 1}]


def test_a_gcs_that_refuses_connections_fails_the_runs_archive_work_fast(tmp_path):
    """As BigQuery: the first call gives up after io_timeout (the library's own retry: 120 s
    a call), every later one of the run at once, with the reason."""
    import time

    from stack import BQ_PROJECT, free_port
    from targets.errors import TransientError
    from targets.gcs import GcsArchive, GcsSettings
    archive = GcsArchive(GcsSettings(project=BQ_PROJECT, bucket="b", api_endpoint=f"http://127.0.0.1:{free_port()}",
                                     credentials="anonymous", io_timeout=2.0))
    src = tmp_path / "f.csv"
    src.write_text("id\n1\n")
    t0 = time.monotonic()
    with pytest.raises(TransientError, match="GCS"):
        archive.archive(src, "folder", dt.date(2026, 11, 24))
    assert 2.0 <= time.monotonic() - t0 < 10
    t0 = time.monotonic()
    with pytest.raises(TransientError, match=r"could not be reached earlier in this run \(ConnectionError"):
        archive.names("folder", dt.date(2026, 11, 24))
    assert time.monotonic() - t0 < 0.5


def test_gcs_archive_creates_bucket_and_replaces(gcs_archive, tmp_path):
    f = _write(tmp_path / "students.csv", "id\n1\n")
    uri = gcs_archive.archive(f, "powerschool_combined", dt.date(2026, 11, 24))
    assert uri.endswith("/powerschool_combined/2026-11-24/students.csv")
    _write(f, "id\n1\n2\n")
    assert gcs_archive.archive(f, "powerschool_combined", dt.date(2026, 11, 24)) == uri
    assert gcs_archive.read(uri) == b"id\n1\n2\n"
    assert gcs_archive.exists("powerschool_combined", dt.date(2026, 11, 24), "students.csv")


def test_parquet_load(bq_client, tmp_path, google_stack):
    """The Parquet file is written by DuckDB from the emulators' venv (no pyarrow needed here)."""
    import subprocess

    from stack import bq_venv
    path = tmp_path / "scores.parquet"
    subprocess.run([str(bq_venv() / "bin" / "python"), "-c",
                    "import duckdb, sys; duckdb.sql(\"COPY (SELECT * FROM (VALUES (1, 'Ana', 98.5), (2, 'Zoë', 77.0))"
                    " t(id, name, score)) TO '\" + sys.argv[1] + \"' (FORMAT parquet)\")", str(path)], check=True)
    ds = _ds()
    schema = [("id", "INT64"), ("name", "STRING"), ("score", "FLOAT64")]
    assert bq_client.load_file(path, f"{ds}.scores", file_format="parquet", schema=schema).rows == 2
    assert bq_client.load_file(path, f"{ds}.scores", file_format="parquet", schema=schema).rows == 2  # replaced
    assert bq_client.query(f"SELECT id, name, score FROM {ds}.scores ORDER BY id") == [
        {"id": 1, "name": "Ana", "score": 98.5}, {"id": 2, "name": "Zoë", "score": 77.0}]


def test_a_stalled_connection_fails_within_timeouts_instead_of_hanging(bq_client):
    """The server stops answering mid-conversation (a stall after the first request): each
    request gives up after io_timeout and the call's retries end after timeout, so the query
    fails within seconds as a TransientError; the library alone would wait forever."""
    import dataclasses
    import time

    from targets.bigquery import BigQueryClient
    from targets.errors import TransientError
    from tests.netproxy import TcpProxy
    port = int(bq_client.settings.api_endpoint.rsplit(":", 1)[1])
    proxy = TcpProxy(port, stall_after_bytes=1).start()  # nothing gets through
    try:
        settings = dataclasses.replace(bq_client.settings, api_endpoint=f"http://127.0.0.1:{proxy.port}",
                                       timeout=4.0, io_timeout=1.0)
        client = BigQueryClient(settings)
        t0 = time.monotonic()
        with pytest.raises(TransientError):
            client.query("SELECT 1 AS x")
        assert time.monotonic() - t0 < 20
    finally:
        proxy.stop()


def test_a_bigquery_that_refuses_connections_fails_the_runs_calls_fast(bq_client, tmp_path):
    """Refused connections: the first call gives up after io_timeout (Google's retry would go
    on for the whole timeout, 600 s by default, and then again for every export of a slot);
    every later call of the run fails at once with that reason, in this process and in the
    run's other processes (the run's file under ETL_VAR/runs); the next run asks again."""
    import dataclasses
    import os
    import subprocess
    import sys
    import time

    from stack import ROOT, free_port
    from targets.bigquery import BigQueryClient
    from targets.errors import TransientError
    from targets.process import new_run, run_uuid
    from targets.google_down import GiveUpWhenUnreachable
    settings = dataclasses.replace(bq_client.settings, api_endpoint=f"http://127.0.0.1:{free_port()}",
                                   timeout=600.0, io_timeout=2.0)
    client = BigQueryClient(settings)
    t0 = time.monotonic()
    with pytest.raises(TransientError, match="Connection refused|ConnectionError"):
        client.query("SELECT 1 AS x")
    first = time.monotonic() - t0
    assert 2.0 <= first < 8, first  # io_timeout of refusals, not timeout
    t0 = time.monotonic()
    with pytest.raises(TransientError, match=r"could not be reached earlier in this run \(ConnectionError"):
        client.export("SELECT 1 AS x", tmp_path / "out.csv")
    assert time.monotonic() - t0 < 0.5 and not (tmp_path / "out.csv").exists()
    # another process of the same run (a worker) finds out from the run's file
    other = subprocess.run([sys.executable, "-c", (
        "import sys, uuid, dataclasses, time\n"
        "import targets.process as l\n"
        "l._run_uuid = uuid.UUID(sys.argv[1])\n"
        "from targets.bigquery import BigQueryClient, BigQuerySettings\n"
        "c = BigQueryClient(BigQuerySettings(project='p', api_endpoint=sys.argv[2], credentials='anonymous',"
        " io_timeout=30))\n"
        "t = time.monotonic()\n"
        "try:\n    c.query('SELECT 1')\nexcept Exception as e:\n    print(type(e).__name__, round(time.monotonic() - t, 1), e)\n"
    ), str(run_uuid()), settings.api_endpoint], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert other.stdout.startswith("TransientError 0."), other.stdout + other.stderr
    new_run()  # the next run asks again
    t0 = time.monotonic()
    with pytest.raises(TransientError, match="Connection refused|ConnectionError"):
        client.query("SELECT 1 AS x")
    assert time.monotonic() - t0 >= 2.0
    # what a server answers (busy, unavailable) is still retried for the whole timeout
    import google.api_core.exceptions as gexc
    assert GiveUpWhenUnreachable("x", 0.0)(gexc.ServiceUnavailable("busy")) is True
    assert GiveUpWhenUnreachable("x", 0.0)(gexc.Forbidden("no", errors=[{"reason": "rateLimitExceeded"}])) is True
    assert GiveUpWhenUnreachable("x", 0.0)(gexc.Forbidden("no", errors=[{"reason": "accessDenied"}])) is False


def test_a_storage_api_that_does_not_answer_fails_the_export_within_io_timeout(bq_client, tmp_path):
    """The Storage Read API refuses or stalls (the query side still answers): the export fails
    as a TransientError within io_timeout, leaves no file and drops its scratch table; the
    library's own retry would have tried again for ten minutes."""
    import dataclasses
    import time

    from stack import free_port
    from targets.bigquery import BigQueryClient
    from targets.errors import TransientError
    from tests.netproxy import TcpProxy
    port = int(bq_client.settings.storage_endpoint.rsplit(":", 1)[1])
    proxy = TcpProxy(port, stall_after_bytes=1).start()
    try:
        for endpoint in (f"127.0.0.1:{free_port()}", f"127.0.0.1:{proxy.port}"):  # refused; stalled
            client = BigQueryClient(dataclasses.replace(bq_client.settings, storage_endpoint=endpoint, io_timeout=3.0))
            t0 = time.monotonic()
            with pytest.raises(TransientError):
                client.export("SELECT 1 AS one", tmp_path / "out.csv")
            assert time.monotonic() - t0 < 30, endpoint
            assert not (tmp_path / "out.csv").exists()
    finally:
        proxy.stop()
    left = [t.table_id for t in bq_client.bq.list_tables(f"{bq_client.settings.project}.etl_scratch")]
    assert not [t for t in left if t.startswith("export_")], left


@pytest.mark.parametrize("path", ["storage", "pages"])
def test_export_writes_what_the_library_rows_would(bq_client, bq_pages_client, tmp_path, path):
    bq_client = bq_client if path == "storage" else bq_pages_client
    # the export reads BigQuery's JSON pages itself (targets/bq_pages.py): every scalar type
    # must come out as the library's Python values formatted by the dialect would
    sql = ("SELECT * FROM UNNEST([STRUCT(1 AS id, 'a' AS s, TRUE AS b, 2.0 AS f, 2.5 AS g,"
           " NUMERIC '12.50' AS n, DATE '2026-02-28' AS d, DATETIME '2026-02-28 13:45:10' AS dtm,"
           " TIMESTAMP '2026-02-28 13:45:10+00' AS ts),"
           " STRUCT(2, NULL, FALSE, -0.125, 1e20, NUMERIC '3', NULL, NULL, NULL),"
           " STRUCT(3, 'x,\"y\"', NULL, NULL, NULL, NULL, DATE '2028-02-29', DATETIME '2028-02-29 00:00:00',"
           " TIMESTAMP '1999-12-31 23:59:59.5+00')]) ORDER BY id")
    dialect = CsvDialect(quoting="all", true="Y", false="N", date_format="%m/%d/%Y",
                         datetime_format="%Y%m%d %H:%M:%S")
    bq_client.export(sql, tmp_path / "out.csv", dialect=dialect)
    expected = [[dialect.format(v) for v in row.values()] for row in bq_client.bq.query(sql).result()]
    with open(tmp_path / "out.csv", newline="") as fh:
        assert list(csv.reader(fh))[1:] == expected
    assert expected[0][:4] == ["1", "a", "Y", "2"] and expected[1][1:3] == ["", "N"]


def test_arrow_writes_the_bytes_csv_writer_writes(bq_client, tmp_path, monkeypatch):
    """An export of strings, integers, booleans and dates through the Storage Read API is
    written from the record batches by Arrow's kernels (formats/arrow_csv.py csv_text): byte
    for byte what csv.writer writes from the rows' Python values, in every dialect tried."""
    import formats.arrow_csv
    import targets.bq_csv
    ds = _ds()
    values = ["plain", "", "comma, in it", 'quote " in it', "new\nline", "tab\tin", "pipe|in", "carriage\rreturn",
              "Zoë 😀", " lead", None]
    f = _write(tmp_path / "v.csv", "id,name,active,born\n" + "".join(
        f"{i},{'' if v is None else chr(34) + v.replace(chr(34), chr(34) * 2) + chr(34)},"
        f"{['true', 'false', ''][i % 3]},{'' if i % 5 == 0 else f'2015-{i % 12 + 1:02d}-{i % 28 + 1:02d}'}\n"
        for i, v in enumerate(values * 40)))
    bq_client.load_file(f, f"{ds}.v", schema=[("id", "INT64"), ("name", "STRING"), ("active", "BOOL"), ("born", "DATE")])
    calls = []
    real = formats.arrow_csv.csv_text
    monkeypatch.setattr(formats.arrow_csv, "csv_text", lambda *a: calls.append(1) or real(*a))
    for i, dialect in enumerate([CsvDialect(), CsvDialect(quoting="all", line_ending="\r\n", true="1", false="0"),
                                 CsvDialect(delimiter="|", date_format="%m/%d/%Y", true="Y", false="N"),
                                 CsvDialect(delimiter="\t", quote_header=False, quoting="all")]):
        sql = f"SELECT id AS Student_id, name AS Name, active AS Active, born AS DOB FROM {ds}.v ORDER BY id"
        monkeypatch.setattr(targets.bq_csv, "ARROW_TEXT", True)
        before = len(calls)
        arrow = bq_client.export(sql, tmp_path / f"arrow{i}.csv", dialect=dialect)
        assert len(calls) > before, "the export did not go through Arrow's writer"
        monkeypatch.setattr(targets.bq_csv, "ARROW_TEXT", False)
        through_arrow = len(calls)
        python = bq_client.export(sql, tmp_path / f"python{i}.csv", dialect=dialect)
        assert len(calls) == through_arrow, "ARROW_TEXT = False still went through Arrow's writer"
        assert (tmp_path / f"arrow{i}.csv").read_bytes() == (tmp_path / f"python{i}.csv").read_bytes(), dialect
        assert arrow.rows == python.rows == 440 and arrow.sha256 == python.sha256


def test_a_dataset_is_looked_up_before_it_is_created_and_its_location_checked(bq_client):
    """datasets.create was asked on every load, view and export (exists_ok), which a
    least-privilege account may not; now a dataset is looked up first and created only when
    absent. One in another location than [bigquery] location is a ConfigError naming both
    (every job there would fail with "Not found … in location")."""
    import dataclasses

    from google.cloud import bigquery

    from targets.bigquery import BigQueryClient
    from targets.errors import ConfigError
    ds = _ds()
    eu = bigquery.Dataset(f"{bq_client.settings.project}.{ds}")
    eu.location = "EU"
    bq_client.bq.create_dataset(eu)
    client = BigQueryClient(dataclasses.replace(bq_client.settings, location="US"))
    with pytest.raises(ConfigError, match=rf"dataset {bq_client.settings.project}.{ds} is in location EU, but "
                                          r"\[bigquery\] location is US"):
        client.ensure_dataset(ds)
    client = BigQueryClient(dataclasses.replace(bq_client.settings, location="EU"))
    created = []
    client.bq.create_dataset = lambda *a, **kw: created.append(a)  # never asked for one that exists
    client.ensure_dataset(ds)
    assert created == []
    fresh = _ds()
    BigQueryClient(dataclasses.replace(bq_client.settings, location="EU")).ensure_dataset(fresh)
    assert bq_client.bq.get_dataset(f"{bq_client.settings.project}.{fresh}").location == "EU"
