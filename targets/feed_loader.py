"""The generic importer's database side: CSV files loaded into one table of the Feeds database
with append, replace or upsert, through a staging table filled by COPY, in one transaction
with the load's ``dba.tDataLoads`` row.

How a load goes (``load_feed``), all in one transaction:

1. The table's columns are read from the catalogue; the file's header names are mapped to
   them (``column_name``: ``Event ID`` → ``event_id``). A header that maps to no column is
   carried in the staging table and left out of the load (the result names it); a required
   column (NOT NULL, no default) or a key column the file lacks refuses the file.
2. A temporary staging table with the target's column types, no constraints and a row number
   is filled by ``COPY ... ON_ERROR ignore, LOG_VERBOSITY verbose`` (PostgreSQL 17+): a value
   the column's type refuses skips its row, and PostgreSQL's notice names the line and the
   column (its value is dropped here: row contents never reach a log). A file whose rows do
   not all have the header's width, or whose encoding PostgreSQL cannot read, is rewritten
   first (``normalise``), its bad rows rejected by line.
3. Blank records (every field empty, e.g. a spacer row in a sheet) are skipped; rows with an
   empty required or key value are rejected; for an upsert, a key repeated in
   the file rejects its earlier rows (the last one loads). Rejects over ``max_rejects``
   roll the whole load back (``TooManyRejects``, which carries them).
4. ``INSERT ... SELECT`` from the stage: append; replace (``TRUNCATE`` first, in the same
   transaction); upsert (``ON CONFLICT (keys) DO UPDATE`` only where a value differs, so the
   result says how many rows were inserted, updated and unchanged).
5. The ledger row (rows loaded, rows rejected, a note with the counts) and the commit. A crash
   anywhere before the commit leaves neither rows nor ledger row.

Identifiers are composed with ``psycopg2.sql`` only; tImportConfig rows are checked first
(registry/import_config.py).
"""
from __future__ import annotations

import bisect
import codecs
import collections
import csv
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from formats.cells import neutralise
from targets.errors import BadInputError, ConfigError
from targets.ledger import Ledger, LedgerEntry
from targets.local import atomic_open
from targets.postgres import HashingReader

logger = logging.getLogger(__name__)

MODES = ("append", "replace", "upsert")
# Python codec name -> the name COPY's ENCODING option knows; others are rewritten as UTF-8 first
PG_ENCODINGS = {"utf-8": "UTF8", "utf-8-sig": "UTF8", "cp1252": "WIN1252", "iso8859-1": "LATIN1",
                "iso8859-15": "LATIN9", "ascii": "SQL_ASCII", "cp1250": "WIN1250", "cp1251": "WIN1251"}
_NOTICE = re.compile(r'at line (\d+) for column "((?:[^"]|"")*)"')


@dataclass(frozen=True)
class Reject:
    line: int  # the line of the file (its header is line 1)
    column: str | None  # the file's header name
    reason: str
    part: str = ""  # which file of a load (a workbook's sheet)


@dataclass
class FeedPart:
    """One CSV of a load: a file, or one converted sheet of a workbook."""

    path: Path
    label: str = ""
    delimiter: str = ","
    encoding: str = "utf-8"


@dataclass
class FeedResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)
    bytes: int = 0
    sha256: str = ""
    ignored: list[str] = field(default_factory=list)  # headers that map to no column
    skipped: bool = False  # another run loaded the same item first; this one rolled back

    @property
    def rows(self) -> int:
        return self.inserted + self.updated

    def note(self) -> str:
        text = f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}, " \
               f"rejected {len(self.rejects)}"
        return text + (f"; columns not in the table: {len(self.ignored)}" if self.ignored else "")


class TooManyRejects(BadInputError):
    def __init__(self, file: str, rejects: list[Reject], limit: int):
        self.rejects = rejects
        super().__init__(file, f"{len(rejects)} rows rejected, more than max_rejects = {limit}; nothing was loaded")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    has_default: bool


