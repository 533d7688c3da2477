"""ProFTPD's mod_sftp (Debian's proftpd-core and proftpd-mod-crypto) as a vendor's SFTP server
for tests and benchmarks: an independent SSH and SFTP implementation, in the shapes vendors
configure it. ProFTPD's defaults are a shape of their own: ``AllowOverwrite`` is off (a file
that exists cannot be written or renamed over) and there is no posix-rename extension unless
asked for.

Shapes (``ProftpdServer(base, **shape)``):
- ``overwrite``: AllowOverwrite on (off by default, as ProFTPD ships);
- ``deny``: FTP command groups refused in the folder, e.g. ``("RNFR", "RNTO")`` (rename),
  ``("DELE",)`` (delete), ``("DIRS",)`` (list), ``("READ",)`` (stat and download);
- ``host_keys``: the key types it serves (``rsa``, ``ecdsa``, ``ed25519``);
- ``sessions``: the user's sessions at a time (``MaxClientsPerUser``; 0 = no limit), as hosted
  vendors' accounts often allow one.

The login is by key (RFC 4716 authorized keys) for a virtual user of its own whose home is
the data folder (chrooted), as a hosting company's vendor account is.
"""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from stack.openssh import LocalServer
from targets.sftp import SftpSettings

PROFTPD = "/usr/sbin/proftpd"
_KEYGEN = {"rsa": ["-t", "rsa", "-b", "2048", "-m", "PEM"], "ecdsa": ["-t", "ecdsa", "-b", "256", "-m", "PEM"],
           "ed25519": ["-t", "ed25519"]}


def available() -> bool:
    return Path(PROFTPD).exists() and Path("/usr/lib/proftpd/mod_sftp.so").exists()


class ProftpdServer(LocalServer):
    """ProFTPD with mod_sftp on a free loopback port, its own host keys, config and client key."""

    def __init__(self, base: Path, overwrite: bool = False, deny: tuple[str, ...] = (),
                 host_keys: tuple[str, ...] = ("rsa",), sessions: int = 0):
        super().__init__(base)
        self.overwrite, self.deny, self.host_keys, self.sessions = overwrite, deny, host_keys, sessions

    def start(self) -> "ProftpdServer":
        b = self._prepare()
        lines = []
        for kind in self.host_keys:
            subprocess.run(["ssh-keygen", "-q", *_KEYGEN[kind], "-N", "", "-f", str(b / f"host_{kind}")], check=True)
            pub = (b / f"host_{kind}.pub").read_text().split()
            lines.append(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")
        (b / "known_hosts").write_text("".join(lines))
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(b / "client_key")], check=True)
        rfc4716 = subprocess.run(["ssh-keygen", "-e", "-f", str(b / "client_key.pub")], check=True,
                                 capture_output=True, text=True).stdout
        (b / "authorized_keys").write_text(rfc4716)
        # a virtual user (mod_auth_file): no system account, no password login; uid 0 so that this
        # root-run test server can write where the test reads (its chroot is the data folder)
        (b / "passwd").write_text(f"vendor:*:0:0::{self.data}:/bin/false\n")
        (b / "passwd").chmod(0o600)
        limits = "".join(f"  <Limit {group}>\n    DenyAll\n  </Limit>\n" for group in self.deny)
        (b / "proftpd.conf").write_text(
            "ModulePath /usr/lib/proftpd\nLoadModule mod_sftp.c\n"
            "ServerType standalone\nServerName \"vendor sftp\"\nDefaultAddress 127.0.0.1\n"
            f"Port {self.port}\nPidFile {b / 'proftpd.pid'}\nScoreboardFile {b / 'scoreboard'}\n"
            "DelayTable none\nWtmpLog off\nUseReverseDNS off\nUser root\nGroup root\nRootLogin on\n"
            f"RequireValidShell off\nAuthOrder mod_auth_file.c\nAuthUserFile {b / 'passwd'}\nDefaultRoot ~\n"
            "SFTPEngine on\n" + "".join(f"SFTPHostKey {b / f'host_{k}'}\n" for k in self.host_keys) +
            f"SFTPAuthorizedUserKeys file:{b / 'authorized_keys'}\nSFTPLog {b / 'sftp.log'}\n"
            f"MaxInstances 50\nAllowOverwrite {'on' if self.overwrite else 'off'}\n"
            + (f"MaxClientsPerUser {self.sessions} \"one session at a time\"\n" if self.sessions else "") +
            f"<Directory {self.data}>\n{limits}</Directory>\n")
        self._spawn([PROFTPD, "-n", "-q", "-c", str(b / "proftpd.conf")], "proftpd")
        return self

    def settings(self, **kw) -> SftpSettings:
        """A fresh folder of this server for one test (a path inside the user's chroot)."""
        name = uuid.uuid4().hex[:10]
        (self.data / name).mkdir()
        base = dict(name="proftpd", host="127.0.0.1", port=self.port, user="vendor", key_file=self.base / "client_key",
                    known_hosts=self.base / "known_hosts", remote_dir=f"/{name}", retries=1, backoff=0.05)
        base.update(kw)
        return SftpSettings(**base)

    def folder(self, settings: SftpSettings) -> Path:
        """Where a settings' remote folder is on this machine."""
        return self.data / settings.remote_dir.lstrip("/")
