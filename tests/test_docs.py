"""The README says what the code does: its exit-status table is luigi.cfg's [retcode] plus
run.sh's own codes (its crontab is checked in tests/ops/test_cron.py)."""
import configparser
import re

from pipelines.base import ROOT


def test_exit_status_table_matches_retcode_and_run_sh():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "luigi.cfg")
    codes = {int(v) for v in cfg["retcode"].values()}
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| exit | meaning |"):].split("\n\n")[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    run_sh = "\n".join(line for line in (ROOT / "run.sh").read_text().splitlines() if not line.lstrip().startswith("#"))
    own = {int(n) for n in re.findall(r"\bexit (\d+)", run_sh)}  # run.sh's own exits (die is 2)
    assert documented == codes | own | {0, 2}, (documented, codes, own)


def test_every_test_docs_vendor_rules_names_exists():
    """docs/vendor-rules.md traces each rule to a test: each test it names is defined."""
    doc = (ROOT / "docs" / "vendor-rules.md").read_text()
    named = set(re.findall(r"`(?:tests/[\w/]+\.py::)?(test_\w+)`", doc))
    defined = {m for path in (ROOT / "tests").rglob("test_*.py")
               for m in re.findall(r"^def (test_\w+)", path.read_text(), re.M)}
    assert len(named) > 20 and named - defined == set()


def test_no_document_or_comment_cites_a_file_outside_the_repository():
    """Issue 28: a newcomer has only the repository. The one folder beside it that is named is
    the real-spreadsheet corpus, test data a test reads where it is and skips where it is not."""
    import subprocess
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"\.\./shared(?!/spreadsheets/files)|\.\./shared`|\b(?:design|style)\.md\b|vendor-specs")
    found = []
    for name in tracked:
        if not name.endswith((".md", ".py", ".sql", ".toml", ".cfg", ".sh", ".ini", ".txt", ".in")) \
                or name == "tests/test_docs.py":
            continue
        for n, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), start=1):
            if outside.search(line):
                found.append(f"{name}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
