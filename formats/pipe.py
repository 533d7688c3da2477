"""Pipe-delimited text files: a header line, then one line per record, UTF-8 (a BOM is
accepted on reading). The DFPS ↔ DPS exchange's three layouts are declared here
(docs/dps.md); a field never contains a pipe (one is written as a space)."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import IO, Iterable, Iterator, Sequence

from targets.errors import BadInputError


@dataclass(frozen=True)
class PipeLayout:
    name: str  # the file's name
    columns: tuple[str, ...]

    def write(self, fh: IO[str], records: Iterable[Sequence[str]]) -> int:
        """Write the header and the records (fields in column order); returns the records written."""
        fh.write("|".join(self.columns) + "\n")
        n = 0
        for fields in records:
            if len(fields) != len(self.columns):
                raise ValueError(f"{self.name}: a record has {len(fields)} fields, the layout {len(self.columns)}")
            fh.write("|".join((f or "").replace("|", " ") for f in fields) + "\n")
            n += 1
        return n

    def read(self, path: str | os.PathLike) -> list[dict]:
        """Every record (``records``) in a list: for files known to be small."""
        return list(self.records(path))

    def records(self, path: str | os.PathLike) -> Iterator[dict]:
        """Records as dicts keyed by lower-case column name, fields stripped, blank lines skipped,
        streamed (memory: one record). A wrong header or a record of the wrong width is bad
        input naming file and line."""
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter="|")
            got = [h.strip().upper() for h in next(reader, [])]
            if got != list(self.columns):
                raise BadInputError(os.fspath(path), f"header must be {'|'.join(self.columns)}, got {'|'.join(got)}",
                                    row=1)
            keys = [h.lower() for h in self.columns]
            for n, fields in enumerate(reader, start=2):
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) != len(self.columns):
                    raise BadInputError(os.fspath(path), f"has {len(fields)} fields, expected {len(self.columns)}",
                                        row=n)
                yield {h: f.strip() for h, f in zip(keys, fields)}


# ---------------------------------------------------------------- DFPS ↔ DPS (docs/dps.md)

DPS_SEND = PipeLayout("End_txt_file.txt",
                      ("PERSON_ID", "LAST_NAME", "FIRST_NAME", "DOB", "SEX", "COUNTY", "RUNAWAY_DATE"))
DPS_RESULTS = PipeLayout("Dfps-missing-person-results.txt",
                         ("DPS_ID", "LAST_NAME", "FIRST_NAME", "DOB", "SEX", "COUNTY", "REPORT_DATE", "DFPS_PERSON_ID"))
DPS_COUNTS = PipeLayout("Dfps-missing-person-counts.txt", ("COUNTY", "RUNAWAY_EVENTS"))
