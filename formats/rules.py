"""The vendor rule engine: checks files against their FileSpecs, as pure functions over the
files it is handed. Every problem names file, row, column and rule; ids may appear, names and
other personal values never do. The rules themselves are data: each vendor's in
``vendors.toml`` (registry/vendors.py builds the FileSpecs), traced to the vendors' file
specifications in docs/vendor-rules.md.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from formats.idset import IdHashes

MAX_PER_RULE = 20  # problems listed per (file, rule); the rest are counted
FAST = True  # a canonical file is first checked by Arrow's kernels (formats/rules_arrow.py)

_DATE_TOKENS = {"YYYY": r"\d{4}", "MM": r"(0[1-9]|1[0-2])", "DD": r"(0[1-9]|[12]\d|3[01])"}
_STRPTIME = {"%Y": "YYYY", "%m": "MM", "%d": "DD"}
_TO_STRPTIME = {"YYYY": "%Y", "MM": "%m", "DD": "%d"}


@dataclass(frozen=True)
class ValueCheck:
    """How a non-empty value must be written: a regex, the label problems show, and for a date
    the strptime layout it must also parse with (so 02/30/2026 is refused, 02/29/2028 is not)."""

    pattern: re.Pattern
    label: str
    calendar: str | None = None
    # for the fast pass (formats/rules_arrow.py): an RE2 pattern Arrow matches in C, every value
    # it matches one ``pattern`` takes too (the values it does not match are asked in Python)
    surely: str | None = None

    def problem(self, value: str) -> str | None:
        if not self.pattern.match(value):
            return f"not a {self.label}"
        if self.calendar and not _real_date(value, self.calendar):
            return f"not a real calendar date ({self.label})"
        return None


@functools.lru_cache(maxsize=1 << 16)
def _real_date(value: str, layout: str) -> bool:
    # cached: a district's dates repeat (birth dates, term dates), and strptime is slow
    try:
        dt.datetime.strptime(value, layout)
    except ValueError:
        return False
    return True


# Python's \s is every character str.isspace() takes, each a separator (Z) or a control (Cc):
# none of \p{Z}\p{Cc} is none of \s, so ``surely`` accepts no address ``pattern`` refuses.
EMAIL = ValueCheck(re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), "valid e-mail address",
                   surely=r"^[^@\p{Z}\p{Cc}]+@[^@\p{Z}\p{Cc}]+\.[^@\p{Z}\p{Cc}]+$")


def date_check(layout: str, kind: str = "date") -> ValueCheck:
    """A date layout as a vendor writes it (``MM/DD/YYYY``, ``yyyy-mm-dd``, ``yyyy``; or
    strptime's ``%m/%d/%Y``) → the check a value must pass, labelled for problems (``date
    MM/DD/YYYY``). Zero-padded months and days, as vendors' importers expect, and a real day."""
    text = layout
    for code, token in _STRPTIME.items():
        text = text.replace(code, token)
    parts, strp, i, found = [], [], 0, False
    while i < len(text):
        token = text[i:i + 4].upper() if text[i:i + 4].upper() == "YYYY" else text[i:i + 2].upper()
        if token in _DATE_TOKENS:
            parts.append(_DATE_TOKENS[token])
            strp.append(_TO_STRPTIME[token])
            i += len(token)
            found = True
        else:
            parts.append(text[i] if text[i].isalnum() or text[i] in "-/ :," else re.escape(text[i]))
            strp.append(text[i].replace("%", "%%"))
            i += 1
    if not found:
        raise ValueError(f"{kind} layout {layout!r} has none of YYYY, MM, DD")
    return ValueCheck(re.compile("^" + "".join(parts) + "$"), f"{kind} {text}", "".join(strp))


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file + (f", row {self.row}" if self.row else "") + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.rule}"


