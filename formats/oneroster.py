"""The OneRoster CSV bindings as data: 1EdTech's OneRoster 1.1 CSV Tables (1.1.1) and CSV
Binding 1.2.1, both issued 22 August 2023, for the rostering files (docs/oneroster.md traces
every table, column and rule to them). Each file is its columns in the binding's order, each
column (name, required, data type); ``file_specs`` turns a package's manifest into the rule
engine's FileSpecs (formats/rules.py), so a OneRoster file is checked by the same rules, with
the same messages (file, row, column, rule), as every vendor's.

Data types: ``guid`` (a sourcedId, unique in its file also regardless of case), ``ref:FILE``
and ``refs:FILE`` (one sourcedId, or a list of them, of a record in FILE), ``string``,
``strings`` (a list), ``date`` (YYYY-MM-DD), ``datetime`` (ISO 8601 with a zone), ``year``
(YYYY), ``boolean`` (true | false), ``enum:NAME`` and ``enums:NAME`` (one value, or a list,
of an enumeration). A list is comma-separated inside one quoted field.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from formats.rules import FileSpec, ValueCheck

VERSIONS = ("1.1", "1.2")
MODES = ("bulk", "delta", "absent")
STATUS = ("active", "tobedeleted")
EXTENSION = "ext:"  # an extensible enumeration takes ext:<name> beside its own values
METADATA = "metadata."  # extension columns, after the binding's (metadata.<name>)

# CEDS version 5 'Entry Grade Level', the binding's vocabulary for grades
GRADES = ("IT", "PR", "PK", "TK", "KG", *(f"{g:02d}" for g in range(1, 14)), "PS", "UG", "Other")

ENUMS = {
    "1.1": {
        "SessionType": (("gradingPeriod", "semester", "schoolYear", "term"), True),
        "ClassType": (("homeroom", "scheduled"), True),
        "OrgType": (("department", "school", "district", "local", "state", "national"), True),
        "RoleType": (("administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher"),
                     True),
        "EnrolRole": (("administrator", "proctor", "student", "teacher"), True),
        "Gender": (("male", "female"), False),
        "Grade": (GRADES, False),
    },
    "1.2": {
        "SessionType": (("gradingPeriod", "semester", "schoolYear", "term"), True),
        "ClassType": (("homeroom", "scheduled"), True),
        "OrgType": (("department", "school", "district", "local", "state", "national"), True),
        "RoleType": (("aide", "counselor", "districtAdministrator", "guardian", "parent", "principal", "proctor",
                      "relative", "siteAdministrator", "student", "systemAdministrator", "teacher"), True),
        "RoleKind": (("primary", "secondary"), False),
        "EnrolRole": (("administrator", "proctor", "student", "teacher"), True),
        "Gender": (("male", "female", "unspecified", "other"), False),
        "Grade": (GRADES, True),
    },
}

_HEAD = [("sourcedId", True, "guid"), ("status", False, "status"), ("dateLastModified", False, "datetime")]
_SESSIONS = _HEAD + [("title", True, "string"), ("type", True, "enum:SessionType"), ("startDate", True, "date"),
                     ("endDate", True, "date"), ("parentSourcedId", False, "ref:academicSessions"),
                     ("schoolYear", True, "year")]
_CLASSES = _HEAD + [("title", True, "string"), ("grades", False, "enums:Grade"),
                    ("courseSourcedId", True, "ref:courses"), ("classCode", False, "string"),
                    ("classType", True, "enum:ClassType"), ("location", False, "string"),
                    ("schoolSourcedId", True, "ref:orgs"), ("termSourcedIds", True, "refs:academicSessions"),
                    ("subjects", False, "strings"), ("subjectCodes", False, "strings"), ("periods", False, "strings")]
_COURSES = _HEAD + [("schoolYearSourcedId", False, "ref:academicSessions"), ("title", True, "string"),
                    ("courseCode", False, "string"), ("grades", False, "enums:Grade"), ("orgSourcedId", True, "ref:orgs"),
                    ("subjects", False, "strings"), ("subjectCodes", False, "strings")]
_DEMOGRAPHICS = [("sourcedId", True, "guid+ref:users"), _HEAD[1], _HEAD[2], ("birthDate", False, "date"),
                 ("sex", False, "enum:Gender"),
                 *((race, False, "boolean") for race in (
                     "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
                     "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
                     "hispanicOrLatinoEthnicity")),
                 ("countryOfBirthCode", False, "string"), ("stateOfBirthAbbreviation", False, "string"),
                 ("cityOfBirth", False, "string"), ("publicSchoolResidenceStatus", False, "string")]
_ENROLLMENTS = _HEAD + [("classSourcedId", True, "ref:classes"), ("schoolSourcedId", True, "ref:orgs"),
                        ("userSourcedId", True, "ref:users"), ("role", True, "enum:EnrolRole"),
                        ("primary", False, "boolean"), ("beginDate", False, "date"), ("endDate", False, "date")]
_ORGS = _HEAD + [("name", True, "string"), ("type", True, "enum:OrgType"), ("identifier", False, "string"),
                 ("parentSourcedId", False, "ref:orgs")]
_PERSON = [("givenName", True, "string"), ("familyName", True, "string"), ("middleName", False, "string"),
           ("identifier", False, "string"), ("email", False, "string"), ("sms", False, "string"),
           ("phone", False, "string"), ("agentSourcedIds", False, "refs:users"), ("grades", False, "enums:Grade"),
           ("password", False, "string")]

TABLES = {
    "1.1": {
        "academicSessions": _SESSIONS, "classes": _CLASSES, "courses": _COURSES, "demographics": _DEMOGRAPHICS,
        "enrollments": _ENROLLMENTS, "orgs": _ORGS,
        "users": _HEAD + [("enabledUser", True, "boolean"), ("orgSourcedIds", True, "refs:orgs"),
                          ("role", True, "enum:RoleType"), ("username", True, "string"), ("userIds", False, "userIds"),
                          *_PERSON],
    },
    "1.2": {
        "academicSessions": _SESSIONS, "classes": _CLASSES, "courses": _COURSES, "demographics": _DEMOGRAPHICS,
        "enrollments": _ENROLLMENTS, "orgs": _ORGS,
        "roles": _HEAD + [("userSourcedId", True, "ref:users"), ("roleType", True, "enum:RoleKind"),
                          ("role", True, "enum:RoleType"), ("beginDate", False, "date"), ("endDate", False, "date"),
                          ("orgSourcedId", True, "ref:orgs"), ("userProfileSourcedId", False, "ref:userProfiles")],
        "userProfiles": _HEAD + [("userSourcedId", True, "ref:users"), ("profileType", True, "string"),
                                 ("vendorId", True, "string"), ("applicationId", False, "string"),
                                 ("description", False, "string"), ("credentialType", True, "string"),
                                 ("username", True, "string"), ("password", False, "string")],
        "users": _HEAD + [("enabledUser", True, "boolean"), ("username", True, "string"),
                          ("userIds", False, "userIds"), *_PERSON, ("userMasterIdentifier", False, "string"),
                          ("resourceSourcedIds", False, "strings"), ("preferredGivenName", False, "string"),
                          ("preferredMiddleName", False, "string"), ("preferredFamilyName", False, "string"),
                          ("primaryOrgSourcedId", False, "ref:orgs"), ("pronouns", False, "string")],
    },
}

# Every file the manifest declares, in the binding's order; the rostering ones are TABLES'.
# The gradebook and resources files are declared and may be sent; their contents are not ours
# to check (a rostering package declares them absent).
MANIFEST_FILES = {
    "1.1": ("academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
            "demographics", "enrollments", "lineItems", "orgs", "resources", "results", "users"),
    "1.2": ("academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
            "demographics", "enrollments", "lineItemLearningObjectiveIds", "lineItems", "lineItemScoreScales",
            "orgs", "resources", "resultLearningObjectiveIds", "results", "resultScoreScales", "roles",
            "scoreScales", "userProfiles", "userResources", "users"),
}
MANIFEST_HEADER = ["propertyName", "value"]
MANIFEST_VERSION = "1.0"
SOURCE_PROPERTIES = ("source.systemName", "source.systemCode")  # optional


def default_files(version: str) -> list[str]:
    """What a vendor is sent unless it chooses: the core of rostering (in 1.2, roles too: they
    say who is what where)."""
    return ["orgs", "academicSessions", "courses", "classes", "users", "enrollments"] + (["roles"] if version == "1.2"
                                                                                          else [])


def view_of(version: str, name: str) -> str:
    """The view (sql/views/roster_files) a file is exported from: one per file, the users view
    holding both versions' columns; 1.1's demographics have their own (no sex but male, female)."""
    return f"OneRoster_{name}" + ("_v1p1" if (version, name) == ("1.1", "demographics") else "")


def manifest_properties(version: str) -> list[str]:
    """The manifest's property names, in the binding's order."""
    return (["manifest.version", "oneroster.version"] + [f"file.{f}" for f in MANIFEST_FILES[version]]
            + list(SOURCE_PROPERTIES))


def header(version: str, name: str) -> list[str]:
    return [c for c, _, _ in TABLES[version][name]]


class _DateTime(ValueCheck):
    """An ISO 8601 date and time with its zone (2026-12-08T05:00:00Z, or +01:00), on a real day."""

    def problem(self, value: str) -> str | None:
        if not self.pattern.match(value):
            return f"not a {self.label}"
        try:
            dt.date.fromisoformat(value[:10])
        except ValueError:
            return f"not a real calendar date ({self.label})"
        return None


DATE = ValueCheck(re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"), "date YYYY-MM-DD", "%Y-%m-%d")
DATETIME = _DateTime(re.compile(r"^\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"),
                     "date and time (ISO 8601 with its zone, e.g. 2026-12-08T05:00:00Z)")
YEAR = ValueCheck(re.compile(r"^\d{4}$"), "year YYYY", surely=r"^\d{4}$")
BOOLEAN = ValueCheck(re.compile(r"^(true|false)$"), "boolean (true or false, in lower case)",
                     surely=r"^(true|false)$")
USER_ID = ValueCheck(re.compile(r"^\{[^{}:]+:[^{}]*\}$"), "user id {type:identifier}", surely=r"^\{[^{}:]+:[^{}]*\}$")


def enum_check(version: str, name: str) -> ValueCheck:
    values, extensible = ENUMS[version][name]
    alternatives = "|".join(re.escape(v) for v in values) + (r"|ext:[A-Za-z0-9._-]+" if extensible else "")
    shown = " | ".join(values) + (" | ext:<name>" if extensible else "")
    pattern = f"^({alternatives})$"
    return ValueCheck(re.compile(pattern), f"value of {name} ({shown})", surely=pattern)


@dataclass
class Declared:
    """What a package's manifest says of its files: the version and each file's mode."""

    version: str
    modes: dict[str, str]  # every file of the binding → bulk | delta | absent

    def present(self) -> list[str]:
        return [f for f, m in self.modes.items() if m != "absent"]


def file_specs(declared: Declared) -> dict[str, FileSpec]:
    """The rule engine's specs of the rostering files a manifest declares present (``name.csv``
    → FileSpec). A reference is checked where the file it names is declared bulk: a delta's
    records may refer to records sent before, and an absent file cannot be looked in."""
    version, specs = declared.version, {}
    for name in declared.present():
        if name not in TABLES[version]:
            continue
        mode = declared.modes[name]
        spec = FileSpec(header=header(version, name), extension_prefix=METADATA, bom_allowed=True,
                        header_owner=f"OneRoster {version}'s")
        for column, required, kind in TABLES[version][name]:
            if required:
                spec.required.append(column)
            for part in kind.split("+"):
                _apply(spec, version, column, part, declared.modes)
        if mode == "bulk":
            spec.blank = {c: "the manifest declares the file bulk" for c in ("status", "dateLastModified")}
        else:
            spec.required += ["status", "dateLastModified"]
            spec.formats["status"] = ValueCheck(re.compile(r"^(active|tobedeleted)$"),
                                                "status (active | tobedeleted)", surely=r"^(active|tobedeleted)$")
        spec.formats = {c: spec.formats[c] for c in spec.header if c in spec.formats}  # a row's problems in order
        specs[f"{name}.csv"] = spec
    return specs


def _apply(spec: FileSpec, version: str, column: str, kind: str, modes: dict[str, str]) -> None:
    many = kind in ("strings", "userIds") or kind.startswith(("refs:", "enums:"))
    if many:
        spec.lists = spec.lists | {column}
    if kind == "guid":
        spec.unique_nocase.append(column)
    elif kind.startswith(("ref:", "refs:")):
        other = kind.split(":", 1)[1]
        if modes.get(other) == "bulk":
            spec.refs.append((column, f"{other}.csv", "sourcedId"))
    elif kind.startswith(("enum:", "enums:")):
        spec.formats[column] = enum_check(version, kind.split(":", 1)[1])
    elif kind in ("date", "datetime", "year", "boolean", "userIds"):
        spec.formats[column] = {"date": DATE, "datetime": DATETIME, "year": YEAR, "boolean": BOOLEAN,
                                "userIds": USER_ID}[kind]
