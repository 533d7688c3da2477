"""The stack's SFTP (asyncssh) and SMTP (aiosmtpd) servers, in one asyncio process.

SFTP: one account per vendor, each with its own client key and its own folder as the chroot;
accounts named in the passwords file log in with a password instead (like DPS's server). The
feeds' client drop-off accounts (``--dropoff-clients``) are chrooted to ``<dropoff-root>/<client>``
and upload-only, as OpenSSH's ``internal-sftp -P`` makes them in production (ops/dropoff.py):
they may write, rename and list in ``/inbound`` and nothing else — no reading, deleting,
linking or making folders. SMTP: offers STARTTLS (``--smtp-cert``); every message is kept as
an ``.eml`` file under ``mail_dir``, with ``X-Stack-TLS: yes`` when it came over TLS.

    python -m stack.servers --sftp-root DIR --sftp-port N --host-key FILE --keys DIR
                            [--passwords FILE] [--dropoff-root DIR --dropoff-clients a,b]
                            [--smtp-port N --mail-dir DIR [--smtp-cert PEM --smtp-key PEM]] [--legacy-sftp]
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import signal
import ssl
import time
from pathlib import Path

import asyncssh
from asyncssh.kex import get_default_kex_algs
from aiosmtpd.smtp import SMTP

logger = logging.getLogger("stack.servers")


class _VendorSSHServer(asyncssh.SSHServer):
    """Each user's authorized key is ``<keys>/<user>.pub``; users listed in the passwords
    file (``user:password`` lines) may log in with that password instead."""

    def __init__(self, keys_dir: Path, passwords: dict[str, str]):
        self._keys_dir = keys_dir
        self._passwords = passwords
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn):
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        pub = self._keys_dir / f"{username}.pub"
        if pub.exists():
            self._conn.set_authorized_keys(str(pub))
        return True

    def password_auth_supported(self) -> bool:
        return bool(self._passwords)

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._passwords.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


class UploadOnlySFTPServer(asyncssh.SFTPServer):
    """A drop-off account: files may be written (and renamed, e.g. from a temporary name) in
    ``/inbound`` only; reading, deleting, links and new folders are refused."""

    def _inbound(self, path: bytes, what: str) -> None:
        local = Path(os.fsdecode(self.map_path(path)))
        inbound = Path(os.fsdecode(self.map_path(b"/inbound")))
        if local.parent != inbound:
            raise asyncssh.SFTPPermissionDenied(f"upload-only account: {what} only in /inbound")

    def open(self, path, pflags, attrs):
        if pflags & asyncssh.FXF_READ or not pflags & asyncssh.FXF_WRITE:
            raise asyncssh.SFTPPermissionDenied("upload-only account: files cannot be read")
        self._inbound(path, "writes")
        return super().open(path, pflags, attrs)

    def rename(self, oldpath, newpath):
        self._inbound(oldpath, "renames")
        self._inbound(newpath, "renames")
        return super().rename(oldpath, newpath)

    def posix_rename(self, oldpath, newpath):
        self._inbound(oldpath, "renames")
        self._inbound(newpath, "renames")
        return super().posix_rename(oldpath, newpath)

    def _refuse(self, *args):
        raise asyncssh.SFTPPermissionDenied("upload-only account: not allowed")

    remove = rmdir = mkdir = symlink = link = _refuse


class CappedReadsSFTPServer(asyncssh.SFTPServer):
    """A server that answers any read with at most 64 KiB and does not say so in advance (no
    limits@openssh.com): the protocol lets a read return less than was asked."""
    MAX_READ = 65536

    def read(self, file_obj, offset, size):
        return super().read(file_obj, offset, min(size, self.MAX_READ))


def _sftp_factory(root: Path, dropoff_root: Path | None = None, clients: frozenset = frozenset(),
                  legacy: bool = False):
    def make(chan):
        user = chan.get_extra_info("username")
        if user in clients:
            home = dropoff_root / user
            (home / "inbound").mkdir(parents=True, exist_ok=True)
            return UploadOnlySFTPServer(chan, chroot=os.fsencode(home))
        home = root / user
        home.mkdir(parents=True, exist_ok=True)
        return (CappedReadsSFTPServer if legacy else asyncssh.SFTPServer)(chan, chroot=os.fsencode(home))
    return make


class _MailKeeper:
    """aiosmtpd handler: each message becomes ``<mail_dir>/<time>-<n>.eml`` (written atomically)."""

    def __init__(self, mail_dir: Path):
        self.mail_dir = mail_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{self.count:05d}.eml"
        tmp = self.mail_dir / f".{name}.tmp"
        body = envelope.original_content or envelope.content
        if isinstance(body, str):
            body = body.encode("utf-8")
        header = (f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
                  f"X-Stack-TLS: {'yes' if session.ssl is not None else 'no'}\r\n")
        tmp.write_bytes(header.encode() + body)
        os.chmod(tmp, 0o660)
        os.replace(tmp, self.mail_dir / name)
        return "250 Message accepted for delivery"


async def serve(args) -> None:
    if args.legacy_sftp:
        # A stand-in for servers without OpenSSH's extensions, to exercise the client's fallbacks.
        from asyncssh.sftp import SFTPServerHandler
        drop = {b"posix-rename@openssh.com", b"limits@openssh.com"}
        SFTPServerHandler._extensions = [e for e in SFTPServerHandler._extensions if e[0] not in drop]
        SFTPServerHandler._packet_handlers = {k: v for k, v in SFTPServerHandler._packet_handlers.items()
                                              if k not in drop}
    root, keys = Path(args.sftp_root), Path(args.keys)
    passwords = {}
    if args.passwords:
        for line in Path(args.passwords).read_text().splitlines():
            if ":" in line:
                user, password = line.split(":", 1)
                passwords[user] = password
    sftp = await asyncssh.create_server(
        lambda: _VendorSSHServer(keys, passwords), "127.0.0.1", args.sftp_port,
        server_host_keys=[args.host_key],
        sftp_factory=_sftp_factory(root, Path(args.dropoff_root) if args.dropoff_root else None,
                                   frozenset(c for c in (args.dropoff_clients or "").split(",") if c),
                                   legacy=args.legacy_sftp),
        allow_scp=False, encoding=None,
        # As a vendor's server should be configured: no SHA-1 key exchange (the doctor warns about it).
        kex_algs=[a.decode() for a in get_default_kex_algs() if not a.endswith(b"-sha1")])
    servers = [sftp]
    if args.smtp_port:
        mail_dir = Path(args.mail_dir)
        mail_dir.mkdir(parents=True, exist_ok=True)
        handler = _MailKeeper(mail_dir)
        loop = asyncio.get_running_loop()
        tls = None
        if args.smtp_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(args.smtp_cert, args.smtp_key)
        smtp = await loop.create_server(lambda: SMTP(handler, hostname="localhost", tls_context=tls),
                                        "127.0.0.1", args.smtp_port)
        servers.append(smtp)
    logger.info("serving SFTP on %s, SMTP on %s", args.sftp_port, args.smtp_port or "-")
    if args.dps_delay is not None:
        asyncio.get_running_loop().create_task(_dps_standin(root / "dps", args.dps_delay))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


async def _dps_standin(home: Path, delay: float) -> None:
    """Answer DFPS's file like DPS would, ``delay`` seconds after it arrives."""
    from stack.dps_standin import pending, respond
    outbound, results = home / "outbound", home / "TO_DFPS"
    while True:
        try:
            if pending(outbound, results, delay, time.time()):
                respond(outbound / "End_txt_file.txt", results)
                logger.info("DPS stand-in answered in %s", results)
        except OSError as e:  # a file being replaced under us: try again next round
            logger.warning("DPS stand-in: %s", e)
        await asyncio.sleep(1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="stack.servers")
    p.add_argument("--sftp-root", required=True)
    p.add_argument("--sftp-port", type=int, required=True)
    p.add_argument("--host-key", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--passwords", help="file of user:password lines (mode 600)")
    p.add_argument("--dropoff-root", help="the feeds' drop-off accounts: each chrooted to DIR/<client>")
    p.add_argument("--dropoff-clients", help="comma-separated drop-off accounts (upload-only)")
    p.add_argument("--smtp-port", type=int, default=0)
    p.add_argument("--mail-dir")
    p.add_argument("--smtp-cert", help="offer STARTTLS with this certificate (PEM) ...")
    p.add_argument("--smtp-key", help="... and its key")
    p.add_argument("--dps-delay", type=float, default=None,
                   help="answer dps/outbound/End_txt_file.txt this many seconds after it arrives")
    p.add_argument("--legacy-sftp", action="store_true",
                   help="offer neither posix-rename@openssh.com nor limits@openssh.com, and answer reads "
                        "with at most 64 KiB")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
