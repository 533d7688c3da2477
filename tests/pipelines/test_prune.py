"""Retention (pipelines/prune.py): each kind's files older than its age go, younger ones and
other kinds' stay (the DPS archive inside the DPS folder keeps its own seven years); empty
folders go; each kind's removal is a ledger row; a dry run removes nothing; the next day prunes
what has aged since."""
import datetime as dt
import os

import luigi
import luigi.configuration

from pipelines.base import data_dir
from pipelines.prune import Prune, plan
from targets import clock
from tests.ledger import ledger_rows

DAY = dt.date(2026, 11, 24)


def _file(path, days_old):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x" * 10)
    when = clock.now().timestamp() - days_old * 86400
    os.utime(path, (when, when))
    return path


def test_old_files_go_young_ones_and_other_kinds_stay(stack_config, pg_settings, tmp_path):
    parser = luigi.configuration.get_config()
    if not parser.has_section("retention"):
        parser.add_section("retention")
    parser.set("retention", "run_logs_dir", str(tmp_path / "logs"))
    parser.set("retention", "pushed_days", "0")  # kept forever
    if not parser.has_section("eis"):
        parser.add_section("eis")
    parser.set("eis", "evidence_dir", str(tmp_path / "evidence"))
    data = data_dir()
    old = [_file(data / "exports" / "2026-08-01" / "clever" / "students.csv", 115),
           _file(data / "eis-work" / "2026-11-01" / "cohort" / "chunk_00000.csv", 23),
           _file(data / "dps" / "FY2026 Q2" / "End_txt_file_FY2026 Q2.txt", 500),
           _file(tmp_path / "logs" / "2026-08-01" / "SftpOperations-050000-1.log", 115),
           _file(tmp_path / "evidence" / "20261101T050000Z-report.png", 23)]
    young = [_file(data / "exports" / "2026-11-23" / "clever" / "students.csv", 1),
             _file(data / "pushed" / "clever" / "students.csv", 900),
             _file(data / "dps" / "archive" / "FY2026 Q2" / "sent" / "End_txt_file_FY2026 Q2.txt", 500),
             _file(tmp_path / "logs" / "bench" / "eis-1.log", 500),
             _file(tmp_path / "logs" / "2026-11-23" / "SftpOperations-050000-2.log", 1)]

    planned = {k.name: files for k, files, _ in plan()}
    assert planned["exports"] == 1 and planned["dps_work"] == 1 and planned["pushed"] == 0
    assert all(p.exists() for p in old)  # a dry run removes nothing

    assert luigi.build([Prune(date=DAY)], local_scheduler=True)
    assert not any(p.exists() for p in old) and all(p.exists() for p in young)
    assert not (data / "exports" / "2026-08-01").exists() and (data / "exports").is_dir()  # empty folders go
    rows = {i: (n, b) for i, n, b in ledger_rows(pg_settings, "item, rows, bytes", job="prune")}
    assert rows == {"exports": (1, 10), "eis_work": (1, 10), "dps_work": (1, 10), "run_logs": (1, 10),
                    "screenshots": (1, 10), "all": (5, 50)}
    assert luigi.build([Prune(date=DAY)], local_scheduler=True)  # done for the day
    assert len(ledger_rows(pg_settings, "item", job="prune")) == 6

    clock.set_now(clock.now() + dt.timedelta(days=30))  # a month later the young export has aged too
    assert luigi.build([Prune(date=DAY + dt.timedelta(days=30))], local_scheduler=True)
    assert not young[0].exists() and young[1].exists() and young[2].exists()
    nothing = DAY + dt.timedelta(days=31)  # the next day: nothing has aged, the day is still recorded
    clock.set_now(clock.now() + dt.timedelta(days=1))
    assert luigi.build([Prune(date=nothing)], local_scheduler=True)
    assert ledger_rows(pg_settings, "item, rows, note", job="prune")[-1] == ("all", 0, "0 files, 0 bytes removed")
