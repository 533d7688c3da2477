"""The vendor rule engine: checks files against their FileSpecs, as pure functions over the
files it is handed. Every problem names file, row, column and rule; ids may appear, names and
other personal values never do. The rules themselves are data: each vendor's in
``vendors.toml`` (registry/vendors.py builds the FileSpecs), traced to
../shared/vendor-specs.md in docs/vendors.md.
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

MAX_PER_RULE = 20  # problems listed per (file, rule); the rest are counted

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL = (_EMAIL, "valid e-mail address")
_DATE_TOKENS = {"YYYY": r"\d{4}", "MM": r"(0[1-9]|1[0-2])", "DD": r"(0[1-9]|[12]\d|3[01])"}
_STRPTIME = {"%Y": "YYYY", "%m": "MM", "%d": "DD"}


def date_check(layout: str, kind: str = "date") -> tuple[re.Pattern, str]:
    """A date layout as a vendor writes it (``MM/DD/YYYY``, ``yyyy-mm-dd``, ``yyyy``; or
    strptime's ``%m/%d/%Y``) → the regex a value must match and the label problems show
    (``date MM/DD/YYYY``). Zero-padded months and days, as vendors' importers expect."""
    text = layout
    for code, token in _STRPTIME.items():
        text = text.replace(code, token)
    parts, i, found = [], 0, False
    while i < len(text):
        token = text[i:i + 4].upper() if text[i:i + 4].upper() == "YYYY" else text[i:i + 2].upper()
        if token in _DATE_TOKENS:
            parts.append(_DATE_TOKENS[token])
            i += len(token)
            found = True
        else:
            parts.append(text[i] if text[i].isalnum() or text[i] in "-/ :," else re.escape(text[i]))
            i += 1
    if not found:
        raise ValueError(f"{kind} layout {layout!r} has none of YYYY, MM, DD")
    return re.compile("^" + "".join(parts) + "$"), f"{kind} {text}"


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
    formats: dict[str, tuple[re.Pattern, str]] = field(default_factory=dict)
    refs: list[tuple[str, str, str]] = field(default_factory=list)  # (column, other file, other column)
    quote_all: bool = False
    encoding: str = "utf-8"
    column_order: str = "exact"  # exact | any


@dataclass
class Table:
    header: list[str]
    rows: list[dict[str, str]]
    raw_lines: list[str] = field(default_factory=list)


def read_table(path: Path, encoding: str = "utf-8", keep_raw: bool = False) -> Table:
    text = path.read_text(encoding=encoding)
    reader = csv.reader(text.splitlines(keepends=True))
    header = next(reader, [])
    rows = [dict(zip(header, r)) for r in reader]
    return Table(header, rows, text.splitlines()[1:] if keep_raw else [])


def _split_quoted(line: str) -> list[str]:
    out, cur, inside = [], "", False
    for ch in line:
        if ch == '"':
            inside = not inside
        if ch == "," and not inside:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def validate(files: dict[str, Path], specs: dict[str, FileSpec],
             max_per_rule: int | None = MAX_PER_RULE) -> list[Problem]:
    """Check every file against its spec and the references between files; at most
    ``max_per_rule`` problems per file and rule are listed, the rest counted (None: all)."""
    problems: list[Problem] = []
    tables: dict[str, Table] = {}
    for name, spec in specs.items():
        if name not in files or not files[name].exists():
            problems.append(Problem(name, "file is missing"))
            continue
        try:
            table = read_table(files[name], encoding=spec.encoding, keep_raw=spec.quote_all)
        except UnicodeDecodeError as e:
            line = files[name].read_bytes()[:e.start].count(b"\n") + 1
            problems.append(Problem(name, f"bytes not valid {spec.encoding}", row=line))
            continue
        same = table.header == spec.header if spec.column_order == "exact" else (
            sorted(table.header) == sorted(spec.header))
        if not same:
            missing = [c for c in spec.header if c not in table.header]
            extra = [c for c in table.header if c not in spec.header]
            detail = ", ".join(p for p in (f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                                           "same columns in another order" if not (missing or extra) else "") if p)
            problems.append(Problem(name, f"header is not the vendor's exact header ({detail})", row=1))
            continue  # its rows cannot be read reliably, nor checked against
        tables[name] = table
        if not table.rows:
            problems.append(Problem(name, "file has no data rows"))
        problems += _row_rules(name, spec, table)
    for name, spec in specs.items():
        if name not in tables:
            continue
        for column, other, other_col in spec.refs:
            if other not in tables:
                continue
            known = {r.get(other_col, "") for r in tables[other].rows}
            for n, row in enumerate(tables[name].rows, start=2):
                value = row.get(column, "")
                if value and value not in known:
                    problems.append(Problem(name, f"{value!s} is not a {other_col} in {other}", n, column))
    return _capped(problems, max_per_rule) if max_per_rule is not None else problems


def _row_rules(name: str, spec: FileSpec, table: Table) -> list[Problem]:
    problems = []
    seen: dict[tuple, dict] = defaultdict(dict)
    for n, row in enumerate(table.rows, start=2):
        for col in spec.required:
            if not row.get(col, "").strip():
                problems.append(Problem(name, "required value is empty", n, col))
        for key in spec.unique:
            cols = (key,) if isinstance(key, str) else key
            value = tuple(row.get(c, "") for c in cols)
            if all(value):
                first = seen[cols].setdefault(value, n)
                if first != n:
                    problems.append(Problem(name, f"{'+'.join(value)} is not unique (first at row {first})", n,
                                            "+".join(cols)))
        for col, allowed in spec.values.items():
            v = row.get(col, "")
            if v and v not in allowed:
                problems.append(Problem(name, f"{v!r} is not an allowed value", n, col))
        for col, (pattern, label) in spec.formats.items():
            v = row.get(col, "")
            if v and not pattern.match(v):
                problems.append(Problem(name, f"not a {label}", n, col))
    if spec.quote_all:
        for n, line in enumerate(table.raw_lines, start=2):
            if line and not all(len(f) >= 2 and f[0] == '"' and f[-1] == '"' for f in _split_quoted(line)):
                problems.append(Problem(name, "every value must be inside double quotes", n))
    return problems


def _capped(problems: list[Problem], most: int) -> list[Problem]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    kept, dropped = [], defaultdict(int)
    for p in problems:
        key = (p.file, re.sub(r"\d+|'[^']*'", "#", p.rule) + (p.column or ""))
        counts[key] += 1
        if counts[key] <= most:
            kept.append(p)
        else:
            dropped[(p.file, p.rule.split(" (")[0] if "(" in p.rule else p.column or p.rule)] += 1
    for (file, what), n in dropped.items():
        kept.append(Problem(file, f"… and {n} more like the above ({what})"))
    return kept
