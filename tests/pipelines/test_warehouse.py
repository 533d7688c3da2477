"""Warehouse load end to end: folder → GCS emulator → BigQuery emulator → query back, with
the ledger in the embedded PostgreSQL."""
import csv
import datetime as dt
import json
import uuid

import luigi
import luigi.configuration
import openpyxl
import pytest

from pipelines.warehouse import BigQueryOperations, BigQueryOperationsMisc
from registry.sources import load_sources
from targets.bigquery import BigQueryClient
from targets.gcs import GcsArchive
from targets.errors import ConfigError
from tests.ledger import ledger_rows

DAY = dt.date(2026, 11, 24)


@pytest.fixture
def env(google_stack, stack_config, tmp_path, pg_settings):
    """Config pointing at a registry whose datasets are unique to this test."""
    ds = f"w{uuid.uuid4().hex[:8]}"
    reg = tmp_path / "sources.toml"
    reg.write_text(f'''
[[source]]
folder = "powerschool_combined"
pattern = "students.csv"
table = "{ds}_ps.students"
columns = ["Student_Number:STRING", "Last_Name:STRING", "Grade_Level:INT64", "DOB:DATE"]

[[source]]
folder = "eis"
pattern = "*.txt"
table = "{ds}_eis.adm_{{date}}"
delimiter = "|"
encoding = "ISO-8859-1"

[[source]]
folder = "misc_imports"
pattern = "*.xlsx"
table = "{ds}_misc.{{stem}}"
format = "xlsx"
''')
    from stack.google_stack import grant_dataset
    for dataset in (f"{ds}_ps", f"{ds}_eis", f"{ds}_misc"):  # made and granted by the administrator
        grant_dataset(google_stack, dataset)
    parser = luigi.configuration.get_config()
    parser.set("warehouse", "sources_file", str(reg))
    data = tmp_path / "data"
    for folder in ("powerschool_combined", "eis", "misc_imports"):
        (data / folder).mkdir(parents=True)
    return {"ds": ds, "data": data, "settings": pg_settings, "stack": google_stack}


def _students(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["Student_Number", "Last_Name", "Grade_Level", "DOB"])
        writer.writerows(rows)


def _ledger(settings):
    return ledger_rows(settings, "item, status, rows, error")


def test_folder_to_gcs_to_bigquery_then_noop_then_replace(env):
    data, ds = env["data"], env["ds"]
    _students(data / "powerschool_combined" / "students.csv",
              [("000123", "O'Brien, Jr.", 0, "2020-05-01"), ("000124", "Zoë", -1, "2021-01-31")])
    (data / "eis" / "adm_audit.txt").write_bytes("id|school|name\n1|101|Müller\n2|102|Peña\n".encode("latin-1"))
    wb = openpyxl.Workbook()
    wb.active.append(["Email", "Password_Set"])
    wb.active.append(["a@students.example", True])
    wb.save(data / "misc_imports" / "google_addresses.xlsx")
    (data / "misc_imports" / "notes.docx").write_bytes(b"not a source")

    assert luigi.build([BigQueryOperations(date=DAY), BigQueryOperationsMisc(date=DAY)], local_scheduler=True)
    bq = BigQueryClient.from_config()
    assert bq.query(f"SELECT Student_Number, Last_Name, Grade_Level, DOB FROM {ds}_ps.students ORDER BY 1") == [
        {"Student_Number": "000123", "Last_Name": "O'Brien, Jr.", "Grade_Level": 0, "DOB": dt.date(2020, 5, 1)},
        {"Student_Number": "000124", "Last_Name": "Zoë", "Grade_Level": -1, "DOB": dt.date(2021, 1, 31)}]
    assert [r["name"] for r in bq.query(f"SELECT name FROM {ds}_eis.adm_20261124 ORDER BY id")] == ["Müller", "Peña"]
    assert bq.query(f"SELECT Email FROM {ds}_misc.google_addresses") == [{"Email": "a@students.example"}]
    gcs = GcsArchive.from_config()
    raw = gcs.read(f"gs://{gcs.settings.bucket}/powerschool_combined/2026-11-24/students.csv")
    assert raw == (data / "powerschool_combined" / "students.csv").read_bytes()
    summary = json.loads((data / "reports" / "BigQueryOperationsMisc-2026-11-24.json").read_text())
    assert summary["unmatched"] == ["misc_imports/notes.docx"]
    assert [r[1] for r in _ledger(env["settings"])] == ["succeeded"] * 3

    # rerun: nothing loads again
    assert luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    assert len(_ledger(env["settings"])) == 3

    # a run killed after its loads, before its summary: the rerun writes the summary, loads nothing
    (data / "reports" / "BigQueryOperationsMisc-2026-11-24.json").unlink()
    assert not BigQueryOperationsMisc(date=DAY).complete()
    assert luigi.build([BigQueryOperationsMisc(date=DAY)], local_scheduler=True)
    assert (data / "reports" / "BigQueryOperationsMisc-2026-11-24.json").exists()
    assert len(_ledger(env["settings"])) == 3

    # a changed file for the same date replaces the table's rows, never adds to them
    _students(data / "powerschool_combined" / "students.csv", [("000125", "Nguyen", 12, "2008-03-03")])
    assert luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    assert bq.query(f"SELECT Student_Number FROM {ds}_ps.students") == [{"Student_Number": "000125"}]
    statuses = [(r[0], r[1]) for r in _ledger(env["settings"]) if r[0].endswith("students.csv")]
    assert statuses == [("powerschool_combined/students.csv", "superseded"),
                        ("powerschool_combined/students.csv", "succeeded")]


