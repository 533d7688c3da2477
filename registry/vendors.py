"""``vendors.toml``: one table per vendor we send files to (server, packaging, cadence, shrink
limit, CSV dialect, and each file: the view it comes from, the vendor's exact header and the
vendor's rules), plus ``[[pull]]`` and ``[[forward]]`` entries.

A vendor's rules are written in Table Schema words (https://specs.frictionlessdata.io/table-schema/):
per column ``required``, ``unique``, ``enum``, ``pattern``, ``type``/``format`` (dates as the
vendor writes them, e.g. ``MM/DD/YYYY``; ``email``); per file ``unique_keys`` and
``foreign_keys`` (``{fields, reference = {resource, fields}}``), ``conditions`` (an enum on the
rows where another column has a value) and ``extension_prefix`` (the vendor's custom columns,
Clever's ``ext.*``); per vendor the policy
``rules = {encoding, quote_all, column_order}`` and named ``enums`` that columns refer to.
The engine that checks them is ``formats/rules.py`` (docs/vendors.md).
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from formats import oneroster as binding
from formats.csv_dialect import CsvDialect
from formats.rules import EMAIL, FileSpec, ValueCheck, date_check
from registry import Model, load
from targets.errors import ConfigError

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
Cadence = Literal["daily", "weekly:MON", "weekly:TUE", "weekly:WED", "weekly:THU", "weekly:FRI", "weekly:SAT",
                  "weekly:SUN"]


class ColumnRules(Model):
    """One column's constraints, in Table Schema words."""

    required: bool = Field(False, description="An empty value is a problem.")
    unique: bool = Field(False, description="No two rows share a (non-empty) value.")
    enum: list[str] | str | None = Field(
        None, description="The allowed values, or the name of a list in the vendor's [enums].")
    type: Literal["string", "date", "year"] = Field(
        "string", description="date / year: the value must be written as `format` says.")
    format: str | None = Field(
        None, description="For dates the layout the vendor wants (MM/DD/YYYY, yyyy-mm-dd); for a year yyyy; "
                          "for strings 'email'.")
    pattern: str | None = Field(None, description="A regular expression the whole value must match.")

    @model_validator(mode="after")
    def _one_format(self):
        if self.type in ("date", "year"):
            if self.pattern is not None:
                raise ValueError("a date or year column takes a format, not also a pattern")
            date_check(self.format or ("yyyy" if self.type == "year" else "YYYY-MM-DD"), self.type)
        elif self.format not in (None, "email"):
            raise ValueError(f"format {self.format!r} needs type = 'date' or 'year' (strings know only 'email')")
        elif self.format == "email" and self.pattern is not None:
            raise ValueError("give either format = 'email' or a pattern, not both")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern is not a regular expression: {e}") from e
        return self

    def check(self) -> ValueCheck | None:
        """How the engine checks non-empty values, if at all."""
        if self.type in ("date", "year"):
            return date_check(self.format or ("yyyy" if self.type == "year" else "YYYY-MM-DD"), self.type)
        if self.format == "email":
            return EMAIL
        if self.pattern is not None:
            return ValueCheck(re.compile(f"^(?:{self.pattern})$"), f"value matching {self.pattern}")
        return None


class Reference(Model):
    resource: str = Field(description="The file (of this vendor) the values must appear in.")
    fields: str | list[str] = Field(description="The column of that file.")


class ForeignKey(Model):
    """Every non-empty value of ``fields`` appears in ``reference.fields`` of ``reference.resource``."""

    fields: str | list[str]
    reference: Reference

    @model_validator(mode="after")
    def _single(self):
        for value in (self.fields, self.reference.fields):
            if isinstance(value, list) and len(value) != 1:
                raise ValueError("foreign keys are on one column (fields = \"Column\")")
        return self

    @property
    def column(self) -> str:
        return self.fields if isinstance(self.fields, str) else self.fields[0]

    @property
    def other_column(self) -> str:
        f = self.reference.fields
        return f if isinstance(f, str) else f[0]


class Condition(Model):
    """A column's allowed values on the rows where another column has a given value (a file
    that holds two kinds of records, e.g. OTUS's attendance and discipline rows)."""

    when: dict[str, str] = Field(description="{ Column = \"value\" }: the rows this holds on (one column).")
    column: str = Field(description="The column whose values are limited there.")
    enum: list[str] | str = Field(description="The allowed values, or the name of a list in [enums].")

    @model_validator(mode="after")
    def _one(self):
        if len(self.when) != 1:
            raise ValueError("when names one column: when = { Column = \"value\" }")
        return self


