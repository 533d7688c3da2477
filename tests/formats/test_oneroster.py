"""OneRoster CSV packages checked to the letter of the bindings (formats/oneroster.py,
formats/oneroster_package.py). The golden packages under tests/fixtures/oneroster are built
from the binding's tables, one per version, and pass; each bad package breaks one rule of the
binding and is caught with that rule's message, naming file, row and column."""
import re
import shutil
import zipfile
from pathlib import Path

import pytest

import formats.rules
from formats.oneroster import TABLES, header, manifest_properties
from formats.oneroster_package import check_package

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "oneroster"
FOLDER = {"1.1": "v1p1", "1.2": "v1p2"}


@pytest.fixture(autouse=True, params=["arrow", "exact"])
def engine(request, monkeypatch):
    """Every test with the rule engine's fast pass first and with its exact pass alone: the
    problems must not depend on which ran."""
    monkeypatch.setattr(formats.rules, "FAST", request.param == "arrow")
    return request.param


def _zip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    return out


def package(tmp_path: Path, version: str = "1.2", **edits) -> Path:
    """The golden package of ``version`` as a zip, with ``edits``: file (without .csv) → a
    function of its text returning the new text, or None to leave the file out."""
    folder = tmp_path / "pkg"
    shutil.copytree(GOLDEN / FOLDER[version], folder)
    for name, edit in edits.items():
        path = folder / f"{name}.csv"
        if edit is None:
            path.unlink()
        else:
            path.write_text(edit(path.read_text(encoding="utf-8") if path.exists() else ""), encoding="utf-8")
    return _zip(folder, tmp_path / "package.zip")


def sub(old: str, new: str, count: int = 1):
    def edit(text: str) -> str:
        assert text.count(old) >= count, f"{old!r} is not in the golden file"
        return text.replace(old, new, count)
    return edit


def problems(path: Path) -> list[str]:
    return [str(p) for p in check_package(path).problems]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_golden_packages_pass_and_say_their_version(tmp_path, version, engine):
    report = check_package(package(tmp_path, version))
    assert [str(p) for p in report.problems] == []
    # lists, sourcedIds unique regardless of case, empty status: Arrow's kernels check them too
    assert set(report.read.values()) == {"arrow" if engine == "arrow" else "python"}
    assert (report.version, report.how) == (version, "manifest")
    assert report.rows["users.csv"] == 5 and report.rows["enrollments.csv"] == 4
    assert report.modes["users"] == "bulk" and report.modes["lineItems"] == "absent"


def test_the_golden_files_follow_the_binding_s_tables():
    """Headers in the binding's order, and a manifest that declares every file, in order."""
    for version, folder in FOLDER.items():
        for name in TABLES[version]:
            first = (GOLDEN / folder / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0]
            assert first.split(",") == header(version, name)
        manifest = (GOLDEN / folder / "manifest.csv").read_text(encoding="utf-8").splitlines()
        assert [line.split(",")[0] for line in manifest[1:]] == manifest_properties(version)