def column_name(header: str) -> str:
    """A header as a column name: lower case, runs of other characters as one ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


def table_columns(cur, schema: str, table: str) -> list[Column]:
    cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef"
                " FROM pg_attribute a WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
                " AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
                (schema, table))
    columns = [Column(*row) for row in cur.fetchall()]
    if not columns:
        raise ConfigError(f"table {schema}.{table} does not exist (or has no columns the feeds role may see): "
                          "create it as the Feeds owner role")
    return columns


def pg_encoding(encoding: str) -> str | None:
    return PG_ENCODINGS.get(codecs.lookup(encoding).name)


def read_header(part: FeedPart) -> list[str]:
    try:
        with open(part.path, encoding=_reading(part.encoding), newline="") as fh:
            header = next(csv.reader(fh, delimiter=part.delimiter), None)
    except UnicodeDecodeError as e:
        raise BadInputError(str(part.path), f"the header is not {part.encoding} text ({e.reason})", row=1) from e
    if not header or not any(h.strip() for h in header):
        raise BadInputError(str(part.path), "has no header row", row=1)
    return header


def normalise(part: FeedPart, width: int, dest: Path) -> tuple[list[int], list[Reject]]:
    """Rewrite a CSV as UTF-8 with rows of the header's width: (the original line of each row
    written, header included, for the notices' line numbers; the rows of another width or with
    a NUL byte, which PostgreSQL cannot store)."""
    lines, rejects = [1], []
    try:
        with open(part.path, encoding=_reading(part.encoding), newline="") as src, \
                open(dest, "w", encoding="utf-8", newline="") as out:
            reader = csv.reader(src, delimiter=part.delimiter)
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(next(reader))
            start = reader.line_num + 1
            for record in reader:
                if len(record) == width and any("\x00" in v for v in record):
                    rejects.append(Reject(start, None, "holds a NUL byte (0x00), which no text column can store",
                                          part.label))
                elif len(record) == width:
                    writer.writerow(record)
                    lines.append(start)
                elif any(v.strip() for v in record):
                    rejects.append(Reject(start, None, f"has {len(record)} fields, the header has {width}", part.label))
                start = reader.line_num + 1
    except UnicodeDecodeError as e:
        raise BadInputError(str(part.path), f"is not {part.encoding} text ({e.reason} at byte {e.start})") from e
    except csv.Error as e:
        raise BadInputError(str(part.path), f"is not readable CSV ({e})") from e
    return lines, rejects


def insert_statement(target: sql.Composable, stage: sql.Composable, columns: list[str], mode: str,
                     keys: list[str] | None) -> sql.Composed:
    """The statement that moves the staged rows into the table; it returns (inserted, updated).
    An upsert updates a row only where a value differs (unchanged rows are not rewritten)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    insert = sql.SQL("INSERT INTO {} AS d ({}) SELECT {} FROM {}").format(target, cols, cols, stage)
    if mode != "upsert":
        return sql.SQL("WITH w AS ({} RETURNING 1) SELECT count(*), 0 FROM w").format(insert)
    rest = [c for c in columns if c not in keys]
    conflict = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
    if not rest:
        action = sql.SQL("DO NOTHING")
    else:
        mine = sql.SQL(", ").join(sql.SQL("d.{}").format(sql.Identifier(c)) for c in rest)
        theirs = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in rest)
        sets = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in rest)
        action = sql.SQL("DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})").format(
            sets, sql.SQL("ROW({})").format(mine) if len(rest) == 1 else mine,
            sql.SQL("ROW({})").format(theirs) if len(rest) == 1 else theirs)
    return sql.SQL("WITH w AS ({} ON CONFLICT ({}) {} RETURNING (xmax = 0) AS inserted)"
                   " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM w").format(
        insert, conflict, action)


def stage_statement(stage: sql.Composable, columns: list[tuple[str, str]]) -> sql.Composed:
    """The staging table: the row number, then the file's columns with the target's types."""
    defs = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns)
    return sql.SQL("CREATE TEMP TABLE {} (_row bigint GENERATED ALWAYS AS IDENTITY, {}) ON COMMIT DROP").format(
        stage, defs)


