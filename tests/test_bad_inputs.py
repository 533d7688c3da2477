"""The bad-input corpus (tests/badinputs.py, tests/fixtures/bad/): at least 60 files, each
answered clearly. A client's drop-off gets every feeds file at once with two good files: each
bad file goes to the error folder with a failed ledger row naming it and the rule, odd but valid
files load, and the good files load whatever the bad ones do. Each vendor file gets problems
that name it (and the row where there is one), never a crash."""
import luigi

from tests.badinputs import CORPUS, FOLDER, run_feeds, run_vendor
from tests.feedfiles import feeds, watch_pass  # noqa: F401 - the fixture


def test_the_corpus_has_sixty_files_and_the_committed_ones_are_there():
    assert len(CORPUS) >= 60
    assert len({b.name for b in CORPUS}) == len(CORPUS)
    missing = [b.file for b in CORPUS if not b.generated and not (FOLDER / b.file).is_file()]
    assert missing == []


def test_every_feeds_file_is_quarantined_with_a_clear_error_or_loads_and_the_good_ones_load(feeds, tmp_path):
    client, inbox = feeds

    def ddl(statement, params=None):
        with client.transaction() as cur:
            cur.execute(statement, params)

    def ledger(query):
        with client.transaction() as cur:
            cur.execute(query)
            return cur.fetchall()

    outcomes, good = run_feeds(ddl, ledger, inbox / "bad", watch_pass)
    assert good == []
    wrong = [f"{o.bad.name!r}: {o.said}" for o in outcomes if not o.handled]
    assert wrong == [], "\n".join(wrong)


def test_every_vendor_file_gets_problems_naming_it_never_a_crash(stack_config, tmp_path):
    outcomes = run_vendor(tmp_path)
    wrong = [f"{o.bad.name!r}: {o.said}" for o in outcomes if not o.handled]
    assert wrong == [], "\n".join(wrong)


def test_the_judge_fails_a_file_that_gets_no_problem_or_the_wrong_one(stack_config, tmp_path):
    from tests.badinputs import Bad, _clever, _student
    fine = Bad("students_fine.csv", "vendor", _clever(_student(1)), "anything", generated=True)
    wrong = Bad("students_other.csv", "vendor", _clever(_student(1, Grade="14")), "not this rule", generated=True)
    assert [o.handled for o in run_vendor(tmp_path, [fine, wrong])] == [False, False]
