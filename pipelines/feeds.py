"""Feeds ETL: files dropped by clients (SFTP or a folder) and MeetMax lists, loaded into the
Feeds database as ``dba.tImportConfig``'s rows say. One chain per file, each step done when
its output exists, so a rerun resumes where the last one stopped:

``TakeFeedFile``    drop folder → the row's processing folder (one rename; ledger ``feeds_take``)
``ConvertFeedFile`` a workbook → one CSV per configured sheet (0660, ``[etl] file_group``);
                    a corrupt, encrypted or zip-bomb workbook goes to the error folder
``ImportFeedFile``  the CSVs → the row's table (append / replace / upsert through a COPY-filled
                    stage, targets/feed_loader.py), with its ledger row ``feeds_<job>`` in the
                    same transaction; rejected rows → ``<error>/<day>/<file>.rejects.csv``; over
                    ``max_rejects`` nothing loads and the file goes to the error folder
``ArchiveFeedFile`` the file and its CSVs → ``<archive>/<day>/<HHMMSS>_<name>``

``WatchFeeds`` (cron every few minutes) is one pass: ready files in the drop folders (not a
temporary name, settled: pipelines/feed_files.py) start their chain, files matching no row go
to ``unmatched/`` (ledger ``feeds_unmatched``), and files left in a processing folder by a pass
that failed (the database was down) resume. Sections: ``[feeds_db]``, ``[feeds]``, ``[etl]``.
Run: ``./run.sh luigi --module pipelines.feeds WatchFeeds``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import zoneinfo
from functools import cached_property
from pathlib import Path

import luigi

from formats.spreadsheet import EmptySheetError, sheet_kinds, sheet_names, to_csv
from pipelines.base import (DistrictTask, DistrictWrapperTask, Progress, RunDateParameter, counted, file_group,
                            local_target, timezone)
from pipelines.feed_files import (SPREADSHEETS, configs, config, feeds_ledger, folders, is_temporary, match, move,
                                  ready_files, settle_seconds)
from registry.import_config import ImportConfig
from targets.errors import BadInputError
from targets.feed_loader import FeedPart, TooManyRejects, load_feed, write_rejects
from targets.ledger import LedgerItemTarget, file_item
from targets.local import atomic_path, file_digest

logger = logging.getLogger(__name__)

TAKE_JOB, UNMATCHED_JOB = "feeds_take", "feeds_unmatched"


def load_job(row: ImportConfig) -> str:
    """The ledger job of a row's loads (the report's per-job status)."""
    return f"feeds_{row.job_name}"


class FeedFileTask(DistrictTask):
    """A step of one dropped file's chain: the file is (config row, name, size, mtime)."""

    date = RunDateParameter()
    config_id = luigi.IntParameter()
    name = luigi.Parameter()
    size = luigi.IntParameter()
    mtime = luigi.IntParameter()

    @cached_property
    def row(self) -> ImportConfig:
        return config(self.config_id)

    @property
    def item(self) -> str:
        return file_item(self.name, self.size, self.mtime)

    @property
    def processing(self) -> Path:
        return folders(self.row).processing / self.name

    @property
    def converted(self) -> Path:
        return folders(self.row).processing / "converted" / f"{self.name}.{self.mtime}"

    def stamp(self) -> tuple[str, str]:
        """(day, HHMMSS) of the file's mtime in the district's time zone: where it is filed."""
        at = dt.datetime.fromtimestamp(self.mtime, zoneinfo.ZoneInfo(timezone()))
        return at.date().isoformat(), at.strftime("%H%M%S")

    def set_aside(self, source: Path, error: BadInputError) -> BadInputError:
        """Move the file to the error folder; the error to raise, saying where it went. What was
        made from it (its CSVs) goes and its take is undone: the same file dropped again, once
        the cause is fixed, goes through the whole chain from the data as it is then."""
        moved = move(source, folders(self.row).error / self.stamp()[0] / self.name)
        shutil.rmtree(self.converted, ignore_errors=True)
        feeds_ledger().undo(TAKE_JOB, self.item)
        logger.error("%s: set aside in %s", error, moved.parent)
        return BadInputError(error.file, f"{error.rule}; the file was moved to {moved}", row=error.row,
                             column=error.column)

    def chain(self, cls):
        return cls(date=self.date, config_id=self.config_id, name=self.name, size=self.size, mtime=self.mtime)


class TakeFeedFile(FeedFileTask):
    """A ready file moved (one rename) from its drop folder to its row's processing folder;
    done = its ledger row (the same dropped file is taken once)."""

    def output(self):
        return LedgerItemTarget(feeds_ledger(), TAKE_JOB, self.item, self.date)

    def run(self):
        source, dest = folders(self.row).source / self.name, self.processing
        if not source.exists() and dest.exists() and dest.stat().st_size == self.size:
            logger.info("%s was moved to processing by a run that stopped before its ledger row", self.name)
        elif dest.exists():
            raise BadInputError(str(source), f"an earlier {self.name} is still in {dest.parent}: it loads first")
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, dest)
        self.output().mark_done(direction="in", source=str(source), destination=str(dest), bytes=self.size,
                                note=f"config {self.row.config_id} ({self.row.job_name})")


