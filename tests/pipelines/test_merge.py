"""Bluff + ASD merge: aligned headers, a source column, conflicting duplicates reported."""
import csv
import datetime as dt
import io
import uuid

import luigi
import luigi.configuration
import pytest

from pipelines.base import ROOT
from pipelines.merge import merge
from pipelines.warehouse import BigQueryOperations
from registry.sources import Merge, MergeInput
from stack.district import generate_merge_inputs
from targets.bigquery import BigQueryClient
from targets.errors import BadInputError

DAY = dt.date(2026, 11, 24)
SPEC = Merge(name="s", inputs=[MergeInput(file="a/students.csv", source="Bluff"),
                               MergeInput(file="b/students.csv", source="ASD")],
             output="out/students.csv", key=["Student_Number"])


def _files(tmp_path, a: str, b: bytes):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "students.csv").write_text(a, encoding="utf-8")
    (tmp_path / "b" / "students.csv").write_bytes(b)


def test_headers_aligned_across_order_case_extras_and_encoding(tmp_path):
    _files(tmp_path, "Student_Number,Last_Name,Grade\n1,Peña,5\n2,O'Brien,6\n",
           " last_name ,STUDENT_NUMBER,Grade,Counselor\r\nMüller,3,7,C1\r\n".encode("cp1252"))
    out = io.StringIO()
    result = merge(SPEC, tmp_path, out)
    assert result.columns == ["Source", "Student_Number", "Last_Name", "Grade", "Counselor"]
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["Source", "Student_Number", "Last_Name", "Grade", "Counselor"],
        ["Bluff", "1", "Peña", "5", ""], ["Bluff", "2", "O'Brien", "6", ""], ["ASD", "3", "Müller", "7", "C1"]]
    assert result.rows == 3 and result.conflicts == []


def test_conflicting_duplicates_are_reported_by_id_and_column(tmp_path):
    _files(tmp_path, "Student_Number,Last_Name,Grade\n1,Peña,5\n2,Kim,6\n",
           b"student_number,last_name,grade\n1,Pena,5\n2,Kim,6\n")
    result = merge(SPEC, tmp_path, io.StringIO())
    assert result.rows == 4  # both rows of each duplicate are kept, with their source
    assert result.conflicts == [{"key": "1", "sources": "Bluff|ASD", "differing_columns": "Last_Name"}]


def test_broken_inputs_name_file_row_and_rule(tmp_path):
    _files(tmp_path, "Student_Number,Last_Name\n1,a,extra\n", b"student_number,last_name\n2,b\n")
    with pytest.raises(BadInputError, match=r"a/students.csv, row 2: has 3 fields, the header has 2"):
        merge(SPEC, tmp_path, io.StringIO())
    (tmp_path / "a" / "students.csv").write_text("Last_Name\nx\n")
    with pytest.raises(BadInputError, match="key column 'Student_Number' is missing"):
        merge(SPEC, tmp_path, io.StringIO())


def test_stacked_file_loads_before_the_0300_load_and_reruns_are_noops(google_stack, stack_config, tmp_path):
    from stack.google_stack import grant_dataset
    ds = f"ps_{uuid.uuid4().hex[:8]}"
    grant_dataset(google_stack, ds)  # made and granted by the administrator
    reg = tmp_path / "sources.toml"
    reg.write_text((ROOT / "sources.toml").read_text().replace('table = "powerschool.', f'table = "{ds}.'))
    luigi.configuration.get_config().set("warehouse", "sources_file", str(reg))
    data = tmp_path / "data"
    generate_merge_inputs(data, seed=3, students=20)
    assert luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    rows = BigQueryClient.from_config().query(
        f"SELECT Source, COUNT(*) AS n FROM {ds}.bluff_asd_students GROUP BY Source ORDER BY Source")
    assert rows == [{"Source": "ASD", "n": 13}, {"Source": "Bluff", "n": 13}]
    report = (data / "reports" / "stacking-bluff_asd_students-2026-11-24.csv").read_text().splitlines()
    assert report[0] == "key,sources,differing_columns" and report[1].endswith(",Bluff|ASD,Grade_Level")
    stacked = (data / "powerschool_combined" / "bluff_asd_students.csv").stat().st_mtime_ns
    assert luigi.build([BigQueryOperations(date=DAY)], local_scheduler=True)
    assert (data / "powerschool_combined" / "bluff_asd_students.csv").stat().st_mtime_ns == stacked
