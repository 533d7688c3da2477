"""``sources.toml``: which local files load into which BigQuery tables (``[[source]]``), and
the Bluff + ASD merges that produce some of those files (``[[merge]]``). A leaf module: the
warehouse load and the merge both read it, neither reads the other."""
from __future__ import annotations

import datetime as dt
import fnmatch
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from registry import Model, known_encoding, load
from targets.errors import ConfigError

FORMATS = ("csv", "txt", "xlsx", "xls", "parquet")
BIGQUERY_TYPES = ("STRING", "BYTES", "INTEGER", "INT64", "FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOLEAN",
                  "BOOL", "DATE", "DATETIME", "TIME", "TIMESTAMP", "JSON", "GEOGRAPHY")


class Source(Model):
    """One kind of file: where it lies, which table it loads into, how it is read."""

    folder: str = Field(description="Folder under [etl] data_dir.")
    pattern: str = Field(description="Glob on the file name.")
    table: str = Field(description="dataset.table; {date}: one table per run date, {stem}: from the file name.")
    format: Literal["csv", "txt", "xlsx", "xls", "parquet"] | None = Field(
        None, description="Default: from the pattern's suffix, else csv.")
    columns: list[str] = Field(default_factory=list, description='["Name:TYPE", ...] in file order: the header '
                               'must be exactly these; omit: named from the header, all text.')
    write: Literal["truncate", "append"] = Field("truncate", description="truncate: reruns never duplicate rows.")
    header_rows: int = Field(1, ge=0)
    delimiter: str = ","
    encoding: str = "UTF-8"
    sheet: str | None = Field(None, description="Spreadsheets: the sheet (default the first).")

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        for col in value:
            name, _, typ = col.partition(":")
            if not name.strip():
                raise ValueError(f"column {col!r} has no name")
            if (typ or "STRING").strip().upper() not in BIGQUERY_TYPES:
                raise ValueError(f"column {col!r}: {typ.strip()!r} is not a BigQuery type ({', '.join(BIGQUERY_TYPES)})")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        return known_encoding(value)

    @model_validator(mode="after")
    def _format_known(self):
        if self.format is None:
            suffix = Path(self.pattern).suffix.lstrip(".").lower()
            if suffix and suffix not in FORMATS and "*" not in suffix:
                raise ValueError(f"format must be one of {', '.join(FORMATS)} (the pattern's suffix is .{suffix}: "
                                 "give format = ...)")
        return self

    @property
    def file_format(self) -> str:
        suffix = Path(self.pattern).suffix.lstrip(".").lower()
        return self.format or (suffix if suffix in FORMATS else "csv")

    @property
    def schema(self) -> tuple[tuple[str, str], ...]:
        """``(name, TYPE)`` pairs of the pinned columns (TYPE defaults to STRING)."""
        out = []
        for col in self.columns:
            name, _, typ = col.partition(":")
            out.append((name.strip(), (typ or "STRING").strip().upper()))
        return tuple(out)

    def table_for(self, filename: str, run_date: dt.date) -> str:
        stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(filename).stem)
        return self.table.replace("{date}", f"{run_date:%Y%m%d}").replace("{stem}", stem)


class MergeInput(Model):
    file: str = Field(description="Relative to [etl] data_dir.")
    source: str = Field(description="The label its rows get in the source column.")
    encoding: str = Field("auto", description="auto: UTF-8, else Windows-1252.")


class Merge(Model):
    """Two (or more) schools' exports of one kind merged into one file with a source column."""

    name: str
    inputs: list[MergeInput] = Field(min_length=2)
    output: str = Field(description="folder/file under [etl] data_dir (a [[source]] loads it).")
    key: list[str] = Field(default_factory=list, description="Columns whose equal values with different data "
                                                             "are reported as conflicting duplicates.")
    source_column: str = "Source"

    @field_validator("output")
    @classmethod
    def _output(cls, value: str) -> str:
        if "/" not in value.strip("/"):
            raise ValueError("output must be folder/file under [etl] data_dir")
        return value.strip("/")

    @property
    def folder(self) -> str:
        return self.output.split("/", 1)[0]

    @property
    def filename(self) -> str:
        return self.output.split("/", 1)[1]


class SourcesFile(Model):
    """The whole of ``sources.toml``."""

    source: list[Source] = Field(default_factory=list)
    merge: list[Merge] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any):
        if isinstance(data, dict) and "slots" in data:
            raise ValueError("[slots] moved to schedule.toml: each load slot's folders are its `loads`")
        if isinstance(data, dict) and "stack" in data:  # the merges were called [[stack]] before
            data = dict(data)
            data["merge"] = list(data.get("merge", [])) + list(data.pop("stack"))
        return data

    @model_validator(mode="after")
    def _unique_merges(self):
        names = [m.name for m in self.merge]
        if len(set(names)) != len(names):
            raise ValueError("two [[merge]] entries have the same name")
        return self

    def match(self, folder: str, filename: str) -> Source | None:
        """The first source this file is (sources are tried in file order)."""
        for s in self.source:
            if s.folder == folder and fnmatch.fnmatchcase(filename, s.pattern):
                return s
        return None

    def merge_for(self, folder: str, filename: str) -> Merge | None:
        """The ``[[merge]]`` entry that produces this file, if any."""
        return next((m for m in self.merge if m.output == f"{folder}/{filename}"), None)

    def merge_named(self, name: str) -> Merge:
        for m in self.merge:
            if m.name == name:
                return m
        raise ConfigError(f"sources.toml has no [[merge]] named {name!r}")


def load_sources(path: str | Path) -> SourcesFile:
    return load(path, SourcesFile)
