"""The registries as typed data: ``vendors.toml`` (vendors, their files and rules, pulls,
forwards), ``sources.toml`` (warehouse sources, the Bluff + ASD merges) and ``schedule.toml``
(the one schedule table). Each file is parsed once per version into pydantic models whose
errors name the file and the path inside it (``vendors.toml: clever.files[2].header: ...``,
counting from 0), and each ships a JSON Schema (``registry/schemas/``) so an editor checks and
completes the file (Taplo / Even Better TOML read the ``#:schema`` line at its top;
``registry/jsonschema.py`` writes them).

These modules read only the registry files they are handed: the path comes from the caller
(``pipelines.base.registry_file`` looks it up in luigi.cfg).
"""
from __future__ import annotations

import codecs
import functools
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from targets.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

M = TypeVar("M", bound=BaseModel)


class Model(BaseModel):
    """Registry entries: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def known_encoding(value: str) -> str:
    """A text encoding Python can read, or a ValueError naming it (for the models' validators)."""
    try:
        codecs.lookup(value)
    except LookupError as e:
        raise ValueError(f"unknown encoding {value!r}") from e
    return value


def path_text(loc: tuple) -> str:
    """``('clever', 'files', 2, 'header')`` → ``clever.files[2].header``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def describe(e: ValidationError, name: str, error_loc=None) -> str:
    """Every problem of a validation error, one line each, led by the file's name."""
    lines = []
    for err in e.errors(include_url=False):
        where = path_text(error_loc(err["loc"]) if error_loc else err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {where + ': ' if where else ''}{msg}")
    return "\n".join(lines)


@functools.lru_cache(maxsize=32)
def _parsed(path: str, mtime_ns: int, model: type[BaseModel]):
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p.name}: {e}") from e
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe(e, p.name, getattr(model, "error_loc", None))) from e


def load(path: str | Path, model: type[M]) -> M:
    """The registry at ``path`` as ``model``, parsed once per version of the file (every task
    asks for it); a problem raises ConfigError naming the file and the path inside it."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError as e:
        raise ConfigError(f"{path} does not exist") from e
    return _parsed(str(path), mtime, model)