def load_feed(ledger: Ledger, parts: list[FeedPart], schema: str, table: str, mode: str,
              keys: list[str] | None, entry: LedgerEntry, max_rejects: int = 0,
              progress: Callable[[int, int], None] | None = None,
              on_rejects: Callable[[list], None] | None = None) -> FeedResult:
    """Load ``parts`` into ``schema.table`` and write ``entry`` as the ledger row, in one
    transaction (see the module's docstring). Raises ``TooManyRejects`` (nothing loaded),
    ``BadInputError`` (a file that cannot load: a missing required column, a constraint the
    rows break) or ``ConfigError`` (no such table). ``on_rejects`` gets the rejected rows of a
    load that goes ahead, before its commit (to write them where people look)."""
    if mode not in MODES:
        raise ConfigError(f"load mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "upsert" and not keys:
        raise ConfigError("an upsert needs key columns")
    entry.destination = entry.destination or f"{ledger.describe()}#{schema}.{table}"
    target = sql.Identifier(schema, table)
    result = FeedResult()
    try:
        with ledger.loading(entry) as cur, tempfile.TemporaryDirectory(prefix="feed-load-") as tmp:
            conn = cur.connection
            saved, conn.notices = conn.notices, collections.deque()
            try:
                columns = {c.name: c for c in table_columns(cur, schema, table)}
                if mode == "replace":
                    cur.execute(sql.SQL("TRUNCATE {}").format(target))
                for n, part in enumerate(parts):
                    _load_part(cur, part, n, target, columns, mode, keys, result, Path(tmp), progress)
                if len(result.rejects) > max_rejects:
                    raise TooManyRejects(", ".join(str(p.path) for p in parts), result.rejects, max_rejects)
                if mode == "replace" and not result.rows:  # rolled back with the TRUNCATE: the table stays
                    rejected = f" ({len(result.rejects)} rejected)" if result.rejects else ""
                    raise BadInputError(", ".join(str(p.path) for p in parts),
                                        f"has no rows to load{rejected}: a replace would leave {schema}.{table} "
                                        "empty, so nothing was changed")
                entry.rows, entry.rejected, entry.note = result.rows, len(result.rejects), result.note()
                entry.bytes, entry.sha256 = result.bytes, entry.sha256 or result.sha256
                if on_rejects is not None and result.rejects:
                    on_rejects(result.rejects)  # before the commit: a load is never without its rejects file
            finally:
                conn.notices = saved
    except psycopg2.errors.UniqueViolation as e:
        if e.diag.constraint_name != "tdataloads_one_success":
            raise
        logger.info("%s %s for %s was loaded by another run; this load was rolled back", entry.job, entry.item,
                    entry.run_date)
        return FeedResult(skipped=True)
    logger.info("%s: %s into %s.%s for %s %s", mode, result.note(), schema, table, entry.job, entry.item)
    return result


def _load_part(cur, part: FeedPart, n: int, target, columns: dict[str, Column], mode: str, keys: list[str] | None,
               result: FeedResult, tmp: Path, progress) -> None:
    where = str(part.path)
    header = read_header(part)
    mapped: list[tuple[str, str]] = []  # (staging column, type)
    names: dict[str, str] = {}  # staging column -> the file's header
    for i, h in enumerate(header):
        name = column_name(h)
        if name in columns and name not in names:
            mapped.append((name, columns[name].type))
            names[name] = h
        elif name in names:
            raise BadInputError(where, f"headers {names[name]!r} and {h!r} both name column {name!r}", row=1)
        else:
            mapped.append((f"_ignored_{i}", "text"))
            result.ignored.append(h)
    missing = [c.name for c in columns.values() if c.not_null and not c.has_default and c.name not in names]
    missing += [k for k in keys or [] if k not in names and k not in missing]
    if missing:
        raise BadInputError(where, f"has no column for {', '.join(missing)} (required)", row=1)
    loaded = [c for c, _ in mapped if c in names]
    stage = sql.Identifier(f"feed_stage_{n}")
    cur.execute(stage_statement(stage, mapped))
    lines = _copy(cur, part, stage, mapped, len(header), tmp, result, progress)
    line_of = lines.of_record
    for line, column in _notices(cur):
        col = columns.get(column)
        result.rejects.append(Reject(lines.of_line(line), names.get(column, column),
                                     f"not a valid {col.type if col else 'value'}", part.label))
    # a blank record (every field empty: a spacer row in a sheet) is skipped, not rejected
    nothing = sql.SQL("num_nonnulls({}) = 0").format(sql.SQL(", ").join(sql.Identifier(c) for c, _ in mapped))
    required = [c for c in loaded if columns[c].not_null or c in (keys or [])]
    if required:
        empty = [sql.SQL("coalesce({}, '') = ''" if _is_text(columns[c].type) else "{} IS NULL").format(
            sql.Identifier(c)) for c in required]
        cur.execute(sql.SQL("DELETE FROM {} WHERE {} RETURNING _row, {}, {}").format(
            stage, sql.SQL(" OR ").join(empty), nothing, sql.SQL(", ").join(empty)))
        for row, blank_record, *empty in cur.fetchall():
            if blank_record:
                continue
            blank = [c for c, e in zip(required, empty) if e]
            result.rejects.append(Reject(line_of(row), names[blank[0]],
                                         "is empty but required" if len(blank) == 1 else
                                         f"is empty but required (also {', '.join(names[b] for b in blank[1:])})",
                                         part.label))
    else:
        cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(stage, nothing))
    statement = insert_statement(target, stage, loaded, mode, keys)
    cur.execute("SAVEPOINT feed_insert")
    try:
        cur.execute(statement)
    except psycopg2.errors.CardinalityViolation:
        cur.execute("ROLLBACK TO SAVEPOINT feed_insert")
        later = sql.SQL(" AND ").join(sql.SQL("s.{0} = t.{0}").format(sql.Identifier(k)) for k in keys)
        cur.execute(sql.SQL("DELETE FROM {0} s USING {0} t WHERE {1} AND t._row > s._row"
                            " RETURNING s._row, t._row").format(stage, later))
        latest: dict[int, int] = {}
        for row, other in cur.fetchall():
            latest[row] = max(other, latest.get(row, 0))
        for row, other in sorted(latest.items()):
            result.rejects.append(Reject(line_of(row), names[keys[0]], f"repeats the key of line {line_of(other)}, "
                                                                        "which loads instead", part.label))
        cur.execute(statement)
    except (psycopg2.IntegrityError, psycopg2.DataError) as e:
        raise BadInputError(where, f"cannot load into the table: {e.diag.message_primary}"
                                   + (f" ({e.diag.constraint_name})" if e.diag.constraint_name else "")) from e
    inserted, updated = cur.fetchone()
    cur.execute("RELEASE SAVEPOINT feed_insert")
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(stage))
    staged = cur.fetchone()[0]
    result.inserted += inserted
    result.updated += updated
    result.unchanged += staged - inserted - updated
    cur.execute(sql.SQL("DROP TABLE {}").format(stage))


