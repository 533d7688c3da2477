"""Feeds ETL (issue 10, in progress): the tImportConfig-driven watcher and importer. Built so
far: the watcher. ``WatchFeeds`` (cron every few minutes) takes each active row's ready files
(``ready_files``: not a temporary name, settled) to the row's processing folder, matched by
its regex (``match``), and sets files matching no row aside in ``unmatched/``; the Feeds
database's ledger (``[feeds_db]``) records each, so a dropped file is taken once. Converting,
loading and the report follow (docs/feeds.md). Sections: ``[feeds_db]``, ``[feeds]``
(allowed_schemas, settle_seconds), ``[etl] data_dir``.
Run: ``./run.sh luigi --module pipelines.feeds WatchFeeds``.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import luigi

from pipelines.base import RunDateParameter, data_dir
from registry.import_config import ImportConfig, check_rows
from targets import clock
from targets.config import Section
from targets.errors import ConfigError
from targets.ledger import LedgerItemTarget
from targets.postgres import PostgresClient

logger = logging.getLogger(__name__)

# Names uploaders give files they are still writing: ours (.part), WinSCP (.filepart),
# browsers (.crdownload, .download), Office's lock files (~$), editors (.swp, .tmp), and
# hidden files (a leading dot, as rsync and our atomic writes use).
TEMPORARY_SUFFIXES = (".part", ".filepart", ".crdownload", ".download", ".tmp", ".swp", ".partial")
TEMPORARY_PREFIXES = (".", "~$")


@dataclass(frozen=True)
class DroppedFile:
    path: Path
    size: int
    mtime: float


def is_temporary(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(TEMPORARY_PREFIXES) or lower.endswith(TEMPORARY_SUFFIXES)


def ready_files(folder: str | os.PathLike, settle_seconds: float = 30.0,
                now: dt.datetime | None = None) -> tuple[list[DroppedFile], list[Path]]:
    """(files ready to take, files left for the next pass). A file is left while its name is a
    temporary one or it changed within the last ``settle_seconds`` (by the one clock): an
    upload still in progress keeps touching its file. Sorted by name; folders are ignored."""
    moment = (now or clock.now()).timestamp()
    ready, waiting = [], []
    folder = Path(folder)
    if not folder.is_dir():
        return ready, waiting
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        if is_temporary(entry.name) or moment - st.st_mtime < settle_seconds:
            waiting.append(Path(entry.path))
        else:
            ready.append(DroppedFile(Path(entry.path), st.st_size, st.st_mtime))
    return ready, waiting


def match(name: str, configs: list[ImportConfig]) -> ImportConfig | None:
    """The first active row whose regex matches the whole name (rows in config_id order)."""
    for config in configs:
        if config.active and config.pattern.fullmatch(name):
            return config
    return None


# ---------------------------------------------------------------- the watcher task

TAKE_JOB, UNMATCHED_JOB = "feeds_take", "feeds_unmatched"


def folder(path: str) -> Path:
    """A tImportConfig folder: absolute, or relative to ``[etl] data_dir``."""
    p = Path(path)
    return p if p.is_absolute() else data_dir() / p


def feeds_ledger() -> PostgresClient:
    """The Feeds database keeps its own ledger (``[feeds_db]``)."""
    return PostgresClient.from_config("feeds_db")


def configs() -> list[ImportConfig]:
    """The active tImportConfig rows that pass their checks (refused ones are logged)."""
    try:
        schemas = set((Section("feeds").str("allowed_schemas", "feeds") or "feeds").split(","))
    except ConfigError:
        schemas = {"feeds"}
    good, refused = check_rows(feeds_ledger().import_config_rows(), {s.strip() for s in schemas})
    for message in refused:
        logger.error("%s", message)
    return [c for c in good if c.active]


def dropped_item(f: DroppedFile) -> str:
    return f"{f.path.name}|{f.size}|{int(f.mtime)}"


class TakeFeedFile(luigi.Task):
    """A ready file moved (atomically, one rename) from its drop folder to its config row's
    processing folder; done = its ledger row (the same dropped file is taken once)."""

    date = RunDateParameter()
    config_id = luigi.IntParameter()
    path = luigi.Parameter()
    size = luigi.IntParameter()
    mtime = luigi.IntParameter()

    def output(self):
        return LedgerItemTarget(feeds_ledger(), TAKE_JOB, f"{Path(self.path).name}|{self.size}|{self.mtime}", self.date)

    def run(self):
        config = next(c for c in configs() if c.config_id == self.config_id)
        source = Path(self.path)
        dest = folder(config.processing_dir or f"{config.source_dir}/processing") / source.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
        self.output().mark_done(direction="in", source=str(source), destination=str(dest), bytes=self.size,
                                note=f"config {config.config_id} ({config.job_name})")


class SetAsideUnmatched(luigi.Task):
    """A ready file that matches no tImportConfig row, moved to ``unmatched/`` beside it (for
    the report); done = its ledger row."""

    date = RunDateParameter()
    path = luigi.Parameter()
    size = luigi.IntParameter()
    mtime = luigi.IntParameter()

    def output(self):
        return LedgerItemTarget(feeds_ledger(), UNMATCHED_JOB, f"{Path(self.path).name}|{self.size}|{self.mtime}",
                                self.date)

    def run(self):
        source = Path(self.path)
        dest = source.parent / "unmatched" / source.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
        logger.warning("%s matches no tImportConfig row: set aside in %s", source.name, dest.parent)
        self.output().mark_done(direction="in", source=str(source), destination=str(dest), bytes=self.size)


class WatchFeeds(luigi.WrapperTask):
    """One pass over every active row's drop folder (cron every few minutes): ready files taken,
    unmatched ones set aside, files still being written left for the next pass."""

    date = RunDateParameter()

    def requires(self):
        rows = configs()
        tasks = []
        for source in sorted({c.source_dir for c in rows}):
            ready, _ = ready_files(folder(source), settle_seconds=_settle_seconds())
            for f in ready:
                config = match(f.path.name, [c for c in rows if c.source_dir == source])
                if config is None:
                    tasks.append(SetAsideUnmatched(date=self.date, path=str(f.path), size=f.size, mtime=int(f.mtime)))
                else:
                    tasks.append(TakeFeedFile(date=self.date, config_id=config.config_id, path=str(f.path),
                                              size=f.size, mtime=int(f.mtime)))
        return tasks


def _settle_seconds() -> float:
    try:
        return Section("feeds").float("settle_seconds", 30.0)
    except ConfigError:
        return 30.0
