"""A CSV file read by Arrow's multithreaded C reader, but only when that is provably the same
reading as Python's ``csv`` module gives the rule engine (formats/rules.py).

Arrow's reader is lenient where ``csv.reader(strict=True)`` is not (``"a"b`` is read as
``ab``; a byte-order mark is dropped; a blank line is a row of empty values; a lone ``\\r``
ends a line). So each batch Arrow reads is written back the way a CSV writer writes it (every
value quoted, or only where a comma, quote or line break needs it; the file's own line
ending) and compared with the file's bytes. A file byte-for-byte equal to that writing is one
both readers read alike; anything else (a quote out of place, a BOM, a NUL byte, bytes that
are not UTF-8, a record of another length, mixed line endings) raises ``NotCanonical`` and
the caller reads the file the exact, slower way. Files we write ourselves are canonical.

The other way round, ``csv_text`` writes an Arrow record batch (a BigQuery export's) as text
byte for byte as ``csv.writer`` and a dialect's converters would, for the column types whose
text Arrow and Python agree on (``writes``).
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

# Arrow allocates through malloc rather than its bundled mimalloc, which keeps what it freed:
# with malloc a task's peak is what it needs (300,000 rows: 68 MB against 90), and what it
# frees goes back before the next task (pipelines/peaks.py release: malloc_trim).
pa.set_memory_pool(pa.system_memory_pool())

# Bytes Arrow parses per batch. The streaming reader reads some twenty blocks ahead: 256 KiB
# keeps that near 10 MB, and reads 1.5 million rows in the time 4 MiB blocks take (0.6 s).
BLOCK = 1 << 18
GROUP = 1 << 20  # bytes of values checked together: a kernel call costs about the same for 1 row or 50,000


class NotCanonical(Exception):
    """The file is not one Arrow and Python's csv read alike: read it the exact way."""


class CanonicalReader:
    """A file's ``header`` and its data rows in Arrow tables of about ``GROUP`` bytes (every
    column a string), each verified against the file's bytes before it is yielded. ``quoting``
    is what the data rows were found written with ("all" or "minimal"), known once a row is
    read; ``rows`` counts the rows yielded."""

    def __init__(self, path: Path, encoding: str = "utf-8", block_size: int = BLOCK):
        if codecs.lookup(encoding).name != "utf-8":
            raise NotCanonical(f"encoding {encoding}")
        self.path, self.block_size = Path(path), block_size
        self.header: list[str] = []
        self.quoting: str | None = None
        self.rows = 0
        with open(self.path, "rb") as fh:
            first = fh.readline()
        if not first.endswith(b"\n") or first.startswith(codecs.BOM_UTF8):
            raise NotCanonical("no line ending after the header, or a byte-order mark")
        self._ending = "\r\n" if first.endswith(b"\r\n") else "\n"
        self._header_all = first.startswith(b'"')
        try:
            self.header = next(csv.reader(io.StringIO(first.decode("utf-8"), newline=""), strict=True))
        except (UnicodeDecodeError, csv.Error, StopIteration) as e:
            raise NotCanonical("header") from e
        if len(set(self.header)) != len(self.header):
            raise NotCanonical("a column named twice")

    def tables(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The data rows, ``columns`` of them (all by default), about ``GROUP`` bytes at a time (Arrow's
        kernels cost a call each: a table of several batches shares it); raises
        ``NotCanonical`` at the first table whose writing differs from the file's bytes."""
        names = [f"c{i}" for i in range(len(self.header))]
        try:  # no thread of Arrow's and no Python callback (a row of another length raises): a callback
            # waiting for the GIL while Python waits for Arrow is how Arrow's readers deadlock
            reader = pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(block_size=self.block_size, column_names=names, use_threads=False),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
                convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                      strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                      check_utf8=True))
        except pa.ArrowInvalid as e:  # in the first block: bytes that are not UTF-8, a quote never closed
            raise NotCanonical("Arrow could not read it") from e  # its message may quote a row: not kept
        wanted = [self.header.index(c) for c in (columns if columns is not None else self.header)]
        first, pending, size = True, [], 0
        with open(self.path, "rb") as raw, contextlib.closing(reader):
            try:
                for batch in reader:
                    if first:  # the header row is the first row Arrow reads
                        if not _matches(raw, _written([c.slice(0, 1) for c in batch.columns], self._header_all,
                                                      self._ending, careful=True)):
                            raise NotCanonical("the header is not as a CSV writer writes it")
                        batch, first = batch.slice(1), False
                    if batch.num_rows:
                        pending.append(batch)
                        size += batch.nbytes
                    if size >= GROUP:
                        yield self._verified(raw, pending, wanted)
                        pending, size = [], 0
                if pending:
                    yield self._verified(raw, pending, wanted)
            except pa.ArrowInvalid as e:  # bytes that are not UTF-8, a quote that never closes, a row of
                raise NotCanonical("Arrow could not read it") from e  # another length
            if first:
                raise NotCanonical("no header row")
            if raw.read(1):
                raise NotCanonical("bytes after the last record")

    def _verified(self, raw, batches: list[pa.RecordBatch], wanted: list[int]) -> pa.Table:
        cols = pa.Table.from_batches(batches).columns
        if any(pc.max(pc.binary_length(c)).as_py() > csv.field_size_limit() for c in cols):
            raise NotCanonical("a value longer than csv's field size limit")
        tries = [self.quoting] if self.quoting else ["all", "minimal"]  # the first rows tell which
        for quoting in tries:
            if self._as_written(raw, cols, quoting == "all"):
                self.quoting = quoting
                break
        else:
            raise NotCanonical("bytes differ from a CSV writer's")
        self.rows += len(cols[0])
        return pa.Table.from_arrays([cols[i] for i in wanted], names=[self.header[i] for i in wanted])

    def _as_written(self, raw, cols: list[pa.ChunkedArray], quote_all: bool) -> bool:
        """Are the next bytes these rows as written? First as if no value needed its quotes
        doubled or (quoting where needed) any quotes at all: one join; then with every value
        looked at."""
        at = raw.tell()
        for careful in (False, True):
            if _matches(raw, _written(cols, quote_all, self._ending, careful)):
                return True
            raw.seek(at)
        return False