def write_rejects(dest: Path, parts: list[FeedPart], rejects: list[Reject], row_offset: int = 0,
                  group: str | None = None) -> None:
    """The rejects file for the sender: sheet, row (the file's line, plus ``row_offset`` for a
    sheet whose header is not its first row), column and reason, then the record as it was
    sent, formula-like values with a leading apostrophe (people open it in Excel). Written
    atomically, mode 0660."""
    wanted: dict[str, dict[int, list[Reject]]] = {}
    for r in rejects:
        wanted.setdefault(r.part, {}).setdefault(r.line, []).append(r)
    with atomic_open(dest, group=group) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["sheet", "row", "column", "reason", "values..."])
        for part in parts:
            lines = wanted.get(part.label, {})
            if not lines:
                continue
            with open(part.path, encoding=_reading(part.encoding), newline="") as fh:
                reader = csv.reader(fh, delimiter=part.delimiter)
                start = 1
                for record in reader:
                    for r in lines.get(start, []):
                        writer.writerow([neutralise(v) for v in (part.label, str(start + row_offset), r.column or "",
                                                                 r.reason, *record)])
                    start = reader.line_num + 1


class Lines:
    """Where a staged row came from: the line of the original file its record starts on.
    COPY's notices give the physical line of the file COPY read, the stage numbers records
    (``_row``); a quoted value may span lines, so both are mapped through a scan of that file,
    done only when some row was rejected. ``original``: for a rewritten file, the original
    line each of its records started on."""

    def __init__(self, copied: FeedPart, original: list[int] | None = None):
        self.copied, self.original, self._starts = copied, original, None

    def _records(self) -> list[int]:
        if self._starts is None:
            starts, start = [], 1
            with open(self.copied.path, encoding=_reading(self.copied.encoding), newline="") as fh:
                reader = csv.reader(fh, delimiter=self.copied.delimiter)
                for _ in reader:
                    starts.append(start)
                    start = reader.line_num + 1
            self._starts = starts
        return self._starts

    def of_record(self, record: int) -> int:
        """Record 0 is the header."""
        if self.original is not None:
            return self.original[record]
        starts = self._records()
        return starts[record] if record < len(starts) else record + 1

    def of_line(self, line: int) -> int:
        return self.of_record(max(0, bisect.bisect_right(self._records(), line) - 1))


