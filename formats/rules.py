"""Pre-push validation: each vendor's file rules (../shared/vendor-specs.md), as pure
functions over the exported files. Every problem names file, row, column and rule; ids may
appear, names and other personal values never do.

A rule set maps file names to their checks; vendors pick one by name in ``vendors.toml``.
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

MAX_PER_RULE = 20  # problems listed per (file, rule); the rest are counted

CLEVER_GRADES = {str(g) for g in range(1, 14)} | {"PreKindergarten", "TransitionalKindergarten", "Kindergarten",
                                                   "InfantToddler", "Preschool", "PostGraduate", "Ungraded", "Other"}
SAVVAS_GRADES = {f"{g:02d}" for g in range(1, 14)} | {"IT", "PR", "PK", "TK", "KG", "PS", "UG", "OTHER"}
_MDY = re.compile(r"^(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])/\d{4}$")
_YMD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_YEAR = re.compile(r"^\d{4}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file + (f", row {self.row}" if self.row else "") + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.rule}"


@dataclass
class FileSpec:
    """What one file must satisfy."""

    header: list[str]
    required: list[str] = field(default_factory=list)
    unique: list[str | tuple[str, ...]] = field(default_factory=list)
    values: dict[str, set[str]] = field(default_factory=dict)
    formats: dict[str, tuple[re.Pattern, str]] = field(default_factory=dict)
    refs: list[tuple[str, str, str]] = field(default_factory=list)  # (column, other file, other column)
    quote_all: bool = False


@dataclass
class Table:
    header: list[str]
    rows: list[dict[str, str]]
    raw_lines: list[str] = field(default_factory=list)


def read_table(path: Path, encoding: str = "utf-8", keep_raw: bool = False) -> Table:
    text = path.read_text(encoding=encoding)
    reader = csv.reader(text.splitlines(keepends=True))
    header = next(reader, [])
    rows = [dict(zip(header, r)) for r in reader]
    return Table(header, rows, text.splitlines()[1:] if keep_raw else [])


def _split_quoted(line: str) -> list[str]:
    out, cur, inside = [], "", False
    for ch in line:
        if ch == '"':
            inside = not inside
        if ch == "," and not inside:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def validate(files: dict[str, Path], specs: dict[str, FileSpec]) -> list[Problem]:
    """Check every file against its spec and the references between files."""
    problems: list[Problem] = []
    tables: dict[str, Table] = {}
    for name, spec in specs.items():
        if name not in files or not files[name].exists():
            problems.append(Problem(name, "file is missing"))
            continue
        table = read_table(files[name], keep_raw=spec.quote_all)
        if table.header != spec.header:
            missing = [c for c in spec.header if c not in table.header]
            extra = [c for c in table.header if c not in spec.header]
            detail = ", ".join(p for p in (f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                                           "same columns in another order" if not (missing or extra) else "") if p)
            problems.append(Problem(name, f"header is not the vendor's exact header ({detail})", row=1))
            continue  # its rows cannot be read reliably, nor checked against
        tables[name] = table
        if not table.rows:
            problems.append(Problem(name, "file has no data rows"))
        problems += _row_rules(name, spec, table)
    for name, spec in specs.items():
        if name not in tables:
            continue
        for column, other, other_col in spec.refs:
            if other not in tables:
                continue
            known = {r.get(other_col, "") for r in tables[other].rows}
            for n, row in enumerate(tables[name].rows, start=2):
                value = row.get(column, "")
                if value and value not in known:
                    problems.append(Problem(name, f"{value!s} is not a {other_col} in {other}", n, column))
    return _capped(problems)


def _row_rules(name: str, spec: FileSpec, table: Table) -> list[Problem]:
    problems = []
    seen: dict[tuple, dict] = defaultdict(dict)
    for n, row in enumerate(table.rows, start=2):
        for col in spec.required:
            if not row.get(col, "").strip():
                problems.append(Problem(name, "required value is empty", n, col))
        for key in spec.unique:
            cols = (key,) if isinstance(key, str) else key
            value = tuple(row.get(c, "") for c in cols)
            if all(value):
                first = seen[cols].setdefault(value, n)
                if first != n:
                    problems.append(Problem(name, f"{'+'.join(value)} is not unique (first at row {first})", n,
                                            "+".join(cols)))
        for col, allowed in spec.values.items():
            v = row.get(col, "")
            if v and v not in allowed:
                problems.append(Problem(name, f"{v!r} is not an allowed value", n, col))
        for col, (pattern, label) in spec.formats.items():
            v = row.get(col, "")
            if v and not pattern.match(v):
                problems.append(Problem(name, f"not a {label}", n, col))
    if spec.quote_all:
        for n, line in enumerate(table.raw_lines, start=2):
            if line and not all(len(f) >= 2 and f[0] == '"' and f[-1] == '"' for f in _split_quoted(line)):
                problems.append(Problem(name, "every value must be inside double quotes", n))
    return problems


def _capped(problems: list[Problem]) -> list[Problem]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    kept, dropped = [], defaultdict(int)
    for p in problems:
        key = (p.file, re.sub(r"\d+|'[^']*'", "#", p.rule) + (p.column or ""))
        counts[key] += 1
        if counts[key] <= MAX_PER_RULE:
            kept.append(p)
        else:
            dropped[(p.file, p.rule.split(" (")[0] if "(" in p.rule else p.column or p.rule)] += 1
    for (file, what), n in dropped.items():
        kept.append(Problem(file, f"… and {n} more like the above ({what})"))
    return kept


# ---------------------------------------------------------------- the vendors' rule sets

def clever(headers: dict[str, list[str]]) -> dict[str, FileSpec]:
    mdy = (_MDY, "date MM/DD/YYYY")
    email = (_EMAIL, "valid e-mail address")
    grades = {"Grade": CLEVER_GRADES}
    return {
        "schools.csv": FileSpec(headers["schools.csv"], required=["School_id", "School_name", "School_number"],
                                unique=["School_id"], values={"Low_grade": CLEVER_GRADES, "High_grade": CLEVER_GRADES},
                                formats={"Principal_email": email}),
        "students.csv": FileSpec(headers["students.csv"], required=["School_id", "Student_id", "Last_name", "First_name"],
                                 unique=["Student_id"], values=grades, formats={"DOB": mdy, "Student_email": email},
                                 refs=[("School_id", "schools.csv", "School_id")]),
        "teachers.csv": FileSpec(headers["teachers.csv"], required=["School_id", "Teacher_id", "Last_name", "First_name"],
                                 unique=["Teacher_id"], formats={"Teacher_email": email},
                                 refs=[("School_id", "schools.csv", "School_id")]),
        "sections.csv": FileSpec(headers["sections.csv"], required=["School_id", "Section_id", "Teacher_id"],
                                 unique=["Section_id"], values=grades, formats={"Term_start": mdy, "Term_end": mdy},
                                 refs=[("School_id", "schools.csv", "School_id"),
                                       ("Teacher_id", "teachers.csv", "Teacher_id"),
                                       ("Teacher_2_id", "teachers.csv", "Teacher_id")]),
        "enrollments.csv": FileSpec(headers["enrollments.csv"], required=["School_id", "Section_id", "Student_id"],
                                    unique=[("Section_id", "Student_id")],
                                    refs=[("School_id", "schools.csv", "School_id"),
                                          ("Section_id", "sections.csv", "Section_id"),
                                          ("Student_id", "students.csv", "Student_id")]),
        "staff.csv": FileSpec(headers["staff.csv"], required=["School_id", "Staff_id", "Staff_email", "First_name",
                                                              "Last_name"],
                              unique=["Staff_id"], formats={"Staff_email": email},
                              refs=[("School_id", "schools.csv", "School_id")]),
    }


def savvas(headers: dict[str, list[str]]) -> dict[str, FileSpec]:
    ymd = (_YMD, "date yyyy-mm-dd")
    year = (_YEAR, "year yyyy")
    dates = {"date_start": ymd, "date_end": ymd, "school_year": year}

    def spec(name, **kw):
        return FileSpec(headers[name], quote_all=True, **kw)
    return {
        "CODE_DISTRICT.txt": spec("CODE_DISTRICT.txt", required=["district_code", "district_name"],
                                  unique=["district_code"], formats={"current_school_year": year}),
        "SCHOOL.txt": spec("SCHOOL.txt", required=["school_code", "school_name", "district_code"], unique=["school_code"],
                           values={"grade_start": SAVVAS_GRADES, "grade_end": SAVVAS_GRADES},
                           refs=[("district_code", "CODE_DISTRICT.txt", "district_code")]),
        "STUDENT.txt": spec("STUDENT.txt", required=["student_code", "last_name", "first_name"], unique=["student_code"],
                            formats={"dob": ymd, "email": (_EMAIL, "valid e-mail address")}),
        "STAFF.txt": spec("STAFF.txt", required=["staff_code", "last_name", "first_name"], unique=["staff_code"],
                          formats={"email": (_EMAIL, "valid e-mail address")}),
        "PIF_SECTION.txt": spec("PIF_SECTION.txt", required=["native_section_code", "school_code"],
                                unique=["native_section_code"], formats=dates,
                                refs=[("school_code", "SCHOOL.txt", "school_code")]),
        "PIF_SECTION_STAFF.txt": spec("PIF_SECTION_STAFF.txt",
                                      required=["section_teacher_code", "staff_code", "native_section_code"],
                                      unique=["section_teacher_code"], formats=dates,
                                      values={"teacher_of_record": {"true", "false"}},
                                      refs=[("staff_code", "STAFF.txt", "staff_code"),
                                            ("native_section_code", "PIF_SECTION.txt", "native_section_code")]),
        "PIF_SECTION_STUDENT.txt": spec("PIF_SECTION_STUDENT.txt",
                                        required=["section_student_code", "student_code", "native_section_code"],
                                        unique=["section_student_code"], formats=dates,
                                        refs=[("student_code", "STUDENT.txt", "student_code"),
                                              ("native_section_code", "PIF_SECTION.txt", "native_section_code")]),
        "ENROLLMENT.txt": spec("ENROLLMENT.txt", required=["native_enrollment_code", "student_code", "school_code"],
                               unique=["native_enrollment_code"], values={"grade_code": SAVVAS_GRADES},
                               formats={"date_enrolled": ymd, "date_withdrawn": ymd, "school_year": year},
                               refs=[("student_code", "STUDENT.txt", "student_code"),
                                     ("school_code", "SCHOOL.txt", "school_code")]),
        "ASSIGNMENT.txt": spec("ASSIGNMENT.txt", required=["native_assignment_code", "staff_code", "institution_code"],
                               unique=["native_assignment_code"], formats=dates,
                               refs=[("staff_code", "STAFF.txt", "staff_code"),
                                     ("institution_code", "SCHOOL.txt", "school_code")]),
    }


def ellevation(headers: dict[str, list[str]]) -> dict[str, FileSpec]:
    mdy = (_MDY, "date MM/DD/YYYY")
    return {
        "Staff-Roster.csv": FileSpec(headers["Staff-Roster.csv"], required=["StaffID", "LastName", "FirstName"],
                                     unique=[("StaffID", "SchoolCode")]),
        "Student-Demographics.csv": FileSpec(headers["Student-Demographics.csv"],
                                             required=["StudentID", "LastName", "FirstName", "SchoolCode"],
                                             unique=["StudentID"], formats={"BirthDate": mdy}),
        "Student-Course-Schedules.csv": FileSpec(headers["Student-Course-Schedules.csv"],
                                                 required=["StudentID", "SectionID"], unique=[("StudentID", "SectionID")],
                                                 formats={"TermStart": mdy, "TermEnd": mdy},
                                                 refs=[("TeacherID", "Staff-Roster.csv", "StaffID"),
                                                       ("StudentID", "Student-Demographics.csv", "StudentID")]),
    }


def otus(headers: dict[str, list[str]]) -> dict[str, FileSpec]:
    name = "OTUS_Attendance_Discipline.csv"
    return {name: FileSpec(headers[name], required=["Student_Email", "SIS_ID", "Date", "Record_Type", "Status"],
                           formats={"Student_Email": (_EMAIL, "valid e-mail address"), "Date": (_YMD, "date YYYY-MM-DD")},
                           values={"Record_Type": {"Attendance", "Discipline"}})}


def powerschool(headers: dict[str, list[str]]) -> dict[str, FileSpec]:
    name = "google_addresses.csv"
    return {name: FileSpec(headers[name], required=["Student_Number", "Email_Address"], unique=["Student_Number"],
                           formats={"Email_Address": (_EMAIL, "valid e-mail address")})}


RULE_SETS = {"clever": clever, "savvas": savvas, "ellevation": ellevation, "otus": otus, "powerschool": powerschool}
