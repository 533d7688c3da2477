"""OneRoster vendors added as tables (tests/fixtures/vendors/classlink.toml: 1.2 with deltas;
hmh.toml: 1.1, bulk) pushed over a week of the synthetic district in which people move
schools, leave, and a push fails: every zip that leaves passes our OneRoster validator, the
sourcedIds of the same person, class and org never change, a delta carries exactly what
changed since the last successful push (found in the ledger), a failed push and a refused
one do not move that baseline, a day with no change sends nothing, --bulk sends the whole
roster, and a roster the binding refuses is not sent, the refusal naming the rule."""
import csv
import datetime as dt
import io
import re
import zipfile

import luigi
import luigi.configuration

from formats.oneroster_package import check_package
from ops.status import report as status
from pipelines.failures import RunReport
from pipelines.vendors import VendorPush
from targets import clock
from targets.bigquery import BigQueryClient
from tests.ledger import ledger_rows, open_ledger

DAY = dt.date(2026, 11, 24)
CST = dt.timezone(dt.timedelta(hours=-6))


def _on(day: dt.date) -> None:
    clock.set_now(dt.datetime.combine(day, dt.time(5, 0), tzinfo=CST))


def _push(vendor: str, day: dt.date, **kw) -> bool:
    _on(day)
    return luigi.build([VendorPush(vendor=vendor, date=day, **kw)], local_scheduler=True)


