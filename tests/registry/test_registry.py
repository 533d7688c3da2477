"""The registries as typed data: the shipped files load; every mistake is refused with the file
and the path inside it; the shipped JSON Schemas are the models' own."""
import json

import pytest

from pipelines.base import ROOT
from registry import load
from registry.jsonschema import SCHEMAS, schemas
from registry.vendors import VendorsFile, load_vendors
from targets.errors import ConfigError

GOOD = '''
[acme]
server = "acme"
enums.grade = ["K", "1"]

[[acme.files]]
view = "roster_files.Clever_schools"
file = "schools.csv"
header = ["School_id", "Name"]
fields.School_id = { required = true, unique = true }

[[acme.files]]
view = "roster_files.Clever_students"
file = "students.csv"
header = ["Student_id", "School_id", "Grade", "DOB"]
fields.Grade = { enum = "grade" }
fields.DOB = { type = "date", format = "%m/%d/%Y" }
foreign_keys = [{ fields = "School_id", reference = { resource = "schools.csv", fields = "School_id" } }]
'''


def _error(tmp_path, text):
    path = tmp_path / "vendors.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path, VendorsFile)
    return str(e.value)


def test_the_shipped_registries_load():
    from registry.sources import load_sources
    sources = load_sources(ROOT / "sources.toml")
    assert sources.merge_for("powerschool_combined", "bluff_asd_students.csv").name == "bluff_asd_students"
    assert sources.match("misc_imports", "a.xlsx").file_format == "xlsx"
    reg = load_vendors(ROOT / "vendors.toml")
    import tomllib
    raw = tomllib.loads((ROOT / "vendors.toml").read_text(encoding="utf-8"))  # what the TOML says, not a list here
    assert sorted(reg.vendors) == sorted(k for k, v in raw.items() if isinstance(v, dict) and "server" in v)
    assert reg.vendor("savvas").items() == ["DISTRICT.zip"] and reg.vendor("savvas").rules.quote_all
    assert [p.name for p in reg.pull] == [p["name"] for p in raw["pull"]]
    assert reg.forward_named("savvas_scores_to_otus").job == "forward_savvas_scores_to_otus"


def test_the_shipped_schemas_are_the_models_own():
    for name, text in schemas().items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == text, \
            f"registry/schemas/{name} is stale: run `python -m registry schemas` and commit it"
    schema = json.loads((SCHEMAS / "vendors.schema.json").read_text())
    assert schema["title"] == "vendors.toml" and set(schema["properties"]) == {"pull", "forward"}
    assert schema["additionalProperties"] == {"$ref": "#/$defs/Vendor"}
    for registry in ("vendors", "sources", "schedule"):
        first_line = (ROOT / f"{registry}.toml").read_text().splitlines()[0]
        assert first_line == f"#:schema ./registry/schemas/{registry}.schema.json"


def test_a_vendor_with_its_own_rules_is_data(tmp_path):
    path = tmp_path / "vendors.toml"
    path.write_text(GOOD)
    v = load(path, VendorsFile).vendor("acme")
    specs = v.file_specs()
    assert specs["students.csv"].values == {"Grade": {"K", "1"}}
    assert specs["students.csv"].formats["DOB"].label == "date MM/DD/YYYY"
    assert specs["students.csv"].refs == [("School_id", "schools.csv", "School_id")]
    assert specs["schools.csv"].required == ["School_id"] and specs["schools.csv"].unique == ["School_id"]


