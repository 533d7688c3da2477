"""``./run.sh sftp-trust NAME [--yes]``: show the host key ``[sftp_<NAME>]`` offers (type and
SHA256 fingerprint) and, after you have checked it with the server's owner and typed ``yes``,
record it in the section's known_hosts file. A changed key is shown beside the one we trust.
Host keys are never accepted silently: pipelines refuse unknown and changed keys."""
from __future__ import annotations

import argparse
import sys

import paramiko

from targets.config import Section
from targets.errors import ConfigError
from targets.local import atomic_path
from targets.hostkeys import fingerprint, offered_host_key
from targets.sftp import SftpSettings


def trust(name: str, assume_yes: bool = False, stdin=sys.stdin, out=sys.stdout) -> int:
    """Show the key ``[sftp_<name>]`` offers; record it in its known_hosts file on 'yes'."""
    s = Section(f"sftp_{name}")
    pinned = tuple(k.strip() for k in (s.str("host_key") or "").split(",") if k.strip())
    settings = SftpSettings(name=name, host=s.str("host", required=True), user=s.str("user") or "",
                            port=s.int("port", 22), host_keys=pinned, known_hosts=s.path("known_hosts"),
                            connect_timeout=s.float("connect_timeout", 15.0), allow_sha1=s.bool("allow_sha1", False))
    key = offered_host_key(settings.host, settings.port, settings.connect_timeout, settings.allow_sha1)
    print(f"SFTP server '{name}' ({settings.address}) offers {key.get_name()} {fingerprint(key)}", file=out)
    expected = settings.expected_keys()
    if any(k.asbytes() == key.asbytes() for k in expected):
        print("This key is already trusted.", file=out)
        return 0
    if expected:
        print("WARNING: this differs from the key we trust: " +
              ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in expected), file=out)
    if settings.known_hosts is None:
        print(f"[sftp_{name}] has no known_hosts file; to pin this key add to the section:\n"
              f"host_key = {key.get_name()} {key.get_base64()}", file=out)
        return 1
    if not assume_yes:
        print("Have you confirmed this fingerprint with the server's owner? Type 'yes' to record it: ",
              end="", file=out, flush=True)
        if stdin.readline().strip().lower() != "yes":
            print("Not recorded.", file=out)
            return 1
    hk = paramiko.HostKeys()
    if settings.known_hosts.exists():
        hk.load(str(settings.known_hosts))
    hk.add(settings.known_hosts_name, key.get_name(), key)  # replaces an old key of that type
    with atomic_path(settings.known_hosts, mode=0o644) as tmp:
        hk.save(str(tmp))
    print(f"Recorded in {settings.known_hosts}.", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.sh sftp-trust")
    ap.add_argument("name", help="the server: NAME of a [sftp_NAME] section")
    ap.add_argument("--yes", action="store_true", help="record without asking")
    args = ap.parse_args(argv)
    try:
        return trust(args.name, args.yes)
    except (ConfigError, OSError, paramiko.SSHException) as e:
        print(f"sftp-trust: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
