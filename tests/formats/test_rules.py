"""The vendor rules as shipped in vendors.toml, run by the engine (formats/rules.py): one test
per rule proving it catches the fault with a clear message, and clean files passing. Each
test gives only the columns it cares about; the files carry the vendor's full header."""
import csv

import pytest

import formats.rules
from formats.rules import MAX_PER_RULE, validate
from pipelines.base import ROOT
from registry.vendors import load_vendors

VENDORS = load_vendors(ROOT / "vendors.toml")

H = {
    "schools.csv": ["School_id", "School_name", "School_number", "Low_grade", "High_grade", "Principal_email"],
    "students.csv": ["School_id", "Student_id", "Last_name", "First_name", "Grade", "DOB", "Student_email"],
    "teachers.csv": ["School_id", "Teacher_id", "Teacher_email", "First_name", "Last_name"],
    "sections.csv": ["School_id", "Section_id", "Teacher_id", "Teacher_2_id", "Grade", "Term_start", "Term_end"],
    "enrollments.csv": ["School_id", "Section_id", "Student_id"],
    "staff.csv": ["School_id", "Staff_id", "Staff_email", "First_name", "Last_name"],
}
CLEAN = {
    "schools.csv": [["101", "Maple", "101", "PreKindergarten", "5", "p@d.org"]],
    "students.csv": [["101", "S1", "O'Brien, Jr.", "Zoë", "Kindergarten", "01/31/2020", ""],
                     ["101", "S2", "Kim", "Ana", "5", "12/01/2015", "ana.kim@s.d.org"]],
    "teachers.csv": [["101", "T1", "t1@d.org", "Ana", "Lee"], ["101", "T2", "t2@d.org", "Bo", "Ng"]],
    "sections.csv": [["101", "5001", "T1", "T2", "1", "08/12/2026", "05/22/2027"]],
    "enrollments.csv": [["101", "5001", "S1"], ["101", "5001", "S2"]],
    "staff.csv": [["101", "X1", "x1@d.org", "Cy", "Po"]],
}


@pytest.fixture(autouse=True, params=["arrow", "exact"])
def engine(request, monkeypatch):
    """Every test twice: with the fast pass first (formats/rules_arrow.py: Arrow's kernels over a
    canonical file) and with the exact pass alone. The problems must not depend on which ran."""
    monkeypatch.setattr(formats.rules, "FAST", request.param == "arrow")
    return request.param


def _write(folder, tables, headers=H, quote_all=False, vendor="clever", full=None):
    """Write each table under the vendor's full header (or ``full``: a header of the test's
    own), its columns placed by name, the others empty."""
    specs = VENDORS.vendor(vendor).file_specs()
    paths = {}
    for name, rows in tables.items():
        header = (full or {}).get(name) or specs[name].header
        path = folder / name
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
            w.writerow(header)
            for row in rows:
                values = dict(zip(headers[name], row))
                w.writerow([values.get(c, "") for c in header])
        paths[name] = path
    return paths


def _specs(vendor):
    return VENDORS.vendor(vendor).file_specs()


def _clever(tmp_path, **changes):
    tables = {k: [list(r) for r in v] for k, v in CLEAN.items()}
    for name, fn in changes.items():
        fn(tables[name.replace("_", ".", 1) if "." not in name else name])
    return [str(p) for p in validate(_write(tmp_path, tables), _specs("clever"))]


def test_clean_clever_files_pass(tmp_path):
    assert _clever(tmp_path) == []


def test_exact_header(tmp_path):
    full = {"teachers.csv": [c if c != "Teacher_id" else "Teacher_Id" for c in _specs("clever")["teachers.csv"].header]}
    problems = [str(p) for p in validate(_write(tmp_path, CLEAN, full=full), _specs("clever"))]
    assert problems == ["teachers.csv, row 1: header is not the vendor's exact header "
                        "(missing ['Teacher_id'], unexpected ['Teacher_Id'])"]


