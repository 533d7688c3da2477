"""The columns of a CSV file named from its header, for a BigQuery load without pinned columns
(targets/bigquery.py ``load_file``)."""
from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

from targets.errors import BadInputError


def header_schema(path: Path, header_rows: int, delimiter: str, quote: str, encoding: str,
                  shown: str) -> list[tuple[str, str]]:
    """The columns of a CSV file without pinned ones, read from its header (the last of
    ``header_rows``), every one as text. BigQuery's own detection was relied on before: when
    every column is text it takes the header row for data and names the columns
    ``string_field_N``, and the views that read them fail. A name is made a BigQuery column
    name as its detection did (other characters → ``_``; a leading digit gets ``_``); a
    repeated one gets ``_2``, ``_3``."""
    enc = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    with open(path, newline="", encoding=enc, errors="replace") as fh:
        rows = csv.reader(fh, delimiter=delimiter, quotechar=quote or '"')
        header = []
        for _ in range(max(1, header_rows)):
            header = next(rows, [])
    if not any(h.strip() for h in header):
        raise BadInputError(shown, f"row {max(1, header_rows)}: the header row is empty; its columns cannot be named")
    names, seen = [], {}
    for i, raw in enumerate(header, 1):
        name = re.sub(r"[^A-Za-z0-9_]", "_", raw.strip()) or f"string_field_{i - 1}"
        if name[0].isdigit():
            name = "_" + name
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
        names.append(name if seen[name.lower()] == 1 else f"{name}_{seen[name.lower()]}")
    return [(n, "STRING") for n in names]
