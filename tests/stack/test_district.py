"""The synthetic district at any size: school numbers never collide, every reference holds."""
import csv
import datetime as dt

import pytest

from stack.district import generate, school_list


@pytest.mark.parametrize("students", [40, 2000, 49_999, 50_001, 200_000, 500_000, 5_000_000])
def test_school_numbers_are_unique_at_any_size(students):
    schools = school_list(students)
    numbers = [s[0] for s in schools]
    assert len(numbers) == len(set(numbers))
    assert {s[4] for s in schools} == {"elem", "middle", "high"}
    # a school per kind's grades: every grade from PreK to 12 has one
    assert all(any(low <= g <= high for _, _, low, high, _ in schools) for g in range(-1, 13))


def test_a_small_district_keeps_its_numbers():
    numbers = [s[0] for s in school_list(2000)]
    assert numbers == [101, 102, 103, 104, 201, 301]


def test_a_large_district_references_hold(tmp_path):
    day = dt.date(2026, 11, 23)
    counts = generate(tmp_path, students=60_000, today=day, idm_file=tmp_path / "idm.csv")

    def read(name):
        with open(tmp_path / name, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    schools = {r["School_Number"]: r for r in read("schools.csv")}
    assert len(schools) == counts["schools.csv"] > 120  # was 101..220 colliding with 201 and 301
    students = read("students.csv")
    assert len(students) == 60_000 and len({s["Student_Number"] for s in students}) == 60_000
    for s in students:
        school = schools[s["SchoolID"]]
        assert int(school["Low_Grade"]) <= int(s["Grade_Level"]) <= int(school["High_Grade"])
    sections = {r["Section_ID"]: r["SchoolID"] for r in read("sections.csv")}
    assert set(sections.values()) <= set(schools)
    home = {s["Student_Number"]: s["SchoolID"] for s in students}
    assert all(sections[e["Section_ID"]] == home[e["Student_Number"]] for e in read("enrollments.csv"))
    teachers = {t["Teacher_Number"] for t in read("teachers.csv")}
    assert {t["Teacher_Number"] for t in read("section_teachers.csv")} <= teachers
    assert {t["SchoolID"] for t in read("teachers.csv")} <= set(schools)
    idm = read("idm.csv")
    assert idm and all(home[r["SIS_ID"]] == r["School_ID"] for r in idm)
