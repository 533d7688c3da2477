"""``dba.tImportConfig``: one row per kind of feed file (which files, from which folder, read
how, loaded into which table, how). Rows are checked one by one before anything touches a
file or SQL: a bad row (an invalid regex, an unknown load mode or file type, an upsert without
key columns, a schema outside ``[feeds] allowed_schemas``, a table or column name that is not
a plain lower-case identifier) is refused with a message naming the row and the rule, and the
other rows carry on. Identifiers that pass are still always quoted (``psycopg2.sql``)."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from registry import Model, describe, known_encoding

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def _identifier(value: str, what: str) -> str:
    if not IDENTIFIER.match(value or ""):
        raise ValueError(f"{value!r} is not a plain lower-case identifier ({what}: letters, digits, _; at most 63)")
    return value


class ImportConfig(Model):
    config_id: int
    job_name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
    filename_regex: str
    source_dir: str
    processing_dir: str | None = None
    archive_dir: str | None = None
    error_dir: str | None = None
    file_type: Literal["xls", "xlsx", "xlsb", "ods", "csv", "txt"]
    convert_to_csv: bool = False
    sheet: str | None = None
    header_row: int = Field(1, ge=1)
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    target_schema: str
    target_table: str
    load_mode: Literal["append", "replace", "upsert"] = "append"
    key_columns: list[str] | None = None
    active: bool = True
    notify: str | None = None
    max_rejects: int = Field(0, ge=0)

    @field_validator("filename_regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"{value!r} is not a regular expression: {e}") from e
        return value

    @field_validator("source_dir", "processing_dir", "archive_dir", "error_dir")
    @classmethod
    def _folder(cls, value: str | None) -> str | None:
        if value is not None and (".." in value.replace("\\", "/").split("/") or "\x00" in value):
            raise ValueError(f"{value!r} climbs out of its folder ('..')")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        return known_encoding(value)

    @field_validator("target_schema")
    @classmethod
    def _schema(cls, value: str, info: ValidationInfo) -> str:
        _identifier(value, "schema")
        allowed = (info.context or {}).get("schemas")
        if allowed is not None and value not in allowed:
            raise ValueError(f"schema {value!r} is not one the feeds may load into ({', '.join(sorted(allowed))})")
        return value

    @field_validator("target_table")
    @classmethod
    def _table(cls, value: str) -> str:
        return _identifier(value, "table")

    @field_validator("key_columns")
    @classmethod
    def _keys(cls, value: list[str] | None) -> list[str] | None:
        return [_identifier(c, "key column") for c in value] if value else value

    @field_validator("notify")
    @classmethod
    def _notify(cls, value: str | None) -> str | None:
        for address in (a.strip() for a in (value or "").split(",") if a.strip()):
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _upsert_keys(self):
        if self.load_mode == "upsert" and not self.key_columns:
            raise ValueError("load_mode 'upsert' needs key_columns")
        return self

    @property
    def pattern(self) -> re.Pattern:
        return re.compile(self.filename_regex)

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in (self.notify or "").split(",") if a.strip()]


def check_rows(rows: list[dict], schemas: set[str]) -> tuple[list[ImportConfig], list[str]]:
    """(the rows that pass, one message per refused row naming it and every rule it breaks)."""
    good, refused = [], []
    for row in rows:
        try:
            good.append(ImportConfig.model_validate(row, context={"schemas": schemas}))
        except ValidationError as e:
            name = f"tImportConfig row {row.get('config_id')} ({row.get('job_name')})"
            refused.append(describe(e, name).replace("\n", "; "))
    return good, refused