def test_header_order(tmp_path):
    """Clever reads its columns by name ("Column order does not matter", spec §1): another order
    passes and its rows are still checked by name; a column named twice does not."""
    full = {"enrollments.csv": ["Section_id", "Student_id", "School_id"]}
    assert [str(p) for p in validate(_write(tmp_path, CLEAN, full=full), _specs("clever"))] == []
    tables = {k: [list(r) for r in v] for k, v in CLEAN.items()}
    tables["enrollments.csv"].append(["101", "5001", "S9"])
    assert [str(p) for p in validate(_write(tmp_path, tables, full=full), _specs("clever"))] == [
        "enrollments.csv, row 4, column Student_id: S9 is not a Student_id in students.csv"]
    full = {"enrollments.csv": ["Section_id", "Student_id", "School_id", "Student_id"]}
    assert [str(p) for p in validate(_write(tmp_path, CLEAN, full=full), _specs("clever"))] == [
        "enrollments.csv, row 1: header is not the vendor's exact header (named twice ['Student_id'])"]


def test_required_column(tmp_path):
    assert _clever(tmp_path, students_csv=lambda t: t[0].__setitem__(3, "")) == [
        "students.csv, row 2, column First_name: required value is empty"]


def test_unique_ids(tmp_path):
    assert _clever(tmp_path, students_csv=lambda t: t[1].__setitem__(1, "S1")) == [
        "students.csv, row 3, column Student_id: S1 is not unique (first at row 2)",
        "enrollments.csv, row 3, column Student_id: S2 is not a Student_id in students.csv"]


def test_enrollment_points_at_sections_and_students(tmp_path):
    problems = _clever(tmp_path, enrollments_csv=lambda t: t.append(["101", "9999", "S404"]))
    assert problems == ["enrollments.csv, row 4, column Section_id: 9999 is not a Section_id in sections.csv",
                        "enrollments.csv, row 4, column Student_id: S404 is not a Student_id in students.csv"]


def test_section_teachers_exist(tmp_path):
    assert _clever(tmp_path, sections_csv=lambda t: t[0].__setitem__(3, "T9")) == [
        "sections.csv, row 2, column Teacher_2_id: T9 is not a Teacher_id in teachers.csv"]


def test_every_school_id_in_schools(tmp_path):
    assert _clever(tmp_path, staff_csv=lambda t: t[0].__setitem__(0, "777")) == [
        "staff.csv, row 2, column School_id: 777 is not a School_id in schools.csv"]


def test_grade_values(tmp_path):
    assert _clever(tmp_path, students_csv=lambda t: t[0].__setitem__(4, "K")) == [
        "students.csv, row 2, column Grade: 'K' is not an allowed value"]


def test_date_formats(tmp_path):
    assert _clever(tmp_path, sections_csv=lambda t: t[0].__setitem__(5, "2026-08-12")) == [
        "sections.csv, row 2, column Term_start: not a date MM/DD/YYYY"]


def test_empty_file_and_missing_file(tmp_path):
    tables = dict(CLEAN, **{"staff.csv": []})
    paths = _write(tmp_path, tables)
    del paths["enrollments.csv"]
    assert [str(p) for p in validate(paths, _specs("clever"))] == ["enrollments.csv: file is missing",
                                                            "staff.csv: file has no data rows"]


def test_optional_files_may_be_left_out(tmp_path):
    """Clever takes an upload without staff.csv (spec §1), SAVVAS one without ENROLLMENT and
    ASSIGNMENT (spec §2); the files they require stay required, and an optional file that is
    there is checked like any other."""
    paths = _write(tmp_path, CLEAN)
    del paths["staff.csv"]
    assert [str(p) for p in validate(paths, _specs("clever"))] == []
    del paths["students.csv"]
    assert [str(p) for p in validate(paths, _specs("clever"))] == ["students.csv: file is missing"]
    paths = _write(tmp_path, {k: v for k, v in SCLEAN.items()}, SH, quote_all=True, vendor="savvas")
    for name in ("ENROLLMENT.txt", "ASSIGNMENT.txt"):
        paths[name].unlink()
    assert [str(p) for p in validate(paths, _specs("savvas"))] == []
    tables = {k: [list(r) for r in v] for k, v in SCLEAN.items()}
    tables["ASSIGNMENT.txt"][0][1] = "T9"
    assert [str(p) for p in validate(_write(tmp_path, tables, SH, quote_all=True, vendor="savvas"),
                                     _specs("savvas"))] == [
        "ASSIGNMENT.txt, row 2, column staff_code: T9 is not a staff_code in STAFF.txt"]