def _written(columns: list, quote_all: bool, ending: str, careful: bool, delimiter: str = ",",
             special: str = ',"\r\n'):
    """Each row as a CSV writer writes it, line ending included: one join over the columns and
    the separators between them. Quoting where needed, a value holding one of ``special`` is
    quoted. Not ``careful``: as if no value held a quote (nor, quoting where needed, any of
    ``special``); ``careful``: each column looked at."""
    parts: list = []
    for i, col in enumerate(columns):
        if careful and pc.any(pc.match_substring(col, '"')).as_py():
            col_q = pc.replace_substring(col, '"', '""')
        else:
            col_q = col
        if quote_all:
            parts += ['"' if i == 0 else f'"{delimiter}"', col_q]
            continue
        needs = None
        for char in special if careful else "":
            has = pc.match_substring(col, char)
            if pc.any(has).as_py():
                needs = has if needs is None else pc.or_(needs, has)
        if len(columns) == 1:  # a lone empty value is written "" (a blank line is no row)
            empty = pc.equal(pc.binary_length(col), 0)
            needs = empty if needs is None else pc.or_(needs, empty)
        if needs is not None:
            col = pc.if_else(needs, pc.binary_join_element_wise('"', col_q, '"', ""), col)
        parts += [col] if i == 0 else [delimiter, col]
    parts.append(('"' if quote_all else "") + ending)
    return pc.binary_join_element_wise(*parts, "")


def _matches(raw, written) -> bool:
    """Are the next bytes of ``raw`` ``written``'s rows (the file's last line may lack its
    ending)? A NUL byte among them is never: C readers stop at it."""
    for chunk in written.chunks if isinstance(written, pa.ChunkedArray) else [written]:
        if not _same(raw, chunk):
            return False
    return True


def _same(raw, written: pa.Array) -> bool:
    expected = _text_bytes(written)
    got = raw.read(len(expected))
    if b"\x00" in got:
        raise NotCanonical("a NUL byte")
    if pa.py_buffer(got).equals(expected):
        return True
    ending = expected.to_pybytes()[-2:]
    short = expected[:len(expected) - (2 if ending == b"\r\n" else 1)]
    # the last line without a line ending: csv reads it alike
    return len(got) == len(short) and pa.py_buffer(got).equals(short) and not raw.read(1)


# What csv_text writes itself, column type by column type; any other type (floats, numerics,
# timestamps: Python's text for them is not Arrow's) goes through csv.writer.
TEXT_TYPES = {"STRING", "INTEGER", "INT64", "BOOL", "BOOLEAN", "DATE"}
_SIMPLE_DATE = re.compile(r"(?:%[Ymd]|[^%])*")


def writes(types: list[str], dialect) -> bool:
    """Can ``csv_text`` write these BigQuery column types in this dialect byte for byte as
    csv.writer and the dialect's converters do?"""
    return (all(t in TEXT_TYPES for t in types) and len(dialect.delimiter) == 1
            and _SIMPLE_DATE.fullmatch(dialect.date_format) is not None and '"' not in dialect.delimiter)


def csv_text(batch: pa.RecordBatch, types: list[str], dialect) -> str:
    """A record batch's rows as text, exactly as ``csv.writer`` (the dialect's delimiter, line
    ending and quoting: every value, or one holding the delimiter, a quote or a character of
    the line ending) writes them after the dialect's converters (booleans as its true/false,
    dates in its date format, nulls empty): a few calls into Arrow's kernels per batch instead
    of a Python call per value. Only for the types ``writes`` accepts."""
    columns = []
    for col, kind in zip(batch.columns, types):
        if kind in ("BOOL", "BOOLEAN"):
            col = pc.if_else(col, dialect.true, dialect.false)
        elif kind == "DATE":
            col = pc.strftime(col, format=dialect.date_format)
        elif kind != "STRING":
            col = pc.cast(col, pa.string())
        columns.append(pc.fill_null(col.cast(pa.string()), ""))
    if not batch.num_rows:
        return ""
    special = dialect.delimiter + '"' + "".join(sorted(set(dialect.line_ending)))
    text = _written(columns, dialect.quoting == "all", dialect.line_ending, True, dialect.delimiter, special)
    return _text_bytes(text).to_pybytes().decode("utf-8")


def _text_bytes(text: pa.Array) -> pa.Buffer:
    """A string array's values end to end, as the one buffer Arrow keeps them in (no copy)."""
    offsets = memoryview(text.buffers()[1]).cast("i")
    start, end = offsets[text.offset], offsets[text.offset + len(text)]
    return text.buffers()[2][start:end] if end > start else pa.py_buffer(b"")
