"""Warehouse load: files in local folders (``powerschool_combined/``, ``eis/``,
``misc_imports/`` under ``[etl] data_dir``) → GCS raw archive
(``gs://<bucket>/<folder>/<date>/<file>``) → BigQuery tables, as declared in ``sources.toml``.

Cadence: ``BigQueryOperations`` at 03:00 (powerschool_combined, eis) and
``BigQueryOperationsMisc`` at 06:55 (misc_imports), as ``schedule.toml`` says. Sections: ``[etl]``, ``[warehouse]
sources_file``, ``[gcs]``, ``[bigquery]``, ``[postgres]``. One task per file; done = its
``dba.tDataLoads`` row for that content (sha256), so a rerun is a no-op and a changed file for
the same date reloads (the table is replaced, never appended to). A file that breaks a rule
goes to ``<folder>/error/<date>/`` with a failed ledger row naming the rule; the other files
still load. Rerun: ``./run.sh luigi --module pipelines.warehouse BigQueryOperations --date D``.
"""
from __future__ import annotations

import codecs
import datetime as dt
import csv
import json
import logging
import os
from pathlib import Path

import luigi

from formats.spreadsheet import header_cells
from pipelines.base import (DistrictTask, DistrictWrapperTask, Refusal, RunDateParameter, SourceFile, data_dir,
                            define_slots, local_target, sources_file, today)
from pipelines.merge import MergeExports
from registry.schedule import load_schedule
from registry.sources import Source
from targets import clock
from targets.bigquery import BigQueryClient
from targets.gcs import GcsArchive
from targets.errors import BadInputError, ConfigError
from targets.local import file_digest
from targets.ledger import Ledger, LedgerTarget

logger = logging.getLogger(__name__)

JOB = "warehouse"

_DIGESTS: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str | None:
    """sha256 of a file, cached by (path, size, mtime) so repeated complete() checks are cheap."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_digest(path)[1]
    return _DIGESTS[key]


class RestoreArchivedFile(DistrictTask):
    """A file as it was archived on ``date`` (GCS), copied back for a load of that day."""

    date = RunDateParameter()
    folder = luigi.Parameter()
    filename = luigi.Parameter()

    def output(self):
        return local_target(restored_path(self.date, self.folder, self.filename))

    def run(self):
        GcsArchive.from_config().fetch(self.folder, self.date, self.filename, self.output().path)


def restored_path(day: dt.date, folder: str, filename: str) -> Path:
    return data_dir() / "restored" / day.isoformat() / folder / filename


class LoadFileToBigQuery(DistrictTask):
    """One file archived to GCS and loaded into its BigQuery table; done = its ledger row.
    Today's file comes from its folder; an earlier day's is that day's archived copy."""

    date = RunDateParameter()
    folder = luigi.Parameter()
    filename = luigi.Parameter()

    @property
    def today(self) -> bool:
        return self.date == today()

    @property
    def path(self) -> Path:
        return data_dir() / self.folder / self.filename if self.today else \
            restored_path(self.date, self.folder, self.filename)

    def requires(self):
        if not self.today:
            return RestoreArchivedFile(date=self.date, folder=self.folder, filename=self.filename)
        made_by = sources_file().merge_for(self.folder, self.filename)
        if made_by is not None:
            return MergeExports(date=self.date, name=made_by.name)
        return SourceFile(path=str(self.path))

    def output(self):
        return LedgerTarget(Ledger.of(), JOB, f"{self.folder}/{self.filename}", self.date,
                            sha256=_sha256(self.path))

    def run(self):
        source = sources_file().match(self.folder, self.filename)
        if source is None:
            raise ConfigError(f"{self.folder}/{self.filename} matches no entry of the source registry")
        ledger = self.output()
        started = clock.now()
        try:
            check_file(self.path, source)
            self.set_status_message(f"archiving {self.filename} to GCS")
            archive = GcsArchive.from_config()
            uri = archive.archive(self.path, self.folder, self.date) if self.today else \
                f"gs://{archive.settings.bucket}/{archive.object_name(self.folder, self.date, self.filename)}"
            self.set_status_message(f"loading {self.filename} into BigQuery")
            out = BigQueryClient.from_config().load_file(
                self.path, source.table_for(self.filename, self.date), file_format=source.file_format,
                schema=list(source.schema) or None, header_rows=source.header_rows, delimiter=source.delimiter,
                encoding=source.encoding, sheet=source.sheet, write=source.write)
        except BadInputError as e:
            moved = self._quarantine()
            ledger.mark_failed(e, direction="load", source=str(moved),
                               destination=source.table_for(self.filename, self.date), started_at=started)
            logger.error("%s moved to %s: %s", self.filename, moved.parent, e.rule)
            raise
        ledger.mark_done(direction="load", source=uri, destination=out.table, rows=out.rows, bytes=out.bytes,
                         sha256=out.sha256, started_at=started)

    def _quarantine(self) -> Path:
        dest = data_dir() / self.folder / "error" / self.date.isoformat() / self.filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, dest)
        return dest