def test_problems_are_capped_per_rule(tmp_path):
    many = [["101", f"S{i}", "x", "", "5", "01/01/2015", ""] for i in range(50)]
    problems = _clever(tmp_path, students_csv=lambda t: t.extend(many))
    assert len([p for p in problems if "required value is empty" in p]) == MAX_PER_RULE
    assert problems[-1] == "students.csv: … and 30 more like the above (First_name)"


SH = {"CODE_DISTRICT.txt": ["district_code", "district_name", "current_school_year"],
      "SCHOOL.txt": ["school_code", "school_name", "district_code", "grade_start", "grade_end"],
      "STUDENT.txt": ["student_code", "last_name", "first_name", "dob", "email"],
      "STAFF.txt": ["staff_code", "last_name", "first_name", "email"],
      "PIF_SECTION.txt": ["native_section_code", "school_code", "date_start", "date_end", "school_year"],
      "PIF_SECTION_STAFF.txt": ["section_teacher_code", "staff_code", "native_section_code", "teacher_of_record"],
      "PIF_SECTION_STUDENT.txt": ["section_student_code", "student_code", "native_section_code"],
      "ENROLLMENT.txt": ["native_enrollment_code", "student_code", "school_code", "grade_code"],
      "ASSIGNMENT.txt": ["native_assignment_code", "staff_code", "institution_code"]}
SCLEAN = {"CODE_DISTRICT.txt": [["0999", "Demo", "2026"]],
          "SCHOOL.txt": [["101", "Maple", "0999", "PK", "05"]],
          "STUDENT.txt": [["S1", "Kim", "Ana", "2015-12-01", ""]],
          "STAFF.txt": [["T1", "Lee", "Ana", "t1@d.org"]],
          "PIF_SECTION.txt": [["5001", "101", "2026-08-12", "2027-05-22", "2026"]],
          "PIF_SECTION_STAFF.txt": [["5001.T1", "T1", "5001", "true"]],
          "PIF_SECTION_STUDENT.txt": [["HR.5001.S1", "S1", "5001"]],
          "ENROLLMENT.txt": [["S1.101.2026", "S1", "101", "KG"]],
          "ASSIGNMENT.txt": [["T1.101", "T1", "101"]]}


def _savvas(tmp_path, quote_all=True, **changes):
    tables = {k: [list(r) for r in v] for k, v in SCLEAN.items()}
    for name, fn in changes.items():
        fn(tables[name])
    return [str(p) for p in validate(_write(tmp_path, tables, SH, quote_all=quote_all, vendor="savvas"),
                                     _specs("savvas"))]


def test_clean_savvas_files_pass(tmp_path):
    assert _savvas(tmp_path) == []


def test_savvas_every_value_quoted(tmp_path):
    problems = _savvas(tmp_path, quote_all=False)
    assert "STUDENT.txt, row 2: every value must be inside double quotes" in problems
    assert len(problems) == 9  # one per file


def test_savvas_booleans_and_grades(tmp_path):
    problems = _savvas(tmp_path, **{"PIF_SECTION_STAFF.txt": lambda t: t[0].__setitem__(3, "TRUE"),
                                    "ENROLLMENT.txt": lambda t: t[0].__setitem__(3, "K")})
    assert problems == ["PIF_SECTION_STAFF.txt, row 2, column teacher_of_record: 'TRUE' is not an allowed value",
                        "ENROLLMENT.txt, row 2, column grade_code: 'K' is not an allowed value"]


def test_savvas_dates_and_links(tmp_path):
    problems = _savvas(tmp_path, **{"STUDENT.txt": lambda t: t[0].__setitem__(3, "12/01/2015"),
                                    "PIF_SECTION_STUDENT.txt": lambda t: t.append(["x", "S2", "5001"])})
    assert problems == ["STUDENT.txt, row 2, column dob: not a date yyyy-mm-dd",
                        "PIF_SECTION_STUDENT.txt, row 3, column student_code: S2 is not a student_code in STUDENT.txt"]