@pytest.mark.parametrize("content,rule", [
    ("Student_Number,Grade_Level,Last_Name,DOB\n1,2,x,2020-01-01\n", "same columns in another order"),
    ("Student_Number,Last_Name,Grade\n1,x,2\n", "missing Grade_Level, DOB; unexpected Grade"),
])
def test_bad_file_goes_to_error_folder_and_others_still_load(env, content, rule):
    data, ds = env["data"], env["ds"]
    (data / "powerschool_combined" / "students.csv").write_text(content)
    (data / "eis" / "adm.txt").write_bytes("id|name\n1|ok\n".encode("latin-1"))
    assert not luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    assert not (data / "powerschool_combined" / "students.csv").exists()
    assert (data / "powerschool_combined" / "error" / "2026-11-24" / "students.csv").read_text() == content
    ledger = {r[0]: r for r in _ledger(env["settings"])}
    bad = ledger["powerschool_combined/students.csv"]
    assert bad[1] == "failed" and "header does not match the registry" in bad[3] and rule in bad[3]
    assert "row 1" in bad[3]
    assert ledger["eis/adm.txt"][1] == "succeeded"
    assert BigQueryClient.from_config().query(f"SELECT name FROM {ds}_eis.adm_20261124") == [{"name": "ok"}]
    # the rerun does not trip over the quarantined file
    assert luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)


def test_undecodable_bytes_name_the_row(env):
    data = env["data"]
    (data / "eis" / "bad.txt").write_bytes(b"id|name\n1|ok\n2|\xff\xfe\n")
    # the registry says ISO-8859-1 for eis, which decodes any byte: use a UTF-8 source instead
    _students(data / "powerschool_combined" / "students.csv", [("1", "ok", 1, "2020-01-01")])
    with open(data / "powerschool_combined" / "students.csv", "ab") as fh:
        fh.write(b"2,Caf\xe9,1,2020-01-01\n")
    assert not luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    ledger = {r[0]: r for r in _ledger(env["settings"])}
    assert "row 3" in ledger["powerschool_combined/students.csv"][3]
    assert "not valid UTF-8" in ledger["powerschool_combined/students.csv"][3]
    assert ledger["eis/bad.txt"][1] == "succeeded"


