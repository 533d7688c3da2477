"""A synthetic school district, written as PowerSchool-like CSV exports (seeded, no real data).

    python -m stack.district DATA_DIR [--students N] [--seed S] [--date YYYY-MM-DD]

writes DATA_DIR/powerschool_combined/*.csv and the Bluff and ASD exports (bluff/, asd/).

Realistic enough to exercise every view and vendor rule: PreK, K and grades 1-12 in
elementary, middle and high schools; teachers at two schools; co-taught sections; withdrawn
students; names with apostrophes, accents, hyphens and commas; missing e-mail addresses;
attendance, discipline and assessment scores.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import random
import unicodedata
from pathlib import Path

from targets.local import atomic_open

LAST = ["García", "O'Brien", "Nguyen", "Smith", "Müller", "Johnson", "Williams", "Okafor", "D'Angelo",
        "López-Rivera", "Brown", "Davis", "Martínez", "Kim", "Patel", "Wilson", "Anderson", "Thomas",
        "Jackson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
        "Wright", "Scott", "Torres", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell"]
SUFFIXED = ["Smith, Jr.", "Johnson, III", "Brown, Sr."]
FIRST = ["Ana", "Liam", "Zoë", "Noah", "Mia", "José", "Aaliyah", "Chen", "Olivia", "Elijah", "Sofía",
         "Lucas", "Amelia", "Mateo", "Harper", "Levi", "Evelyn", "Ezra", "Abigail", "Jayden", "Chloé",
         "Mary-Kate", "Renée", "Søren", "Nuñez", "Ava", "Ethan", "Isabella", "James", "Emma", "Benjamin"]
MIDDLE = ["", "", "", "A.", "Marie", "Lee", "José", "Ann", "Ray", "Grace"]
COURSES = {
    "elem": [("HR", "Homeroom")],
    "middle": [("MTH6", "Math"), ("ELA6", "English Language Arts"), ("SCI6", "Science"), ("SS6", "Social Studies"),
               ("ART", "Art"), ("PE", "Physical Education")],
    "high": [("ALG1", "Algebra I"), ("ENG9", "English I"), ("BIO", "Biology"), ("USH", "U.S. History"),
             ("SPAN1", "Spanish I"), ("CHEM", "Chemistry"), ("GEOM", "Geometry"), ("PE", "Physical Education")],
}

FILES = {
    "schools.csv": ["School_Number", "Name", "Low_Grade", "High_Grade", "Address", "City", "State", "Zip",
                    "Phone", "Principal_Email"],
    "students.csv": ["Student_Number", "State_StudentNumber", "Last_Name", "First_Name", "Middle_Name",
                     "Gender", "DOB", "Grade_Level", "SchoolID", "EntryDate", "ExitDate", "Enroll_Status",
                     "Email", "ELL", "Home_Language"],
    "teachers.csv": ["Teacher_Number", "SchoolID", "Last_Name", "First_Name", "Email", "Title", "Is_Home_School"],
    "staff.csv": ["Staff_Number", "SchoolID", "Last_Name", "First_Name", "Email", "Title"],
    "sections.csv": ["Section_ID", "SchoolID", "Course_Number", "Course_Name", "Section_Number", "Period",
                     "Term_Start", "Term_End", "Grade_Level"],
    "section_teachers.csv": ["Section_ID", "Teacher_Number", "Role"],
    "enrollments.csv": ["Student_Number", "Section_ID", "DateEnrolled", "DateLeft"],
    "attendance.csv": ["Student_Number", "SchoolID", "Att_Date", "Att_Code"],
    "discipline.csv": ["Incident_ID", "Student_Number", "SchoolID", "Incident_Date", "Incident_Type", "Action"],
    "assessment_scores.csv": ["Student_Number", "Test_Name", "Test_Date", "Scale_Score", "Performance_Level"],
}


def _ascii(text: str) -> str:
    """An e-mail-safe form of a name: accents folded, only letters and digits kept."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _school_year(today: dt.date) -> tuple[dt.date, dt.date]:
    start_year = today.year if today.month >= 8 else today.year - 1
    return dt.date(start_year, 8, 12), dt.date(start_year + 1, 5, 22)