def test_ellevation_schedule_teacher_in_roster_and_unique_rows(tmp_path):
    eh = {"Staff-Roster.csv": ["StaffID", "LastName", "FirstName", "SchoolCode"],
          "Student-Demographics.csv": ["StudentID", "LastName", "FirstName", "SchoolCode", "BirthDate"],
          "Student-Course-Schedules.csv": ["StudentID", "SectionID", "TeacherID", "TermStart", "TermEnd"]}
    tables = {"Staff-Roster.csv": [["T1", "Lee", "Ana", "101"]],
              "Student-Demographics.csv": [["S1", "Kim", "Ana", "101", "12/01/2015"]],
              "Student-Course-Schedules.csv": [["S1", "5001", "T1", "08/12/2026", "05/22/2027"],
                                               ["S1", "5001", "T9", "08/12/2026", "05/22/2027"]]}
    problems = [str(p) for p in validate(_write(tmp_path, tables, eh, vendor="ellevation"), _specs("ellevation"))]
    assert problems == [
        "Student-Course-Schedules.csv, row 3, column StudentID+SectionID: S1+5001 is not unique (first at row 2)",
        "Student-Course-Schedules.csv, row 3, column TeacherID: T9 is not a StaffID in Staff-Roster.csv"]


def test_otus_email_and_date(tmp_path):
    oh = {"OTUS_Attendance_Discipline.csv": ["Student_Email", "SIS_ID", "Date", "Record_Type", "Status"]}
    tables = {"OTUS_Attendance_Discipline.csv": [["a@s.org", "1", "2026-11-23", "Attendance", "Present"],
                                                 ["nobody", "2", "11/23/2026", "Attendance", "Absent"]]}
    assert [str(p) for p in validate(_write(tmp_path, tables, oh, vendor="otus"), _specs("otus"))] == [
        "OTUS_Attendance_Discipline.csv, row 3, column Student_Email: not a valid e-mail address",
        "OTUS_Attendance_Discipline.csv, row 3, column Date: not a date YYYY-MM-DD"]


def test_otus_attendance_status_is_present_tardy_or_absent_and_a_discipline_row_its_incident(tmp_path):
    """spec §4, Otus's attendance template: Status is Present / Tardy / Absent on attendance
    rows; a discipline row's Status is its incident, any text."""
    oh = {"OTUS_Attendance_Discipline.csv": ["Student_Email", "SIS_ID", "Date", "Record_Type", "Status"]}
    tables = {"OTUS_Attendance_Discipline.csv": [["a@s.org", "1", "2026-11-23", "Attendance", "Tardy"],
                                                 ["b@s.org", "2", "2026-11-23", "Attendance", "Late"],
                                                 ["c@s.org", "3", "2026-11-23", "Discipline", "Late"],
                                                 ["d@s.org", "4", "2026-11-23", "Attendance", "present"]]}
    assert [str(p) for p in validate(_write(tmp_path, tables, oh, vendor="otus"), _specs("otus"))] == [
        "OTUS_Attendance_Discipline.csv, row 3, column Status: 'Late' is not an allowed value where Record_Type is "
        "Attendance (allowed: Absent, Present, Tardy)",
        "OTUS_Attendance_Discipline.csv, row 5, column Status: 'present' is not an allowed value where Record_Type is "
        "Attendance (allowed: Absent, Present, Tardy)"]


def test_clever_value_codes_gender_and_ell_status(tmp_path):
    """spec §1 value codes: Gender M / F / X, Ell_status Y / N (a 'Yes' passes nothing)."""
    sh = {**H, "students.csv": ["School_id", "Student_id", "Last_name", "First_name", "Gender", "Ell_status"]}
    tables = {k: [list(r) for r in v] for k, v in CLEAN.items()}
    tables["students.csv"] = [["101", "S1", "Lee", "Ana", "X", "Y"], ["101", "S2", "Kim", "Bo", "Male", "Yes"]]
    assert [str(p) for p in validate(_write(tmp_path, tables, sh), _specs("clever"))] == [
        "students.csv, row 3, column Gender: 'Male' is not an allowed value",
        "students.csv, row 3, column Ell_status: 'Yes' is not an allowed value"]