@dataclass
class FileSpec:
    """What one file must satisfy."""

    header: list[str]
    required: list[str] = field(default_factory=list)
    unique: list[str | tuple[str, ...]] = field(default_factory=list)
    values: dict[str, set[str]] = field(default_factory=dict)
    formats: dict[str, ValueCheck] = field(default_factory=dict)
    refs: list[tuple[str, str, str]] = field(default_factory=list)  # (column, other file, other column)
    quote_all: bool = False
    encoding: str = "utf-8"
    column_order: str = "exact"  # exact | any
    optional: bool = False  # the vendor takes an upload without it
    # (when column, when value, column, allowed values): an enum that holds on some rows only,
    # e.g. OTUS's Status is Present/Tardy/Absent where Record_Type is Attendance
    conditions: list[tuple[str, str, str, frozenset[str]]] = field(default_factory=list)
    extension_prefix: str | None = None  # columns named <prefix><name> may follow the header (Clever's ext.*)
    # columns holding a comma-separated list (OneRoster's "09,10", a class's terms): each element
    # is checked against the column's values, format and reference; an empty element is refused
    lists: frozenset[str] = frozenset()
    # unique columns whose values repeat also when they differ only in case (OneRoster's sourcedIds)
    unique_nocase: list[str] = field(default_factory=list)
    # columns that must be empty, with why (OneRoster's status in a file declared bulk)
    blank: dict[str, str] = field(default_factory=dict)
    bom_allowed: bool = False  # a UTF-8 byte-order mark is no problem (OneRoster: importers ignore it)
    header_owner: str = "the vendor's"  # whose exact header a wrong one is not (OneRoster 1.2's)


class Unreadable(Exception):
    """A file the CSV reader cannot go on with (quotes that do not close): its problem."""

    def __init__(self, problem: "Problem"):
        super().__init__(str(problem))
        self.problem = problem


class Reader:
    """One file's records, streamed: ``header`` then ``rows()`` as (row number, values), the
    header being row 1 and a record row ``n`` however many lines its quoted values span. What
    is wrong with the bytes or the CSV itself is collected in ``problems`` (bytes that do not
    decode, a line that is blank, a record with too few or too many fields), and the reading
    goes on past it; quotes that never close end it (``Unreadable``). Memory: one record."""

    def __init__(self, name: str, path: Path, encoding: str = "utf-8", keep_raw: bool = False,
                 cap: "_Cap | None" = None, bom_allowed: bool = False):
        self.name, self.path, self.encoding, self.keep_raw = name, path, encoding, keep_raw
        self.bom_allowed = bom_allowed
        self.problems: list[Problem] = _Kept(cap) if cap is not None else []
        self.header: list[str] = []
        self.raw: list[str] = []  # the physical lines of the current record (keep_raw)
        self._row = 1  # the record being read
        self._bom = False
        self._nul = False  # the current record's lines hold a NUL byte (which column: looked for then)

    def _lines(self, fh) -> Iterator[str]:
        codecs.lookup(self.encoding)  # an unknown encoding fails here, before any row
        first = True
        for raw in fh:  # lines end in b"\n": the encodings vendors use are ASCII-compatible
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError:
                self.problems.append(Problem(self.name, f"bytes not valid {self.encoding}", row=self._row))
                line = raw.decode(self.encoding, errors="replace")
            if first and line.startswith("\ufeff"):
                line, self._bom = line[1:], True
            first = False
            if "\x00" in line:
                self._nul = True
            if self.keep_raw:
                self.raw.append(line.rstrip("\r\n"))
            yield line

    def __enter__(self) -> "Reader":
        self._fh = open(self.path, "rb")
        other = _other_delimiter(self._fh.readline(), self.encoding)
        self._fh.seek(0)
        if other:
            self._fh.close()
            raise Unreadable(Problem(self.name, f"not readable as comma-separated values: its fields are separated "
                                                f"by {other}; write it with commas", 1))
        self._reader = csv.reader(self._lines(self._fh), strict=True)
        first = self._next()
        self.header = first if first is not None else []
        if self._bom and not self.bom_allowed:
            self.problems.append(Problem(self.name, "file starts with a byte-order mark (BOM); write UTF-8 "
                                                    "without one", row=1))
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def _next(self) -> list[str] | None:
        self.raw = []
        self._nul = False
        try:
            values = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as e:
            raise Unreadable(Problem(self.name, f"not readable as CSV: {e} (a quote that does not close?); "
                                                "nothing after it was checked", self._row)) from e
        self._row += 1
        return values

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """The data rows as dicts by header name, each of the header's length; a blank line
        or a record of another length is a problem, not a row."""
        width = len(self.header)
        while True:
            n = self._row
            values = self._next()
            if values is None:
                return
            if not values:
                self.problems.append(Problem(self.name, "blank line", n))
            elif len(values) != width:
                self.problems.append(Problem(self.name, f"has {len(values)} fields, the header has {width}", n))
            else:
                if self._nul:  # no text file a vendor reads may hold one; C readers stop at it
                    for column, value in zip(self.header, values):
                        if "\x00" in value:
                            self.problems.append(Problem(self.name, "holds a NUL byte (0x00)", n, column))
                yield n, dict(zip(self.header, values))


