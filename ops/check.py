"""``./run.sh check``: the doctor. It reads the configuration and tests each part the way the
flows will use it, one line per check, with what to do when it fails; exit 1 if any fails.

- the venv against its lock: every package of requirements.txt (and requirements-dev.txt where
  the venv is a development one) installed at its locked version;
- placeholders left in the configuration (``CHANGE_ME``), in the sections the flows use;
- the secrets file's mode (600 or 400) and the SFTP key files' (no access for others);
- the data folder (and the DPS share folder): writable by this user;
- each ``[sftp_*]`` server: the key-exchange and host-key algorithms it offers (from its own
  SSH greeting; SHA-1 ones are warned about), its host key against the pinned one, the
  sign-in, the remote folder;
- PostgreSQL (the ledger; the Feeds database when configured): sign-in, pending migrations;
- BigQuery: a query; and an export as the flows make them (through the Storage Read API: a
  scratch table created, read and dropped, as the probe files are);
- SMTP: TLS offered and the certificate trusted, the sign-in.

Nothing is sent, written or changed, except a probe file created and removed in each folder;
with ``--probe-uploads`` also in each SFTP server's folder (``.district-etl-probe``, uploaded
twice, so the line says how that server lets a file be replaced: docs/sftp.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import ssl
import stat
import sys
import tempfile
from pathlib import Path
from typing import Callable

import luigi.configuration

from targets.config import Section
from targets.hostkeys import ssh_offer

WEAK_KEX = {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1"}
WEAK_HOST_KEYS = {"ssh-dss", "ssh-rsa"}
CHECK_TIMEOUT = 10.0  # seconds a check waits on a server that does not answer (the flows wait longer)


class Check:
    def __init__(self):
        self.lines: list[tuple[str, str, str]] = []

    def add(self, state: str, what: str, detail: str) -> None:
        self.lines.append((state, what, detail))
        print(f"{state:4} {what}: {detail}", flush=True)

    def run(self, what: str, test: Callable[[], str], fix: str) -> None:
        try:
            detail = test()
        except Exception as e:  # every failure is a line, never a traceback
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self.add("FAIL", what, f"{type(e).__name__}: {text} -> {fix}")
            return
        self.add("warn" if detail.startswith("WARN ") else "ok", what, detail.removeprefix("WARN "))

    def passed(self, what: str) -> bool:
        """Did the check named ``what`` pass (ok or warn)?"""
        return any(w == what and state != "FAIL" for state, w, _ in self.lines)

    @property
    def failed(self) -> int:
        return sum(1 for s, _, _ in self.lines if s == "FAIL")


def placeholders(check: Check) -> None:
    cfg = luigi.configuration.get_config()
    unused = set()
    if cfg.has_section("dps") and cfg.get("dps", "source", "oracle") != "oracle":
        unused.add("oracle")
    if not cfg.has_section("dps"):
        unused.update({"oracle", "dps_source"})
    found = [f"[{s}] {k}" for s in cfg.sections() if s not in unused
             for k, v in cfg.items(s, raw=True) if "CHANGE_ME" in str(v)]
    if found:
        check.add("FAIL", "placeholders", f"{', '.join(found)} still say CHANGE_ME -> set them in luigi.cfg "
                  "(or the file LUIGI_CONFIG_PATH names)")
    else:
        check.add("ok", "placeholders", "none left")


def private_file(path: Path, what: str) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} has mode {mode:o}: others can read the {what}")
    return f"{path} mode {mode:o}"


def writable(folder: Path, hint: str = "") -> str:
    """A folder this user can write to, or (a warning) one the first run can create."""
    if not folder.is_dir():
        parent = next(p for p in folder.parents if p.exists())
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return f"WARN {folder} does not exist yet: the first run creates it (in {parent}){hint}"
        raise FileNotFoundError(f"{folder} does not exist, and {parent} is not writable by {os.getuid()}")
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".check-"):
        pass
    return f"{folder} is writable by {os.getuid()}"


PROBE = ".district-etl-probe"  # the file --probe-uploads puts in each server's folder, then removes


def probe_upload(settings) -> str:
    """Upload a probe file twice (the second replaces the first, as a night's push replaces
    the last one), say how the server let it be put in place, keep that for the uploads
    (targets/sftp_known.py; a refusal too), and remove the probe. Finds out from nothing."""
    from targets.errors import ServerRefusedError
    from targets.sftp import SftpClient
    from targets.sftp_known import remember
    with tempfile.TemporaryDirectory(prefix="etl-check-") as tmp:
        local = Path(tmp) / PROBE
        local.write_text("district-etl upload probe: safe to delete\n")
        with SftpClient(dataclasses.replace(settings, retries=0, upload_mode="auto"), recall=False) as client:
            try:
                client.upload_atomic(local, PROBE)
                client.upload_atomic(local, PROBE)
            except ServerRefusedError as e:
                remember(settings, "probe", posix_rename=client._conn.posix_rename, refused=str(e).split(". ")[0])
                raise
            how = client.placed
            remember(settings, "probe", how, client._conn.posix_rename)
            try:
                client.remove(PROBE)
            except Exception as e:  # delete refused: say so, the probe stays
                return f"WARN {how}; the probe {PROBE} stays: {e}"
    return how


def sftp(check: Check, name: str, probe: bool = False) -> None:
    from targets.sftp import SftpClient, SftpSettings
    from targets.sftp_known import upload_mode_line
    settings = SftpSettings.from_config(name)

    def offer() -> str:
        got = ssh_offer(settings.host, settings.port, settings.connect_timeout)
        weak = sorted((set(got["kex"]) & WEAK_KEX) | (set(got["host_key"]) & WEAK_HOST_KEYS))
        text = f"kex {', '.join(got['kex'][:3])}{'…' if len(got['kex']) > 3 else ''}; host keys {', '.join(got['host_key'])}"
        if settings.allow_sha1:  # allowed for this server alone: said every time, until the vendor moves on
            newer = [a for a in got["kex"] if a not in WEAK_KEX]
            return (f"WARN {text}; [sftp_{name}] allow_sha1 = true: SHA-1 is spoken with this server "
                    + ("although it offers SHA-2 too (remove allow_sha1)" if newer and set(got["host_key"]) - WEAK_HOST_KEYS
                       else "(ask the vendor to turn on a SHA-2 algorithm, then remove allow_sha1)"))
        return f"WARN {text}; also offers SHA-1 {', '.join(weak)} (ask the vendor to turn them off)" if weak else text

    def login() -> str:
        with SftpClient(dataclasses.replace(settings, retries=0)) as client:
            client.listdir(settings.remote_dir or ".")
        return f"host key verified, signed in as {settings.user}, {settings.remote_dir} listed"

    check.run(f"sftp {name} ({settings.address}) algorithms", offer, f"is {settings.address} up and reachable?")
    check.run(f"sftp {name} ({settings.address}) sign-in", login,
              f"./run.sh sftp-trust {name} shows the key it offers; check [sftp_{name}] user and its secret")
    if settings.key_file is not None:
        check.run(f"sftp {name} key file", lambda: private_file(settings.key_file, "SSH key"),
                  f"chmod 600 {settings.key_file}")
    if probe:
        check.run(f"sftp {name} uploads", lambda: probe_upload(settings),
                  f"see docs/sftp.md; a server that refuses rename: [sftp_{name}] upload_mode = direct")
    check.run(f"sftp {name} upload mode", lambda: upload_mode_line(settings), "see docs/sftp.md")


def postgres(section: str) -> str:
    from targets.postgres import PostgresClient, PostgresSettings
    client = PostgresClient(PostgresSettings.from_config(section), retries=1)
    with client.transaction() as cur:
        cur.execute("SELECT current_user, version()")
        user, version = cur.fetchone()
    pending = client.pending_migrations()
    detail = f"signed in as {user} ({version.split(',')[0]})"
    return f"WARN {detail}; migrations pending (the first run applies them): {', '.join(pending)}" if pending else detail


def _bigquery_client():
    """The configured BigQuery client, waiting ``CHECK_TIMEOUT`` at most for any answer."""
    from targets.bigquery import BigQueryClient, BigQuerySettings
    return BigQueryClient(dataclasses.replace(BigQuerySettings.from_config(), timeout=CHECK_TIMEOUT,
                                              io_timeout=CHECK_TIMEOUT))


def bigquery() -> str:
    from google.api_core.exceptions import RetryError

    from targets.errors import TransientError
    client = _bigquery_client()
    try:
        rows = client.query("SELECT 1 AS one")
    except (RetryError, TransientError) as e:
        where = client.settings.api_endpoint or "the BigQuery API"
        retry = e if isinstance(e, RetryError) else e.__cause__
        cause = getattr(retry, "cause", None) or retry or e
        raise ConnectionError(f"{where} did not answer within {CHECK_TIMEOUT:.0f} s ({cause})") from e
    if rows != [{"one": 1}]:
        raise ValueError(f"SELECT 1 returned {rows!r}")
    from targets.google import identity
    return f"project {client.settings.project} as {identity(client.creds)}: a query ran"


def google_permissions() -> str:
    """Each permission the night needs that the account lacks, asked of Google (ops/google_permissions.py)."""
    from ops.google_permissions import check as permissions
    archive = None
    if luigi.configuration.get_config().has_section("gcs"):
        from targets.gcs import GcsArchive, GcsSettings
        archive = GcsArchive(dataclasses.replace(GcsSettings.from_config(), io_timeout=CHECK_TIMEOUT))
    return permissions(_bigquery_client(), archive)


def bigquery_exports() -> str:
    """A one-row export the way the vendor pushes export their views: through the Storage Read
    API, the account needs to create a table in the scratch dataset and a read session."""
    client = _bigquery_client()
    if not client.uses_storage_api:
        return "through the REST pages ([bigquery] storage_api = false): the query above is the test"
    with tempfile.TemporaryDirectory(prefix="etl-check-") as tmp:
        out = client.export("SELECT 1 AS one", Path(tmp) / "probe.csv")
        text = (Path(tmp) / "probe.csv").read_text()
    if out.rows != 1 or text.split() != ["one", "1"]:
        raise ValueError(f"a one-row export wrote {out.rows} rows: {text[:80]!r}")
    return (f"a one-row export through the Storage Read API (a table in {client.settings.scratch_dataset}, "
            "created, read and dropped)")


def _not_tried(before: str) -> Callable[[], str]:
    """A check that needs ``before`` to pass fails at once instead of waiting out the same server."""
    def test() -> str:
        raise ConnectionError(f"not tried: the {before} check above failed")
    return test


def smtp() -> str:
    from targets.smtp import Mailer
    mailer = Mailer.from_config()
    s = mailer.settings
    with mailer.session() as server:
        tls = isinstance(server.sock, ssl.SSLSocket)
    how = f"{s.host}:{s.port}: " + ("TLS, certificate trusted" if tls else "no TLS")
    how += f", signed in as {s.username}" if s.username else ", no sign-in configured"
    return how if tls else "WARN " + how + " (mail goes in clear: set require_tls once the server offers it)"


def venv_matches_lock(root: Path | None = None) -> str:
    """The running venv holds every package of its locks at the locked version: a package
    installed or upgraded by hand since (``pip install -U``) runs code nobody locked."""
    import importlib.metadata

    from ops.audit import normal_name, pins
    from pipelines.base import ROOT
    root = root or ROOT
    installed = {normal_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    locks = [root / "requirements.txt"]
    if "pytest" in installed and (root / "requirements-dev.txt").exists():  # a development venv
        locks.append(root / "requirements-dev.txt")
    wrong = [f"{name} {installed.get(normal_name(name), 'missing')} (locked {version})"
             for lock in locks for name, version in pins(lock) if installed.get(normal_name(name)) != version]
    if wrong:
        shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise RuntimeError(f"{sys.prefix} does not match {' + '.join(p.name for p in locks)}: {shown}")
    return f"{sys.prefix}: {sum(len(pins(p)) for p in locks)} packages as locked in {' + '.join(p.name for p in locks)}"


def run_checks(probe: bool = False) -> Check:
    cfg = luigi.configuration.get_config()
    check = Check()
    check.run("venv", venv_matches_lock, "./run.sh install (reinstalls the venv from its locks)")
    placeholders(check)
    secrets = os.environ.get("ETL_SECRETS_ENV")
    if secrets:
        check.run("secrets file", lambda: private_file(Path(secrets), "secrets"), f"chmod 600 {secrets}")
    check.run("data folder", lambda: writable(Section("etl").path("data_dir", required=True)),
              "create it, owned by the service user's group ([etl] data_dir)")
    if cfg.has_section("dps"):
        check.run("DPS share folder", lambda: writable(Section("dps").path("share_dir", required=True),
                                                        "; a network share: mount it first"),
                  "mount the share and let the service user write to it ([dps] share_dir)")
    for section in sorted(s for s in cfg.sections() if s.startswith("sftp_")):
        name = section.removeprefix("sftp_")
        try:
            sftp(check, name, probe)
        except Exception as e:
            check.add("FAIL", f"sftp {name}", f"{type(e).__name__}: {e} -> fix [{section}]")
    if cfg.has_section("postgres"):
        check.run("PostgreSQL ledger", lambda: postgres("postgres"), "is the server up? check [postgres] and its secret")
    if cfg.has_section("feeds_db"):
        check.run("PostgreSQL Feeds database", lambda: postgres("feeds_db"),
                  "./run.sh feeds-db init; check [feeds_db] and its secret")
    if cfg.has_section("bigquery"):
        check.run("BigQuery", bigquery, "is it reachable? check [bigquery] project and credentials "
                  "(GOOGLE_APPLICATION_CREDENTIALS)")
        check.run("Google permissions", google_permissions if check.passed("BigQuery") else _not_tried("BigQuery"),
                  "grant the roles named (docs/google.md, Permissions)")
        check.run("BigQuery exports", bigquery_exports if check.passed("BigQuery") else _not_tried("BigQuery"),
                  "the account needs bigquery.tables.create on the scratch dataset ([bigquery] scratch_dataset) "
                  "and bigquery.readsessions.create, or set [bigquery] storage_api = false (slower exports); "
                  "a private endpoint: [bigquery] storage_endpoint")
    if cfg.has_section("smtp"):
        check.run("SMTP", smtp, "check [smtp] host, port, cafile and its secret")
    return check


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--probe-uploads", action="store_true",
                    help=f"upload a probe file ({PROBE}) twice to each SFTP server's folder, say how the server "
                         "lets a file be replaced (docs/sftp.md), and remove it")
    args = ap.parse_args(argv)
    check = run_checks(probe=args.probe_uploads)
    print(f"{len(check.lines)} checks: {check.failed} failed" if check.failed else f"{len(check.lines)} checks passed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    from ops import one_line_errors
    sys.exit(one_line_errors("check", main)(sys.argv[1:]))