def reader_fault(e: BaseException) -> bool:
    """An error a workbook reader raised about the file it read (anything but an interrupt, an
    exit, memory or the operating system's own errors, which are not the file's)."""
    return not isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError, OSError))


def crash_site(e: BaseException) -> str:
    """Where an exception was raised: ``module.py:line`` of its innermost frame."""
    import traceback
    frames = traceback.extract_tb(e.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "native code"


class ConvertFeedFile(FeedFileTask):
    """A workbook in processing → one CSV per configured sheet (``sheet``: a name, names
    separated by commas, ``*`` for all, or empty for the first) and a manifest naming them."""

    def requires(self):
        return self.chain(TakeFeedFile)

    def output(self):
        return local_target(self.converted / "manifest.json")

    def failure_target(self):
        """Its failure is the load's: recorded under the load's ledger key."""
        return self.chain(ImportFeedFile).output()

    def every_sheet(self) -> bool:
        return (self.row.sheet or "").strip() == "*"

    def sheets(self) -> list[str]:
        wanted = [s.strip() for s in (self.row.sheet or "").split(",") if s.strip()]
        if wanted == ["*"]:
            return sheet_names(self.processing)
        return wanted or sheet_names(self.processing)[:1]

    def run(self):
        self.set_status_message(f"converting {self.name}")
        sheets, written, skipped = [], [], []
        try:
            names = self.sheets()
            for n, sheet in enumerate(names):
                csv_name = f"{Path(self.name).stem}.csv" if len(names) == 1 else f"{Path(self.name).stem}.{n + 1}.csv"
                try:
                    with atomic_path(self.converted / csv_name, group=file_group()) as tmp:
                        rows = to_csv(self.processing, tmp, sheet=sheet, header_row=self.row.header_row)
                except EmptySheetError:
                    if not self.every_sheet():
                        raise  # a sheet named in the job is expected to hold rows
                    skipped.append({"sheet": sheet, "why": "empty"})
                    continue
                written.append(self.converted / csv_name)
                sheets.append({"sheet": sheet, "file": csv_name, "rows": rows})
                self.set_progress_percentage(int((n + 1) * 100 / len(names)))
            if self.every_sheet():
                skipped += [{"sheet": chart, "why": "chart"} for chart in sheet_kinds(self.processing)[1]]
                if skipped:
                    logger.info("%s: sheets passed over: %s", self.name,
                                ", ".join(f"{s['sheet']!r} ({s['why']})" for s in skipped))
                if not sheets:
                    raise BadInputError(str(self.processing), f"no sheet has cells ({len(skipped)} empty or chart "
                                                              "sheets)")
        except BaseException as e:
            if not isinstance(e, BadInputError) and not reader_fault(e):
                raise  # an interrupt, a full disk, no memory: not the file's fault, so retried
            for path in written:
                path.unlink()
            if not isinstance(e, BadInputError):
                # a reader's crash on this file (native code's panics are BaseExceptions): set
                # aside with its reason like any bad workbook, never retried on every pass. Its
                # message may quote a cell, so only its type and where it was raised are said.
                where = crash_site(e)
                logger.warning("the workbook reader failed on %s: %s at %s", self.name, type(e).__name__, where)
                e = BadInputError(str(self.processing), f"the workbook reader failed on it ({type(e).__name__} at "
                                                        f"{where}); the file is set aside")
            raise self.set_aside(self.processing, e) from e
        with self.output().open("w") as fh:
            json.dump({"source": self.name, "header_row": self.row.header_row, "sheets": sheets, "skipped": skipped},
                      fh, indent=1)


class ImportFeedFile(FeedFileTask):
    """The file's rows in its table, with the load's ledger row in the same transaction. A file
    whose content equals the job's last load is recorded and not loaded again."""

    def requires(self):
        return self.chain(ConvertFeedFile if self.row.file_type in SPREADSHEETS else TakeFeedFile)

    def output(self):
        return LedgerItemTarget(feeds_ledger(), load_job(self.row), self.item, self.date)

    def parts(self) -> tuple[list[FeedPart], int]:
        """(the CSVs to load, how far a sheet's rows are from the CSV's lines)."""
        if self.row.file_type not in SPREADSHEETS:
            return [FeedPart(self.processing, "", self.row.delimiter, self.row.encoding)], 0
        with self.input().open() as fh:
            manifest = json.load(fh)
        return [FeedPart(self.converted / s["file"], s["sheet"]) for s in manifest["sheets"]], self.row.header_row - 1

    def run(self):
        row, target = self.row, self.output()
        _, sha = file_digest(self.processing)
        last = target.ledger.last_success(target.job, None)
        if last is not None and last["sha256"] == sha:
            target.mark_done(direction="load", source=str(self.processing), rows=0, sha256=sha,
                             note=f"same content as {last['item'].split('|')[0]} loaded {last['run_date']}: "
                                  "not loaded again")
            return
        parts, offset = self.parts()
        rejects = folders(row).error / self.stamp()[0] / f"{self.name}.rejects.csv"
        entry = target.entry(direction="load", source=str(self.processing), sha256=sha)
        def keep(rejected):  # written before the load commits: a kill between the two cannot lose it
            write_rejects(rejects, parts, rejected, offset, group=file_group())

        try:
            result = load_feed(target.ledger, parts, row.target_schema, row.target_table, row.load_mode,
                               row.key_columns, entry, row.max_rejects, progress=Progress(self, f"load {self.name}"),
                               on_rejects=keep)
        except TooManyRejects as e:
            write_rejects(rejects, parts, e.rejects, offset, group=file_group())
            raise self.set_aside(self.processing, BadInputError(e.file, f"{e.rule} (rejects: {rejects.name})")) from e
        except BadInputError as e:
            raise self.set_aside(self.processing, e) from e
        if result.rejects:
            logger.warning("%s: %s rejected (within max_rejects = %d): %s", self.name, counted(len(result.rejects), "row"),
                           row.max_rejects, rejects)


class ArchiveFeedFile(FeedFileTask):
    """After its load: the file (and its CSVs) → ``<archive>/<day>/<HHMMSS>_<name>``."""

    def requires(self):
        return self.chain(ImportFeedFile)

    def output(self):
        day, hms = self.stamp()
        return luigi.LocalTarget(folders(self.row).archive / day / f"{hms}_{self.name}")

    def run(self):
        dest = Path(self.output().path)
        if self.converted.is_dir():
            for csv_file in sorted(self.converted.glob("*.csv")):
                move(csv_file, dest.with_name(f"{self.stamp()[1]}_{csv_file.name}"))
            shutil.rmtree(self.converted)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.processing, dest)


