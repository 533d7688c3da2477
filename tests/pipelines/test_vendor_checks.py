"""A big file's check runs in a fresh process of its own (pipelines/vendor_checks.py): it finds
exactly what the check in the worker's process finds, and says its own peak memory."""
import multiprocessing
from pathlib import Path

from formats import oneroster
from pipelines.vendor_checks import check_paths, checked_alone

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "oneroster" / "v1p2"


def test_a_check_in_its_own_process_finds_what_the_worker_finds(tmp_path):
    folder = tmp_path / "pkg"
    folder.mkdir()
    for f in GOLDEN.iterdir():
        text = f.read_text(encoding="utf-8")
        (folder / f.name).write_text(text.replace("usr-s2,student", "usr-s9,student") if f.name == "enrollments.csv"
                                     else text, encoding="utf-8")
    files = ["orgs", "academicSessions", "courses", "classes", "users", "enrollments", "roles"]
    specs = oneroster.file_specs(oneroster.Declared("1.2", {f: "bulk" if f in files else "absent"
                                                           for f in oneroster.MANIFEST_FILES["1.2"]}))
    args = ("enrollments.csv", {n: folder / n for n in specs}, specs, tmp_path / "never-pushed.csv")
    here = check_paths(*args)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        there, peak = pool.apply(checked_alone, args)
    assert there == here and [str(p) for p in here["problems"]] == [
        "enrollments.csv, row 5, column userSourcedId: usr-s9 is not a sourcedId in users.csv"]
    assert here["summary"]["rows"] == 4 and here["summary"]["id_column"] == "sourcedId"
    assert isinstance(peak, int) and 20 < peak < 1000