_DELIMITERS = {"\t": "tabs", ";": "semicolons", "|": "pipes"}


def _other_delimiter(first: bytes, encoding: str) -> str | None:
    """'tabs' (or semicolons, pipes) when a file's first line has no comma but that separator:
    a file written with another delimiter, which a comma reader would misread."""
    line = first.decode(encoding, errors="replace")
    if "," in line:
        return None
    return next((name for char, name in _DELIMITERS.items() if char in line), None)


def iter_rows(path: Path, encoding: str = "utf-8") -> Iterator[dict[str, str]]:
    """A CSV file's data rows by header name, streamed (rows of the wrong length, and what
    follows a quote that does not close, are left out: the rule engine reports them)."""
    try:
        with Reader(path.name, path, encoding) as reader:
            for _, row in reader.rows():
                yield row
    except Unreadable:
        return


_ALL_QUOTED = re.compile(r'"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*')  # every field inside double quotes


def _order(specs: dict[str, FileSpec]) -> list[str]:
    """Files in an order that reads each referenced file before the files referring to it
    (a cycle keeps the given order)."""
    done: list[str] = []
    pending = list(specs)
    while pending:
        ready = [n for n in pending if all(o in done or o not in specs or o == n for _, o, _ in specs[n].refs)]
        nxt = ready[0] if ready else pending[0]
        done.append(nxt)
        pending.remove(nxt)
    return done


def validate(files: dict[str, Path], specs: dict[str, FileSpec],
             max_per_rule: int | None = MAX_PER_RULE, stats: dict[str, dict] | None = None,
             id_columns: dict[str, str] | None = None) -> list[Problem]:
    """Check every file against its spec and the references between files; at most
    ``max_per_rule`` problems per file and rule are listed, the rest counted (None: all).
    Files are streamed; memory holds the values of referenced columns, the 8-byte hashes of
    unique ones (formats/idset.py), and the problems listed. ``stats`` (filled when given):
    per file read, its rows and, for a file in ``id_columns``, that column's ids as
    ``IdHashes`` (what a push's report counts, without reading the files again)."""
    cap = _Cap(max_per_rule)
    stats = {} if stats is None else stats
    problems: list[Problem] = _Kept(cap)  # what _check_file returns was admitted there: list.extend
    referenced = {(o, oc) for spec in specs.values() for _, o, oc in spec.refs}
    known: dict[tuple[str, str], set[str]] = {key: set() for key in referenced}
    readable: set[str] = set()
    deferred: list[str] = []  # files referring to a file read after them (a cycle): a second pass
    order = _order(specs)
    for i, name in enumerate(order):
        spec = specs[name]
        if name not in files or not files[name].exists():
            if not spec.optional:
                problems.append(Problem(name, "file is missing"))
            continue
        later = {o for _, o, _ in spec.refs if o in specs and o not in order[:i]}
        ok, found = _check_file(name, files[name], spec, known, readable, cap, check_refs=not later,
                                stats=stats, id_column=(id_columns or {}).get(name))
        list.extend(problems, found)
        if ok:
            readable.add(name)
            if later:
                deferred.append(name)
    for name in deferred:
        list.extend(problems, _check_file(name, files[name], specs[name], known, readable, cap, refs_only=True)[1])
    return list(problems) + cap.tail()


