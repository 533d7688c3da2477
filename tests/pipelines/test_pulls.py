"""Pulls (06:50 slot) against the stack's SFTP accounts: only files not pulled before, keyed by
remote name, size and mtime; atomic local copies; SAVVAS scores forwarded to OTUS."""
import datetime as dt
import os
import uuid

import luigi
import luigi.configuration
import pytest

from pipelines.base import data_dir
from pipelines.slots import SftpOperationsMisc
from tests.ledger import ledger_rows

DAY = dt.date(2026, 11, 24)


@pytest.fixture
def remote(stack_config, stack_var, tmp_path):
    tag = uuid.uuid4().hex[:8]
    root = stack_var / "sftp" / "root"
    folders = {"idm": root / "clever_reports" / "idm-sensitive-exports" / tag,
               "scores": root / "savvas" / "scores" / tag,
               "easyiep": root / "easyiep" / "exports" / tag,
               "otus": root / "otus" / "home" / "incoming" / tag}
    for f in folders.values():
        f.mkdir(parents=True)
    reg = tmp_path / "vendors.toml"
    reg.write_text(f'''
[[pull]]
name = "clever_idm"
server = "clever_reports"
remote_dir = "/idm-sensitive-exports/{tag}"
pattern = "*.csv"
dest = "powerschool_combined"
local_name = "clever_idm_students.csv"

[[pull]]
name = "savvas_scores"
server = "savvas"
remote_dir = "/scores/{tag}"
pattern = "*.csv"
latest = 2
dest = "misc_imports"

[[pull]]
name = "easyiep"
server = "easyiep"
remote_dir = "/exports/{tag}"
pattern = "easyiep_*.csv"
dest = "misc_imports"

[[forward]]
name = "savvas_scores_to_otus"
pull = "savvas_scores"
server = "otus"
remote_dir = "/home/incoming/{tag}"
''')
    luigi.configuration.get_config().set("vendors", "vendors_file", str(reg))
    return folders


def _put(folder, name, text, mtime):
    path = folder / name
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def _pulls(settings):
    return ledger_rows(settings, "job_name, item", succeeded_only=True)


def test_pull_only_new_files_and_forward_scores(remote, pg_settings):
    base = 1_790_000_000
    _put(remote["idm"], "idm_20261122.csv", "SIS_ID,Email\n1,old@s.org\n", base)
    _put(remote["idm"], "idm_20261123.csv", "SIS_ID,Email\n1,new@s.org\n", base + 100)
    for i, day in enumerate(["20261121", "20261122", "20261123"]):
        _put(remote["scores"], f"savvas_scores_{day}.csv", f"id,score\n{i},9{i}\n", base + i)
    _put(remote["easyiep"], "easyiep_a.csv", "id\n1\n", base)
    _put(remote["easyiep"], "notes.txt", "not ours", base)

    assert luigi.build([SftpOperationsMisc(date=DAY)], local_scheduler=True)
    root = data_dir()
    assert (root / "powerschool_combined" / "clever_idm_students.csv").read_text() == "SIS_ID,Email\n1,new@s.org\n"
    assert sorted(p.name for p in (root / "misc_imports").iterdir()) == [
        "easyiep_a.csv", "savvas_scores_20261122.csv", "savvas_scores_20261123.csv"]
    assert sorted(p.name for p in remote["otus"].iterdir()) == ["savvas_scores_20261122.csv", "savvas_scores_20261123.csv"]
    assert oct((root / "misc_imports" / "easyiep_a.csv").stat().st_mode & 0o777) == "0o660"
    assert sorted(p.name for p in remote["easyiep"].iterdir()) == ["easyiep_a.csv", "notes.txt"]  # left in place
    first = _pulls(pg_settings)
    assert len([r for r in first if r[0].startswith("pull_")]) == 4
    assert ("pull_easyiep", f"easyiep_a.csv|5|{base}") in first

    # the same day again, and the next day: nothing already pulled comes again
    assert luigi.build([SftpOperationsMisc(date=DAY)], local_scheduler=True)
    assert _pulls(pg_settings) == first
    _put(remote["easyiep"], "easyiep_b.csv", "id\n2\n", base + 500)
    assert luigi.build([SftpOperationsMisc(date=DAY + dt.timedelta(days=1))], local_scheduler=True)
    pulled_next = [r for r in _pulls(pg_settings)[len(first):] if r[0].startswith("pull_")]
    assert pulled_next == [("pull_easyiep", f"easyiep_b.csv|5|{base + 500}")]
    # the next day pulled no score file: nothing is forwarded to OTUS again
    assert [r for r in _pulls(pg_settings)[len(first):] if r[0].startswith("forward_")] == []
    _put(remote["scores"], "savvas_scores_20261124.csv", "id,score\n7,70\n", base + 700)
    assert luigi.build([SftpOperationsMisc(date=DAY + dt.timedelta(days=2))], local_scheduler=True)
    assert [r for r in _pulls(pg_settings) if r[0].startswith("forward_")][-1:] == [
        ("forward_savvas_scores_to_otus", "savvas_scores_20261124.csv")]
    assert len([r for r in _pulls(pg_settings) if r[0].startswith("forward_")]) == 3  # 2 on day 1, 1 on day 3

    # a remote file replaced under the same name (new size and mtime) is a new file
    _put(remote["easyiep"], "easyiep_a.csv", "id\n1\n3\n", base + 900)
    assert luigi.build([SftpOperationsMisc(date=DAY + dt.timedelta(days=1))], local_scheduler=True)
    assert (root / "misc_imports" / "easyiep_a.csv").read_text() == "id\n1\n3\n"


def test_nothing_to_pull_is_a_complete_slot(remote, pg_settings):
    """Empty remote folders: the pulls and the forward have nothing to do, and say done."""
    result = luigi.build([SftpOperationsMisc(date=DAY)], local_scheduler=True, detailed_summary=True)
    assert result.status.name == "SUCCESS", result.summary_text
    assert not (data_dir() / "misc_imports").exists() and list(remote["otus"].iterdir()) == []