def _school_days(start: dt.date, today: dt.date, n: int) -> list[dt.date]:
    days, d = [], today - dt.timedelta(days=1)
    while len(days) < n and d >= start:
        if d.weekday() < 5:
            days.append(d)
        d -= dt.timedelta(days=1)
    return sorted(days)


IDM_HEADER = ["SIS_ID", "Email", "Last_Name", "First_Name", "School_ID"]


def school_list(students: int) -> list[tuple[int, str, int, int, str]]:
    """The district's schools as (number, name, low grade, high grade, kind): one elementary
    school per 500 students, one middle school per 1,000 of its grades' students and one high
    school per 1,500 of its grades' (at least one of each). Numbers are the kind's digit then a
    serial of as many digits as the largest kind needs (101…, 201, 301 for a small district;
    10001…, 20001…, 30001… for a consortium), so they never collide."""
    per_grade = students / 14  # grades PreK (-1) to 12, drawn evenly
    counts = {"elem": max(2, students // 500), "middle": max(1, round(per_grade * 3 / 1000)),
              "high": max(1, round(per_grade * 4 / 1500))}
    width = max(2, len(str(max(counts.values()))))
    names = {"elem": ["Maple", "Cedar", "Oak", "Willow", "Birch", "Aspen"], "middle": ["Bluff"], "high": ["Riverside"]}
    label = {"elem": "Elementary", "middle": "Middle School", "high": "High School"}
    grades = {"elem": (-1, 5), "middle": (6, 8), "high": (9, 12)}
    schools = []
    for digit, kind in enumerate(("elem", "middle", "high"), start=1):
        pool = names[kind]
        for i in range(counts[kind]):
            name = f"{pool[i % len(pool)]} {label[kind]}" + (f" {i // len(pool) + 1}" if i >= len(pool) else "")
            schools.append((digit * 10 ** width + i + 1, name, *grades[kind], kind))
    return schools


def _schools_staff_sections(rng: random.Random, schools: list, students: int, start: dt.date, end: dt.date,
                            put) -> dict[int, list[tuple[str, int | None]]]:
    """Schools, teachers (one home school each; one in ten also teaches at a second school),
    staff and sections (elementary homerooms per grade, secondary courses x 3) through
    ``put(file, row)``; returns each school's (section id, grade) pairs."""
    for number, name, low, high, _kind in schools:
        put("schools.csv", [number, name, low, high, f"{rng.randint(100, 9999)} {rng.choice(LAST).split(',')[0]} St",
                            "Springfield", "TN", f"37{rng.randint(100, 999)}", f"615-555-{rng.randint(1000, 9999)}",
                            f"principal{number}@district.example"])
    teachers: dict[int, list[str]] = {s[0]: [] for s in schools}
    for t in range(max(len(schools) * 3, students // 18)):
        tid = f"T{1000 + t}"
        home = schools[t % len(schools)]
        last, first = rng.choice(LAST), rng.choice(FIRST)
        email = f"{_ascii(first)[0]}{_ascii(last.split(',')[0])}{t}@district.example"
        put("teachers.csv", [tid, home[0], last, first, email, "Teacher", 1])
        teachers[home[0]].append(tid)
        if rng.random() < 0.10:
            other = rng.choice([s for s in schools if s[0] != home[0]])
            put("teachers.csv", [tid, other[0], last, first, email, "Teacher", 0])
            teachers[other[0]].append(tid)
    for s in range(max(len(schools) * 2, students // 100)):
        school = schools[s % len(schools)]
        last, first = rng.choice(LAST), rng.choice(FIRST)
        put("staff.csv", [f"S{500 + s}", school[0], last, first, f"staff{500 + s}@district.example",
                          rng.choice(["Principal", "Counselor", "Secretary", "Nurse", "Librarian"])])
    sections: dict[int, list[tuple[str, int | None]]] = {s[0]: [] for s in schools}
    sec_id = 5000
    for number, _name, low, high, kind in schools:
        pool = teachers[number]
        for grade in (range(low, high + 1) if kind == "elem" else [None]):
            for course, cname in COURSES[kind]:
                for k in range(1 if kind == "elem" else 3):
                    sec_id += 1
                    sid = str(sec_id)
                    put("sections.csv", [sid, number, course, cname, k + 1, (k % 7) + 1, start, end,
                                         "" if grade is None else grade])
                    lead = pool[sec_id % len(pool)]
                    put("section_teachers.csv", [sid, lead, "Lead"])
                    if rng.random() < 0.15 and len(pool) > 1:
                        co = rng.choice([t for t in pool if t != lead])
                        put("section_teachers.csv", [sid, co, "Co-teacher"])
                    sections[number].append((sid, grade))
    return sections


def generate(out: Path, students: int = 2000, seed: int = 42, today: dt.date = dt.date(2026, 11, 24),
             idm_file: Path | None = None) -> dict[str, int]:
    """Write the exports into ``out``; returns rows per file. ``idm_file``: also write the
    Clever IDM export of the students' Google addresses there (as Clever would offer it).
    Rows are written as they are drawn: memory holds the schools, teachers and sections, not
    the students (a 500,000-student district takes what a 2,000-student one does)."""
    rng = random.Random(seed)
    start, end = _school_year(today)
    schools = school_list(students)
    out.mkdir(parents=True, exist_ok=True)
    counts = {name: 0 for name in FILES}
    with contextlib.ExitStack() as stack:
        writers = {}
        for name, header in FILES.items():
            writers[name] = csv.writer(stack.enter_context(atomic_open(out / name)), lineterminator="\n")
            writers[name].writerow(header)
        idm = None
        if idm_file is not None:
            idm = csv.writer(stack.enter_context(atomic_open(idm_file)), lineterminator="\n")
            idm.writerow(IDM_HEADER)

        def put(name: str, row: list) -> None:
            writers[name].writerow(row)
            counts[name] += 1

        sections = _schools_staff_sections(rng, schools, students, start, end, put)
        by_grade = {g: [s for s in schools if s[2] <= g <= s[3]] for g in range(-1, 13)}
        days = _school_days(start, today, 5)
        incident = 0
        for i in range(students):
            number = 100000 + i
            grade = rng.choice(range(-1, 13))
            school = rng.choice(by_grade[grade])
            last = rng.choice(SUFFIXED) if rng.random() < 0.02 else rng.choice(LAST)
            first, middle = rng.choice(FIRST), rng.choice(MIDDLE)
            age = grade + 6
            dob = dt.date(today.year - age - (1 if today.month < 9 else 0), rng.randint(1, 12), rng.randint(1, 28))
            withdrawn = rng.random() < 0.05
            exit_date = (today - dt.timedelta(days=rng.randint(3, 60))) if withdrawn else end
            email = "" if rng.random() < 0.08 else (
                f"{_ascii(first)}.{_ascii(last.split(',')[0])}{number % 1000}@students.district.example")
            put("students.csv", [number, f"{rng.randint(100000000, 999999999)}", last, first, middle,
                                 rng.choice("MFMFMFX"), dob, grade, school[0], start, exit_date,
                                 2 if withdrawn else 0, email, "Y" if rng.random() < 0.12 else "N",
                                 rng.choice(["English"] * 8 + ["Spanish", "Vietnamese", "Arabic"])])
            if idm is not None and email and not withdrawn:
                idm.writerow([number, email, last, first, school[0]])
            mine = [s for s in sections[school[0]] if s[1] in (None, grade)]
            taken = mine if school[4] == "elem" else rng.sample(mine, min(len(mine), rng.randint(4, 6)))
            for sid, _g in taken:
                put("enrollments.csv", [number, sid, start, exit_date])
            if not withdrawn:
                for d in days:
                    put("attendance.csv", [number, school[0], d, rng.choices("PAT", weights=[90, 6, 4])[0]])
            if rng.random() < 0.03:
                incident += 1
                put("discipline.csv", [f"I{incident:05d}", number, school[0], rng.choice(days) if days else start,
                                       rng.choice(["Tardy", "Disruption", "Fighting", "Dress Code"]),
                                       rng.choice(["Warning", "Detention", "Parent Contact", "ISS"])])
            if grade >= 3:
                score = rng.randint(200, 400)
                put("assessment_scores.csv", [number, "TCAP Math", dt.date(today.year, 4, 20), score,
                                              ["Below", "Approaching", "On Track", "Mastered"][min(3, (score - 200) // 50)]])
    return counts


def generate_merge_inputs(root: Path, seed: int = 42, students: int = 60) -> None:
    """Bluff's and ASD's student exports, as two schools really send them: other column order
    and case, an extra column each, ASD in Windows-1252, and a few students in both (some
    with conflicting values)."""
    rng = random.Random(seed + 1)
    people = []
    for i in range(students):
        people.append({"Student_Number": str(700000 + i), "Last_Name": rng.choice(LAST), "First_Name": rng.choice(FIRST),
                       "Grade_Level": str(rng.randint(6, 8)), "DOB": f"20{rng.randint(11, 14)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"})
    bluff, asd = people[: students // 2 + 3], people[students // 2 - 3:]  # six students in both
    asd = [dict(p) for p in asd]
    asd[0]["Grade_Level"] = "9" if asd[0]["Grade_Level"] != "9" else "8"  # a conflicting duplicate
    for folder, rows, header, extra, encoding in (
            ("bluff", bluff, ["Student_Number", "Last_Name", "First_Name", "Grade_Level", "DOB"], "Homeroom", "utf-8"),
            ("asd", asd, ["student_number", "first_name", "last_name", "dob", "grade_level"], "Counselor", "cp1252")):
        with atomic_open(root / folder / "students.csv", encoding=encoding) as fh:
            w = csv.writer(fh, lineterminator="\r\n" if folder == "asd" else "\n")
            w.writerow([f" {h} " if folder == "asd" and h == "dob" else h for h in header] + [extra])
            for p in rows:
                w.writerow([p[{"student_number": "Student_Number", "first_name": "First_Name", "last_name": "Last_Name",
                                "dob": "DOB", "grade_level": "Grade_Level"}.get(h, h)] for h in header]
                           + [f"{extra[:1]}{rng.randint(1, 20)}"])


def generate_partner_files(students_csv: Path, scores: Path, easyiep: Path, today: dt.date, seed: int = 42) -> None:
    """What partners offer on their servers: a SAVVAS score file and an EasyIEP export."""
    rng = random.Random(seed + 2)
    with open(students_csv, encoding="utf-8") as fh:
        ids = [r["Student_Number"] for r in csv.DictReader(fh)]
    with atomic_open(scores) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["Student_Number", "Assessment", "Score", "Test_Date"])
        w.writerows([i, rng.choice(["enVision Math Unit 3", "myView Literacy Unit 2"]), rng.randint(40, 100),
                     today - dt.timedelta(days=rng.randint(1, 10))] for i in rng.sample(ids, min(len(ids), 200)))
    with atomic_open(easyiep) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["Student_Number", "Plan_Type", "Plan_Date", "Case_Manager"])
        w.writerows([i, rng.choice(["IEP", "504"]), today - dt.timedelta(days=rng.randint(10, 300)),
                     f"T{1000 + rng.randint(0, 50)}"] for i in rng.sample(ids, min(len(ids), 80)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stack.district")
    ap.add_argument("out", type=Path)
    ap.add_argument("--students", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--date", type=dt.date.fromisoformat, default=dt.date.today())
    args = ap.parse_args(argv)
    counts = generate(args.out / "powerschool_combined", args.students, args.seed, args.date)
    generate_merge_inputs(args.out, args.seed)
    for name, n in counts.items():
        print(f"{n:8d}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
