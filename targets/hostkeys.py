"""SSH host keys: fingerprints as OpenSSH shows them, the check every SFTP connection makes
(an unknown or changed key is refused with the server's name and the fingerprint it offered,
and nothing is sent), and reading the key a server offers without logging in (for
``./run.sh sftp-trust``) and the algorithms it offers (for the doctor, and to say what a server
we share no algorithm with offered)."""
from __future__ import annotations

import base64
import hashlib
import socket
import struct

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


def ssh_offer(host: str, port: int, timeout: float = 10.0) -> dict[str, list[str]]:
    """The algorithms an SSH server offers, from its KEXINIT (RFC 4253 7.1: sent in clear)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"SSH-2.0-district-etl-check\r\n")
        f = sock.makefile("rb")
        while True:  # the server may send lines before its version line
            line = f.readline(256)
            if not line:
                raise ConnectionError("closed before its SSH greeting")
            if line.startswith(b"SSH-"):
                break
        length, padding = struct.unpack(">IB", f.read(5))
        payload = f.read(length - padding - 1)
    if not payload or payload[0] != 20:
        raise ConnectionError("no KEXINIT from the server")
    pos, lists = 17, []
    for _ in range(10):
        (n,) = struct.unpack(">I", payload[pos:pos + 4])
        lists.append(payload[pos + 4:pos + 4 + n].decode().split(",") if n else [])
        pos += 4 + n
    return {"kex": lists[0], "host_key": lists[1], "ciphers": lists[2], "macs": lists[4]}
