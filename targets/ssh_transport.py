"""The SSH layer under SftpClient (targets/sftp.py): paramiko's Transport, told why a server
ended a session; SHA-1 for the servers that allow it; logging in with a key or a password.

SHA-1 algorithms are for the one server whose section allows them (``[sftp_<name>] allow_sha1 =
true``): paramiko 5 dropped them, and some vendors' servers still offer nothing else.

Given back on paramiko's own extension points (its Transport's algorithm tables, RSAKey's
signature table), for that server's connection only; every other connection stays on paramiko's
defaults. Measured against OpenSSH's ``sftp`` as the other transport (docs/sftp.md,
``./run.sh bench sftp``): the same speed, and every guarantee of SftpClient kept (atomic
replace, refusals, retries, keyboard-interactive), which a second transport would have had
to rebuild. The doctor warns about every section that allows SHA-1.

What comes back: key exchange ``diffie-hellman-group14-sha1`` and
``diffie-hellman-group-exchange-sha1`` (never group1's 1024-bit prime), ``ssh-rsa`` host-key
signatures, and ``ssh-rsa`` signatures for our own RSA key where the server refuses SHA-2 ones. All
come after every SHA-2 algorithm, so a server that also offers SHA-2 is spoken to in SHA-2.
A test against OpenSSH's sshd offering only those keeps this honest through paramiko upgrades."""
from __future__ import annotations

import hashlib
import logging

import paramiko
from cryptography.hazmat.primitives import hashes
from paramiko.kex_gex import KexGexSHA256
from paramiko.kex_group14 import KexGroup14SHA256
from paramiko.rsakey import RSAKey

SHA1_KEX = ("diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1")


class _KexGroup14SHA1(KexGroup14SHA256):
    name = "diffie-hellman-group14-sha1"
    hash_algo = hashlib.sha1


class _KexGexSHA1(KexGexSHA256):
    name = "diffie-hellman-group-exchange-sha1"
    hash_algo = hashlib.sha1


class Transport(paramiko.Transport):
    """paramiko's Transport that keeps what a server said as it ended the session
    (``goodbye``: e.g. "Maximum connections for host/user reached (code 12)"), for the error
    that follows ("Unable to open channel" says nothing). paramiko only logs it."""
    goodbye = ""

    def _parse_disconnect(self, m):  # paramiko's handler of SSH_MSG_DISCONNECT (RFC 4253 11.1)
        code, text = m.get_int(), m.get_text()
        self.goodbye = f"{text} (code {code})"
        self._log(logging.INFO, f"Disconnect (code {code}): {text}")


TOO_MANY_CONNECTIONS = 12  # RFC 4250 4.2.2: SSH_DISCONNECT_TOO_MANY_CONNECTIONS


class LegacyRSAKey(RSAKey):
    """An RSA key that also signs and verifies ``ssh-rsa`` (SHA-1) signatures."""
    HASHES = {**RSAKey.HASHES, "ssh-rsa": hashes.SHA1}


class LegacyTransport(Transport):
    """Our Transport with the SHA-1 algorithms above, preferred last."""
    _preferred_kex = paramiko.Transport._preferred_kex + SHA1_KEX
    _kex_info = {**paramiko.Transport._kex_info, SHA1_KEX[0]: _KexGroup14SHA1, SHA1_KEX[1]: _KexGexSHA1}
    _preferred_keys = paramiko.Transport._preferred_keys + ("ssh-rsa",)
    _preferred_pubkeys = paramiko.Transport._preferred_pubkeys + ("ssh-rsa",)
    _key_info = {**paramiko.Transport._key_info, "ssh-rsa": LegacyRSAKey}


def transport_class(allow_sha1: bool) -> type[Transport]:
    return LegacyTransport if allow_sha1 else Transport


def sign_in_with_key(transport: paramiko.Transport, user: str, key: paramiko.PKey, allow_sha1: bool) -> None:
    """Key login; where SHA-1 is allowed and our key is RSA, a refused SHA-2 signature is tried
    once more as ``ssh-rsa``. A server older than SHA-2 signatures does not list what it takes
    (no server-sig-algs) and refuses rsa-sha2-512; some list SHA-2 and take only ``ssh-rsa``
    (OpenSSH's own client fails there)."""
    if not (allow_sha1 and type(key) is RSAKey):
        transport.auth_publickey(user, key)
        return
    key = LegacyRSAKey(key=key.key)
    try:
        transport.auth_publickey(user, key)
    except paramiko.BadAuthenticationType:
        raise
    except paramiko.AuthenticationException:
        if not transport.is_active():
            raise
        pubkeys = transport.disabled_algorithms.get("pubkeys", [])
        transport.disabled_algorithms = {**transport.disabled_algorithms,
                                         "pubkeys": [*pubkeys, *(a for a in RSAKey.HASHES if a.startswith("rsa-sha2"))]}
        transport.auth_publickey(user, key)


class KeyboardInteractive(Exception):
    """The server takes the password only as keyboard-interactive: log in again that way."""


def password_login(transport: paramiko.Transport, user: str, password: str, interactive: bool) -> None:
    """Password login, or the same password answered to keyboard-interactive where the server
    takes only that (many hosted vendors' servers): every prompt that hides what is typed gets
    the password, one that shows it gets the user name. paramiko's own fallback asks for the
    login service a second time on the same connection, which some servers (asyncssh) end the
    connection for: the second way is asked on a connection of its own, and then first."""
    if interactive:
        transport.auth_interactive(user, lambda title, instructions, prompts: [
            user if echo else password for _prompt, echo in prompts])
        return
    try:
        transport.auth_password(user, password, fallback=False)
    except paramiko.BadAuthenticationType as e:
        if "keyboard-interactive" in e.allowed_types:
            raise KeyboardInteractive() from e
        raise