class LoadFolders(DistrictWrapperTask):
    """Every file in a load slot's folders loaded (schedule.toml ``loads``)."""

    date = RunDateParameter()

    def _scan(self) -> tuple[list[tuple[str, str]], list[str]]:
        reg = sources_file()
        matched, unmatched = [], []
        for folder in load_schedule().named(self.task_family).loads:
            if self.date != today():  # an earlier day: what was archived that day
                names, produced = GcsArchive.from_config().names(folder, self.date), []
            else:
                root = data_dir() / folder
                names = sorted(e.name for e in os.scandir(root) if e.is_file() and not e.name.startswith(".")) \
                    if root.is_dir() else []
                produced = [m.filename for m in reg.merge if m.folder == folder]
            for name in sorted(set(names) | set(produced)):  # a merged file is loaded even before it exists
                if reg.match(folder, name):
                    matched.append((folder, name))
                else:
                    unmatched.append(f"{folder}/{name}")
        return matched, unmatched

    def requires(self):
        matched, unmatched = self._scan()
        for name in unmatched:
            logger.warning("%s matches no source in sources.toml: not loaded", name)
        if not matched and self.date != today():
            return NothingArchived(date=self.date, slot=self.task_family)
        return [LoadFileToBigQuery(date=self.date, folder=f, filename=n) for f, n in matched]

    def complete(self):
        # its files loaded and its summary written: a run killed between the two writes the
        # summary on the rerun (a wrapper alone would count itself done without it)
        return self.summary_path().exists() and super().complete()

    def run(self):
        matched, unmatched = self._scan()
        with local_target(self.summary_path()).open("w") as fh:
            json.dump({"slot": self.task_family, "date": self.date.isoformat(),
                       "loaded": [f"{f}/{n}" for f, n in matched], "unmatched": unmatched}, fh, indent=2)

    def summary_path(self) -> Path:
        return data_dir() / "reports" / f"{self.task_family}-{self.date.isoformat()}.json"


class NothingArchived(Refusal):
    """Fails: a load for an earlier day found none of that day's files in the archive."""

    date = RunDateParameter()
    slot = luigi.Parameter()

    def message(self) -> str:
        folders = ", ".join(load_schedule().named(self.slot).loads)
        return (f"{self.slot} for {self.date}: the archive holds no files of {folders} for that day; "
                "nothing was loaded (today's files load only for today)")


# BigQueryOperations (03:00) and BigQueryOperationsMisc (06:55), with their folders: schedule.toml.
SLOTS = define_slots(__name__, LoadFolders, globals())


def check_file(path: Path, source: Source) -> None:
    """The rules a file must pass before it is loaded: decodable in its encoding, and (when
    the registry pins columns) exactly the pinned header. Errors name file, row and rule."""
    if source.file_format in ("xlsx", "xls"):
        header = [c.strip() for c in header_cells(path, source.sheet, source.header_rows) if c]
    elif source.file_format == "parquet":
        return
    else:
        header = _check_text(path, source)
    if source.schema:
        want = [name for name, _ in source.schema]
        if header != want:
            missing = [c for c in want if c not in header]
            extra = [c for c in header if c not in want]
            detail = "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                           f"unexpected {', '.join(extra)}" if extra else "",
                                           "same columns in another order" if not missing and not extra else "") if p)
            raise BadInputError(str(path), f"header does not match the registry ({detail})", row=source.header_rows)


def _check_text(path: Path, source: Source) -> list[str]:
    header: list[str] = []
    with open(path, "rb") as fh:
        decoder = codecs.getincrementaldecoder(source.encoding)()
        for n, raw in enumerate(fh, start=1):
            try:
                line = decoder.decode(raw)
            except UnicodeDecodeError as e:
                raise BadInputError(str(path), f"bytes not valid {source.encoding} at byte {e.start} of the line",
                                    row=n) from e
            if n == source.header_rows:
                header = next(csv.reader([line.lstrip("\ufeff")], delimiter=source.delimiter), [])
                header = [h.strip() for h in header]
    if not header:
        raise BadInputError(str(path), "file is empty: no header row")
    return header