def test_clever_ext_columns_are_data_except_in_enrollments(tmp_path):
    """spec §1: ext.<name> columns are allowed in schools, teachers, students, sections and
    staff, and not in enrollments; an ext. column named twice is not."""
    specs = _specs("clever")
    full = {"students.csv": specs["students.csv"].header + ["ext.nickname", "ext.house"],
            "teachers.csv": ["ext.badge"] + specs["teachers.csv"].header}  # any order: Clever reads by name
    assert [str(p) for p in validate(_write(tmp_path, CLEAN, full=full), specs)] == []
    full = {"enrollments.csv": specs["enrollments.csv"].header + ["ext.note"],
            "staff.csv": specs["staff.csv"].header + ["ext.a", "ext.a"]}
    assert [str(p) for p in validate(_write(tmp_path, CLEAN, full=full), specs)] == [
        "enrollments.csv, row 1: header is not the vendor's exact header (unexpected ['ext.note'])",
        "staff.csv, row 1: header is not the vendor's exact header (unexpected ['ext.a', 'ext.a'], "
        "named twice ['ext.a'])"]


@pytest.mark.parametrize("delimiter, name", [("\t", "tabs"), (";", "semicolons"), ("|", "pipes")])
def test_a_file_with_another_delimiter_is_said_to_be_one(tmp_path, delimiter, name):
    """A tab-separated file (with a quote mid-value, which a comma reader takes for one that
    does not close) is reported as what it is."""
    tables = {k: [list(r) for r in v] for k, v in CLEAN.items()}
    paths = _write(tmp_path, tables)
    header = _specs("clever")["teachers.csv"].header
    paths["teachers.csv"].write_text(delimiter.join(header) + "\n" +
                                     delimiter.join(["101", "T1", "", 'a"b@d.org', "Ana", "Lee", ""]) + "\n")
    problems = [str(p) for p in validate(paths, _specs("clever")) if p.file == "teachers.csv"]
    assert problems == [f"teachers.csv, row 1: not readable as comma-separated values: its fields are separated by "
                        f"{name}; write it with commas"]


def test_policy_any_column_order_encoding_and_patterns(tmp_path):
    """Rules a vendor of a known kind may choose: columns in any order, another encoding, a
    pattern; the same engine, the same kind of message."""
    import re as _re

    from formats.rules import FileSpec, ValueCheck, date_check
    spec = FileSpec(["Id", "Code", "Day"], required=["Id"], column_order="any", encoding="cp1252",
                    formats={"Code": ValueCheck(_re.compile(r"^(?:[A-Z]{2}\d)$"), "value matching [A-Z]{2}\\d"),
                             "Day": date_check("%d.%m.%Y")})
    path = tmp_path / "a.csv"
    path.write_bytes("Day,Id,Code\n31.12.2026,1,AB1\n2026-12-31,2,ab1\n".encode("cp1252"))
    assert [str(p) for p in validate({"a.csv": path}, {"a.csv": spec})] == [
        "a.csv, row 3, column Code: not a value matching [A-Z]{2}\\d",
        "a.csv, row 3, column Day: not a date DD.MM.YYYY"]
    path.write_bytes(b"Day,Id,Code\n31.12.2026,\xe9\x81\x00,AB1\n")
    spec = FileSpec(["Id", "Code", "Day"], encoding="utf-8", column_order="any")
    assert [str(p) for p in validate({"a.csv": path}, {"a.csv": spec})] == ["a.csv, row 2: bytes not valid utf-8",
                                                                          "a.csv, row 2, column Id: holds a NUL byte (0x00)"]


def test_every_problem_on_request(tmp_path):
    many = [["101", f"S{i}", "x", "", "5", "01/01/2015", ""] for i in range(50)]
    tables = {k: [list(r) for r in v] for k, v in CLEAN.items()}
    tables["students.csv"] += many
    problems = validate(_write(tmp_path, tables), _specs("clever"), max_per_rule=None)
    assert len([p for p in problems if p.rule == "required value is empty"]) == 50


