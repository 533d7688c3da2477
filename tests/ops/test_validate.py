"""``./run.sh validate VENDOR PATH`` as an operator runs it before a manual upload: the golden
exports pass; a broken file prints every problem (file, row, column, rule) and exits 1; a zip
is checked like a folder; a wrong vendor or path exits 2. Nothing is sent or written."""
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from pipelines.base import ROOT
from registry.vendors import load_vendors

GOLDEN = ROOT / "tests" / "fixtures" / "views"
VENDORS = load_vendors(ROOT / "vendors.toml")


def _folder(tmp_path, vendor):
    folder = tmp_path / vendor
    folder.mkdir()
    for f in VENDORS.vendor(vendor).files:
        shutil.copy(GOLDEN / f"{f.view.split('.', 1)[1]}.csv", folder / f.file)
    return folder


def _validate(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "ETL_SECRETS_ENV")}
    env["ETL_VAR"] = "/nonexistent"  # no stack config: the repository's luigi.cfg names vendors.toml
    return subprocess.run([str(ROOT / "run.sh"), "validate", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_golden_exports_pass_and_a_broken_file_fails_with_every_problem(tmp_path):
    folder = _folder(tmp_path, "clever")
    ok = _validate("clever", folder)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip() == f"all clever rules pass: 6 files in {folder}"
    students = folder / "students.csv"
    lines = students.read_text().splitlines()
    header = lines[0].split(",")
    bad = []
    for n in range(1, 26):  # 25 students with an unknown grade: more than one listing's cap
        fields = lines[n].split(",") if '"' not in lines[n] else None
        if fields is None:
            bad.append(lines[n])
            continue
        fields[header.index("Grade")] = "K"
        bad.append(",".join(fields))
    students.write_text("\n".join([lines[0]] + bad + lines[26:]) + "\n")
    (folder / "notes.txt").write_text("not a vendor file")
    (folder / "_checked.json").write_text("{}")  # a push's own bookkeeping beside its files: not listed
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    broken = _validate("clever", folder)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    grade = [l for l in broken.stdout.splitlines() if l.endswith("column Grade: 'K' is not an allowed value")]
    assert len(grade) == sum(1 for l in bad if ",K," in l) > 20  # every one, not the mailed cap of 20
    assert grade[0].startswith("students.csv, row 2, column Grade")
    assert "not clever's files, not checked: notes.txt" in broken.stdout
    assert broken.stdout.splitlines()[-1].startswith(f"{len(grade)} problems in 1 of 6 clever files")
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before  # nothing written
    assert "Green" not in broken.stdout  # ids only, never names


def test_a_zip_is_checked_like_its_folder_and_bad_arguments_exit_2(tmp_path):
    folder = _folder(tmp_path, "savvas")
    archive = tmp_path / "DISTRICT.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, arcname=p.name)
    ok = _validate("savvas", archive)
    assert ok.returncode == 0 and ok.stdout.startswith("all savvas rules pass: 9 files"), ok.stdout + ok.stderr
    unquoted = folder / "STUDENT.txt"
    unquoted.write_text(unquoted.read_text().replace('"', ""))
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, arcname=p.name)
    bad = _validate("savvas", archive)
    assert bad.returncode == 1 and "STUDENT.txt, row 2: every value must be inside double quotes" in bad.stdout
    nope = _validate("acme", folder)
    assert nope.returncode == 2 and "vendors.toml has no [acme] (have: clever, savvas" in nope.stderr
    missing = _validate("clever", tmp_path / "nowhere")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert Path(archive).exists()


def test_oneroster_packages_are_checked_to_the_letter_and_their_version_said(tmp_path):
    """``./run.sh validate oneroster FILE.zip``: any OneRoster package, ours or one received."""
    for version in ("v1p1", "v1p2"):
        pkg = tmp_path / f"{version}.zip"
        with zipfile.ZipFile(pkg, "w") as zf:
            for f in sorted((ROOT / "tests" / "fixtures" / "oneroster" / version).iterdir()):
                zf.write(f, f.name)
        ok = _validate("oneroster", pkg)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        number = "1.1" if version == "v1p1" else "1.2"
        first, last = ok.stdout.strip().splitlines()[0], ok.stdout.strip().splitlines()[-1]
        assert first.startswith(f"{pkg.name}: OneRoster {number} (from its manifest); ")
        assert "users bulk" in first and "lineItems" not in first
        assert last.startswith(f"OneRoster {number}: every rule of the binding passes (")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data.replace(b"usr-s2,student", b"usr-s9,student") if name == "enrollments.csv"
                         else data)
    bad = _validate("oneroster", broken)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "enrollments.csv, row 5, column userSourcedId: usr-s9 is not a sourcedId in users.csv" in bad.stdout
    assert bad.stdout.strip().splitlines()[-1] == "1 problem in 1 file (enrollments.csv: 1)"
    missing = _validate("oneroster", tmp_path / "nothing.zip")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
