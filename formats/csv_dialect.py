"""How a destination wants its CSV (delimiter, quoting, line ending, encoding, how dates and
booleans are written): every vendor has its own habits, declared in ``vendors.toml``."""
from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Callable

from targets.errors import ConfigError


@dataclass(frozen=True)
class CsvDialect:
    """How a destination wants its CSV: every vendor has its own habits."""

    delimiter: str = ","
    quoting: str = "minimal"  # minimal | all
    quote_header: bool | None = None  # None: like the data rows
    line_ending: str = "\n"
    encoding: str = "utf-8"
    date_format: str = "%Y-%m-%d"
    datetime_format: str = "%Y-%m-%d %H:%M:%S"
    true: str = "true"
    false: str = "false"
    header: bool = True

    @classmethod
    def from_mapping(cls, m: dict) -> "CsvDialect":
        endings = {"lf": "\n", "crlf": "\r\n", "\\n": "\n", "\\r\\n": "\r\n"}
        kw = dict(m)
        if "line_ending" in kw:
            kw["line_ending"] = endings.get(str(kw["line_ending"]).lower(), kw["line_ending"])
        if kw.get("delimiter") in ("\\t", "tab"):
            kw["delimiter"] = "\t"
        unknown = set(kw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown CSV dialect settings: {', '.join(sorted(unknown))}")
        if kw.get("quoting", "minimal") not in ("minimal", "all"):
            raise ConfigError(f"CSV quoting must be 'minimal' or 'all', got {kw['quoting']!r}")
        return cls(**kw)

    def converter(self, field_type: str) -> Callable[[object], str]:
        """A formatter specialised for one BigQuery column type (cheaper than ``format``)."""
        t, f = self.true, self.false
        if field_type in ("BOOL", "BOOLEAN"):
            return lambda v: "" if v is None else (t if v else f)
        if field_type == "DATE":
            fmt = self.date_format
            return lambda v: "" if v is None else v.strftime(fmt)
        if field_type in ("DATETIME", "TIMESTAMP"):
            fmt = self.datetime_format
            return lambda v: "" if v is None else v.strftime(fmt)
        if field_type in ("FLOAT", "FLOAT64"):
            return lambda v: "" if v is None else (str(int(v)) if v.is_integer() else repr(v))
        return self.format

    def format(self, value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return self.true if value else self.false
        if isinstance(value, dt.datetime):
            return value.strftime(self.datetime_format)
        if isinstance(value, dt.date):
            return value.strftime(self.date_format)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, decimal.Decimal):
            return format(value.normalize(), "f") if value == value.to_integral() else str(value)
        return str(value)
