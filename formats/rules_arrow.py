"""The rule engine's fast pass: a file that is canonical CSV (formats/arrow_csv.py) checked
column by column in Arrow's C kernels instead of row by row in Python.

It answers one question: does this file break no rule at all? If so it returns what the exact
pass would have gathered (rows, the id column's hashes, the values of its own columns other
files refer to). At the first sign of anything wrong (a value a rule might refuse, a repeated
key, a file Arrow and Python's csv might read differently) it returns None, and the exact pass
in formats/rules.py reads the file and words every problem with its row and column. So the
problems a file gets never depend on which pass ran; a clean night's files take the fast one.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from formats.arrow_csv import CanonicalReader, NotCanonical
from formats.idset import IdHashes

# A value ``not value.strip()`` finds empty is all whitespace, and every character Python calls
# whitespace is a separator (Z) or a control character (Cc): this matches at least those values.
_BLANK = r"^[\p{Z}\p{Cc}]*$"
_MEMO = 10_000  # distinct values remembered per format column (dates repeat; e-mail addresses do not)


def clean(path: Path, spec: "formats.rules.FileSpec", header_ok, refs: list[tuple[str, "Values"]], collect: list[str],
          unique_keys: list[tuple[str, ...]], id_column: str | None, quote_all: bool) -> dict | None:
    """``{"rows", "ids", "collected"}`` when the file breaks none of ``spec``'s rules (its header
    as ``header_ok`` accepts, its references in ``refs``: (column, the values it may take, a set
    or an Arrow array)), else None: the exact pass decides and words it. ``collected``: the
    values of the ``collect`` columns, as Arrow arrays."""
    try:
        reader = CanonicalReader(path, spec.encoding)
    except (NotCanonical, OSError):
        return None
    header = reader.header
    needed = set(spec.required) | set(spec.values) | set(spec.formats) | {c for c, _ in refs} | set(collect)
    needed |= {c for when, _, col, _ in spec.conditions for c in (when, col)}
    needed |= {c for key in unique_keys for c in key} | ({id_column} if id_column else set())
    needed |= set(spec.lists) | set(spec.blank)
    if not header_ok(header) or not needed <= set(header):
        return None
    allowed = {col: pa.array(sorted(values), pa.string()) for col, values in spec.values.items()}
    referring = [_References(col, values) for col, values in refs]
    seen: dict[str, set[str]] = {col: set() for col in spec.formats}
    ids = IdHashes() if id_column else None
    # a unique id column's hashes are its ids' (an empty id, which the exact pass does not count
    # as a repeat, at worst sends the file there)
    uniques = {key: ids if ids is not None and key == (id_column,) and id_column not in spec.unique_nocase
               else IdHashes() for key in unique_keys}
    folded = {(c,) for c in spec.unique_nocase}
    collected: dict[str, list[pa.Array]] = {col: [] for col in collect}
    tables = reader.tables()
    try:
        for table in tables:
            cols = dict(zip(table.column_names, table.columns))
            if not _rules_hold(cols, spec, allowed, seen):
                return None
            if not all([ref.add(_elements(cols[ref.column]) if ref.column in spec.lists else cols[ref.column])
                        for ref in referring]):
                return None
            for col, chunks in collected.items():
                chunks.extend(cols[col].chunks)
            lists: dict[str, list[str]] = {}

            def values(col: str, fold: bool = False) -> list[str]:
                if (col, fold) not in lists:
                    arr = cols[col]
                    if fold:  # ASCII only: Arrow's and Python's case folding agree there
                        if not pc.all(pc.string_is_ascii(arr)).as_py():
                            raise NotCanonical("a value outside ASCII in a column unique regardless of case")
                        arr = pc.ascii_lower(arr)
                    lists[(col, fold)] = arr.to_pylist()
                return lists[(col, fold)]
            for key, hashes in uniques.items():  # the exact pass skips a key with an empty part
                if hashes is ids:
                    continue
                pairs = values(key[0], key in folded) if len(key) == 1 else zip(*(values(c) for c in key))
                hashes.extend(filter(all, pairs) if len(key) > 1 else filter(None, pairs))
            if ids is not None:
                ids.extend(values(id_column))
        if quote_all and reader.quoting != "all":
            return None
        if reader.rows == 0 or any(h.freeze().repeated for h in uniques.values()):
            return None
        if not all([ref.flush() for ref in referring]):
            return None
    except (NotCanonical, pa.ArrowException):  # anything Arrow cannot do here, the exact pass does
        return None
    finally:
        tables.close()  # a file given up on midway: its reader closed now
    return {"rows": reader.rows, "ids": ids,
            "collected": {col: pa.chunked_array(chunks, pa.string()) for col, chunks in collected.items()}}


Values = "set[str] | pa.ChunkedArray"


class _References:
    """A column whose values must be among another file's: checked a few hundred thousand rows
    at a time. Arrow builds its lookup table at every call (per batch, 1.5 million rows against
    500,000 ids took 35 s), so each call looks up at least as many values as the table holds,
    and memory keeps that many rows of the column, not the file's."""

    def __init__(self, column: str, values):
        self.column, self.value_set = column, as_arrow(values)
        self.chunks: list[pa.Array] = []
        self.rows = 0

    def add(self, arr: pa.ChunkedArray) -> bool:
        """False when a value is found outside."""
        self.chunks.extend(arr.chunks)
        self.rows += len(arr)
        return self.rows < max(len(self.value_set), 1 << 16) or self.flush()

    def flush(self) -> bool:
        if not self.chunks:
            return True
        outside = _outside(pa.chunked_array(self.chunks, pa.string()), self.value_set)
        self.chunks, self.rows = [], 0
        return not outside