@pytest.mark.parametrize("change, message", [
    (('header = ["Student_id", "School_id", "Grade", "DOB"]', 'header = "Student_id"'),
     "vendors.toml: acme.files[1].header: Input should be a valid list"),
    (('fields.Grade = { enum = "grade" }', 'fields.Grade = { enum = "grade", colour = "red" }'),
     "vendors.toml: acme.files[1].fields.Grade.colour: Extra inputs are not permitted"),
    (('fields.Grade = { enum = "grade" }', 'fields.Grade = { enum = "grades" }'),
     "vendors.toml: acme: students.csv Grade: enum 'grades' is not in [enums] (have: grade)"),
    (('resource = "schools.csv"', 'resource = "school.csv"'),
     "vendors.toml: acme: students.csv: foreign key School_id refers to 'school.csv', which is not one of this"),
    (('fields.DOB = {', 'fields.Birth = {'),
     "vendors.toml: acme.files[1]: rules name columns that are not in the header: Birth"),
    (('fields.DOB = { type = "date", format = "%m/%d/%Y" }', 'fields.DOB = { type = "date", format = "when" }'),
     "vendors.toml: acme.files[1].fields.DOB: date layout 'when' has none of YYYY, MM, DD"),
    (('server = "acme"', 'server = "acme"\ncadence = "weekly:MONDAY"'),
     "vendors.toml: acme.cadence: Input should be 'daily', 'weekly:MON'"),
    (('server = "acme"', 'server = "acme"\nrules = "clever"'),
     "vendors.toml: acme.rules: rules = 'clever' named a rule set in code"),
    (('server = "acme"', 'server = "acme"\npackaging = "zip"'),
     "vendors.toml: acme: packaging = 'zip' needs zip_name"),
    (('server = "acme"', 'server = "acme"\ndialect = { quoting = "some" }'),
     "vendors.toml: acme.dialect.quoting: Input should be 'minimal' or 'all'"),
    (('server = "acme"\n', ''), "vendors.toml: acme.server: Field required"),
])
def test_mistakes_name_the_file_and_path(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    assert message in _error(tmp_path, GOOD.replace(old, new, 1))


def test_forward_must_name_a_pull_and_toml_errors_name_the_file(tmp_path):
    text = GOOD + '\n[[forward]]\nname = "x"\npull = "nothing"\nserver = "acme"\n'
    assert "vendors.toml: [[forward]] 'x' names pull 'nothing', which is not a [[pull]]" in _error(tmp_path, text)
    assert _error(tmp_path, "[acme\n").startswith("vendors.toml: ")


def test_the_old_name_of_merges_is_still_read(tmp_path):
    from registry.sources import load_sources
    path = tmp_path / "sources.toml"
    path.write_text('[[stack]]\nname = "m"\noutput = "x/m.csv"\ninputs = [{ file = "a.csv", source = "A" },'
                    ' { file = "b.csv", source = "B" }]\n')
    assert load_sources(path).merge_named("m").folder == "x"


def test_old_slots_in_sources_say_where_they_went(tmp_path):
    from registry.sources import SourcesFile
    path = tmp_path / "sources.toml"
    path.write_text('[slots]\nBigQueryOperations = ["eis"]\n')
    with pytest.raises(ConfigError, match=r"sources.toml: \[slots\] moved to schedule.toml"):
        load(path, SourcesFile)


def test_every_vendor_is_pushed_by_a_slot_of_the_schedule(tmp_path):
    """A vendor's ``slot`` names the schedule.toml slot that pushes it (default SftpOperations);
    one naming no slot is refused when the slots are built, never silently left unpushed."""
    import datetime as dt

    import luigi.configuration
    import pytest

    from pipelines.slots import SftpOperations
    from registry.schedule import load_schedule
    from targets.errors import ConfigError
    slots = {s.task for s in load_schedule().wrappers("pipelines.slots")}
    assert {v.slot for v in load_vendors(ROOT / "vendors.toml").vendors.values()} <= slots
    wrong = tmp_path / "vendors.toml"
    wrong.write_text((ROOT / "vendors.toml").read_text().replace('[otus]\n', '[otus]\nslot = "Nightly"\n', 1))
    parser = luigi.configuration.get_config()
    before = parser.get("vendors", "vendors_file", None)
    parser.set("vendors", "vendors_file", str(wrong))
    try:
        with pytest.raises(ConfigError, match=r"vendors.toml: \[otus\] slot = 'Nightly' is no slot of schedule.toml"):
            SftpOperations(date=dt.date(2026, 11, 24)).requires()
    finally:
        if before is None:
            parser.remove_option("vendors", "vendors_file")
        else:
            parser.set("vendors", "vendors_file", before)


def test_a_vendor_cannot_be_called_oneroster(tmp_path):
    """``./run.sh validate oneroster`` checks any OneRoster package: the name is taken."""
    assert "[oneroster] is taken" in _error(tmp_path, GOOD.replace("acme", "oneroster"))