class VendorFile(Model):
    """One file we send: where its rows come from, its exact header, its rules."""

    view: str = Field(pattern=r"^[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*$", description="dataset.View it is exported from")
    file: str = Field(min_length=1, description="The name the vendor wants (case matters).")
    header: list[str] = Field(min_length=1, description="The vendor's exact header, in order.")
    fields: dict[str, ColumnRules] = Field(default_factory=dict, description="Rules per column (by header name).")
    unique_keys: list[list[str]] = Field(default_factory=list,
                                         description="Column sets no two rows may share, e.g. [[\"Section_id\", "
                                                     "\"Student_id\"]].")
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    optional: bool = Field(False, description="The vendor takes an upload without this file: the validator does "
                                              "not ask for it (we still send it).")
    conditions: list[Condition] = Field(default_factory=list,
                                        description="Allowed values that hold on some rows only.")
    extension_prefix: str | None = Field(None, min_length=1,
                                         description="Columns named <prefix><name> may follow the header: the "
                                                     "vendor's custom columns (Clever's ext.*).")

    @model_validator(mode="after")
    def _columns_known(self):
        seen = set()
        for name in self.header:
            if name in seen:
                raise ValueError(f"header names {name!r} twice")
            seen.add(name)
        unknown = [c for c in self.fields if c not in seen]
        unknown += [c for key in self.unique_keys for c in key if c not in seen]
        unknown += [fk.column for fk in self.foreign_keys if fk.column not in seen]
        unknown += [c for cond in self.conditions for c in (cond.column, *cond.when) if c not in seen]
        if unknown:
            raise ValueError(f"rules name columns that are not in the header: {', '.join(unknown)}")
        return self


class FilePolicy(Model):
    """How every file of the vendor is read and checked."""

    encoding: str = Field("utf-8", description="The files' text encoding.")
    quote_all: bool = Field(False, description="Every value, header included, inside double quotes.")
    column_order: Literal["exact", "any"] = Field("exact", description="exact: the header in the listed order; "
                                                                       "any: the same columns in any order.")


class Dialect(Model):
    """How we write the vendor's CSV (formats/csv_dialect.py)."""

    delimiter: str = ","
    quoting: Literal["minimal", "all"] = "minimal"
    quote_header: bool | None = None
    line_ending: str = Field("lf", description="lf | crlf")
    encoding: str = "utf-8"
    date_format: str = "%Y-%m-%d"
    datetime_format: str = "%Y-%m-%d %H:%M:%S"
    true: str = "true"
    false: str = "false"
    header: bool = True


class OneRoster(Model):
    """A OneRoster CSV package (docs/oneroster.md): the binding fixes its files' names, headers
    and rules; the vendor chooses the version and which rostering files it takes."""

    version: Literal["1.1", "1.2"] = Field(description="The binding: 1.1 (CSV Tables 1.1.1) or 1.2 (CSV Binding "
                                                       "1.2.1).")
    files: list[str] | None = Field(None, description="The rostering files sent (the others are declared "
                                                      "absent); default: orgs, academicSessions, courses, "
                                                      "classes, users, enrollments, and roles in 1.2.")
    delta: bool = Field(False, description="1.2: send what changed since the last successful push (status and "
                                           "dateLastModified filled), not the whole roster each time.")
    system_name: str | None = Field(None, description="The manifest's source.systemName.")
    system_code: str | None = Field(None, description="The manifest's source.systemCode.")

    @model_validator(mode="after")
    def _files(self):
        tables = binding.TABLES[self.version]
        if self.files is None:
            object.__setattr__(self, "files", binding.default_files(self.version))
        unknown = [f for f in self.files if f not in tables]
        if "userProfiles" in self.files:
            raise ValueError("userProfiles: no view in sql/views/roster_files makes it (the warehouse holds no "
                             "application credentials)")
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a rostering file of OneRoster {self.version} (have: "
                             f"{', '.join(tables)})")
        if len(set(self.files)) != len(self.files):
            raise ValueError("a file is named twice")
        if self.delta and self.version != "1.2":
            raise ValueError("delta = true is for OneRoster 1.2 here (1.1 vendors take bulk packages)")
        return self

    def declared(self, modes: dict[str, str] | None = None) -> binding.Declared:
        """The manifest's view of the package: each file sent in ``modes`` (default bulk), the
        binding's others absent."""
        modes = modes if modes is not None else {f: "bulk" for f in self.files}
        return binding.Declared(self.version, {f: modes.get(f, "absent") for f in binding.MANIFEST_FILES[self.version]})


