"""Bluff + ASD merge: two schools' exports of the same kind become one file with a source
column and one aligned set of columns, before the 03:00 warehouse load picks it up.

Declared in ``sources.toml`` as ``[[merge]]`` entries (name, inputs with their source label
and encoding, output, key columns; ``[[stack]]``, the old name, is still read). Headers may
differ in order, case, surrounding spaces and extra columns; encodings may differ (``auto``
tries UTF-8, then Windows-1252). The same key in both inputs with different values is a
conflicting duplicate: both rows are kept, and the ids and differing column names (never the
values) go to ``<data_dir>/reports/stacking-<name>-<date>.csv``. Done = the ledger row for the
day whose sha256 covers the inputs, so changed inputs are merged again. The ledger job and the
report keep the name ``stacking`` so existing ledgers and report readers carry on.
Run: ``./run.sh luigi --module pipelines.merge MergeExports --name NAME --date D`` (the
warehouse load runs it itself for files it produces).
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import luigi

from formats.cells import neutralise
from pipelines.base import DistrictTask, RunDateParameter, SourceFile, counted, data_dir, local_target, sources_file
from registry.sources import Merge
from targets.errors import BadInputError
from targets.local import file_digest
from targets.ledger import Ledger, LedgerTarget

logger = logging.getLogger(__name__)

JOB = "stacking"  # the ledger job keeps its first name (see the module docstring)


def read_text(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    if encoding != "auto":
        try:
            return raw.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise BadInputError(str(path), f"bytes not valid {encoding}", row=line) from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="strict") if _cp1252_ok(raw) else raw.decode("latin-1")


def _cp1252_ok(raw: bytes) -> bool:
    try:
        raw.decode("cp1252")
        return True
    except UnicodeDecodeError:
        return False


@dataclass
class MergeResult:
    columns: list[str]
    rows: int
    conflicts: list[dict]


def merge(spec: Merge, root: Path, out) -> MergeResult:
    """Write the merged CSV to ``out``; return its columns, row count and conflicts."""
    tables = []
    canonical: dict[str, str] = {}  # lower-case name → first spelling seen
    for inp in spec.inputs:
        path = root / inp.file
        if not path.exists():
            raise BadInputError(str(path), "input file is missing")
        reader = csv.reader(io.StringIO(read_text(path, inp.encoding), newline=""))
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            raise BadInputError(str(path), "file is empty: no header row")
        seen = set()
        for n, h in enumerate(header, start=1):
            if h.lower() in seen:
                raise BadInputError(str(path), f"column {h!r} appears twice in the header", row=1)
            seen.add(h.lower())
            canonical.setdefault(h.lower(), h)
        rows = []
        for line, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise BadInputError(str(path), f"has {len(row)} fields, the header has {len(header)}", row=line)
            rows.append({h.lower(): v for h, v in zip(header, row)})
        tables.append((inp, [h.lower() for h in header], rows))
    for k in spec.key:
        for inp, header, _ in tables:
            if k.lower() not in header:
                raise BadInputError(str(root / inp.file), f"key column {k!r} is missing")
    order = list(dict.fromkeys(c for _, header, _ in tables for c in header))
    columns = [spec.source_column] + [canonical[c] for c in order]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    by_key: dict[tuple, list[tuple[str, dict]]] = {}
    for inp, _, rows in tables:
        for row in rows:
            writer.writerow([inp.source] + [row.get(c, "") for c in order])
            count += 1
            if spec.key:
                by_key.setdefault(tuple(row[k.lower()].strip() for k in spec.key), []).append((inp.source, row))
    conflicts = []
    for key, group in by_key.items():
        if len(group) < 2:
            continue
        common = set(group[0][1]).intersection(*(set(r) for _, r in group[1:]))
        differing = sorted(canonical[c] for c in common
                           if len({r[c].strip() for _, r in group}) > 1)
        if differing:
            conflicts.append({"key": "|".join(key), "sources": "|".join(s for s, _ in group),
                              "differing_columns": "|".join(differing)})
    return MergeResult(columns, count, conflicts)


class MergeExports(DistrictTask):
    """The merged file for one ``[[merge]]`` entry, for the day."""

    date = RunDateParameter()
    name = luigi.Parameter()

    def spec(self) -> Merge:
        return sources_file().merge_named(self.name)

    def requires(self):
        return [SourceFile(path=str(data_dir() / i.file)) for i in self.spec().inputs]

    def inputs_digest(self) -> str | None:
        h = hashlib.sha256()
        for inp in self.spec().inputs:
            path = data_dir() / inp.file
            if not path.exists():
                return None
            h.update(file_digest(path)[1].encode())
        return h.hexdigest()

    def output(self):
        return LedgerTarget(Ledger.of(), JOB, self.name, self.date, sha256=self.inputs_digest())

    def run(self):
        spec, root = self.spec(), data_dir()
        digest = self.inputs_digest()
        with local_target(root / spec.output).open("w") as fh:
            result = merge(spec, root, fh)
        if result.conflicts:
            report = root / "reports" / f"stacking-{spec.name}-{self.date.isoformat()}.csv"
            with local_target(report).open("w") as fh:
                w = csv.DictWriter(fh, fieldnames=["key", "sources", "differing_columns"], lineterminator="\n")
                w.writeheader()
                w.writerows({k: neutralise(str(v)) for k, v in c.items()} for c in result.conflicts)
            logger.warning("%s: %s (ids in %s)", spec.name, counted(len(result.conflicts), "conflicting duplicate"),
                           report)
        size, _ = file_digest(root / spec.output)
        self.output().mark_done(direction="out", source=", ".join(i.file for i in spec.inputs),
                                destination=spec.output, rows=result.rows, bytes=size, sha256=digest)
        logger.info("merged %d rows from %d inputs into %s", result.rows, len(spec.inputs), spec.output)
