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


def offered_host_key(host: str, port: int, timeout: float, allow_sha1: bool = False) -> paramiko.PKey:
    """The host key a server offers, read from a key exchange without logging in (what
    ``./run.sh sftp-trust`` shows before anything is recorded)."""
    from targets.ssh_transport import transport_class
    sock = socket.create_connection((host, port), timeout=timeout)
    transport = transport_class(allow_sha1)(sock)
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


def no_common_algorithm(s, options: paramiko.transport.SecurityOptions, e: Exception) -> str:
    """Why a server (``SftpSettings`` ``s``) and we agreed on no algorithm: what it offered, read from
    its own greeting, against what we speak, and what to ask for."""
    try:
        offer = ssh_offer(s.host, s.port, s.connect_timeout)
    except (OSError, ValueError, IndexError) as read:
        offer, shown = {}, f"(its offer could not be read: {read})"
    else:
        shown = f"it offers key exchange {', '.join(offer['kex'])}; host keys {', '.join(offer['host_key'])}"
    ours = f"we speak key exchange {', '.join(options.kex)}; host keys {', '.join(options.key_types)}"
    sha1 = any(a.endswith("-sha1") or a == "ssh-rsa" for a in offer.get("kex", []) + offer.get("host_key", []))
    advice = ("Its algorithms are SHA-1 ones, which we speak only where allowed: ask the vendor to turn on a SHA-2 "
              "one (e.g. diffie-hellman-group14-sha256, rsa-sha2-256), or set "
              f"[sftp_{s.name}] allow_sha1 = true for this server alone (weaker; the doctor warns)"
              if sha1 and not s.allow_sha1 else "Ask the vendor which it can turn on")
    return (f"SFTP server '{s.name}' ({s.address}) and we share no algorithm ({e}): {shown}; {ours}. {advice}. "
            "A rerun will not help")
