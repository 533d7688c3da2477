"""SSH host keys: fingerprints as OpenSSH shows them, the check every SFTP connection makes
(an unknown or changed key is refused with the server's name and the fingerprint it offered,
and nothing is sent), and reading the key a server offers without logging in (for
``./run.sh sftp-trust``)."""
from __future__ import annotations

import base64
import hashlib
import socket

import paramiko

from targets.errors import HostKeyError


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint (``SHA256:base64``)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def verify_host_key(name: str, address: str, key: paramiko.PKey, expected: list[paramiko.PKey]) -> None:
    """Refuse an unknown or changed host key with the server's name and the fingerprint seen."""
    if any(k.get_name() == key.get_name() and k.asbytes() == key.asbytes() for k in expected):
        return
    seen = f"{key.get_name()} {fingerprint(key)}"
    if expected:
        known = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in expected)
        raise HostKeyError(
            f"SFTP server '{name}' ({address}) host key has CHANGED: it offered {seen}, but we "
            f"expect {known}. This can be an attack or a rebuilt server: confirm the new "
            f"fingerprint with the vendor before running ./run.sh sftp-trust {name}. Nothing was sent.")
    raise HostKeyError(
        f"SFTP server '{name}' ({address}) offered an unknown host key {seen}. Check the "
        f"fingerprint with the vendor, then run ./run.sh sftp-trust {name} to record it. Nothing was sent.")


def offered_host_key(host: str, port: int, timeout: float) -> paramiko.PKey:
    """The host key a server offers, read from a key exchange without logging in (what
    ``./run.sh sftp-trust`` shows before anything is recorded)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()
