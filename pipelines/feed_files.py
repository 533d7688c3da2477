"""The Feeds ETL's files and rows, below its tasks (pipelines/feeds.py): which files in a drop
folder are ready (``ready_files``: not a temporary name, settled), which tImportConfig row a
file belongs to (``match``), the active rows that pass their checks (``configs``), their
folders (``folders``), the Feeds database's ledger (``feeds_ledger``), its registry's rows
(``import_config_rows``) and the moves between folders (``move``). Sections: ``[feeds]`` (allowed_schemas, settle_seconds), ``[feeds_db]``,
``[etl] data_dir``."""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import psycopg2.errors

from pipelines.base import data_dir
from registry.import_config import ImportConfig, check_rows
from targets import clock
from targets.config import Section
from targets.errors import ConfigError
from targets.ledger import Ledger
from targets.postgres import PostgresClient

logger = logging.getLogger(__name__)

# Names uploaders give files they are still writing: ours (.part), WinSCP (.filepart),
# browsers (.crdownload, .download), Office's lock files (~$), editors (.swp, .tmp), and
# hidden files (a leading dot, as rsync and our atomic writes use).
TEMPORARY_SUFFIXES = (".part", ".filepart", ".crdownload", ".download", ".tmp", ".swp", ".partial")
TEMPORARY_PREFIXES = (".", "~$")
SPREADSHEETS = ("xls", "xlsx", "xlsb", "ods")


@dataclass(frozen=True)
class DroppedFile:
    path: Path
    size: int
    mtime: float


def is_temporary(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(TEMPORARY_PREFIXES) or lower.endswith(TEMPORARY_SUFFIXES)


def ready_files(folder: str | os.PathLike, settle_seconds: float = 30.0, now: dt.datetime | None = None,
                trusted: Iterable[str] = ()) -> tuple[list[DroppedFile], list[Path]]:
    """(files ready to take, files left for the next pass). A file is left while its name is a
    temporary one or it changed within the last ``settle_seconds`` (by the one clock): an
    upload still in progress keeps touching its file (a file stamped after the clock's now, on a
    replayed day, is aged by the system clock that stamped it). ``trusted`` names were delivered with
    one rename (our own downloader's) and are ready at once. Sorted by name; folders are
    ignored."""
    trusted = set(trusted)
    moment = (now or clock.now()).timestamp()
    ready, waiting = [], []
    folder = Path(folder)
    if not folder.is_dir():
        return ready, waiting
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        age = moment - st.st_mtime
        if age < 0:  # stamped after the clock's now: a replayed day (demo --date); the system clock judges it
            age = time.time() - st.st_mtime
        if is_temporary(entry.name) or (age < settle_seconds and entry.name not in trusted):
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


def folder(path: str) -> Path:
    """A tImportConfig folder: absolute, or relative to ``[etl] data_dir``."""
    p = Path(path)
    return p if p.is_absolute() else data_dir() / p


@dataclass(frozen=True)
class Folders:
    """A row's folders: where files are dropped, processed, archived and set aside."""

    source: Path
    processing: Path
    archive: Path
    error: Path


def folders(config: ImportConfig) -> Folders:
    """Defaults: ``processing/``, ``archive/`` and ``error/`` inside the drop folder."""
    return Folders(folder(config.source_dir),
                   folder(config.processing_dir or f"{config.source_dir}/processing"),
                   folder(config.archive_dir or f"{config.source_dir}/archive"),
                   folder(config.error_dir or f"{config.source_dir}/error"))


def feeds_ledger() -> Ledger:
    """The Feeds database keeps its own ledger (``[feeds_db]``)."""
    return Ledger.of("feeds_db")


def import_config_rows(db: Ledger | PostgresClient) -> list[dict]:
    """Every row of dba.tImportConfig, as the importer's registry checks them (none while
    the table does not exist: a read never migrates; ./run.sh feeds-db init does)."""
    try:
        with db.transaction() as cur:
            cur.execute("SELECT * FROM dba.timportconfig ORDER BY config_id")
            return [dict(zip([d.name for d in cur.description], row)) for row in cur.fetchall()]
    except psycopg2.errors.UndefinedTable:
        return []


def allowed_schemas() -> set[str]:
    try:
        text = Section("feeds").str("allowed_schemas", "feeds") or "feeds"
    except ConfigError:
        text = "feeds"
    return {s.strip() for s in text.split(",") if s.strip()}


def configs() -> list[ImportConfig]:
    """The active tImportConfig rows that pass their checks (refused ones are logged)."""
    good, refused = check_rows(import_config_rows(feeds_ledger()), allowed_schemas())
    for message in refused:
        logger.error("%s", message)
    return [c for c in good if c.active]


def config(config_id: int) -> ImportConfig:
    found = next((c for c in configs() if c.config_id == config_id), None)
    if found is None:
        raise ConfigError(f"tImportConfig row {config_id} is gone, inactive or refused (see the log)")
    return found


def settle_seconds() -> float:
    try:
        return Section("feeds").float("settle_seconds", 30.0)
    except ConfigError:
        return 30.0


def move(path: Path, dest: Path) -> Path:
    """Move a file to ``dest`` (one rename within a file system), making its folder; a file
    already there with that name is not overwritten: the new one gets a numbered name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    final, n = dest, 1
    while final.exists():
        final = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
        n += 1
    try:
        os.rename(path, final)
    except OSError as e:
        if e.errno != 18:  # EXDEV: another file system
            raise
        shutil.move(path, final)
    return final