def _members(zip_path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(zip_path) as zf:
        return {n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8")))) for n in zf.namelist()}


def _manifest(members) -> dict[str, str]:
    return {r["propertyName"]: r["value"] for r in members["manifest.csv"]}


def _sql(ds: str, statement: str) -> None:
    BigQueryClient.from_config().query(statement.replace("{ds}", ds))


def test_a_week_of_oneroster_pushes(oneroster_vendors, loaded_district, pg_settings, stack_var):
    ds = loaded_district
    classlink, hmh = oneroster_vendors["classlink"][2], oneroster_vendors["hmh"][2]

    # day 1: the first push of each is the whole roster
    assert _push("classlink", DAY) and _push("hmh", DAY)
    report = check_package(classlink / "oneroster.zip")
    assert [str(p) for p in report.problems] == [] and report.version == "1.2"
    first = _members(classlink / "oneroster.zip")
    assert _manifest(first)["file.users"] == "bulk" and _manifest(first)["file.userProfiles"] == "absent"
    assert _manifest(first)["source.systemName"] == "Springfield ETL"
    assert all(r["status"] == "" and r["dateLastModified"] == "" for r in first["users.csv"])
    old = check_package(hmh / "HMH_OneRoster.zip")
    assert [str(p) for p in old.problems] == [] and old.version == "1.1"
    assert "roles.csv" not in _members(hmh / "HMH_OneRoster.zip")  # 1.1 has no roles file
    (note,) = [r[0] for r in ledger_rows(pg_settings, "note", job="push_classlink")]
    assert note.startswith("bulk (no earlier push)")
    users = {r["identifier"]: r["sourcedId"] for r in first["users.csv"]}

    # day 2: a student moves schools, another leaves
    mover, leaver = "100000", "100001"
    _sql(ds, f"UPDATE `{{ds}}.students` SET SchoolID = '201' WHERE Student_Number = '{mover}'")
    _sql(ds, f"UPDATE `{{ds}}.students` SET Enroll_Status = 2 WHERE Student_Number = '{leaver}'")
    day2 = DAY + dt.timedelta(days=1)
    assert _push("classlink", day2)
    report = check_package(classlink / "oneroster.zip")
    assert [str(p) for p in report.problems] == []  # a delta, checked whole by the validator
    delta = _members(classlink / "oneroster.zip")
    manifest = _manifest(delta)
    assert manifest["file.users"] == "delta" and manifest["file.orgs"] == "absent"  # orgs did not change
    assert "orgs.csv" not in delta
    by_id = {r["sourcedId"]: r for r in delta["users.csv"]}
    assert set(by_id) == {users[mover], users[leaver]}  # the same sourcedIds as on day 1
    assert by_id[users[mover]]["status"] == "active" and by_id[users[mover]]["primaryOrgSourcedId"] == "sch-201"
    assert by_id[users[leaver]]["status"] == "tobedeleted"
    (stamp,) = {r["dateLastModified"] for r in delta["users.csv"]}  # one moment for the package, in UTC
    assert stamp.startswith("2026-11-25T11:0") and stamp.endswith("Z")
    roles = {r["sourcedId"]: r["status"] for r in delta["roles.csv"]}
    assert roles[f"rol-stu-{mover}-201"] == "active" and roles[f"rol-stu-{leaver}-" + next(
        r["orgSourcedId"] for r in first["roles.csv"] if r["userSourcedId"] == users[leaver])[4:]] == "tobedeleted"
    assert {r["status"] for r in delta["enrollments.csv"]} == {"tobedeleted"}  # the leaver's, and nobody new
    (_, note2) = [r[0] for r in ledger_rows(pg_settings, "note", job="push_classlink")]
    assert note2.startswith("delta since the push of 2026-11-24: ") and "users +0 ~1 -1" in note2

    # day 3: nothing changed: nothing is sent, the ledger says so
    day3 = day2 + dt.timedelta(days=1)
    sent2 = (classlink / "oneroster.zip").read_bytes()
    assert _push("classlink", day3)
    assert (classlink / "oneroster.zip").read_bytes() == sent2
    (rows3, note3) = ledger_rows(pg_settings, "rows, note", job="push_classlink")[-1]
    assert rows3 == 0 and note3.endswith("nothing changed; nothing sent")

    # day 4: a change, and the vendor's server is down: the push fails, the baseline stays day 3
    _sql(ds, "UPDATE `{ds}.students` SET Last_Name = 'Renamed' WHERE Student_Number = '100002'")
    day4 = day3 + dt.timedelta(days=1)
    parser = luigi.configuration.get_config()
    port = parser.get("sftp_classlink", "port")
    parser.set("sftp_classlink", "port", "1")
    with RunReport("./run.sh luigi --module pipelines.vendors VendorPush --vendor classlink", mail=False):
        assert not _push("classlink", day4)
    parser.set("sftp_classlink", "port", port)
    assert ledger_rows(pg_settings, "item, run_date, status", job="push_classlink")[-1] == ("oneroster.zip", day4,
                                                                                          "failed")
    # day 5: another change; the delta holds both, since day 3 (the last success)
    _sql(ds, "UPDATE `{ds}.students` SET First_Name = 'Newname' WHERE Student_Number = '100003'")
    day5 = day4 + dt.timedelta(days=1)
    assert _push("classlink", day5)
    delta5 = _members(classlink / "oneroster.zip")
    assert sorted(r["identifier"] for r in delta5["users.csv"]) == ["100002", "100003"]
    note5 = ledger_rows(pg_settings, "note", job="push_classlink")[-1][0]
    assert note5.startswith("delta since the push of 2026-11-26: ")

    # day 6: --bulk sends the whole roster; every sourcedId of day 1 that is still there is unchanged
    day6 = day5 + dt.timedelta(days=1)
    assert _push("classlink", day6, bulk=True)
    whole = _members(classlink / "oneroster.zip")
    assert _manifest(whole)["file.users"] == "bulk"
    now = {r["identifier"]: r["sourcedId"] for r in whole["users.csv"]}
    assert {k: v for k, v in users.items() if k in now} == {k: v for k, v in now.items() if k in users}
    assert leaver not in now and ledger_rows(pg_settings, "note", job="push_classlink")[-1][0].startswith("bulk (forced); ")
    for members in (first, whole):  # unique also regardless of case, in every file
        for name, rows in members.items():
            if name != "manifest.csv":
                ids = [r["sourcedId"].casefold() for r in rows]
                assert len(ids) == len(set(ids)), name

    # day 7: a student without a first name: the push is refused naming the rule, nothing leaves
    _sql(ds, "UPDATE `{ds}.students` SET First_Name = '' WHERE Student_Number = '100004'")
    day7 = day6 + dt.timedelta(days=1)
    sent6 = (classlink / "oneroster.zip").read_bytes()
    with RunReport("./run.sh luigi --module pipelines.vendors VendorPush --vendor classlink", mail=False):
        assert not _push("classlink", day7)
    assert (classlink / "oneroster.zip").read_bytes() == sent6
    ((error, run_date),) = ledger_rows(pg_settings, "error, run_date", job="CheckVendorFiles")  # the refusal's row
    assert run_date == day7 and "classlink push refused" in error
    assert re.search(r"users\.csv, row \d+, column givenName: required value is empty", error), error
    # day 8: the name mended; the delta is since day 6, the last push that succeeded (the
    # refusal of day 7 did not move it)
    _sql(ds, "UPDATE `{ds}.students` SET First_Name = 'Mended' WHERE Student_Number = '100004'")
    day8 = day7 + dt.timedelta(days=1)
    assert _push("classlink", day8)
    assert ledger_rows(pg_settings, "note", job="push_classlink")[-1][0].startswith(
        "delta since the push of 2026-11-29: ")
    assert [r["identifier"] for r in _members(classlink / "oneroster.zip")["users.csv"]] == ["100004"]
    # what an operator sees: the day of the outage lists the failed push, day 8 its success
    assert re.search(r"classlink\s+FAILED\n\s+oneroster\.zip\s+FAILED", status(open_ledger(pg_settings), day4))
    day8_status = status(open_ledger(pg_settings), day8)
    assert "  classlink    sent: 1 file, 1 row" in day8_status  # the delta's one row, and what it was
    assert "delta since the push of 2026-11-29: users +0 ~1 -0" in day8_status