BAD = [
    # (id, version, edits, the problem's text: file, row, column, rule)
    ("column order", "1.2", dict(orgs=sub("name,type", "type,name")),
     "orgs.csv, row 1: header is not OneRoster 1.2's exact header (same columns in another order)"),
    ("column missing", "1.1", dict(orgs=sub(",identifier,parentSourcedId", ",parentSourcedId")),
     "orgs.csv, row 1: header is not OneRoster 1.1's exact header (missing ['identifier'])"),
    ("header case", "1.2", dict(orgs=sub("sourcedId,status", "sourcedid,status")),
     "orgs.csv, row 1: header is not OneRoster 1.2's exact header (missing ['sourcedId'], unexpected ['sourcedid'])"),
    ("extension column not metadata.", "1.2", dict(orgs=sub("parentSourcedId\n", "parentSourcedId,x_note\n")),
     "orgs.csv, row 1: header is not OneRoster 1.2's exact header (unexpected ['x_note'])"),
    ("required value", "1.2", dict(orgs=sub("org-s10,,,North Elementary", "org-s10,,,")),
     "orgs.csv, row 3, column name: required value is empty"),
    ("date", "1.2", dict(academicSessions=sub("2026-08-17,2027-05-28,,2027", "2026/08/17,2027-05-28,,2027")),
     "academicSessions.csv, row 2, column startDate: not a date YYYY-MM-DD"),
    ("real date", "1.1", dict(academicSessions=sub("2027-01-05", "2027-02-30")),
     "academicSessions.csv, row 4, column startDate: not a real calendar date (date YYYY-MM-DD)"),
    ("year", "1.2", dict(academicSessions=sub(",as-2027,2027\n", ",as-2027,2026-27\n")),
     "academicSessions.csv, row 3, column schoolYear: not a year YYYY"),
    ("boolean", "1.2", dict(users=sub("usr-t2,,,true", "usr-t2,,,TRUE")),
     "users.csv, row 3, column enabledUser: not a boolean (true or false, in lower case)"),
    ("enumeration", "1.2", dict(orgs=sub("South High,school", "South High,campus")),
     "orgs.csv, row 4, column type: not a value of OrgType (department | school | district | local | state | "
     "national | ext:<name>)"),
    ("enumeration not extensible", "1.2", dict(roles=sub("usr-t1,primary", "usr-t1,ext:main")),
     "roles.csv, row 2, column roleType: not a value of RoleKind (primary | secondary)"),
    ("enumeration of 1.1", "1.1", dict(enrollments=sub("usr-s1,student", "usr-s1,guardian")),
     "enrollments.csv, row 3, column role: not a value of EnrolRole (administrator | proctor | student | teacher | "
     "ext:<name>)"),
    ("1.2 role is not 1.1's", "1.2", dict(roles=sub("usr-g1,primary,guardian", "usr-g1,primary,administrator")),
     "roles.csv, row 6, column role: not a value of RoleType"),
    ("grade in a list", "1.2", dict(courses=sub('"09,10"', '"9,10"')),
     "courses.csv, row 3, column grades: not a value of Grade"),
    ("list with an empty element", "1.2", dict(classes=sub('"as-2027-s1,as-2027-s2"', '"as-2027-s1,,as-2027-s2"')),
     "classes.csv, row 3, column termSourcedIds: a list with an empty element (a comma too many)"),
    ("user ids", "1.2", dict(users=sub("{LDAP:tteach}", "LDAP:tteach")),
     "users.csv, row 2, column userIds: not a user id {type:identifier}"),
    ("sourcedId unique regardless of case", "1.2",
     dict(orgs=sub("org-s40,,,South High", "ORG-S10,,,South High"),
          classes=sub("org-s40", "org-s10", 1), courses=sub("org-s40", "org-s10"),
          users=sub("org-s40", "org-s10"), roles=sub("org-s40", "org-s10"), enrollments=sub("org-s40", "org-s10", 2)),
     "orgs.csv, row 4, column sourcedId: ORG-S10 is not unique (first at row 3, compared regardless of case)"),
    ("enrollment to a class", "1.2", dict(enrollments=sub("enr-2,,,cls-m3-a", "enr-2,,,cls-m3-b")),
     "enrollments.csv, row 3, column classSourcedId: cls-m3-b is not a sourcedId in classes.csv"),
    ("enrollment to a user", "1.1", dict(enrollments=sub("usr-s2", "usr-s9")),
     "enrollments.csv, row 5, column userSourcedId: usr-s9 is not a sourcedId in users.csv"),
    ("enrollment to a school", "1.2", dict(enrollments=sub("cls-m3-a,org-s10,usr-t1", "cls-m3-a,org-s99,usr-t1")),
     "enrollments.csv, row 2, column schoolSourcedId: org-s99 is not a sourcedId in orgs.csv"),
    ("class to a course", "1.2", dict(classes=sub(",crs-alg1,", ",crs-alg2,")),
     "classes.csv, row 3, column courseSourcedId: crs-alg2 is not a sourcedId in courses.csv"),
    ("class to its terms", "1.1", dict(classes=sub('"as-2027-s1,as-2027-s2"', '"as-2027-s1,as-2027-s3"')),
     "classes.csv, row 3, column termSourcedIds: as-2027-s3 is not a sourcedId in academicSessions.csv"),
    ("course to an org", "1.2", dict(courses=sub(",03,org-s10,", ",03,org-s11,")),
     "courses.csv, row 2, column orgSourcedId: org-s11 is not a sourcedId in orgs.csv"),
    ("session to its parent", "1.2", dict(academicSessions=sub(",as-2027,2027\nas-2027-s2", ",as-2026,2027\nas-2027-s2")),
     "academicSessions.csv, row 3, column parentSourcedId: as-2026 is not a sourcedId in academicSessions.csv"),
    ("user to an org (1.1)", "1.1", dict(users=sub('"org-s40,org-s10"', '"org-s40,org-s12"')),
     "users.csv, row 3, column orgSourcedIds: org-s12 is not a sourcedId in orgs.csv"),
    ("user to an org (1.2)", "1.2", dict(users=sub(",,,org-s40,\n", ",,,org-s44,\n")),
     "users.csv, row 3, column primaryOrgSourcedId: org-s44 is not a sourcedId in orgs.csv"),
    ("user to an agent", "1.2", dict(users=sub(",usr-g1,03,", ",usr-g2,03,")),
     "users.csv, row 4, column agentSourcedIds: usr-g2 is not a sourcedId in users.csv"),
    ("role to a user", "1.2", dict(roles=sub("rol-s2,,,usr-s2", "rol-s2,,,usr-s3")),
     "roles.csv, row 5, column userSourcedId: usr-s3 is not a sourcedId in users.csv"),
    ("role to a profile", "1.2", dict(roles=sub(",prf-s1", ",prf-s2")),
     "roles.csv, row 4, column userProfileSourcedId: prf-s2 is not a sourcedId in userProfiles.csv"),
    ("demographics of a user", "1.2", dict(demographics=sub("usr-s2,,,2012", "usr-s7,,,2012")),
     "demographics.csv, row 3, column sourcedId: usr-s7 is not a sourcedId in users.csv"),
    ("bulk has no status", "1.2", dict(orgs=sub("org-d1,,,", "org-d1,active,,")),
     "orgs.csv, row 2, column status: must be empty (the manifest declares the file bulk)"),
    ("bulk has no dateLastModified", "1.1", dict(orgs=sub("org-d1,,,", "org-d1,,2026-12-08T05:00:00Z,")),
     "orgs.csv, row 2, column dateLastModified: must be empty (the manifest declares the file bulk)"),
    ("no data rows", "1.2", dict(userProfiles=lambda t: t.splitlines()[0] + "\n"),
     "userProfiles.csv: file has no data rows"),
    ("a quote that does not close", "1.2", dict(courses=sub('"Math,Algebra"', '"Math,Algebra')),
     "courses.csv, row 3: not readable as CSV"),
    ("declared absent, present", "1.2", dict(manifest=sub("file.demographics,bulk", "file.demographics,absent")),
     "demographics.csv: present, but the manifest declares it absent"),
    ("declared bulk, missing", "1.2", dict(userProfiles=None, roles=sub(",prf-s1", ",")),
     "userProfiles.csv: missing, but the manifest declares it bulk"),
    ("file not declared", "1.2", dict(manifest=sub("file.roles,bulk\n", "")),
     "manifest.csv, column propertyName: file.roles is not declared (every file is bulk, delta or absent)"),
    ("mode", "1.2", dict(manifest=sub("file.users,bulk", "file.users,full")),
     "manifest.csv, column value: file.users is 'full', not one of bulk | delta | absent"),
    ("unknown property", "1.1", dict(manifest=sub("file.users,bulk", "file.users,bulk\nfile.roles,absent")),
     "manifest.csv, column propertyName: file.roles is not a property of the OneRoster 1.1 manifest"),
    ("property twice", "1.2", dict(manifest=sub("file.orgs,bulk", "file.orgs,bulk\nfile.orgs,bulk")),
     "manifest.csv, row 16, column propertyName: file.orgs is declared twice"),
    ("manifest version", "1.2", dict(manifest=sub("manifest.version,1.0", "manifest.version,1.1")),
     "manifest.csv, column value: manifest.version is '1.1', not '1.0'"),
    ("OneRoster version", "1.2", dict(manifest=sub("oneroster.version,1.2", "oneroster.version,1.3")),
     "manifest.csv, column value: oneroster.version is '1.3', not one of 1.1 | 1.2"),
    ("manifest header", "1.2", dict(manifest=sub("propertyName,value", "property,value")),
     "manifest.csv, row 1: header is not propertyName,value"),
    ("no manifest", "1.2", dict(manifest=None),
     "manifest.csv: file is missing (every OneRoster package declares its files in one)"),
    ("a file outside the binding", "1.2", dict(notes=lambda _: "x\n"),
     "notes.csv: not a file of OneRoster 1.2"),
]