def validate_file(name: str, files: dict[str, Path], specs: dict[str, FileSpec],
                  max_per_rule: int | None = MAX_PER_RULE, stats: dict[str, dict] | None = None,
                  id_column: str | None = None) -> list[Problem]:
    """One file of a set checked alone (a process per file: a vendor's files are checked in
    parallel): its own rules, and its references checked against the columns of the files it
    refers to, read here. Over the files of a set, it finds what ``validate`` finds; ``stats``
    and ``id_column`` as there, for this file."""
    cap = _Cap(max_per_rule)
    spec = specs[name]
    if name not in files or not files[name].exists():
        return [] if spec.optional else [Problem(name, "file is missing")]
    known: dict[tuple[str, str], set[str]] = {}
    readable: set[str] = set()
    for _, other, other_col in spec.refs:
        if other == name:  # its own column: collected as it is read, checked in a second pass
            known[(name, other_col)] = set()
        elif other in specs and (other, other_col) not in known:
            values = _column(files.get(other), specs[other], other, other_col)
            if values is not None:  # a file missing, or with a header refused, is not referred to
                known[(other, other_col)] = values
                readable.add(other)
    itself = any(other == name for _, other, _ in spec.refs)
    ok, problems = _check_file(name, files[name], spec, known, readable, cap, check_refs=not itself,
                               stats=stats, id_column=id_column)
    if ok and itself:
        readable.add(name)
        problems += _check_file(name, files[name], spec, known, readable, cap, refs_only=True)[1]
    return problems + cap.tail()


def _as_set(values):
    if isinstance(values, set):
        return values
    from formats.rules_arrow import as_set
    return as_set(values)


def _column(path: Path | None, spec: FileSpec, name: str, column: str):
    """The values of one column of a file another refers to (what ``validate`` collects while
    checking it; a set, or an Arrow array when the fast pass read it), or None when its rows cannot be read (missing, or a header refused). A lean
    reading: rows the file's own check reports (another length, blank) are left out, bytes
    that do not decode are replaced, and what follows a quote that does not close is not read."""
    if path is None or not path.exists():
        return None
    if FAST:
        from formats.rules_arrow import column as arrow_column
        values = arrow_column(path, spec.encoding, lambda header: _header_problem(name, header, spec) is None, column)
        if values is not None:
            return values
    codecs.lookup(spec.encoding)
    with open(path, encoding=spec.encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader, [])
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            if _header_problem(name, header, spec):
                return None
            if column not in header:  # a reference to a column the file lacks: as validate reads it
                return _column_until_unreadable(path, spec, name, column)
            width, at = len(header), header.index(column)
            return {row[at] for row in reader if len(row) == width}
        except csv.Error:
            return _column_until_unreadable(path, spec, name, column)


def _column_until_unreadable(path: Path, spec: FileSpec, name: str, column: str) -> set[str]:
    values: set[str] = set()
    try:
        with Reader(name, path, spec.encoding) as reader:
            for _, row in reader.rows():
                values.add(row.get(column, ""))
    except Unreadable:
        pass  # what was read before the quote that does not close counts, as in validate
    return values


def _check_file(name: str, path: Path, spec: FileSpec, known: dict[tuple[str, str], set[str]], readable: set[str],
                cap: "_Cap", check_refs: bool = True, refs_only: bool = False, stats: dict | None = None,
                id_column: str | None = None) -> tuple[bool, list[Problem]]:
    """One file's problems, and whether its header let its rows be read. The problems are
    already admitted by ``cap`` (at most so many per rule: a file of a million bad rows holds
    twenty of each)."""
    if FAST and not refs_only:
        found = _clean_by_arrow(name, path, spec, known, readable, check_refs, stats, id_column)
        if found:
            return True, []
    reader = Reader(name, path, spec.encoding, keep_raw=spec.quote_all and not refs_only, cap=cap,
                    bom_allowed=spec.bom_allowed)
    problems: list[Problem] = _Kept(cap)
    missing: list[Problem] = _Kept(cap)  # references to values the other file lacks, listed after the row rules
    uniques = {} if refs_only else {key: IdHashes() for key in _unique_keys(spec)}
    collect = [(col, known[(name, col)]) for (f, col) in known if f == name] if not refs_only else []
    refs = [(c, o, oc) for c, o, oc in spec.refs if o in readable] if check_refs or refs_only else []
    rows, ids = 0, IdHashes() if id_column else None
    row_rules = _row_rules(name, spec)
    refs = [(column, other_col, other, _as_set(known[(other, other_col)]), column in spec.lists)
            for column, other, other_col in refs]
    nocase = {(c,) for c in spec.unique_nocase}
    unique_keys = [(tuple(cols), hashes, tuple(cols) in nocase) for cols, hashes in uniques.items()]
    try:
        with reader:
            bad = _header_problem(name, reader.header, spec)
            if bad:
                return False, ([] if refs_only else list(reader.problems) + ([bad] if cap.admit(bad) else []))
            for n, row in reader.rows():
                rows += 1
                if ids is not None:
                    ids.add(row.get(id_column, ""))
                for col, values in collect:
                    values.add(row.get(col, ""))
                for column, other_col, other, values, is_list in refs:
                    value = row.get(column, "")
                    for e in (elements(value) if is_list else (value,)):
                        if e and e not in values:
                            missing.append(Problem(name, f"{e!s} is not a {other_col} in {other}", n, column))
                if not refs_only:
                    for cols, hashes, folded in unique_keys:
                        value = _unique_value(row, cols, folded)
                        if all(value):
                            hashes.add(value)
                    found = row_rules(n, row, reader.raw)
                    if found:
                        problems.extend(found)
    except Unreadable as e:
        problems.append(e.problem)
    if any([h.freeze().repeated for h in uniques.values()]):  # every one frozen
        problems.extend(_duplicates(name, path, spec, uniques))  # a second reading, for the rows only
        problems.sort(key=lambda p: p.row or 0)  # stable: a row's own rules first
    if refs_only:
        return True, list(problems) + list(missing)
    if stats is not None:
        stats[name] = {"rows": rows, "ids": ids, "read": "python"}
    if rows == 0 and not any(p.rule.startswith("not readable") for p in problems):
        problems.append(Problem(name, "file has no data rows"))
    return True, list(reader.problems) + list(problems) + list(missing)