def test_dates_are_real_calendar_days(tmp_path):
    def dob(value):
        return lambda t: t[0].__setitem__(5, value)
    assert _clever(tmp_path, students_csv=dob("02/29/2028")) == []  # a leap year
    assert _clever(tmp_path, students_csv=dob("02/29/2027")) == [
        "students.csv, row 2, column DOB: not a real calendar date (date MM/DD/YYYY)"]
    assert _clever(tmp_path, students_csv=dob("04/31/2020")) == [
        "students.csv, row 2, column DOB: not a real calendar date (date MM/DD/YYYY)"]
    assert _clever(tmp_path, students_csv=dob("2020-01-31")) == ["students.csv, row 2, column DOB: not a date MM/DD/YYYY"]


def _clever_bytes(tmp_path, name, data):
    paths = _write(tmp_path, CLEAN)
    paths[name].write_bytes(data)
    return [str(p) for p in validate(paths, _specs("clever"))]


def test_malformed_csv_is_a_problem_with_its_row_never_a_crash(tmp_path):
    header = ",".join(_specs("clever")["enrollments.csv"].header).encode()
    # a row with a field too many, one with too few, a blank line: each named, the rest checked
    assert _clever_bytes(tmp_path, "enrollments.csv", header + b"\n101,5001,S1,x\n101,5001\n\n101,5001,S2\n"
                         b"101,5001,S7\n") == [
        "enrollments.csv, row 2: has 4 fields, the header has 3",
        "enrollments.csv, row 3: has 2 fields, the header has 3",
        "enrollments.csv, row 4: blank line",
        "enrollments.csv, row 6, column Student_id: S7 is not a Student_id in students.csv"]
    # a quote that never closes: the reader cannot go on; what it read before is still checked
    assert _clever_bytes(tmp_path, "enrollments.csv", header + b'\n101,5001,S7\n101,"5001,S2\n101,5001,S1\n') == [
        "enrollments.csv, row 3: not readable as CSV: unexpected end of data (a quote that does not close?); "
        "nothing after it was checked",
        "enrollments.csv, row 2, column Student_id: S7 is not a Student_id in students.csv"]
    # a quote inside an unquoted value is part of it (Clever quotes only values with a comma)
    assert _clever_bytes(tmp_path, "enrollments.csv", header + b'\n101,50"01,S1\n') == [
        "enrollments.csv, row 2, column Section_id: 50\"01 is not a Section_id in sections.csv"]
    # a value over two lines keeps the row numbers by record
    assert _clever_bytes(tmp_path, "enrollments.csv", header + b'\n101,"5001\nx",S1\n101,5002,S1\n') == [
        "enrollments.csv, row 2, column Section_id: 5001\nx is not a Section_id in sections.csv",
        "enrollments.csv, row 3, column Section_id: 5002 is not a Section_id in sections.csv"]


def test_bytes_that_do_not_decode_each_named_and_a_bom_said_plainly(tmp_path):
    header = ",".join(_specs("clever")["enrollments.csv"].header).encode()
    data = header + b"\n101,5001,S1\n101,5001,S\xe9\n101,5001,S2\n101,\xff5001,S2\n"  # cp1252 and stray bytes
    problems = _clever_bytes(tmp_path, "enrollments.csv", data)
    assert problems[:2] == ["enrollments.csv, row 3: bytes not valid utf-8", "enrollments.csv, row 5: bytes not valid utf-8"]
    assert len(problems) == 4 and "row 3, column Student_id" in problems[2]  # the rows are still checked
    assert _clever_bytes(tmp_path, "enrollments.csv", b"\xef\xbb\xbf" + header + b"\n101,5001,S1\n") == [
        "enrollments.csv, row 1: file starts with a byte-order mark (BOM); write UTF-8 without one"]
    assert _clever_bytes(tmp_path, "enrollments.csv", header + b"\n") == ["enrollments.csv: file has no data rows"]
    assert _clever_bytes(tmp_path, "enrollments.csv", b"") == [
        "enrollments.csv, row 1: header is not the vendor's exact header (missing ['School_id', 'Section_id', "
        "'Student_id'])"]