@pytest.mark.parametrize("version, edits, expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_each_rule_of_the_binding_is_caught_with_its_message(tmp_path, version, edits, expected):
    found = problems(package(tmp_path, version, **edits))
    assert any(p.startswith(expected) for p in found), found


def test_delta_needs_status_and_date_and_checks_no_reference_it_cannot_see(tmp_path):
    """A delta file carries status and dateLastModified on every row; its records may refer to
    records sent before, so references into a delta file are not checked."""
    def delta(text):
        lines = text.splitlines()
        return "\n".join([lines[0]] + [re.sub(r"^([^,]*),,,", r"\1,active,2026-12-08T05:00:00Z,", line)
                                       for line in lines[1:]]) + "\n"
    edits = {name: delta for name in ("users", "enrollments")}
    edits["manifest"] = lambda t: t.replace("file.users,bulk", "file.users,delta").replace(
        "file.enrollments,bulk", "file.enrollments,delta")
    good = package(tmp_path / "a", **edits)
    assert problems(good) == [] and check_package(good).modes["users"] == "delta"
    edits["enrollments"] = lambda t: delta(t).replace("usr-s2", "usr-s9").replace(
        "enr-1,active,2026-12-08T05:00:00Z", "enr-1,,2026-12-08T05:00:00Z").replace(
        "enr-3,active,2026-12-08T05:00:00Z", "enr-3,deleted,2026-12-08 05:00")
    found = problems(package(tmp_path / "b", **edits))
    assert found == ["enrollments.csv, row 2, column status: required value is empty",
                     "enrollments.csv, row 4, column status: not a status (active | tobedeleted)",
                     "enrollments.csv, row 4, column dateLastModified: not a date and time (ISO 8601 with its zone, "
                     "e.g. 2026-12-08T05:00:00Z)"]  # usr-s9: users.csv is a delta, perhaps sent before


def test_what_the_binding_allows_passes(tmp_path):
    """Extension values of an extensible enumeration, metadata.* columns to the right, a
    byte-order mark, an optional file declared absent and left out."""
    found = problems(package(
        tmp_path, "1.2",
        orgs=lambda t: "\ufeff" + t.replace("parentSourcedId\n", "parentSourcedId,metadata.region\n").replace(
            "\n", ",\n").replace("parentSourcedId,metadata.region,\n", "parentSourcedId,metadata.region\n").replace(
            "North Elementary,school", "North Elementary,ext:campus"),
        demographics=None, manifest=sub("file.demographics,bulk", "file.demographics,absent")))
    assert found == []


def test_the_zip_itself(tmp_path):
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        for f in sorted((GOLDEN / "v1p2").iterdir()):
            zf.write(f, f"export/{f.name}")
    found = problems(nested)
    assert "export/users.csv: inside a folder: the binding puts every file at the root of the zip" in found
    assert "manifest.csv: file is missing (every OneRoster package declares its files in one)" in found
    broken = tmp_path / "broken.zip"
    data = bytearray(package(tmp_path / "b", "1.2").read_bytes())
    at = data.index(b"users.csv") + 40  # inside users.csv's compressed bytes
    data[at:at + 8] = b"\xff" * 8
    broken.write_bytes(bytes(data))
    assert any(p.startswith("users.csv: not readable from the zip (") for p in problems(broken))
    not_zip = tmp_path / "roster.zip"
    not_zip.write_text("sourcedId\n")
    assert problems(not_zip) == ["roster.zip: not a zip file (a OneRoster package is one zip)"]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_without_a_manifest_the_version_is_guessed_from_users(tmp_path, version):
    report = check_package(package(tmp_path, version, manifest=None))
    assert report.version == version and report.how.startswith("guessed from users.csv")
