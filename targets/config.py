"""Typed reading of luigi.cfg sections, with errors that name the setting.

Clients are built from these readers (``Client.from_config()``); Targets never read config.
Open-ended families of sections (``[sftp_<name>]``) are why this is a reader over Luigi's
parser rather than one ``luigi.Config`` class per section.
"""
from __future__ import annotations

import configparser
import os
import re
from pathlib import Path

import luigi.configuration

from targets.errors import ConfigError
from targets.luigi_patches import add_config_path

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that log redaction can hide it wherever it appears."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def known_secrets() -> frozenset[str]:
    return frozenset(_SECRETS)


class Section:
    """One luigi.cfg section; every getter raises ConfigError naming ``[section] key``."""

    def __init__(self, name: str, parser: configparser.ConfigParser | None = None):
        self.name = name
        self._parser = parser if parser is not None else luigi.configuration.get_config()
        if not self._parser.has_section(name):
            raise ConfigError(f"luigi.cfg has no [{name}] section")

    def _raw(self, key: str, default: str | None, required: bool) -> str | None:
        try:
            if self._parser.has_option(self.name, key):
                value = self._parser.get(self.name, key)
                return value if value != "" or not required else self._missing(key)
        except (configparser.InterpolationError, KeyError) as e:
            raise ConfigError(f"[{self.name}] {key}: {e}") from e
        if required and default is None:
            self._missing(key)
        return default

    def _missing(self, key: str):
        raise ConfigError(f"[{self.name}] {key} is required")

    def str(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        return self._raw(key, default, required)

    def secret(self, key: str) -> str | None:
        """A value that must come from the environment (``${VAR}`` in luigi.cfg)."""
        value = self._raw(key, None, False)
        register_secret(value)
        return value or None

    def int(self, key: str, default: int | None = None, required: bool = False) -> int | None:
        raw = self._raw(key, None if default is None else str(default), required)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError as e:
            raise ConfigError(f"[{self.name}] {key} must be a whole number, got {raw!r}") from e

    def float(self, key: str, default: float | None = None) -> float | None:
        raw = self._raw(key, None if default is None else str(default), False)
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError as e:
            raise ConfigError(f"[{self.name}] {key} must be a number, got {raw!r}") from e

    def bool(self, key: str, default: bool = False) -> bool:
        raw = self._raw(key, None, False)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"[{self.name}] {key} must be true or false, got {raw!r}")

    def path(self, key: str, default: str | None = None, required: bool = False) -> Path | None:
        raw = self._raw(key, default, required)
        return Path(os.path.expanduser(raw)) if raw else None


def var_dir() -> Path:
    """This installation's state folder (``ETL_VAR``, which run.sh sets; default ``var/``):
    luigid's state, locks, pauses, what SFTP servers allow. Never /tmp, which another user may own."""
    return Path(os.environ.get("ETL_VAR") or Path(__file__).resolve().parent.parent / "var")


# -- several districts (docs/operations.md "Several districts")

_DISTRICT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_district_loaded: str | None = None


def districts_dir() -> Path:
    """Where the districts' overlays are (``ETL_DISTRICTS_DIR``; default ``districts/`` in the
    checkout): ``<name>.cfg``, read over luigi.cfg for ``--district <name>``."""
    return Path(os.environ.get("ETL_DISTRICTS_DIR") or Path(__file__).resolve().parent.parent / "districts")


def district_overlay(name: str) -> Path:
    """The overlay file of district ``name``; ConfigError naming the file when there is none."""
    if not _DISTRICT_NAME.match(name or ""):
        raise ConfigError(f"--district {name!r}: a district's name is lower-case letters, digits, '-' and '_' "
                          "(at most 40), the name of its overlay districts/<name>.cfg")
    path = districts_dir() / f"{name}.cfg"
    if not path.is_file():
        raise ConfigError(f"--district {name}: no overlay {path} (copy districts/example.cfg; ETL_DISTRICTS_DIR "
                          "names another folder)")
    return path


def use_district(name: str) -> None:
    """Make this process serve district ``name``: its overlay is read over luigi.cfg (and
    LUIGI_CONFIG_PATH), and ``[etl] district`` names it. A process serves one district."""
    global _district_loaded
    if _district_loaded == name:
        return
    if _district_loaded is not None:
        raise ConfigError(f"--district {name}: this process already serves district {_district_loaded}")
    path = district_overlay(name)
    add_config_path(str(path))
    parser = luigi.configuration.get_config()
    if not parser.has_section("etl"):
        parser.add_section("etl")
    parser.set("etl", "district", name)
    _district_loaded = name


_RUN_SH = re.compile(r"(\./run\.sh [a-z][a-z-]*)(?! --district)")


def with_district(text: str) -> str:
    """Every ``./run.sh <command>`` in an operator's hint with this process's ``--district``
    (the failure mail, status, a run's own command): what to type is exactly that."""
    name = district()
    return _RUN_SH.sub(lambda m: f"{m.group(1)} --district {name}", text) if name else text


def district() -> str:
    """The district this process serves (``--district``, i.e. ``[etl] district``); '' in an
    installation that serves one district."""
    parser = luigi.configuration.get_config()
    return parser.get("etl", "district", "") if parser.has_section("etl") else ""


if os.environ.get("ETL_DISTRICT"):  # run.sh --district NAME, for every command of one process
    use_district(os.environ["ETL_DISTRICT"])