def test_crlf_and_lf_line_endings_both_read(tmp_path):
    """No vendor states its line ending: both are read, row numbers the same."""
    paths = _write(tmp_path, CLEAN)
    for path in paths.values():
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert [str(p) for p in validate(paths, _specs("clever"))] == []
    path = paths["enrollments.csv"]
    path.write_bytes(path.read_bytes() + b"101,5001,S7\r\n")
    assert [str(p) for p in validate(paths, _specs("clever"))] == [
        "enrollments.csv, row 4, column Student_id: S7 is not a Student_id in students.csv"]


def test_files_that_refer_to_each_other_are_both_checked(tmp_path):
    """A reference cycle (a.csv -> b.csv -> a.csv): the file read first checks its references
    in a second pass, once the other file is known."""
    from formats.rules import FileSpec
    specs = {"a.csv": FileSpec(["id", "b_id"], refs=[("b_id", "b.csv", "id")]),
             "b.csv": FileSpec(["id", "a_id"], refs=[("a_id", "a.csv", "id")])}
    (tmp_path / "a.csv").write_text("id,b_id\n1,x\n2,y\n")
    (tmp_path / "b.csv").write_text("id,a_id\nx,1\nz,3\n")
    assert [str(p) for p in validate({n: tmp_path / n for n in specs}, specs)] == [
        "b.csv, row 3, column a_id: 3 is not a id in a.csv", "a.csv, row 3, column b_id: y is not a id in b.csv"]


def test_each_file_checked_alone_finds_what_the_whole_set_finds(tmp_path):
    """``validate_file`` (a task per file) over a set's files finds exactly what ``validate``
    finds: references to a file that is missing, unreadable or sound, cycles, duplicates."""
    from formats.rules import FileSpec, validate_file

    def both(paths, specs):
        whole = sorted(str(p) for p in validate(paths, specs))
        alone = sorted(str(p) for name in specs for p in validate_file(name, paths, specs))
        assert alone == whole
        return whole

    def variant(name, **changes):
        folder = tmp_path / name
        folder.mkdir()
        tables = {k: [list(r) for r in v] for k, v in CLEAN.items()}
        for table, fn in changes.items():
            fn(tables[table.replace("_", ".", 1)])
        return _write(folder, tables)

    specs = _specs("clever")
    assert both(variant("clean"), specs) == []
    bad_refs = variant("refs", enrollments_csv=lambda t: t.extend([["101", "5009", "S9"], ["102", "5001", "S1"]]),
                       students_csv=lambda t: t.append(["101", "S1", "Dup", "Row", "5", "01/01/2015", ""]))
    assert len(both(bad_refs, specs)) >= 4  # unknown student, section, school; a duplicate Student_id
    gone = variant("gone")
    gone["students.csv"].unlink()  # a referred-to file missing: its references are not checked
    assert both(gone, specs) == ["students.csv: file is missing"]
    header = variant("header")
    header["sections.csv"].write_text("Section_id,School_id\n5001,101\n")  # a header refused
    assert [p for p in both(header, specs) if "is not a" in p] == []
    cycle = {"a.csv": FileSpec(["id", "b_id", "parent"], refs=[("b_id", "b.csv", "id"), ("parent", "a.csv", "id")]),
             "b.csv": FileSpec(["id", "a_id"], refs=[("a_id", "a.csv", "id")])}
    (tmp_path / "a.csv").write_text("id,b_id,parent\n1,x,2\n2,y,9\n")
    (tmp_path / "b.csv").write_text('id,a_id\nx,1\nz,3\n"q,1\n')
    assert len(both({n: tmp_path / n for n in cycle}, cycle)) == 4  # two references, itself, a quote