def _clean_by_arrow(name: str, path: Path, spec: FileSpec, known: dict[tuple[str, str], set[str]],
                    readable: set[str], check_refs: bool, stats: dict | None, id_column: str | None) -> bool:
    """The fast pass (formats/rules_arrow.py): True when the file breaks no rule, what the exact
    pass gathers (rows, ids, the values of its columns other files refer to) gathered."""
    from formats.rules_arrow import clean
    collect = [col for (f, col) in known if f == name]
    refs = [(c, known[(o, oc)]) for c, o, oc in spec.refs if o in readable] if check_refs else []
    done = clean(path, spec, lambda header: _header_problem(name, header, spec) is None, refs, collect,
                 _unique_keys(spec), id_column, spec.quote_all)
    if done is None:
        return False
    for col, values in done["collected"].items():
        known[(name, col)] = values  # an Arrow array; the exact pass makes it a set if it needs one
    if stats is not None:
        stats[name] = {"rows": done["rows"], "ids": done["ids"], "read": "arrow"}
    return True


def _unique_keys(spec: FileSpec) -> list[tuple[str, ...]]:
    keys = [(key,) if isinstance(key, str) else tuple(key) for key in spec.unique]
    return keys + [(c,) for c in spec.unique_nocase if (c,) not in keys]


def _duplicates(name: str, path: Path, spec: FileSpec, uniques: dict[tuple[str, ...], IdHashes]) -> list[Problem]:
    """The rows repeating a unique value, each naming the first row with it: the file read
    again, remembering only the values whose hash was seen twice."""
    problems = []
    first: dict[tuple[str, ...], dict[tuple, int]] = {cols: {} for cols in uniques}
    nocase = {(c,) for c in spec.unique_nocase}
    with contextlib.suppress(Unreadable), Reader(name, path, spec.encoding) as reader:
        for n, row in reader.rows():
            for cols, hashes in uniques.items():
                value = _unique_value(row, cols, cols in nocase)
                if all(value) and hashes.hash_of(value) in hashes.repeated:
                    at = first[cols].setdefault(value, n)
                    if at != n:
                        shown = "+".join(row.get(c, "") for c in cols)
                        how = ", compared regardless of case" if cols in nocase else ""
                        problems.append(Problem(name, f"{shown} is not unique (first at row {at}{how})", n,
                                                "+".join(cols)))
    return problems


def _header_problem(name: str, header: list[str], spec: FileSpec) -> Problem | None:
    prefix = spec.extension_prefix
    extensions = [c for c in header if prefix and c.startswith(prefix) and len(c) > len(prefix)
                  and c not in spec.header]
    base = [c for c in header if c not in extensions]
    if len(set(extensions)) < len(extensions) or (spec.column_order == "exact" and header[:len(base)] != base):
        extensions, base = [], header  # named twice, or (exact order) not after the vendor's columns: unexpected
    same = base == spec.header if spec.column_order == "exact" else sorted(base) == sorted(spec.header)
    if same:
        return None
    missing = [c for c in spec.header if c not in header]
    extra = [c for c in header if c not in spec.header and c not in extensions]
    twice = sorted({c for c in header if header.count(c) > 1})
    detail = ", ".join(p for p in (f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                                   f"named twice {twice}" if twice else "",
                                   "same columns in another order" if not (missing or extra or twice) else "") if p)
    return Problem(name, f"header is not {spec.header_owner} exact header ({detail})", row=1)