class SetAsideUnmatched(DistrictTask):
    """A ready file that matches no tImportConfig row, moved to ``unmatched/`` beside it (for
    the report); done = its ledger row."""

    date = RunDateParameter()
    path = luigi.Parameter()
    size = luigi.IntParameter()
    mtime = luigi.IntParameter()

    def output(self):
        return LedgerItemTarget(feeds_ledger(), UNMATCHED_JOB, file_item(Path(self.path).name, self.size, self.mtime),
                                self.date)

    def run(self):
        source = Path(self.path)
        dest = move(source, source.parent / "unmatched" / source.name)
        logger.warning("%s matches no tImportConfig row: set aside in %s", source.name, dest.parent)
        self.output().mark_done(direction="in", source=str(source), destination=str(dest), bytes=self.size)


class WatchFeeds(DistrictWrapperTask):
    """One pass over the active rows' folders (cron every few minutes): ready files start their
    chain, unmatched ones are set aside, files still being written are left for the next pass,
    files left in processing resume. ``settled``: names delivered atomically by our own
    downloader this run, taken without waiting for the settle window."""

    date = RunDateParameter()
    settled = luigi.ListParameter(default=[])

    def requires(self):
        rows = configs()
        tasks = []
        for source in sorted({folders(c).source for c in rows}):
            here = [c for c in rows if folders(c).source == source]
            ready, _ = ready_files(source, settle_seconds(), trusted=self.settled)
            for f in ready:
                row = match(f.path.name, here)
                if row is None:
                    tasks.append(SetAsideUnmatched(date=self.date, path=str(f.path), size=f.size, mtime=int(f.mtime)))
                elif (folders(row).processing / f.path.name).exists():
                    logger.info("%s waits: an earlier file of that name is still in processing", f.path.name)
                else:
                    tasks.append(ArchiveFeedFile(date=self.date, config_id=row.config_id, name=f.path.name,
                                                 size=f.size, mtime=int(f.mtime)))
        for processing in sorted({folders(c).processing for c in rows}):
            here = [c for c in rows if folders(c).processing == processing]
            for entry in sorted(os.scandir(processing), key=lambda e: e.name) if processing.is_dir() else []:
                if not entry.is_file(follow_symlinks=False) or is_temporary(entry.name):
                    continue
                row = match(entry.name, here)
                if row is None:
                    logger.warning("%s in %s matches no active row: left there", entry.name, processing)
                    continue
                st = entry.stat()
                tasks.append(ArchiveFeedFile(date=self.date, config_id=row.config_id, name=entry.name,
                                             size=st.st_size, mtime=int(st.st_mtime)))
        return tasks
