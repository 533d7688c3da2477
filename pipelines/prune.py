"""Retention: files older than their kind's age are removed, and what was removed is recorded
(``Prune``, daily in schedule.toml; ``./run.sh prune``, ``./run.sh prune --dry-run`` to see
first). Exports, DPS files, EIS work, logs and screenshots hold student data: they must not
grow forever.

``[retention]`` in luigi.cfg, ages in days (0: keep forever):

========================  =============================================  =======
key                       what                                           default
========================  =============================================  =======
``exports_days``          ``<data_dir>/exports/`` (a day's vendor files)      30
``pushed_days``           ``<data_dir>/pushed/`` (last file sent per name)   400
``resend_days``           ``<data_dir>/resend/``                              30
``cleared_days``          ``<data_dir>/cleared/`` (set aside by clear)        90
``eis_work_days``         ``<data_dir>/eis-work/`` (look-up chunks)           14
``dps_work_days``         ``<data_dir>/dps/FY… Q…/`` (extract, answer)       400
``dps_archive_days``      ``<data_dir>/dps/archive/``                       2555
``run_logs_days``         ``logs/<date>/`` (``run_logs_dir``: ``logs/``)      90
``screenshots_days``      ``[eis] evidence_dir`` (failure screenshots)        7
``log_fallback_days``     ``[etl] log_fallback_dir``                          30
========================  =============================================  =======

A file's age is its modification time against the one clock. Folders left empty go too (not
the kind's own folder). Each kind's removal is a ledger row (job ``prune``, item the kind,
note: files and bytes) in the run's ``Prune`` row's day.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import luigi
import luigi.configuration

from pipelines.base import DistrictTask, ROOT, RunDateParameter, data_dir
from targets import clock
from targets.config import Section
from targets.errors import ConfigError
from targets.ledger import Ledger, LedgerEntry, LedgerTarget

logger = logging.getLogger(__name__)
JOB = "prune"


@dataclass
class Kind:
    name: str
    root: Path
    days: int
    skip: tuple[str, ...] = ()  # sub-folders of root that are another kind


def kinds() -> list[Kind]:
    r = Section("retention") if luigi.configuration.get_config().has_section("retention") else None

    def days(key: str, default: int) -> int:
        value = r.int(key, default) if r is not None else default
        if value < 0:
            raise ConfigError(f"[retention] {key} = {value}: an age in days, 0 to keep forever")
        return value

    data = data_dir()
    out = [Kind("exports", data / "exports", days("exports_days", 30)),
           Kind("pushed", data / "pushed", days("pushed_days", 400)),
           Kind("resend", data / "resend", days("resend_days", 30)),
           Kind("cleared", data / "cleared", days("cleared_days", 90)),
           Kind("eis_work", data / "eis-work", days("eis_work_days", 14)),
           Kind("dps_work", data / "dps", days("dps_work_days", 400), skip=("archive",)),
           Kind("dps_archive", data / "dps" / "archive", days("dps_archive_days", 2555)),
           Kind("run_logs", r.path("run_logs_dir", default=str(ROOT / "logs")) if r is not None else ROOT / "logs",
                days("run_logs_days", 90), skip=("bench", "screenshots", "eis")),
           Kind("screenshots", Section("eis").path("evidence_dir", default=str(ROOT / "logs" / "eis"))
                if luigi.configuration.get_config().has_section("eis") else ROOT / "logs" / "eis",
                days("screenshots_days", 7))]
    fallback = Section("etl").path("log_fallback_dir", default="log-fallback")
    out.append(Kind("log_fallback", fallback, days("log_fallback_days", 30)))
    return out


def old_files(kind: Kind, now: float) -> list[Path]:
    if kind.days == 0 or not kind.root.is_dir():
        return []
    cutoff = now - kind.days * 86400
    found = []
    for folder, dirs, files in os.walk(kind.root):
        if Path(folder) == kind.root:
            dirs[:] = [d for d in dirs if d not in kind.skip]
        for name in files:
            path = Path(folder) / name
            try:
                if path.lstat().st_mtime < cutoff:
                    found.append(path)
            except FileNotFoundError:
                continue
    return sorted(found)


def prune(kind: Kind, now: float, dry_run: bool = False) -> tuple[int, int]:
    """(files, bytes) removed (or, with ``dry_run``, that would be)."""
    files, size = 0, 0
    for path in old_files(kind, now):
        try:
            n = path.lstat().st_size
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            continue
        files, size = files + 1, size + n
    if not dry_run and kind.root.is_dir():
        for folder, dirs, _ in os.walk(kind.root, topdown=False):
            if Path(folder) != kind.root and not os.listdir(folder) and \
                    not (Path(folder).parent == kind.root and Path(folder).name in kind.skip):
                os.rmdir(folder)
    return files, size


class Prune(DistrictTask):
    """Every kind's old files removed, each kind's count a ledger row (once a day)."""

    date = RunDateParameter()

    def output(self):
        return LedgerTarget(Ledger.of(), JOB, "all", self.date)

    def run(self):
        now = clock.now().timestamp()
        client = Ledger.of()
        total_files = total_bytes = 0
        chosen = kinds()
        for i, kind in enumerate(chosen):
            self.set_status_message(f"pruning {kind.name} ({kind.root}, older than {kind.days} days)")
            files, size = prune(kind, now)
            total_files, total_bytes = total_files + files, total_bytes + size
            if files:
                client.record(LedgerEntry(job=JOB, item=kind.name, run_date=self.date, direction="task",
                                          source=str(kind.root), rows=files, bytes=size,
                                          note=f"{files} files older than {kind.days} days removed"), replace=True)
                logger.info("pruned %s: %d files, %d bytes older than %d days", kind.name, files, size, kind.days)
            self.set_progress_percentage(int((i + 1) * 100 / len(chosen)))
        self.output().mark_done(direction="task", rows=total_files, bytes=total_bytes,
                                note=f"{total_files} files, {total_bytes:,} bytes removed")


def plan() -> list[tuple[Kind, int, int]]:
    """What ``Prune`` would remove now, per kind (``./run.sh prune --dry-run``)."""
    now = clock.now().timestamp()
    return [(k, *prune(k, now, dry_run=True)) for k in kinds()]
