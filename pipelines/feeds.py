"""Feeds ETL (issue 10, in progress): the tImportConfig-driven watcher and importer. Built so
far: which files in a drop folder are ready (``ready_files``), and how each is matched to its
config row (``match``). The tasks that move, convert, load and report follow (docs/feeds.md).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from registry.import_config import ImportConfig
from targets import clock

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