def _is_text(type_name: str) -> bool:
    return type_name == "text" or type_name.startswith(("character", "citext"))


def _reading(encoding: str) -> str:
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _copy(cur, part: FeedPart, stage, mapped, width: int, tmp: Path, result: FeedResult, progress) -> Lines:
    """COPY the part into the stage, rewriting it first when COPY cannot read it as it is
    (rows of another width, an encoding COPY does not know); where its rows came from."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c, _ in mapped)

    def copy(path: Path, delimiter: str, encoding: str) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER {}, ENCODING {},"
                            " ON_ERROR ignore, LOG_VERBOSITY verbose)").format(
            stage, cols, sql.Literal(delimiter), sql.Literal(encoding))
        with open(path, "rb") as raw:
            reader = HashingReader(raw, os.fstat(raw.fileno()).st_size, progress, label=f"feeds:{Path(part.path).name}")
            cur.copy_expert(statement, reader, size=1 << 20)
        result.bytes += reader.bytes
        result.sha256 = reader.sha.hexdigest() if not result.sha256 else result.sha256
        cur.execute("SELECT 1")  # the COPY's notices arrive with the next statement's answer

    encoding = pg_encoding(part.encoding)
    if encoding is not None:
        cur.execute("SAVEPOINT feed_copy")
        try:
            copy(part.path, part.delimiter, encoding)
            cur.execute("RELEASE SAVEPOINT feed_copy")
            return Lines(part)
        except (psycopg2.errors.BadCopyFileFormat, psycopg2.errors.CharacterNotInRepertoire,
                psycopg2.errors.UntranslatableCharacter) as e:
            cur.execute("ROLLBACK TO SAVEPOINT feed_copy")
            cur.connection.notices.clear()
            logger.info("%s: %s; rewriting it row by row", part.path.name, e.diag.message_primary)
    clean = tmp / f"{part.path.stem}.normalised.csv"
    lines, rejects = normalise(part, width, clean)
    result.rejects.extend(rejects)
    copy(clean, ",", "UTF8")
    return Lines(FeedPart(clean), lines)


def _notices(cur) -> list[tuple[int, str]]:
    """(line, column) of every row COPY skipped, from its notices (their values are dropped)."""
    out = []
    notices = cur.connection.notices
    while notices:
        m = _NOTICE.search(notices.popleft())
        if m:
            out.append((int(m.group(1)), m.group(2).replace('""', '"')))
    return out
