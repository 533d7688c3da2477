"""Typed reading of luigi.cfg sections, with errors that name the setting.

Clients are built from these readers (``Client.from_config()``); Targets never read config.
Open-ended families of sections (``[sftp_<name>]``) are why this is a reader over Luigi's
parser rather than one ``luigi.Config`` class per section.
"""
from __future__ import annotations

import configparser
import os
from pathlib import Path

import luigi.configuration

from targets.errors import ConfigError

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
