"""An SFTP server's settings (``[sftp_<name>]``, see targets/sftp.py) and its expected host
keys; a remote file's listing entry."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from targets.config import Section
from targets.errors import ConfigError


@dataclass(frozen=True)
class SftpSettings:
    name: str
    host: str
    user: str
    port: int = 22
    key_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    remote_dir: str = "."
    host_keys: tuple[str, ...] = ()
    known_hosts: Path | None = None
    connect_timeout: float = 15.0
    io_timeout: float = 60.0
    retries: int = 3
    backoff: float = 2.0
    done_marker: bool = False
    # auto: upload as name.part, then put it in place (posix-rename, rename, or the old file
    # moved aside first: SftpClient._replace); direct: write under the final name (servers that
    # refuse rename, or take each file away when it is closed): not atomic, see docs/sftp.md
    upload_mode: str = "auto"
    # SHA-1 key exchange and ssh-rsa signatures, for a server that offers nothing newer
    # (targets/ssh_transport.py); off by default, and the doctor warns where it is on
    allow_sha1: bool = False
    # max_sessions set in the section: the sessions the server allows at a time; our processes
    # on this machine take turns, each for one verb (targets/sftp_sessions.py). 0 = not set (the
    # scheduler still runs at most 2 tasks per server: pipelines/workers.py). session_wait:
    # seconds to wait for a turn
    max_sessions: int = 0
    session_wait: float = 1800.0
    # SFTP request sizes; 0 = auto: the server's own limits (limits@openssh.com, as OpenSSH's
    # client does) or, from a server that does not say, the 32 KiB every server must accept.
    # 32 KiB read requests made downloads 4x slower than 256 KiB ones here.
    write_request_size: int = 0
    read_request_size: int = 0
    prefetch_requests: int = 64

    @classmethod
    def from_config(cls, name: str) -> "SftpSettings":
        s = Section(f"sftp_{name}")
        key_file, password = s.path("key_file"), s.secret("password")
        if key_file is None and password is None:
            raise ConfigError(f"[sftp_{name}] needs key_file or password = ${{VAR}}")
        pinned = tuple(k.strip() for k in (s.str("host_key") or "").split(",") if k.strip())
        known = s.path("known_hosts")
        if not pinned and known is None:
            raise ConfigError(f"[sftp_{name}] needs host_key or known_hosts: host keys are always verified")
        return cls(name=name, host=s.str("host", required=True), port=s.int("port", 22),
                   user=s.str("user", required=True), key_file=key_file, password=password,
                   remote_dir=s.str("remote_dir", "."), host_keys=pinned, known_hosts=known,
                   connect_timeout=s.float("connect_timeout", 15.0), io_timeout=s.float("io_timeout", 60.0),
                   retries=s.int("retries", 3), backoff=s.float("backoff", 2.0),
                   done_marker=s.bool("done_marker", False), upload_mode=_mode(name, s.str("upload_mode", "auto")),
                   allow_sha1=s.bool("allow_sha1", False), max_sessions=s.int("max_sessions", 0),
                   session_wait=s.float("session_wait", 1800.0),
                   write_request_size=s.int("write_request_size", 0), read_request_size=s.int("read_request_size", 0),
                   prefetch_requests=s.int("prefetch_requests", 64))

    def __post_init__(self):
        _mode(self.name, self.upload_mode)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def file_tag(self) -> str:
        """This server's account as a file name (what was found about it, its session locks)."""
        import re
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.name}@{self.user}@{self.host}_{self.port}")

    @property
    def known_hosts_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def expected_keys(self) -> list[paramiko.PKey]:
        """The keys we accept for this server: pinned ones plus known_hosts entries."""
        keys = []
        for line in self.host_keys:
            parts = line.split()
            if len(parts) < 2:
                raise ConfigError(f"[sftp_{self.name}] host_key must be '<type> <base64>', got {line!r}")
            try:
                keys.append(paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1])))
            except Exception as e:
                raise ConfigError(f"[sftp_{self.name}] host_key {parts[0]} could not be read: {e}") from e
        if self.known_hosts is not None and self.known_hosts.exists():
            entries = paramiko.HostKeys(str(self.known_hosts)).lookup(self.known_hosts_name)
            if entries:
                keys.extend(entries.values())
        return keys


@dataclass
class RemoteFile:
    name: str
    path: str
    size: int
    mtime: int


def _mode(name: str, mode: str) -> str:
    if mode not in ("auto", "direct"):
        raise ConfigError(f"[sftp_{name}] upload_mode = {mode!r}: auto (a temporary name, then put in place) or "
                          "direct (under the final name: for servers that refuse rename)")
    return mode

