"""Benchmarks: ./run.sh bench NAME runs python -m bench.NAME; each prints its ratio last."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import stack
from stack import StackState
from targets.postgres import PostgresSettings


@contextlib.contextmanager
def private_postgres(tmp: Path) -> Iterator[tuple[PostgresSettings, list[str], dict]]:
    """An embedded PostgreSQL of its own for one benchmark: (superuser settings on database
    ``district``, the ``psql`` command line for it, the environment that carries its password);
    stopped when the block ends."""
    var = tmp / "var"
    stack.up(var, with_bigquery=False, dps_standin=False)
    try:
        state = StackState.load(var)
        password = stack.secrets(var)["PG_PASSWORD"]
        settings = PostgresSettings(host="127.0.0.1", port=state.ports["postgres"], dbname="district",
                                    user="postgres", password=password)
        psql = [stack.pg_bin("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(settings.port), "-U", "postgres",
                "-d", "district", "-v", "ON_ERROR_STOP=1"]
        yield settings, psql, dict(os.environ, PGPASSWORD=password)
    finally:
        stack.down(var)
