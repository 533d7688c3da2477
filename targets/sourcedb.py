"""A read-only source database for extracts: Oracle (``oracledb`` thin mode, no client
libraries) or PostgreSQL, behind one contract: ``query(sql, params) -> list[dict]``.

SQL files use Oracle-style named binds (``:name``); for PostgreSQL they are rewritten to
``%(name)s``. ``[oracle] user, password = ${ORACLE_PASSWORD}, dsn = host:port/service_name,
connect_timeout``; a PostgreSQL source is any section read by ``PostgresSettings``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from targets.config import Section
from targets.errors import ConfigError, TransientError
from targets.postgres import PostgresSettings

_BIND = re.compile(r"(?<!:):([A-Za-z_]\w*)")
_DSN = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+)(:(?P<port>\d{1,5}))?/(?P<service>[A-Za-z0-9_.\-$#]+)$")


@dataclass(frozen=True)
class OracleSettings:
    user: str
    dsn: str
    password: str | None = field(default=None, repr=False)
    connect_timeout: int = 20

    @classmethod
    def from_config(cls, section: str = "oracle") -> "OracleSettings":
        s = Section(section)
        settings = cls(user=s.str("user", required=True), dsn=s.str("dsn", required=True),
                       password=s.secret("password"), connect_timeout=s.int("connect_timeout", 20))
        settings.validate(section)
        return settings

    def validate(self, section: str = "oracle") -> None:
        """Clear errors before any network traffic (thin mode takes host:port/service)."""
        m = _DSN.match(self.dsn)
        if not m:
            raise ConfigError(f"[{section}] dsn must be host:port/service_name (e.g. impact-db.example:1521/IMPACTP),"
                              f" got {self.dsn!r}")
        if m.group("port") and not 0 < int(m.group("port")) < 65536:
            raise ConfigError(f"[{section}] dsn port must be 1-65535, got {m.group('port')}")
        if not self.password:
            raise ConfigError(f"[{section}] password is empty: set it with password = ${{ORACLE_PASSWORD}}")
        if not re.match(r"^[A-Za-z][\w$#]*$", self.user):
            raise ConfigError(f"[{section}] user {self.user!r} is not a valid Oracle user name")


class SourceDatabase:
    """Runs extract queries on Oracle or PostgreSQL; returns rows as dicts (lower-case keys)."""

    def __init__(self, oracle: OracleSettings | None = None, postgres: PostgresSettings | None = None):
        if (oracle is None) == (postgres is None):
            raise ConfigError("a source database is either Oracle or PostgreSQL")
        self.oracle, self.postgres = oracle, postgres

    @classmethod
    def from_config(cls, kind: str, section: str) -> "SourceDatabase":
        if kind == "oracle":
            return cls(oracle=OracleSettings.from_config(section))
        if kind == "postgres":
            return cls(postgres=PostgresSettings.from_config(section))
        raise ConfigError(f"[dps] source must be 'oracle' or 'postgres', got {kind!r}")

    def describe(self) -> str:
        return f"oracle://{self.oracle.user}@{self.oracle.dsn}" if self.oracle else self.postgres.describe()

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        params = params or {}
        if self.oracle:
            return self._oracle(sql, params)
        conn = self.postgres.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(_BIND.sub(r"%(\1)s", sql.replace("%", "%%")), params)
                names = [d.name.lower() for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            conn.close()

    def _oracle(self, sql: str, params: dict) -> list[dict]:
        import oracledb
        try:
            conn = oracledb.connect(user=self.oracle.user, password=self.oracle.password, dsn=self.oracle.dsn,
                                    tcp_connect_timeout=self.oracle.connect_timeout)
        except oracledb.Error as e:
            raise TransientError(f"Oracle {self.oracle.dsn}: {str(e).splitlines()[0]}") from e
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                names = [d[0].lower() for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            conn.close()