def as_arrow(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return pa.array(list(values), pa.string())


def as_set(values) -> set[str]:
    return set(values.to_pylist()) if isinstance(values, pa.ChunkedArray) else values


def column(path: Path, encoding: str, header_ok, name: str) -> pa.ChunkedArray | None:
    """One column of a canonical file whose header ``header_ok`` accepts (what a file referring
    to it is checked against), or None: read it the exact way."""
    try:
        reader = CanonicalReader(path, encoding)
        if not header_ok(reader.header) or name not in reader.header:
            return None
        return pa.chunked_array([chunk for t in reader.tables([name]) for chunk in t.column(0).chunks], pa.string())
    except (NotCanonical, OSError, pa.ArrowException):
        return None


def _outside(arr, value_set: pa.Array) -> bool:
    """Does ``arr`` hold a value that is neither empty nor in ``value_set``?"""
    return pc.any(pc.and_(pc.greater(pc.binary_length(arr), 0), pc.invert(pc.is_in(arr, value_set=value_set)))).as_py()


def _elements(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """A list column's elements, one after another ("09,10" gives two; an empty value none)."""
    kept = pc.filter(arr, pc.greater(pc.binary_length(arr), 0))
    return pa.chunked_array([pc.list_flatten(pc.split_pattern(c, ",")) for c in kept.chunks], pa.string())


def _rules_hold(cols: dict[str, pa.ChunkedArray], spec: "formats.rules.FileSpec", allowed: dict[str, pa.Array],
                seen: dict[str, set[str]]) -> bool:
    for col in spec.required:
        if pc.any(pc.match_substring_regex(cols[col], _BLANK)).as_py():
            return False
    for col in spec.blank:
        if pc.any(pc.greater(pc.binary_length(cols[col]), 0)).as_py():
            return False
    for col in spec.lists:  # an empty element: the exact pass words it
        if pc.any(pc.match_substring_regex(cols[col], r"^,|,,|,$")).as_py():
            return False
    # a list column's elements, where a value or format rule looks at them (references split their own)
    cols = {c: _elements(a) if c in spec.lists and (c in allowed or c in spec.formats) else a for c, a in cols.items()}
    for col, value_set in allowed.items():
        if _outside(cols[col], value_set):
            return False
    for when, is_, col, values in spec.conditions:  # only the rows where the condition holds
        rows = pc.filter(cols[col], pc.equal(cols[when], is_))
        if _outside(rows, pa.array(sorted(values), pa.string())):
            return False
    for col, check in spec.formats.items():
        memo, arr = seen[col], cols[col]
        if check.surely:  # only the values Arrow's pattern does not take are asked in Python
            arr = pc.filter(arr, pc.invert(pc.match_substring_regex(arr, check.surely)))
        for value in pc.unique(arr).to_pylist():
            if value and value not in memo:
                if check.problem(value):
                    return False
                if len(memo) < _MEMO:
                    memo.add(value)
    return True