def _row_rules(name: str, spec: FileSpec):
    """A file's per-row rules as one function ``(row number, row, raw lines) -> problems``.
    The values of a format rule repeat (dates, years, grades): each distinct value is checked
    once (up to 10,000 of them per column: e-mail addresses do not repeat; past that, each time)."""
    required = list(spec.required)
    lists = spec.lists
    allowed = [(col, values, col in lists) for col, values in spec.values.items()]
    formats = [(col, check, {}, col in lists) for col, check in spec.formats.items()]
    conditions = list(spec.conditions)
    blank = list(spec.blank.items())
    listed = sorted(lists)
    quote_all = spec.quote_all

    def rules(n: int, row: dict[str, str], raw: list[str]) -> list[Problem]:
        problems = []
        for col in required:
            if not row.get(col, "").strip():
                problems.append(Problem(name, "required value is empty", n, col))
        for col, why in blank:
            if row.get(col, ""):
                problems.append(Problem(name, f"must be empty ({why})", n, col))
        for col in listed:
            v = row.get(col, "")
            if v and "" in v.split(","):
                problems.append(Problem(name, "a list with an empty element (a comma too many)", n, col))
        for col, values, is_list in allowed:
            v = row.get(col, "")
            for e in (elements(v) if is_list else (v,)):
                if e and e not in values:
                    problems.append(Problem(name, f"{e!r} is not an allowed value", n, col))
        for when, is_, col, values in conditions:
            v = row.get(col, "")
            if v and v not in values and row.get(when) == is_:
                problems.append(Problem(name, f"{v!r} is not an allowed value where {when} is {is_} "
                                              f"(allowed: {', '.join(sorted(values))})", n, col))
        for col, check, seen, is_list in formats:
            v = row.get(col, "")
            for e in (elements(v) if is_list else (v,)):
                if not e:
                    continue
                wrong = seen.get(e, False)
                if wrong is False:
                    wrong = check.problem(e)
                    if len(seen) < 10_000:
                        seen[e] = wrong
                if wrong:
                    problems.append(Problem(name, wrong, n, col))
        if quote_all and raw and not _ALL_QUOTED.fullmatch(raw[0] if len(raw) == 1 else "\n".join(raw)):
            problems.append(Problem(name, "every value must be inside double quotes", n))
        return problems
    return rules


def elements(value: str) -> list[str]:
    """A list column's value as its elements ("09,10" → ["09", "10"]; "" → [])."""
    return value.split(",") if value else []


def _unique_value(row: dict[str, str], cols: tuple[str, ...], nocase: bool) -> tuple[str, ...]:
    value = tuple([row.get(c, "") for c in cols])
    return tuple(v.casefold() for v in value) if nocase else value


class _Cap:
    """At most ``most`` problems per file and kind of rule (its text with numbers and quoted
    values taken out, and its column); the rest are counted for an "… and N more" line."""

    def __init__(self, most: int | None):
        self.most = most
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.dropped: dict[tuple[str, str], int] = defaultdict(int)

    def admit(self, p: Problem) -> bool:
        if self.most is None:
            return True
        key = (p.file, re.sub(r"\d+|'[^']*'", "#", p.rule) + (p.column or ""))
        self.counts[key] += 1
        if self.counts[key] <= self.most:
            return True
        self.dropped[(p.file, p.rule.split(" (")[0] if "(" in p.rule else p.column or p.rule)] += 1
        return False

    def tail(self) -> list[Problem]:
        return [Problem(file, f"… and {n} more like the above ({what})") for (file, what), n in self.dropped.items()]


class _Kept(list):
    """A list of problems that keeps only what its cap admits (each problem asked once)."""

    def __init__(self, cap: _Cap):
        super().__init__()
        self.cap = cap

    def append(self, p: Problem) -> None:
        if self.cap.admit(p):
            super().append(p)

    def extend(self, found) -> None:
        for p in found:
            self.append(p)
