"""Operator verbs on a real push (the acme fixture vendor on the stack's SFTP server):
resend sends the files last pushed again and records them as a resend; clear makes the next
run redo exactly the cleared item (the other stays done) and sets its local file aside;
pause leaves a flow out of its slot and makes its own runs exit 0; every verb is recorded."""
import datetime as dt
import os
import subprocess
import sys

import luigi
import luigi.configuration
import pytest

import stack
from ops import verbs
from pipelines.base import ROOT, data_dir
from pipelines.vendors import ResendVendorPush, VendorPush
from tests.ledger import ledger_rows

DAY = dt.date(2026, 11, 24)


@pytest.fixture
def acme(acme_vendor, tmp_path, monkeypatch):
    """The acme vendor (tests/conftest.py ``acme_vendor``) pushing to a folder of its own."""
    monkeypatch.setenv("ETL_VAR", str(tmp_path / "var"))  # this test's pauses
    return acme_vendor[2]


def test_resend_and_clear_redo_exactly_what_was_asked(acme, pg_settings, capsys):
    assert luigi.build([VendorPush(vendor="acme", date=DAY)], local_scheduler=True)
    sent = {p.name: p.read_bytes() for p in acme.iterdir()}
    for p in acme.iterdir():
        p.unlink()  # the vendor lost them

    assert luigi.build([ResendVendorPush(vendor="acme", at="101500", date=DAY)], local_scheduler=True)
    assert {p.name: p.read_bytes() for p in acme.iterdir()} == sent  # the same files again
    resent = ledger_rows(pg_settings, "item, status, note", job="push_acme_resend")
    assert sorted(r[0] for r in resent) == ["acme_schools.csv@101500", "acme_students.csv@101500"]
    assert all(r[1] == "succeeded" and r[2] == "resend of the files last pushed (2026-11-24)" for r in resent)
    assert luigi.build([ResendVendorPush(vendor="acme", at="101500", date=DAY)], local_scheduler=True)
    assert len(ledger_rows(pg_settings, "item", job="push_acme_resend")) == 2  # the same resend: done already

    (acme / "acme_students.csv").unlink()
    assert verbs.main(["clear", "push_acme", "--date", str(DAY), "--item", "acme_students.csv"]) == 0
    out = capsys.readouterr().out
    assert "cleared push_acme for 2026-11-24: 1 ledger rows are now superseded" in out
    assert "acme_students.csv (was succeeded)" in out
    statuses = dict(ledger_rows(pg_settings, "item, status", job="push_acme"))
    assert statuses == {"acme_students.csv": "superseded", "acme_schools.csv": "succeeded"}
    (action,) = ledger_rows(pg_settings, "item, source", job="operator")
    assert action[0].startswith("clear push_acme acme_students.csv @") and action[1].startswith("user ")
    schools_mtime = (acme / "acme_schools.csv").stat().st_mtime_ns
    assert luigi.build([VendorPush(vendor="acme", date=DAY)], local_scheduler=True)  # redoes that item only
    assert (acme / "acme_students.csv").read_bytes() == sent["acme_students.csv"]
    assert (acme / "acme_schools.csv").stat().st_mtime_ns == schools_mtime
    rows = ledger_rows(pg_settings, "item, status", job="push_acme")
    assert sorted(rows) == [("acme_schools.csv", "succeeded"), ("acme_students.csv", "succeeded"),
                            ("acme_students.csv", "superseded")]
    assert verbs.main(["clear", "push_acme", "--date", "2026-11-20"]) == 1  # nothing that day: says so


def test_clear_sets_local_files_aside(acme, pg_settings, capsys):
    from targets.ledger import Ledger, LedgerEntry
    local = data_dir() / "eis" / "school_errors_0010.csv"
    local.parent.mkdir(parents=True)
    local.write_text("School\n0010\n")
    Ledger.of().record(LedgerEntry(job="eis_report", item="school_errors_0010", run_date=DAY,
                                   direction="in", destination=str(local)))
    assert verbs.main(["clear", "eis_report", "--date", str(DAY)]) == 0
    assert not local.exists()
    (kept,) = (data_dir() / "cleared").rglob("school_errors_0010.csv")
    assert kept.read_text() == "School\n0010\n" and kept.relative_to(data_dir() / "cleared").parts[1:] == (
        "eis", "school_errors_0010.csv")
    assert f"set aside {local} -> {kept}" in capsys.readouterr().out


def test_a_paused_flow_is_left_out_and_its_runs_exit_0(acme, pg_settings, stack_var, tmp_path, capsys):
    from pipelines.slots import SftpOperations
    assert verbs.main(["pause", "acme", "--reason", "vendor migrating servers"]) == 0
    assert "paused acme: its runs now do nothing and exit 0" in capsys.readouterr().out
    assert verbs.main(["pause"]) == 0
    assert "acme is paused (since " in capsys.readouterr().out
    cfg = tmp_path / "child.cfg"
    with open(cfg, "w") as fh:
        luigi.configuration.get_config().write(fh)
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg), ETL_VAR=str(tmp_path / "var"), **stack.secrets(stack_var))
    run = subprocess.run([sys.executable, "-m", "pipelines", "--module", "pipelines.vendors", "VendorPush",
                          "--vendor", "acme", "--date", str(DAY), "--local-scheduler"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    assert "VendorPush: acme is paused" in run.stderr and "vendor migrating servers" in run.stderr
    assert ledger_rows(pg_settings, "item", job="push_acme") == []  # nothing ran
    # the run itself is recorded as skipped, so ./run.sh status does not call a paused slot missed
    assert ledger_rows(pg_settings, "status, note", job="run") == [("skipped", "exit 0, paused: acme")]

    assert verbs.main(["pause", "clever"]) == 0
    families = [t.task_family for t in SftpOperations(date=DAY).requires()]
    assert "CleverPush" not in families and "SavvasPush" in families  # the others still go
    assert verbs.main(["resume", "clever"]) == 0
    assert "CleverPush" in [t.task_family for t in SftpOperations(date=DAY).requires()]
    assert verbs.main(["resume", "acme"]) == 0
    assert verbs.main(["pause", "nosuchflow"]) == 2
    actions = sorted(i.split(" @")[0] for (i,) in ledger_rows(pg_settings, "item", job="operator"))
    assert actions == ["pause acme", "pause clever", "resume acme", "resume clever"]