def test_the_fast_pass_reads_clean_files_and_leaves_the_rest_to_the_exact_one(tmp_path, engine):
    """A night's clean files (as our exports write them: LF or CRLF, every value quoted or only
    where needed) are checked by Arrow, the same rows and ids counted; a file breaking any rule,
    or that Arrow and Python's csv could read differently, is read the exact way, and the
    problems are those the exact pass alone finds (the engine fixture runs this both ways)."""
    from formats.rules import validate_file
    specs = _specs("clever")
    sets = {"lf": _write(tmp_path, CLEAN)}
    folder = tmp_path / "crlf"
    folder.mkdir()
    sets["crlf"] = _write(folder, CLEAN)
    for path in sets["crlf"].values():
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    for paths in sets.values():
        stats = {}
        assert [str(p) for p in validate(paths, specs, stats=stats, id_columns={"students.csv": "Student_id"})] == []
        assert {s["read"] for s in stats.values()} == {"arrow" if engine == "arrow" else "python"}
        assert stats["students.csv"]["rows"] == 2 and len(stats["students.csv"]["ids"]) == 2
    savvas = tmp_path / "savvas"
    savvas.mkdir()
    spaths, sspecs = _write(savvas, SCLEAN, SH, quote_all=True, vendor="savvas"), _specs("savvas")
    stats = {}
    assert [str(p) for name in sspecs for p in validate_file(name, spaths, sspecs, stats=stats)] == []
    assert {s["read"] for s in stats.values()} == {"arrow" if engine == "arrow" else "python"}

    header = ",".join(specs["students.csv"].header).encode()
    values = {"School_id": "101", "Student_id": "S3", "Last_name": "Kim", "First_name": "Ana", "Grade": "5",
              "DOB": "01/31/2015"}
    row = ",".join(values.get(c, "") for c in specs["students.csv"].header).encode()
    good = sets["lf"]["students.csv"].read_bytes().rstrip(b"\n")
    control = tmp_path / "control.csv"
    control.write_bytes(good + b"\n" + row + b"\n")
    stats = {}
    assert validate({**sets["lf"], "students.csv": control}, specs, stats=stats) == []
    assert stats["students.csv"]["read"] == ("arrow" if engine == "arrow" else "python")
    broken = {  # each a file Arrow alone would have passed, or read otherwise than Python's csv
        "bom": b"\xef\xbb\xbf" + good + b"\n",
        "quote then text": good + b"\n" + row.replace(b"101,", b'"101"x,', 1) + b"\n",
        "blank line": good + b"\n\n",
        "lone CR": good.replace(b"\n", b"\r", 1) + b"\n",
        "NUL": good + b"\n" + row.replace(b"Kim", b"K\x00m") + b"\n",
        "not UTF-8": good + b"\n" + row.replace(b"Kim", b"K\xe9m") + b"\n",
        "short row": good + b"\n" + row[:-1] + b"\n",
        "blank required": good + b"\n" + row.replace(b"Kim", b"\xc2\xa0") + b"\n",
        "grade": good + b"\n" + row.replace(b",5,", b",05,") + b"\n",
        "date": good + b"\n" + row.replace(b"01/31/2015", b"02/30/2015") + b"\n",
        "repeated id": good + b"\n" + row.replace(b"S3", b"S1") + b"\n",
        "unknown school": good + b"\n" + row.replace(b"101,", b"109,", 1) + b"\n",
        "quote never closed": good + b"\n" + row.replace(b"S3", b'"S3') + b"\n",
        "huge value": good + b"\n" + row.replace(b"Kim", b"K" * 200_000) + b"\n",
    }
    unlike = {  # no rule broken, but not as a CSV writer writes: read the exact way, and passed
        "mixed endings": good + b"\r\n" + row + b"\n",
        "quote inside a value": good + b"\n" + row.replace(b"Kim", b'K"im') + b"\n",
        "quoted without need": good + b"\n" + row.replace(b"Kim", b'"Kim"') + b"\n",
    }
    for what, data in {**broken, **unlike}.items():
        paths = dict(sets["lf"])
        paths["students.csv"] = tmp_path / f"{what}.csv"
        paths["students.csv"].write_bytes(data)
        stats = {}
        fast = [str(p) for p in validate(paths, specs, stats=stats, id_columns={"students.csv": "Student_id"})]
        formats.rules.FAST = False
        try:
            exact = [str(p) for p in validate(paths, specs)]
        finally:
            formats.rules.FAST = engine == "arrow"
        assert fast == exact and bool(fast) == (what in broken), what
        assert stats["students.csv"].get("read", "python") == "python", what
