"""Vendor views: deployed from sql/views, each export equal to a golden file built from a
small fixed synthetic district (regenerate deliberately: ETL_UPDATE_GOLDEN=1)."""
import datetime as dt
import os
from pathlib import Path

import luigi
import luigi.configuration
import pytest

from pipelines.views import DeployViews, export_query, render, view_columns, view_files
from formats.csv_dialect import CsvDialect
from targets.bigquery import BigQueryClient
from targets.errors import ConfigError

DAY = dt.date(2026, 11, 24)
GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "views"
SAVVAS = CsvDialect(quoting="all")


def test_every_view_matches_its_golden_file(loaded_district, tmp_path):
    assert luigi.build([DeployViews()], local_scheduler=True)
    client = BigQueryClient.from_config()
    update = os.environ.get("ETL_UPDATE_GOLDEN") == "1"
    views = view_files()
    assert len(views) == 29  # 19 vendor views, 9 OneRoster views, the PowerSchool import
    mismatched = []
    for view in views:
        sql, header = export_query(client, view)
        name = view.split(".", 1)[1]
        dialect = SAVVAS if name.startswith("SAVVAS_") else CsvDialect()
        got = tmp_path / "export" / f"{name}.csv"
        out = client.export(sql + " ORDER BY " + ", ".join(f"`{c}`" for c in header), got, dialect=dialect,
                            header=header)
        assert out.rows > 0, view
        golden = GOLDEN / f"{name}.csv"
        if update:
            golden.write_bytes(got.read_bytes())
        elif golden.read_bytes() != got.read_bytes():
            mismatched.append(name)
    assert not mismatched, f"exports differ from tests/fixtures/views: {mismatched}"


def test_views_are_redeployed_only_when_their_sql_changes(loaded_district, monkeypatch):
    client = BigQueryClient.from_config()
    assert luigi.build([DeployViews()], local_scheduler=True)
    calls = []
    real = BigQueryClient.deploy_view
    monkeypatch.setattr(BigQueryClient, "deploy_view", lambda self, v, s: calls.append(v) or real(self, v, s))
    assert luigi.build([DeployViews()], local_scheduler=True)
    assert calls == []
    luigi.configuration.get_config().set("district", "name", "Renamed District")
    assert luigi.build([DeployViews()], local_scheduler=True)
    assert sorted(calls) == ["roster_files.OneRoster_orgs", "roster_files.SAVVAS_CODE_DISTRICT"]  # they show the name
    assert client.query("SELECT district_name AS district_name FROM roster_files.SAVVAS_CODE_DISTRICT") == \
        [{"district_name": "Renamed District"}]


def test_view_columns_and_placeholders():
    sql = view_files()["roster_files.Clever_students"].read_text()
    assert view_columns(sql)[:3] == ["School_id", "Student_id", "Student_number"]
    assert view_columns(view_files()["roster_files.OTUS_Attendance_Discipline"].read_text()) == [
        "Student_Email", "SIS_ID", "School_ID", "Date", "Record_Type", "Status", "Note"]
    with pytest.raises(ConfigError, match=r"no value for placeholder \{district_code\}"):
        render("SELECT '{district_code}' AS x", {"project": "p"})
