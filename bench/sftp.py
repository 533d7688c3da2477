"""SFTP throughput: our client (paramiko) vs OpenSSH's ``sftp`` against the same private sshd.

    ./run.sh bench sftp [--mib 256] [--repeat 3] [--small 200]

Prints medians, then the small-file comparison (one pooled connection vs a connection per
file), then a line per independent server (``--peer-mib``, 50 MiB: put and get by our client
and by OpenSSH's ``sftp`` on that server: gesftpserver and OpenSSH's sftp-server behind sshd,
ProFTPD's mod_sftp, and sshd speaking only SHA-1; goal ≥ 0.8), and last the two ratio lines ``sftp_put_ratio=X`` and
``sftp_get_ratio=Y`` against OpenSSH's sshd (our throughput / OpenSSH's; goal ≥ 1.0).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stack import proftpd
from stack.openssh import GESFTPSERVER, SFTP_SERVER, SHA1_ONLY, SHA1_SFTP_OPTIONS, OpenSshServer
from targets.sftp import SftpClient


def _make_file(path: Path, mib: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(block)


def _openssh(server: OpenSshServer, settings, commands: str, options: tuple[str, ...] = ()) -> float:
    batch = server.base / "batch"
    batch.write_text(commands)
    t0 = time.perf_counter()
    subprocess.run(["sftp", "-q", "-b", str(batch), "-i", str(settings.key_file), "-P", str(settings.port), *options,
                    "-o", f"UserKnownHostsFile={settings.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                    "-o", "BatchMode=yes", f"{settings.user}@127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _peer_line(label: str, server, src: Path, tmp: Path, repeat: int, options: tuple[str, ...] = (),
               **settings_kw) -> None:
    """Put and get of ``src`` on one server, ours against OpenSSH's ``sftp`` (medians); for a
    server that speaks only SHA-1 also a connection and a listing (the cost of each night's
    first request): what decided how such a server is reached (targets/ssh_transport.py)."""
    settings = server.settings(**settings_kw)
    client = SftpClient(settings)
    client.exists("warm-up")
    put_ssh, get_ssh, put_ours, get_ours = [], [], [], []
    folder = settings.remote_dir
    if options:
        def connect_and_list():
            with SftpClient(settings) as c:
                c.listdir(".")
        ours = statistics.median(_time(connect_and_list) for _ in range(repeat))
        theirs = statistics.median(_openssh(server, settings, f"ls {folder}\n", options) for _ in range(repeat))
        print(f"peer {label:34} connect and list: ours {ours * 1000:.0f} ms, sftp {theirs * 1000:.0f} ms")
    for _ in range(repeat):
        put_ssh.append(_openssh(server, settings, f"put {src} {folder}/ssh.bin\n", options))
        get_ssh.append(_openssh(server, settings, f"get {folder}/ssh.bin {tmp}/ssh-back.bin\n", options))
        put_ours.append(_time(lambda: client.upload_atomic(src, "ours.bin")))
        get_ours.append(_time(lambda: client.download("ours.bin", tmp / "ours-back.bin")))
    client.close()
    mb = src.stat().st_size / 1e6
    put = statistics.median(put_ssh) / statistics.median(put_ours)
    get = statistics.median(get_ssh) / statistics.median(get_ours)
    print(f"peer {label:34} put {mb / statistics.median(put_ours):7.1f} MB/s ({put:.2f}x sftp)   "
          f"get {mb / statistics.median(get_ours):7.1f} MB/s ({get:.2f}x sftp)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--write-request", type=int, default=0, help="upload request size (0 = auto)")
    ap.add_argument("--peer-mib", type=int, default=50, help="the file put and got on each independent server")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sftp-") as tmp:
        tmp = Path(tmp)
        server = OpenSshServer(tmp / "sshd").start()
        try:
            settings = server.settings()
            settings = dataclasses.replace(settings, write_request_size=args.write_request)
            src = tmp / "big.bin"
            _make_file(src, args.mib)
            size = src.stat().st_size
            remote = Path(settings.remote_dir)
            put_ssh, get_ssh, put_ours, get_ours = [], [], [], []
            client = SftpClient(settings)
            client.exists("warm-up")  # connect outside the timings, as a pooled run does
            print(f"server limits: read {client._conn.max_read}, write {client._conn.max_write} bytes per request")
            for i in range(args.repeat):
                put_ssh.append(_openssh(server, settings, f"put {src} {remote}/ssh.bin\n"))
                get_ssh.append(_openssh(server, settings, f"get {remote}/ssh.bin {tmp}/ssh-back.bin\n"))
                put_ours.append(_time(lambda: client.upload_atomic(src, "ours.bin")))
                get_ours.append(_time(lambda: client.download("ours.bin", tmp / "ours-back.bin")))
                for f in (tmp / "ssh-back.bin", tmp / "ours-back.bin"):
                    f.unlink()
            mb = size / 1e6

            def rate(times):
                return mb / statistics.median(times)
            print(f"file: {args.mib} MiB, median of {args.repeat}, loopback, OpenSSH sshd")
            print(f"openssh sftp put: {rate(put_ssh):8.1f} MB/s   get: {rate(get_ssh):8.1f} MB/s")
            print(f"our client   put: {rate(put_ours):8.1f} MB/s   get: {rate(get_ours):8.1f} MB/s")
            client.close()

            small = tmp / "small"
            small.mkdir()
            for i in range(args.small):
                (small / f"f{i:03d}.csv").write_bytes(os.urandom(2048))
            pooled = SftpClient(settings)
            t_pooled = _time(lambda: [pooled.upload_atomic(small / f"f{i:03d}.csv", f"p{i:03d}.csv")
                                      for i in range(args.small)])
            pooled.close()

            def fresh():
                for i in range(args.small):
                    with SftpClient(settings) as c:
                        c.upload_atomic(small / f"f{i:03d}.csv", f"n{i:03d}.csv")
            t_fresh = _time(fresh)
            batch = "".join(f"put {small}/f{i:03d}.csv {remote}/s{i:03d}.csv\n" for i in range(args.small))
            t_ssh_small = _openssh(server, settings, batch)
            print(f"{args.small} small files: openssh {t_ssh_small:.2f}s, ours pooled {t_pooled:.2f}s "
                  f"({t_ssh_small / t_pooled:.2f}x openssh), ours new connection per file {t_fresh:.2f}s "
                  f"({t_fresh / t_pooled:.1f}x slower than pooled)")
            peer_src = tmp / "peer.bin"
            _make_file(peer_src, args.peer_mib)
            peers = [("gesftpserver (under sshd)", OpenSshServer(tmp / "ges", subsystem=GESFTPSERVER)),
                     ("openssh sftp-server (program)", OpenSshServer(tmp / "sftp-server", subsystem=SFTP_SERVER))]
            if proftpd.available():
                peers.append(("proftpd 1.3.8 mod_sftp", proftpd.ProftpdServer(tmp / "proftpd", overwrite=True)))
            print(f"independent servers: {args.peer_mib} MiB, median of {args.repeat}")
            for label, peer in peers:
                peer.start()
                try:
                    _peer_line(label, peer, peer_src, tmp, args.repeat)
                finally:
                    peer.stop()
            sha1 = OpenSshServer(tmp / "sha1", extra_config=SHA1_ONLY, key_type="rsa").start()
            try:  # paramiko with SHA-1 given back for this server alone, against OpenSSH's sftp told to speak it
                _peer_line("sshd speaking only SHA-1 (allow_sha1)", sha1, peer_src, tmp, args.repeat,
                           SHA1_SFTP_OPTIONS, allow_sha1=True)
            finally:
                sha1.stop()
            print(f"sftp_put_ratio={rate(put_ours) / rate(put_ssh):.2f}")
            print(f"sftp_get_ratio={rate(get_ours) / rate(get_ssh):.2f}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
