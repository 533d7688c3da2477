"""The embedded local stack: real PostgreSQL, the BigQuery and GCS emulators, SFTP and SMTP on
loopback, for the demo, the tests and the benchmarks. Production never imports it.

Everything lives under one state folder (``var/`` by default, git-ignored). ``up`` starts what is
not running and reuses existing state (data, keys, ports); ``down`` stops every process it
started; ``status`` says what runs where. The stack writes ``var/luigi.cfg`` (non-secret
settings, pinned host keys) and ``var/secrets.env`` (mode 600) for the pipelines.

The public API, for the demo (``stack/demo.py``), tests and benchmarks::

    up(var, with_bigquery=True) -> StackState     down(var) -> [stopped]     status(var) -> {service: text}
    secrets(var) -> {NAME: value}                 config_env(var) -> env for a pipeline process
    StackState.load(var).ports                    BQ_PROJECT, sftp_accounts(), ROOT
    DROPOFF_CLIENTS, dropoff_root(var)            the feeds' client drop-off accounts and their chroots
    bq_venv() -> the emulators' venv              pg_bin(name) -> a PostgreSQL program
    free_port(), port_open(port), wait_port(port, timeout, what)

Also: ``stack.district`` (the synthetic district), ``stack.openssh`` (a private sshd for tests),
``stack.dps_standin`` (DPS's answers), ``stack.demo`` (``./run.sh demo``).
"""
from stack.services import (BQ_PROJECT, DROPOFF_CLIENTS, ROOT, add_sftp_account, bq_venv, config_env, sftp_accounts,
                            pull_folder, sftp_remote_dir, sftp_section,
                            down, dropoff_root, pg_bin, secrets, status, up)
from stack.state import StackState, free_port, port_open, wait_port

__all__ = ["BQ_PROJECT", "DROPOFF_CLIENTS", "ROOT", "add_sftp_account", "dropoff_root", "pull_folder", "sftp_accounts", "sftp_remote_dir", "sftp_section", "StackState", "bq_venv", "config_env", "down",
           "free_port", "pg_bin", "port_open", "secrets", "status", "up", "wait_port"]
