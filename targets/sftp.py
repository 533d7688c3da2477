"""SFTP on paramiko: servers from ``[sftp_<name>]``, verified host keys, pooled connections,
atomic uploads (``name.part`` → size check → put in place on any server shape:
targets/sftp_put.py, docs/sftp.md), atomic downloads, glob listings.

Settings per server: ``host, port, user, key_file`` (or ``password = ${VAR}``), ``remote_dir``,
``host_key`` ("<type> <base64>", comma-separated for several) and/or ``known_hosts`` (a file),
``connect_timeout, io_timeout, retries, backoff, done_marker, upload_mode, allow_sha1, max_sessions,
session_wait`` (docs/platform.md); tuning: ``write_request_size``,
``read_request_size`` (0 = the server's advertised limits, else 32 KiB writes and reads of what one
255 KiB read returns) and ``prefetch_requests``.

``./run.sh sftp-trust NAME`` (ops/sftp_trust.py) shows a server's key fingerprint and records it
in the section's known_hosts file after you confirm it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import logging
import os
import posixpath
import socket
import stat as stat_mod
import threading
import time
from typing import Callable

import luigi
import paramiko
import paramiko.sftp

from targets import faults
from targets.errors import ConfigError, HostKeyError, TransientError
from targets.hostkeys import no_common_algorithm, verify_host_key
from targets.sftp_settings import RemoteFile, SftpSettings  # noqa: F401 - the settings' home; imported from here too
from targets.local import atomic_path
from targets.sftp_put import PLACED_DIRECT, open_part, refusal, replace, restore_previous, write_pipelined
from targets.sftp_known import recalled, remember
from targets.sftp_requests import MAX_REQUEST, NETWORK_ERRNOS, SAFE_REQUEST, largest_read, server_limits
from targets.sftp_sessions import session_slot
from targets.ssh_transport import (TOO_MANY_CONNECTIONS, KeyboardInteractive, password_login, sign_in_with_key,
                                   transport_class)

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# Fast AEAD ciphers first (measured: aes128-gcm is the quickest paramiko cipher here).
_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr", "aes192-ctr")
# A pinned key's type and the host-key algorithms that ask for it: an RSA key is offered under
# its SHA-2 signatures (OpenSSH 8.8 and later no longer sign with SHA-1 "ssh-rsa"); asking only
# for "ssh-rsa" got a server's Ed25519 key instead, refused as "changed".
_SIGNATURES = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


class _Connection:
    """One SSH transport + SFTP session to one server."""

    def __init__(self, settings: SftpSettings, recall: bool = True):
        self.settings = settings
        self.transport: paramiko.Transport | None = None
        self.sftp: paramiko.SFTPClient | None = None
        # False once the server has refused it (kept between runs: targets/sftp_known.py)
        self.posix_rename = recalled(settings).get("posix_rename", True) if recall else True
        self.keyboard_interactive = False  # the server takes the password only that way
        self.max_read = self.max_write = SAFE_REQUEST
        self.read_tried = False  # a server that does not advertise limits: its largest read found out

    @property
    def alive(self) -> bool:
        return self.transport is not None and self.transport.is_active() and self.sftp is not None

    def open(self) -> None:
        try:
            self._open_once()
        except KeyboardInteractive:  # asked again on a new connection (see password_login)
            self.keyboard_interactive = True
            self._open_once()

    def _open_once(self) -> None:
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        except OSError as e:
            raise TransientError(f"SFTP server '{s.name}' ({s.address}) unreachable: {e}") from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = transport_class(s.allow_sha1)(sock)
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = s.connect_timeout
        options = transport.get_security_options()
        options.ciphers = [c for c in _CIPHERS if c in options.ciphers] + \
                          [c for c in options.ciphers if c not in _CIPHERS]
        expected = s.expected_keys()
        pinned_types = [k.get_name() for k in expected]
        if pinned_types:  # ask for a key type we know, so a server with several keys shows that one
            wanted = [alg for t in pinned_types for alg in _SIGNATURES.get(t, (t,))]
            options.key_types = list(dict.fromkeys(
                [t for t in wanted if t in options.key_types] + list(options.key_types)))
        # paramiko bounds the handshake and the login, not the opening of the SFTP channel and
        # subsystem (an hour, or forever): a server that goes quiet there would hang the run, so
        # the whole opening has a deadline after which the transport is closed under it.
        deadline = 3 * s.connect_timeout + s.io_timeout
        expired = threading.Event()

        def expire():
            expired.set()
            transport.close()
        watchdog = threading.Timer(deadline, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            transport.start_client(timeout=s.connect_timeout)
            verify_host_key(s.name, s.address, transport.get_remote_server_key(), expected)
            self._authenticate(transport)
            self.sftp = paramiko.SFTPClient.from_transport(transport)
            self.sftp.get_channel().settimeout(s.io_timeout)
            self.max_read, self.max_write = server_limits(self.sftp)
        except paramiko.IncompatiblePeer as e:  # the vendor's configuration, not the network: never retried
            transport.close()
            raise ConfigError(no_common_algorithm(s, options, e)) from e
        except BaseException as e:
            transport.close()
            if expired.is_set():
                raise TransientError(f"SFTP server '{s.name}' ({s.address}) did not finish opening the session "
                                     f"within {deadline:g} s") from e
            if transport.goodbye and isinstance(e, Exception) and not isinstance(e, (ConfigError, HostKeyError)):
                raise _ended(s, transport.goodbye) from e  # its words, not "Unable to open channel"
            raise
        finally:
            watchdog.cancel()
        if expired.is_set():
            raise TransientError(f"SFTP server '{s.name}' ({s.address}) did not finish opening the session "
                                 f"within {deadline:g} s")
        self.transport = transport
        logger.info("SFTP connected to '%s' (%s) as %s", s.name, s.address, s.user)

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        try:
            if s.key_file is not None:
                mode = stat_mod.S_IMODE(os.stat(s.key_file).st_mode)
                if mode & 0o077:  # as OpenSSH refuses an unprotected private key, so do we
                    raise ConfigError(f"[sftp_{s.name}] key_file {s.key_file} has mode {mode:o}: others can read "
                                      f"the private key; chmod 600 {s.key_file}")
                sign_in_with_key(transport, s.user, paramiko.PKey.from_path(str(s.key_file)), s.allow_sha1)
            else:
                password_login(transport, s.user, s.password, self.keyboard_interactive)
        except paramiko.BadAuthenticationType as e:  # the method itself: whatever a rerun does, the same
            ours = "a key" if s.key_file is not None else "a password (also as keyboard-interactive)"
            raise ConfigError(f"SFTP server '{s.name}' ({s.address}) does not take {ours} for user {s.user}: it "
                              f"offers {', '.join(e.allowed_types) or 'nothing'}; set [sftp_{s.name}] "
                              f"{'password' if s.key_file is not None else 'key_file'} if the vendor gave one") from e
        except paramiko.AuthenticationException as e:
            if "timeout" in str(e).lower() or not transport.is_active():  # quiet or cut mid-login: the network's
                raise TransientError(f"SFTP server '{s.name}' ({s.address}) did not answer the login of {s.user} "
                                     f"in time: {e}") from e
            what = "key" if s.key_file is not None else "password"
            raise ConfigError(f"SFTP server '{s.name}' ({s.address}) refused the {what} of user {s.user} ({e}): "
                              f"check [sftp_{s.name}] user and its {what}") from e
        except FileNotFoundError as e:
            raise ConfigError(f"[sftp_{s.name}] key_file {s.key_file} does not exist") from e

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.sftp is not None:
                self.sftp.close()
        with contextlib.suppress(Exception):
            if self.transport is not None:
                self.transport.close()
        self.sftp = self.transport = None


def _ended(s: SftpSettings, goodbye: str) -> TransientError:
    """The server ended the session, in its own words (and what to set where it was busy)."""
    busy = (f"; it allows fewer sessions at a time than we opened: set [sftp_{s.name}] max_sessions = 1 (or what the "
            "vendor allows)" if goodbye.endswith(f"(code {TOO_MANY_CONNECTIONS})") else "")
    return TransientError(f"SFTP server '{s.name}' ({s.address}) ended the session: {goodbye}{busy}")


def _is_transient(e: BaseException, conn: _Connection) -> bool:
    if isinstance(e, (HostKeyError, ConfigError, paramiko.AuthenticationException)):
        return False
    if isinstance(e, (TransientError, EOFError, socket.timeout, ConnectionError, paramiko.SSHException)):
        return True
    if isinstance(e, OSError):
        if e.errno in NETWORK_ERRNOS:
            return True
        if e.errno is None:  # paramiko's "Socket is closed" and friends
            return not conn.alive
    return False


_POOL: dict[tuple[int, SftpSettings], "SftpClient"] = {}
_POOL_LOCK = threading.Lock()


class SftpClient:
    """Verbs on one SFTP server over one pooled connection, reconnecting and retrying on
    transient failures (with backoff) and never on host-key or login errors. ``recall``: start
    from what was found about the server before (False: find everything out again, as a probe)."""

    def __init__(self, settings: SftpSettings, recall: bool = True):
        self.settings = settings
        self._conn = _Connection(settings, recall)
        self._lock = threading.RLock()
        self.connects = 0
        self.placed = ""  # how the last upload was put in place (sftp_put.PLACED_*)

    @classmethod
    def from_config(cls, name: str) -> "SftpClient":
        return cls.pooled(SftpSettings.from_config(name))

    @classmethod
    def pooled(cls, settings: SftpSettings) -> "SftpClient":
        key = (os.getpid(), settings)  # a forked worker must not share its parent's transport
        with _POOL_LOCK:
            client = _POOL.get(key)
            if client is None:
                client = _POOL[key] = cls(settings)
            return client

    def __enter__(self) -> "SftpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def path(self, name: str) -> str:
        return name if name.startswith("/") else posixpath.join(self.settings.remote_dir, name)

    def _run(self, what: str, op: Callable[[paramiko.SFTPClient], object]):
        s = self.settings
        with self._lock, session_slot(s, on_release=self._conn.close):
            for attempt in range(1, s.retries + 2):
                try:
                    if not self._conn.alive:
                        self._conn.close()
                        self._conn.open()
                        self.connects += 1
                    return op(self._conn.sftp)
                except BaseException as e:
                    if isinstance(e, PermissionError):  # the server said no: say to what, never retry
                        raise refusal(s, what.split(" ", 1)[0], what.split(" ", 1)[-1], e) from e
                    if not _is_transient(e, self._conn):
                        raise
                    self._conn.close()
                    if attempt > s.retries:
                        raise TransientError(f"SFTP '{s.name}' ({s.address}) {what} failed after "
                                             f"{attempt} attempts: {type(e).__name__}: {e}") from e
                    delay = s.backoff * 2 ** (attempt - 1)
                    logger.warning("SFTP '%s' %s: %s: %s; retrying in %.1fs (attempt %d of %d)", s.name, what,
                                   type(e).__name__, e, delay, attempt, s.retries + 1)
                    time.sleep(delay)

    # -- verbs

    def stat(self, name: str) -> paramiko.SFTPAttributes | None:
        path = self.path(name)

        def op(sftp):
            try:
                return sftp.stat(path)
            except FileNotFoundError:
                return None
        return self._run(f"stat {path}", op)

    def exists(self, name: str) -> bool:
        return self.stat(name) is not None

    def sha256(self, name: str) -> str:
        """sha256 of a remote file, streamed (to recognise a file we already sent)."""
        path = self.path(name)

        def op(sftp):
            h = hashlib.sha256()  # fresh on every attempt: a retry rereads from the start
            with sftp.open(path, "rb") as fh:
                fh.prefetch()
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            return h.hexdigest()
        return self._run(f"hash {path}", op)

    def list_files(self, pattern: str = "*", folder: str | None = None) -> list[RemoteFile]:
        """Regular files in ``folder`` (default the remote dir) whose names match the glob,
        leaving out our own in-flight ``.part`` files; sorted by name."""
        folder = self.path(folder) if folder else self.settings.remote_dir

        def op(sftp):
            return [RemoteFile(a.filename, posixpath.join(folder, a.filename), a.st_size, a.st_mtime)
                    for a in sftp.listdir_attr(folder)
                    if stat_mod.S_ISREG(a.st_mode or 0) and fnmatch.fnmatchcase(a.filename, pattern)
                    and not a.filename.endswith(".part")]
        return sorted(self._run(f"list {folder}", op), key=lambda f: f.name)

    def listdir(self, folder: str = ".") -> list[str]:
        """Names of every entry (files and folders) in ``folder``, sorted."""
        path = self.path(folder)
        return sorted(self._run(f"list {path}", lambda sftp: sftp.listdir(path)))

    def makedirs(self, folder: str) -> None:
        path = self.path(folder)

        def op(sftp):
            parts, current = [p for p in path.split("/") if p], "/" if path.startswith("/") else ""
            for part in parts:
                current = posixpath.join(current, part) if current else part
                try:
                    sftp.stat(current)
                except FileNotFoundError:
                    sftp.mkdir(current)
        self._run(f"mkdir {path}", op)

    def remove(self, name: str) -> None:
        path = self.path(name)

        def op(sftp):
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(path)
        self._run(f"remove {path}", op)

    def upload_atomic(self, local: str | os.PathLike, name: str, progress: Progress | None = None,
                      done_marker: bool | None = None) -> int:
        """Upload to ``name.part``, check its size, put it in place of ``name`` (sftp_put.replace: the
        vendor's previous file is never removed before the new one is there); then the optional
        ``name.done`` marker. The final name never holds a partial file. Returns the size."""
        final = self.path(name)
        size = os.path.getsize(local)

        direct = self.settings.upload_mode == "direct"

        def op(sftp):
            chunk = self.settings.write_request_size or self._conn.max_write
            restore_previous(sftp, self.settings, final)
            part, dst = (final, sftp.open(final, "wb")) if direct else open_part(sftp, self.settings, final)
            with open(local, "rb") as src, dst:
                def sent_so_far(sent: int, block: int) -> None:
                    if sent * 2 < size <= (sent + block) * 2:
                        faults.point(f"sftp.put.mid:{posixpath.basename(final)}")
                    if progress is not None:
                        progress(sent + block, size)
                write_pipelined(sftp, dst, src, chunk, sent_so_far)
            # every write was acknowledged; the size the server reports confirms it where the
            # account may stat (a drop box may not)
            try:
                remote_size = sftp.stat(part).st_size
            except (PermissionError, FileNotFoundError):  # may not stat; or taken away as it closed
                remote_size = size
            if remote_size != size:
                raise TransientError(f"{part} has {remote_size} bytes after upload, expected {size}")
            self.placed = PLACED_DIRECT if direct else replace(sftp, self.settings, self._conn, part, final)
            faults.point(f"sftp.put.renamed:{posixpath.basename(final)}")  # at the vendor, not yet in the ledger
            if done_marker if done_marker is not None else self.settings.done_marker:
                marker, handle = open_part(sftp, self.settings, final + ".done")
                handle.close()
                replace(sftp, self.settings, self._conn, marker, final + ".done")
            return size
        result = self._run(f"upload {final}", op)
        if not direct:
            remember(self.settings, "upload", self.placed, self._conn.posix_rename)
        logger.info("uploaded %s bytes to '%s' %s: %s", size, self.settings.name, final, self.placed)
        return result

    def download(self, name: str, local: str | os.PathLike, progress: Progress | None = None,
                 mode: int = 0o660, group: str | None = None) -> int:
        """Download to an atomic local file (bounded prefetch). Returns the size."""
        remote = self.path(name)
        with atomic_path(local, mode=mode, group=group) as tmp:
            def op(sftp):
                size = sftp.stat(remote).st_size
                got = 0
                with sftp.open(remote, "rb") as src, open(tmp, "wb") as dst:
                    if self._conn.max_read == SAFE_REQUEST and not self._conn.read_tried and size > MAX_REQUEST:
                        self._conn.max_read, self._conn.read_tried = largest_read(sftp, src), True
                    request = self.settings.read_request_size or self._conn.max_read
                    src.MAX_REQUEST_SIZE = request
                    src.prefetch(size, self.settings.prefetch_requests)
                    for block in iter(lambda: src.read(request), b""):
                        dst.write(block)
                        if got * 2 < size <= (got + len(block)) * 2:
                            faults.point(f"sftp.get.mid:{posixpath.basename(remote)}")
                        got += len(block)
                        if progress is not None:
                            progress(got, size)
                if got != size:
                    raise TransientError(f"{remote}: got {got} bytes, expected {size}")
                return size
            size = self._run(f"download {remote}", op)
        logger.info("downloaded %s bytes from '%s' %s", size, self.settings.name, remote)
        return size


class SftpFileTarget(luigi.Target):
    """A file on an SFTP server; exists = a remote stat on the pooled connection."""

    def __init__(self, client: SftpClient, name: str):
        self.client, self.name = client, name

    @property
    def path(self) -> str:
        return self.client.path(self.name)

    def exists(self) -> bool:
        return self.client.exists(self.name)

    def __repr__(self) -> str:
        return f"SftpFileTarget({self.client.settings.name!r}, {self.path!r})"


class SftpNewFilesTarget(luigi.Target):
    """Remote files that all exist and were modified at or after ``since`` (a partner's answer
    to something we sent at ``since``); never done while ``since`` is unknown."""

    def __init__(self, client: SftpClient, names: list[str], since: dt.datetime | None):
        self.client, self.names, self.since = client, list(names), since

    def exists(self) -> bool:
        if self.since is None:
            return False
        for name in self.names:
            st = self.client.stat(name)
            if st is None or st.st_mtime < int(self.since.timestamp()):  # SFTP mtimes are whole seconds
                return False
        return True

    def __repr__(self) -> str:
        return f"SftpNewFilesTarget({self.client.settings.name!r}, {self.names!r}, since={self.since})"