def test_registry_errors_name_the_entry(tmp_path):
    reg = tmp_path / "s.toml"
    reg.write_text('[[source]]\nfolder = "x"\npattern = "*.csv"\n')
    with pytest.raises(ConfigError, match=r"s.toml: source\[0\].table: Field required"):
        load_sources(reg)
    reg.write_text('[[source]]\nfolder = "x"\npattern = "*.csv"\ntable = "a.b"\n\n'
                   '[[source]]\nfolder = "x"\npattern = "*.csv"\ntable = "a.b"\nformat = "json"\n')
    with pytest.raises(ConfigError, match=r"s.toml: source\[1\].format: Input should be 'csv', 'txt'"):
        load_sources(reg)
    reg.write_text('[[source]]\nfolder = "x"\npattern = "*.csv"\ntable = "a.b"\ncolumns = ["A:TEXT"]\n')
    with pytest.raises(ConfigError, match=r"source\[0\].columns: .*'TEXT' is not a BigQuery type"):
        load_sources(reg)
    reg.write_text('[[source]]\nfolder = "x"\npattern = "*.csv"\ntable = "a.b"\nencoding = "latin-9x"\n')
    with pytest.raises(ConfigError, match=r"source\[0\].encoding: .*unknown encoding 'latin-9x'"):
        load_sources(reg)


def test_shipped_registry_matches_the_synthetic_district(tmp_path):
    from pipelines.base import ROOT
    from stack.district import FILES, generate
    reg = load_sources(ROOT / "sources.toml")
    generate(tmp_path, students=50)
    for name in FILES:
        src = reg.match("powerschool_combined", name)
        assert src is not None, name
        header = (tmp_path / name).read_text().splitlines()[0].split(",")
        assert [c for c, _ in src.schema] == header, name


def test_a_past_day_loads_its_archived_copy_or_refuses(env):
    """--date is the data: a load for an earlier day takes that day's archived copy from GCS
    (not what lies in the folder today); a day with nothing archived is refused."""
    from pipelines.failures import RunReport
    from targets import clock
    data, ds = env["data"], env["ds"]
    from stack.google_stack import grant_bucket
    bucket = f"w-{uuid.uuid4().hex[:10]}"
    grant_bucket(env["stack"], bucket)  # made and granted by the administrator
    luigi.configuration.get_config().set("gcs", "bucket", bucket)
    _students(data / "powerschool_combined" / "students.csv", [("000123", "Kim", 3, "2017-05-01")])
    assert luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    clock.set_now(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))))
    _students(data / "powerschool_combined" / "students.csv", [("000999", "Lee", 4, "2016-01-01")])
    assert luigi.build([BigQueryOperations(date=DAY + dt.timedelta(days=1))], local_scheduler=True)
    bq = BigQueryClient.from_config()
    assert bq.query(f"SELECT Student_Number FROM {ds}_ps.students") == [{"Student_Number": "000999"}]
    # the 24th is loaded again (its ledger rows cleared, as an operator would): its own copy comes back
    conn = env["settings"].connect()
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM dba.tdataloads WHERE run_date = '2026-11-24'")
    conn.close()
    from targets.ledger import Ledger
    Ledger.of().forget()
    assert luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    assert bq.query(f"SELECT Student_Number FROM {ds}_ps.students") == [{"Student_Number": "000123"}]
    ((source, status),) = ledger_rows(env["settings"], "source, status", job="warehouse")[-1:]
    assert status == "succeeded" and source.endswith("/powerschool_combined/2026-11-24/students.csv")
    # nothing archived on the 20th: refused, nothing loaded
    with RunReport("x", mail=False):
        result = luigi.build([BigQueryOperations(date=dt.date(2026, 11, 20))], local_scheduler=True,
                             detailed_summary=True)
    assert result.status.name == "FAILED"
    ((error,),) = ledger_rows(env["settings"], "error", job="NothingArchived")
    assert "BigQueryOperations for 2026-11-20: the archive holds no files of powerschool_combined, eis" in error
