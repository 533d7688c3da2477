"""SFTP peers for tests and benchmarks: a private OpenSSH sshd (its internal-sftp, or another
SFTP server behind it: OpenSSH's sftp-server with requests denied, gesftpserver), a folder of
its own on the stack's asyncssh server, and the feeds' client drop-off accounts there. ProFTPD's
mod_sftp: stack/proftpd.py."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from stack.state import free_port, wait_port
from targets.sftp import SftpSettings


SSHD = "/usr/sbin/sshd"


def sshd_ready() -> None:
    """Root's sshd, ``sshd -t`` included, refuses to start without its privilege-separation
    folder /run/sshd, which Debian's package leaves to systemd (a fresh machine or container has
    none); another user's sshd does not want it."""
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)


def asyncssh_settings(stack_var: Path, stack_state, **kw) -> SftpSettings:
    """The stack's 'feeds' account, in a folder of its own for this test."""
    folder = f"/inbound/{uuid.uuid4().hex[:10]}"
    (stack_var / "sftp" / "root" / "feeds" / folder.lstrip("/")).mkdir(parents=True)
    base = dict(name="feeds", host="127.0.0.1", port=stack_state.ports["sftp"], user="feeds",
                key_file=stack_var / "sftp" / "keys" / "feeds", known_hosts=stack_var / "known_hosts",
                remote_dir=folder, retries=3, backoff=0.1)
    base.update(kw)
    return SftpSettings(**base)


def dropoff_settings(stack_var: Path, stack_state, client: str, **kw) -> SftpSettings:
    """A client's drop-off account on the stack's asyncssh server (upload-only, /inbound):
    by key, or by password (``SFTP_<CLIENT>_PASSWORD`` in the stack's secrets)."""
    from stack.services import DROPOFF_CLIENTS, secrets
    by_key = DROPOFF_CLIENTS[client] == "key"
    base = dict(name=f"dropoff_{client}", host="127.0.0.1", port=stack_state.ports["sftp"], user=client,
                key_file=stack_var / "sftp" / "keys" / client if by_key else None,
                password=None if by_key else secrets(stack_var)[f"SFTP_{client.upper()}_PASSWORD"],
                known_hosts=stack_var / "known_hosts", remote_dir="/inbound", retries=3, backoff=0.1)
    base.update(kw)
    return SftpSettings(**base)


SFTP_SERVER = "/usr/lib/openssh/sftp-server"  # OpenSSH's own, as a program: -P denies requests
GESFTPSERVER = "/usr/libexec/gesftpserver"  # Green End SFTP server (Debian's gesftpserver): replies out of order
# sshd_config lines for a server that speaks only SHA-1 (with key_type="rsa"), as old vendors' do;
# OpenSSH's sftp reaches it with these options, we with [sftp_x] allow_sha1 = true
SHA1_ONLY = "HostKeyAlgorithms ssh-rsa\nKexAlgorithms diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1\n"
SHA1_SFTP_OPTIONS = ("-o", "HostKeyAlgorithms=+ssh-rsa", "-o", "KexAlgorithms=+diffie-hellman-group14-sha1")


class LocalServer:
    """A test server process of ours: its folder (``base``), a data folder in it, a free
    loopback port; ``_spawn`` starts it and waits for the port, ``stop`` ends it."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.data = base / "data"
        self.proc: subprocess.Popen | None = None

    def _prepare(self) -> Path:
        self.base.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        return self.base

    def _spawn(self, cmd: list[str], name: str) -> None:
        self.log = open(self.base / f"{name}.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, 15, name, self.base / f"{name}.log")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.log.close()
            self.proc = None


class OpenSshServer(LocalServer):
    """OpenSSH's sshd on a free loopback port with its own host key, config and client key;
    ``subsystem``: the SFTP server it runs (internal-sftp, or a program with its arguments);
    ``key_type``: of its host key and our client key (``rsa`` for a server that speaks only SHA-1)."""

    def __init__(self, base: Path, extra_config: str = "", subsystem: str = "internal-sftp", key_type: str = "ed25519"):
        super().__init__(base)
        self.extra_config, self.subsystem, self.key_type = extra_config, subsystem, key_type

    def start(self) -> "OpenSshServer":
        b = self._prepare()
        sshd_ready()
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", self.key_type, "-N", "", "-f", str(b / key)], check=True)
        shutil.copy(b / "client_key.pub", b / "authorized_keys")
        host_pub = (b / "host_key.pub").read_text().split()
        (b / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        user = os.environ.get("USER") or "root"
        (b / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {b / 'host_key'}\nPidFile {b / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {b / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            f"PasswordAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp {self.subsystem}\n"
            f"AllowUsers {user}\nLogLevel ERROR\nMaxStartups 50\nMaxSessions 50\n" + self.extra_config)
        self.user = user
        self._spawn([SSHD, "-D", "-e", "-f", str(b / "sshd_config")], "sshd")
        return self

    def settings(self, **kw) -> SftpSettings:
        folder = self.data / uuid.uuid4().hex[:10]
        folder.mkdir()
        base = dict(name="openssh", host="127.0.0.1", port=self.port, user=self.user,
                    key_file=self.base / "client_key", known_hosts=self.base / "known_hosts",
                    remote_dir=str(folder), retries=3, backoff=0.1)
        base.update(kw)
        return SftpSettings(**base)