class Vendor(Model):
    """A vendor we push files to over SFTP."""

    server: str = Field(description="The [sftp_<server>] section of luigi.cfg.")
    packaging: Literal["files", "zip", "oneroster"] = Field(
        "files", description="files: each uploaded; zip: one zip_name; oneroster: one zip_name holding a OneRoster "
                             "CSV package (the [<vendor>.oneroster] table).")
    zip_name: str | None = None
    oneroster: OneRoster | None = None
    cadence: Cadence = "daily"
    slot: str = Field("SftpOperations", pattern=r"^[A-Z]\w*$",
                      description="The schedule.toml slot whose run pushes this vendor: a vendor added here is "
                                  "pushed by it with no other change.")
    shrink_limit: float = Field(0.10, ge=0, le=1, description="Refuse a file that lost more than this share of "
                                                              "its rows since the last push.")
    dialect: Dialect = Field(default_factory=Dialect)
    remote_dir: str | None = Field(None, description="Overrides the server section's remote_dir.")
    notify: list[str] = Field(default_factory=list, description="Who gets refusals (default [smtp] operators).")
    rules: FilePolicy = Field(default_factory=FilePolicy)
    enums: dict[str, list[str]] = Field(default_factory=dict, description="Named value lists columns refer to.")
    files: list[VendorFile] = Field(default_factory=list, description="The files (a oneroster vendor's come from "
                                                                      "the binding).")
    _name: str = PrivateAttr(default="")

    @model_validator(mode="before")
    @classmethod
    def _oneroster_files(cls, data: Any):
        """A OneRoster vendor's files, header and dialect are the binding's, not written here."""
        if not isinstance(data, dict) or data.get("packaging") != "oneroster":
            return data
        fixed = [key for key in ("files", "dialect", "rules", "enums") if key in data]
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: the OneRoster binding fixes these for packaging = 'oneroster' "
                             "(choose the files in oneroster.files)")
        package = data.get("oneroster")
        if not isinstance(package, dict) or package.get("version") not in binding.VERSIONS:
            return data  # the oneroster table's own checks say what is wrong
        version = package["version"]
        names = package.get("files") or binding.default_files(version)
        files = [{"view": f"roster_files.{binding.view_of(version, n)}", "file": f"{n}.csv",
                  "header": binding.header(version, n)} for n in names if n in binding.TABLES[version]]
        return {**data, "files": files, "dialect": {"line_ending": "crlf"}}
    @field_validator("rules", mode="before")
    @classmethod
    def _old_rule_set(cls, value: Any):
        if isinstance(value, str):
            raise ValueError(f"rules = {value!r} named a rule set in code; the rules are now this vendor's own "
                             "(per-file fields, unique_keys, foreign_keys; see docs/vendors.md)")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.zipped and not self.zip_name:
            raise ValueError(f"packaging = '{self.packaging}' needs zip_name")
        if (self.packaging == "oneroster") != (self.oneroster is not None):
            raise ValueError("packaging = 'oneroster' goes with a oneroster table (version, files), and only it")
        if not self.files:
            raise ValueError("a vendor needs at least one file")
        names = [f.file for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("two files have the same name")
        headers = {f.file: f.header for f in self.files}
        for f in self.files:
            named = [(col, rules.enum) for col, rules in f.fields.items()] + \
                [(cond.column, cond.enum) for cond in f.conditions]
            for col, enum in named:
                if isinstance(enum, str) and enum not in self.enums:
                    raise ValueError(f"{f.file} {col}: enum {enum!r} is not in [enums] "
                                     f"(have: {', '.join(self.enums) or 'none'})")
            for fk in f.foreign_keys:
                other = headers.get(fk.reference.resource)
                if other is None:
                    raise ValueError(f"{f.file}: foreign key {fk.column} refers to {fk.reference.resource!r}, "
                                     "which is not one of this vendor's files")
                if fk.other_column not in other:
                    raise ValueError(f"{f.file}: foreign key {fk.column} refers to {fk.other_column!r}, which is "
                                     f"not in the header of {fk.reference.resource}")
        self.csv_dialect()  # fail now on a dialect the writer refuses
        return self

    @property
    def name(self) -> str:
        return self._name

    @property
    def job(self) -> str:
        return f"push_{self.name}"

    @property
    def zipped(self) -> bool:
        """Its files leave in one zip (``zip_name``): a zip, or a OneRoster package."""
        return self.packaging in ("zip", "oneroster")

    def file(self, name: str) -> VendorFile:
        for f in self.files:
            if f.file == name:
                return f
        raise ConfigError(f"vendors.toml [{self.name}] has no file {name!r}")

    def runs_on(self, day: dt.date) -> bool:
        if self.cadence == "daily":
            return True
        return WEEKDAYS[day.weekday()] == self.cadence.split(":", 1)[1]

    def items(self) -> list[str]:
        """What is uploaded: each file, or the one zip."""
        return [self.zip_name] if self.zipped else [f.file for f in self.files]

    def csv_dialect(self) -> CsvDialect:
        return CsvDialect.from_mapping(self.dialect.model_dump(exclude_unset=True))

    def file_specs(self) -> dict[str, FileSpec]:
        """What the rule engine checks, file by file (rules in header order); a OneRoster
        vendor's day's files are checked as the bulk package they are exported as."""
        if self.oneroster is not None:
            return binding.file_specs(self.oneroster.declared())
        specs = {}
        for f in self.files:
            spec = FileSpec(list(f.header), quote_all=self.rules.quote_all, encoding=self.rules.encoding,
                            column_order=self.rules.column_order, optional=f.optional,
                            extension_prefix=f.extension_prefix)
            for col in f.header:
                rules = f.fields.get(col)
                if rules is None:
                    continue
                if rules.required:
                    spec.required.append(col)
                if rules.unique:
                    spec.unique.append(col)
                if rules.enum is not None:
                    spec.values[col] = set(self.enums[rules.enum] if isinstance(rules.enum, str) else rules.enum)
                check = rules.check()
                if check is not None:
                    spec.formats[col] = check
            spec.unique += [tuple(key) for key in f.unique_keys]
            spec.refs = [(fk.column, fk.reference.resource, fk.other_column) for fk in f.foreign_keys]
            spec.conditions = [(*next(iter(c.when.items())), c.column,
                                frozenset(self.enums[c.enum] if isinstance(c.enum, str) else c.enum))
                               for c in f.conditions]
            specs[f.file] = spec
        return specs


class Pull(Model):
    """Files to fetch from a partner's SFTP folder into one of our folders."""

    name: str
    server: str = Field(description="The [sftp_<server>] section.")
    pattern: str = Field(description="Glob on the remote file name.")
    dest: str = Field(description="Folder under [etl] data_dir.")
    remote_dir: str | None = None
    latest: int = Field(0, ge=0, description="0: every file not pulled before; N: only the newest N (by mtime).")
    remove_remote: bool = False
    local_name: str | None = Field(None, description="A fixed local name: the newest pull replaces the last one.")

    @property
    def job(self) -> str:
        return f"pull_{self.name}"


class Forward(Model):
    """Files we pulled, sent on to another partner (e.g. SAVVAS score files to OTUS)."""

    name: str
    pull: str = Field(description="The [[pull]] whose files are sent on.")
    server: str
    remote_dir: str | None = None

    @property
    def job(self) -> str:
        return f"forward_{self.name}"


class VendorsFile(Model):
    """The whole of ``vendors.toml``: vendor tables, ``[[pull]]`` and ``[[forward]]``."""

    vendors: dict[str, Vendor]
    pull: list[Pull] = Field(default_factory=list)
    forward: list[Forward] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any):
        if isinstance(data, dict) and "vendors" not in data:
            rest = dict(data)
            return {"vendors": {k: v for k, v in rest.items() if k not in ("pull", "forward")},
                    "pull": rest.get("pull", []), "forward": rest.get("forward", [])}
        return data

    @model_validator(mode="after")
    def _links(self):
        for name, v in self.vendors.items():
            v._name = name
        if "oneroster" in self.vendors:
            raise ValueError("[oneroster] is taken: ./run.sh validate oneroster checks any OneRoster package; name "
                             "the vendor itself (e.g. [classlink])")
        pulls = [p.name for p in self.pull]
        if len(set(pulls)) != len(pulls):
            raise ValueError("two [[pull]] entries have the same name")
        for f in self.forward:
            if f.pull not in pulls:
                raise ValueError(f"[[forward]] {f.name!r} names pull {f.pull!r}, which is not a [[pull]]")
        return self

    @staticmethod
    def error_loc(loc: tuple) -> tuple:
        return loc[1:] if loc[:1] == ("vendors",) else loc

    @staticmethod
    def file_schema(schema: dict) -> dict:
        """As the file is written: vendor tables at the top, beside pull and forward."""
        props = schema.pop("properties")
        vendors = props.pop("vendors")
        schema.pop("required", None)
        schema["properties"] = props
        schema["additionalProperties"] = vendors["additionalProperties"]
        return schema

    def vendor(self, name: str) -> Vendor:
        if name not in self.vendors:
            raise ConfigError(f"vendors.toml has no [{name}] (have: {', '.join(self.vendors)})")
        return self.vendors[name]

    def pull_named(self, name: str) -> Pull:
        for p in self.pull:
            if p.name == name:
                return p
        raise ConfigError(f"vendors.toml has no [[pull]] named {name!r}")

    def forward_named(self, name: str) -> Forward:
        for f in self.forward:
            if f.name == name:
                return f
        raise ConfigError(f"vendors.toml has no [[forward]] named {name!r}")


def load_vendors(path: str | Path) -> VendorsFile:
    return load(path, VendorsFile)
