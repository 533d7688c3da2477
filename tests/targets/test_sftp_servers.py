"""Uploads against independent SFTP servers in the shapes vendors configure them (issue 25):
ProFTPD's mod_sftp (overwriting off, as it ships; rename denied; delete denied), OpenSSH's
sftp-server with requests denied (-P: no posix-rename, no remove, no rename, a drop box that
may neither stat nor list) and gesftpserver. On each: a first upload, a second that replaces
it, a stale ``.part`` a killed run left; the vendor has its previous file whole or the new one
whole, never neither, and no temporary file of ours stays. A server that refuses every way of
putting the file in place says so (server, operation, path, its words, what to set) once,
without retries, and leaves the vendor's file as it was."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from stack import proftpd
from stack import openssh
from stack.openssh import GESFTPSERVER, SFTP_SERVER, OpenSshServer
from targets.errors import ServerRefusedError
from targets.sftp import SftpClient

pytestmark = pytest.mark.stack  # starts OpenSSH, ProFTPD and gesftpserver: ./run.sh test --fast leaves it out

# sshd offering only SHA-1 (with an RSA host key), and our RSA key taken only as ssh-rsa, although the server lists SHA-2 signatures (OpenSSH's own
# client fails there; a server older than SHA-2 signatures lists nothing and refuses them alike)
SHA1_ONLY = openssh.SHA1_ONLY + "PubkeyAcceptedAlgorithms ssh-rsa\n"

# shape -> (server, its configuration, what it takes: "replace" | "refuse", our section's settings)
SHAPES = {
    "proftpd": ("proftpd", {}, "replace", {}),  # AllowOverwrite off: ProFTPD's default
    "proftpd-overwrite": ("proftpd", {"overwrite": True}, "replace", {}),
    "proftpd-no-delete": ("proftpd", {"deny": ("DELE",)}, "replace", {}),
    "proftpd-no-rename": ("proftpd", {"overwrite": True, "deny": ("RNFR", "RNTO")}, "refuse", {}),
    # one session at a time (MaxClientsPerUser 1), our section saying so
    "proftpd-one-session": ("proftpd", {"sessions": 1}, "replace", {"max_sessions": 1}),
    "sftp-server-no-posix-rename": ("openssh", f"{SFTP_SERVER} -P posix-rename", "replace", {}),
    "sftp-server-no-remove": ("openssh", f"{SFTP_SERVER} -P posix-rename,remove", "replace", {}),
    "sftp-server-no-rename": ("openssh", f"{SFTP_SERVER} -P posix-rename,rename", "refuse", {}),
    "sftp-server-drop-box": ("openssh", f"{SFTP_SERVER} -P stat,lstat,fstat,opendir,readdir", "replace", {}),
    "gesftpserver": ("openssh", GESFTPSERVER, "replace", {}),
    # SHA-1 only (SHA1_ONLY), our section allowing it
    "sshd-sha1-only": ("openssh-sha1", "internal-sftp", "replace", {"allow_sha1": True}),
    # a slow link: 60 ms round trip, 8 MB/s each way (tests/netproxy.py WanProxy)
    "sshd-slow-link": ("openssh-wan", "internal-sftp", "replace", {"io_timeout": 10}),
}


class Peer:
    """One running server of a shape, and where a settings' folder is on this machine."""

    def __init__(self, kind: str, shape, base: Path, settings: dict):
        self.proxy, self.defaults = None, settings
        if kind == "proftpd":
            if not proftpd.available():
                pytest.fail("ProFTPD's mod_sftp is missing: install Debian's proftpd-core and proftpd-mod-crypto "
                            "(./run.sh test does as root)")
            self.server = proftpd.ProftpdServer(base, **shape).start()
            self.folder = self.server.folder
        else:
            old = {"extra_config": SHA1_ONLY, "key_type": "rsa"} if kind == "openssh-sha1" else {}
            self.server = OpenSshServer(base, subsystem=shape, **old).start()
            self.folder = lambda s: Path(s.remote_dir)
        if kind == "openssh-wan":
            from tests.netproxy import WanProxy
            self.proxy = WanProxy(self.server.port, rtt=0.06, rate=8e6).start()

    def settings(self, **kw):
        settings = self.server.settings(**{**self.defaults, **kw})
        if self.proxy is None:
            return settings
        keys = settings.expected_keys()  # the server's key, pinned: the address is the proxy's
        return dataclasses.replace(settings, port=self.proxy.port, known_hosts=None,
                                   host_keys=tuple(f"{k.get_name()} {k.get_base64()}" for k in keys))

    def stop(self):
        if self.proxy is not None:
            self.proxy.stop()
        self.server.stop()


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    started: dict[str, Peer] = {}

    def get(shape: str) -> Peer:
        if shape not in started:
            kind, config, _, settings = SHAPES[shape]
            started[shape] = Peer(kind, config, tmp_path_factory.mktemp(shape), settings)
        return started[shape]
    yield get
    for peer in started.values():
        peer.stop()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_vendor_has_a_whole_file_on_every_server_shape(peers, shape, tmp_path, caplog):
    peer = peers(shape)
    takes = SHAPES[shape][2]
    settings = peer.settings()
    folder = peer.folder(settings)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_bytes(b"id,name\n" + b"1,one\n" * 5000)
    second.write_bytes(b"id,name\n" + b"2,two\n" * 4000)
    client = SftpClient(settings)
    if takes == "refuse":
        (folder / "f.csv").write_bytes(b"the vendor's file\n")  # what the vendor had, from elsewhere
        with pytest.raises(ServerRefusedError) as e:
            client.upload_atomic(first, "f.csv")
        text = str(e.value)
        assert f"SFTP server '{settings.name}' ({settings.address}) refused: rename" in text
        assert f"{settings.remote_dir}/f.csv" in text and "Permission denied" in text
        assert "A rerun will not help" in text and f"[sftp_{settings.name}] upload_mode = direct" in text
        assert client.connects == 1  # never retried
        assert (folder / "f.csv").read_bytes() == b"the vendor's file\n"  # untouched
        assert _files(folder) == ["f.csv"]  # our .part removed
        # the mode for such a server: written under its name (not atomic)
        direct = SftpClient(peer.settings(remote_dir=settings.remote_dir, upload_mode="direct"))
        direct.upload_atomic(second, "f.csv")
        assert (folder / "f.csv").read_bytes() == second.read_bytes() and _files(folder) == ["f.csv"]
        return
    client.upload_atomic(first, "f.csv")
    assert (folder / "f.csv").read_bytes() == first.read_bytes()
    # a killed run's .part in the way (a server that does not overwrite would refuse it)
    (folder / "f.csv.part").write_bytes(b"half of an earlier upload")
    client.upload_atomic(second, "f.csv")
    assert (folder / "f.csv").read_bytes() == second.read_bytes()
    leftover = {n for n in _files(folder) if n != "f.csv"}
    if shape == "proftpd-no-delete":
        # overwriting off and delete refused: the killed run's .part can neither be written over nor
        # removed; it stays, said, and did not block (ours had a name of its own)
        assert leftover == {"f.csv.part"} and "cannot be removed (delete refused)" in caplog.text
    elif shape == "sftp-server-no-remove":
        # the .part written over; without posix-rename the previous file was moved aside, and
        # without delete it stays beside the new one, said
        assert len(leftover) == 1 and leftover.pop().endswith(".old") and "stays as f.csv." in caplog.text
    else:
        assert leftover == set()
    client.close()


def _killed_upload(settings, local: Path, point: str, log: Path) -> int:
    """upload_atomic in a forked child that kills itself (SIGKILL) at ``point``; its exit as
    subprocess gives it (-9 when killed). A fork, not a new interpreter: 36 of these cost half
    a minute of imports."""
    import os
    pid = os.fork()
    if pid == 0:  # the child: a connection of its own, nothing of the parent's
        code = 1
        try:
            os.environ["ETL_FAULT_AT"], os.environ["ETL_FAULT_LOG"] = point, str(log)
            SftpClient(settings).upload_atomic(local, "f.csv")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


POINTS = ("sftp.put.mid:f.csv", "sftp.put.aside:f.csv", "sftp.put.renamed:f.csv")


@pytest.mark.parametrize("shape", sorted(s for s, (_, _, takes, _) in SHAPES.items() if takes == "replace"))
def test_an_upload_killed_at_any_point_leaves_a_whole_file_and_the_rerun_delivers(peers, shape, tmp_path):
    """kill -9 at each point an upload reaches on this shape (half-way, after the vendor's file
    was moved aside, after the rename): the vendor's name holds its previous file or the new
    one, whole (after a kill between the two renames, the previous one is put back by the next
    upload before anything else); the rerun delivers the new file and leaves nothing of ours."""
    peer = peers(shape)
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_bytes(b"id\n" + b"old\n" * 200_000)
    new.write_bytes(b"id\n" + b"new\n" * 300_000)
    reached = 0
    for point in POINTS:
        settings = peer.settings()
        folder = peer.folder(settings)
        SftpClient(settings).upload_atomic(old, "f.csv")
        log = tmp_path / f"points-{point}.log"
        code = _killed_upload(settings, new, point, log)
        if point not in (log.read_text() if log.exists() else ""):
            assert code == 0  # this shape never passes that point
            continue
        reached += 1
        assert code == -9
        there = (folder / "f.csv").read_bytes() if (folder / "f.csv").exists() else None
        if point.startswith("sftp.put.aside"):
            assert there is None and [p for p in folder.iterdir() if p.name.endswith(".old")]
        else:
            assert there in (old.read_bytes(), new.read_bytes())
        client = SftpClient(settings)
        client.upload_atomic(new, "f.csv")  # the rerun
        assert (folder / "f.csv").read_bytes() == new.read_bytes()
        if "no-delete" not in shape and "no-remove" not in shape:
            assert sorted(p.name for p in folder.iterdir()) == ["f.csv"]
        client.close()
    assert reached >= 2  # half-way and after the rename, on every shape
    if shape in ("sftp-server-no-posix-rename", "sftp-server-no-remove"):
        assert reached == 3  # a server that cannot replace: the vendor's file moved aside first


def test_any_host_key_type_the_vendor_gives_can_be_pinned_on_a_server_with_several(tmp_path):
    """ProFTPD serving RSA, ECDSA and Ed25519 keys: each pinned alone is asked for and verified
    (an RSA key under its SHA-2 signatures; asking for "ssh-rsa" only got the Ed25519 key, which
    was refused as changed); a key of the same type that is not the server's is still refused."""
    from targets.errors import HostKeyError
    if not proftpd.available():
        pytest.fail("ProFTPD's mod_sftp is missing: install Debian's proftpd-core and proftpd-mod-crypto")
    server = proftpd.ProftpdServer(tmp_path / "keys", host_keys=("rsa", "ecdsa", "ed25519")).start()
    try:
        lines = (tmp_path / "keys" / "known_hosts").read_text().splitlines()
        assert [line.split()[1] for line in lines] == ["ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"]
        for line in lines:
            pinned = tmp_path / f"known-{line.split()[1]}"
            pinned.write_text(line + "\n")
            with SftpClient(server.settings(known_hosts=pinned)) as client:
                assert client.listdir(".") == []
        import subprocess
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(tmp_path / "other")],
                       check=True)
        other = (tmp_path / "other.pub").read_text().split()
        (tmp_path / "known-other").write_text(f"{lines[0].split()[0]} {other[0]} {other[1]}\n")
        with pytest.raises(HostKeyError, match="host key has CHANGED: it offered ssh-rsa"):
            SftpClient(server.settings(known_hosts=tmp_path / "known-other")).listdir(".")
    finally:
        server.stop()


def test_a_large_upload_to_a_server_that_answers_out_of_order_completes(peers, tmp_path):
    """gesftpserver answers pipelined writes out of order (the protocol allows it): paramiko's
    own pipelining waited for a reply it had already read, so anything above ~3 MB hung until
    io_timeout. 50 MB arrive whole, and a download of them too."""
    import hashlib
    import os
    peer = peers("gesftpserver")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(50 * 1024 * 1024))
    settings = peer.settings(io_timeout=20, retries=0)
    with SftpClient(settings) as client:
        assert client.upload_atomic(big, "big.bin") == 50 * 1024 * 1024
        client.download("big.bin", tmp_path / "got.bin")
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert hashlib.sha256((peer.folder(settings) / "big.bin").read_bytes()).hexdigest() == digest
    assert hashlib.sha256((tmp_path / "got.bin").read_bytes()).hexdigest() == digest
    # it advertises no limits: one read found out it answers OpenSSH's largest (32 KiB requests
    # made downloads 3 to 5 times slower than OpenSSH's sftp there)
    assert client._conn.max_read == 261120




@pytest.fixture
def sha1_only(peers):
    """OpenSSH's sshd offering only SHA-1: its RSA host key and our RSA key signed as ssh-rsa, key
    exchange group14-sha1 or group-exchange-sha1 (what old vendors' servers still run); our
    key's SHA-2 signature refused, its ssh-rsa one taken. Its settings without allow_sha1."""
    return peers("sshd-sha1-only").server


def test_a_server_that_speaks_only_sha1_is_refused_once_unless_its_section_allows_it(sha1_only):
    """paramiko 5 dropped SHA-1. Without allow_sha1: one ConfigError naming what the server
    offered, what we speak and the two ways on (never retried as a network fault: it was, four
    times). With it, for that server alone: uploaded and downloaded over SHA-1, nothing else
    changed; the host key is pinned and verified as ever."""
    from targets.errors import ConfigError
    client = SftpClient(sha1_only.settings(retries=3, backoff=0.05))
    with pytest.raises(ConfigError) as e:
        client.listdir(".")
    text = str(e.value)
    assert "and we share no algorithm" in text and "it offers key exchange diffie-hellman-group14-sha1" in text
    assert "we speak key exchange" in text and "diffie-hellman-group14-sha256" in text
    assert "SHA-1 ones, which we speak only where allowed" in text
    assert "set [sftp_openssh] allow_sha1 = true for this server alone" in text and text.endswith("A rerun will not help")
    assert client.connects == 0

    settings = sha1_only.settings(allow_sha1=True)
    local = Path(settings.remote_dir).parent / "local.csv"
    local.write_bytes(b"id\n" + b"1\n" * 100_000)
    with SftpClient(settings) as client:
        client.upload_atomic(local, "f.csv")
        client.download("f.csv", local.with_name("back.csv"))
        assert client._conn.transport.host_key_type == "ssh-rsa"  # the SHA-1 signature, nothing newer offered
    assert (Path(settings.remote_dir) / "f.csv").read_bytes() == local.read_bytes() == local.with_name("back.csv").read_bytes()

    # every connection but that server's stays on paramiko's own algorithms
    with pytest.raises(ConfigError, match="share no algorithm"):
        SftpClient(sha1_only.settings()).listdir(".")


@pytest.mark.parametrize("kex", ["diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1"])
def test_each_sha1_key_exchange_is_spoken_where_allowed(tmp_path, kex, caplog):
    import logging
    server = OpenSshServer(tmp_path, extra_config=SHA1_ONLY.replace(
        "diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1", kex), key_type="rsa").start()
    try:
        with caplog.at_level(logging.DEBUG, logger="paramiko.transport"), \
                SftpClient(server.settings(allow_sha1=True)) as client:
            assert client.listdir(".") == []
        assert f"Kex: {kex}" in caplog.text
    finally:
        server.stop()


def test_a_server_that_also_offers_sha2_is_spoken_to_in_sha2_even_where_sha1_is_allowed(tmp_path, caplog):
    import logging
    server = OpenSshServer(tmp_path, key_type="rsa", extra_config=(
        "HostKeyAlgorithms ssh-rsa,rsa-sha2-256\nKexAlgorithms diffie-hellman-group14-sha1,diffie-hellman-group14-sha256\n")
    ).start()
    try:
        with caplog.at_level(logging.DEBUG, logger="paramiko.transport"), \
                SftpClient(server.settings(allow_sha1=True)) as client:
            assert client.listdir(".") == []
            assert client._conn.transport.host_key_type == "rsa-sha2-256"
        assert "Kex: diffie-hellman-group14-sha256" in caplog.text and "sha1" not in caplog.text.split("Kex: ")[1][:40]
    finally:
        server.stop()


def test_the_doctor_warns_about_every_server_that_allows_sha1_and_trust_reads_its_key(sha1_only, capsys):
    """``./run.sh check`` says, for a section with allow_sha1, that SHA-1 is spoken there and
    what to ask the vendor; ``./run.sh sftp-trust`` reads the key of such a server."""
    import io

    import luigi.configuration
    from ops import check
    from ops.sftp_trust import trust
    settings = sha1_only.settings()
    parser = luigi.configuration.get_config()
    parser.add_section("sftp_oldvendor")
    try:
        for key, value in dict(host=settings.host, port=settings.port, user=settings.user,
                               key_file=settings.key_file, known_hosts=settings.known_hosts,
                               remote_dir=settings.remote_dir, allow_sha1="true").items():
            parser.set("sftp_oldvendor", key, str(value))
        doctor = check.Check()
        check.sftp(doctor, "oldvendor")
        out = capsys.readouterr().out
        assert doctor.failed == 0, out
        (line,) = [ln for ln in out.splitlines() if "algorithms" in ln]
        assert line.startswith("warn sftp oldvendor") and "allow_sha1 = true: SHA-1 is spoken with this server" in line
        assert "ask the vendor to turn on a SHA-2 algorithm, then remove allow_sha1" in line
        said = io.StringIO()
        assert trust("oldvendor", out=said) == 0 and "This key is already trusted." in said.getvalue()
    finally:
        parser.remove_section("sftp_oldvendor")


@pytest.mark.parametrize("shape, says", [
    ("proftpd", "posix-rename (replaced in one step)"),
    ("sftp-server-no-posix-rename", "rename after moving the previous file aside"),
    ("sftp-server-no-remove", "WARN rename after moving the previous file aside"),
    ("proftpd-no-rename", None),
])
def test_the_doctor_probe_says_how_each_server_lets_a_file_be_replaced(peers, shape, says):
    """``./run.sh check --probe-uploads``: a probe file uploaded twice and removed; the line
    says the way the server took (or that the probe stays, where delete is refused); a server
    that refuses rename fails with the refusal, which names upload_mode = direct."""
    from ops.check import PROBE, probe_upload
    peer = peers(shape)
    settings = peer.settings()
    if says is None:
        with pytest.raises(ServerRefusedError, match="upload_mode = direct"):
            probe_upload(settings)
        return
    line = probe_upload(settings)
    assert line.startswith(says), line
    left = sorted(p.name for p in peer.folder(settings).iterdir())
    if shape == "sftp-server-no-remove":
        assert f"the probe {PROBE} stays" in line and PROBE in left
    else:
        assert left == []


def test_a_file_the_vendor_took_away_is_not_brought_back_from_its_old_copy(peers, tmp_path, caplog):
    """Without posix-rename or delete, each upload leaves the previous file as name.<time>.old.
    When the vendor takes its file away after reading it, the next upload must not put an old
    copy back first: only an interrupted upload (its .part still there) is mended that way."""
    peer = peers("sftp-server-no-remove")
    settings = peer.settings()
    folder = peer.folder(settings)
    files = []
    for n in range(3):
        files.append(tmp_path / f"{n}.csv")
        files[-1].write_text(f"id\n{n}\n")
    client = SftpClient(settings)
    client.upload_atomic(files[0], "f.csv")
    client.upload_atomic(files[1], "f.csv")
    assert any(p.name.endswith(".old") for p in folder.iterdir())
    (folder / "f.csv").unlink()  # the vendor processed it and took it away
    client.upload_atomic(files[2], "f.csv")
    assert "after an interrupted upload" not in caplog.text  # nothing old put back on the way
    assert (folder / "f.csv").read_text() == "id\n2\n"
    client.close()


def test_what_a_server_allows_is_kept_between_runs_and_the_doctor_says_the_mode_and_why(peers, tmp_path, capsys):
    """The first upload finds out (posix-rename refused here) and keeps it: the next run's
    connection does not ask posix-rename again. The doctor's line says the mode and why: not
    found out yet; what the last upload or the probe found, and when; a refusal the probe met;
    upload_mode = direct set in the section. A probe finds out again from nothing."""
    import dataclasses

    from ops.check import probe_upload
    from targets.sftp_known import recalled, upload_mode_line
    peer = peers("sftp-server-no-posix-rename")
    settings = peer.settings()
    assert upload_mode_line(settings).startswith("auto: not found out yet; the first upload finds out")
    local = tmp_path / "f.csv"
    local.write_text("id\n1\n")
    with SftpClient(settings) as client:
        client.upload_atomic(local, "f.csv")
        client.upload_atomic(local, "f.csv")
        assert client.placed.startswith("rename after moving the previous file aside")
    assert recalled(settings)["posix_rename"] is False
    line = upload_mode_line(settings)
    assert line.startswith("auto: rename after moving the previous file aside") and "as the last upload found on 2026-11-24" in line
    tomorrow = SftpClient(settings)
    assert tomorrow._conn.posix_rename is False  # not asked again
    tomorrow.upload_atomic(local, "f.csv")
    assert tomorrow.placed.startswith("rename after moving") and tomorrow.placed == client.placed
    tomorrow.close()
    assert SftpClient(settings, recall=False)._conn.posix_rename is True
    # the same section name on another server (a changed host or user) starts afresh
    assert recalled(dataclasses.replace(settings, user="someone-else")) == {}

    # a probe finds out from nothing and says so in the doctor's line
    probe_upload(settings)
    assert "as the probe found on 2026-11-24" in upload_mode_line(settings)
    refusing = peers("proftpd-no-rename")
    refused = refusing.settings()
    with pytest.raises(ServerRefusedError):
        probe_upload(refused)
    line = upload_mode_line(refused)
    assert line.startswith("WARN auto, but the server refused: SFTP server 'proftpd'") and "refused: rename" in line
    assert line.endswith("[sftp_proftpd] upload_mode = direct")
    direct = dataclasses.replace(refused, upload_mode="direct")
    assert upload_mode_line(direct).startswith("WARN direct, as [sftp_proftpd] upload_mode says")
    # a damaged record costs one night's finding out, and the upload keeps it anew
    from targets.sftp_known import record_path
    record_path(settings).write_text("{not json")
    assert upload_mode_line(settings).startswith("auto: not found out yet")
    with SftpClient(settings) as client:
        client.upload_atomic(local, "f.csv")
    assert recalled(settings)["posix_rename"] is False


def test_a_server_that_allows_one_session_at_a_time_gets_our_processes_in_turn(peers, tmp_path):
    """ProFTPD with MaxClientsPerUser 1, as hosted vendors' accounts often are. Without the
    setting a second session is ended at once: the error gives the server's own words and the
    setting (paramiko said only "Unable to open channel"). With ``max_sessions = 1`` two uploads
    at once (threads here; Luigi's worker processes take the same lock files) take turns, both
    arrive whole, and the server never turned one away."""
    import threading
    from targets.errors import TransientError
    peer = peers("proftpd-one-session")
    unlimited = peer.settings(max_sessions=0, retries=0)
    holder = SftpClient(dataclasses.replace(unlimited, retries=5, backoff=0.2))  # the server may still be
    holder.listdir(".")  # counting a session an earlier test just ended; then holds the one session
    with pytest.raises(TransientError) as e:
        SftpClient(unlimited).listdir(".")
    text = str(e.value)
    assert "ended the session: Maximum connections for host/user reached (code 12)" in text
    assert "set [sftp_proftpd] max_sessions = 1" in text
    holder.close()

    settings = peer.settings()  # max_sessions = 1
    assert settings.max_sessions == 1
    files = []
    for n in range(2):
        files.append(tmp_path / f"{n}.bin")
        files[-1].write_bytes(bytes([n]) * 3_000_000)
    log_before = (peer.server.base / "sftp.log").read_text().count("Maximum connections")
    errors = []

    def push(n):
        try:
            SftpClient(settings).upload_atomic(files[n], f"{n}.bin")
        except Exception as err:  # noqa: BLE001 - the assertion below shows it
            errors.append(err)
    threads = [threading.Thread(target=push, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    folder = peer.folder(settings)
    assert [(folder / f"{n}.bin").read_bytes() for n in range(2)] == [f.read_bytes() for f in files]
    assert (peer.server.base / "sftp.log").read_text().count("Maximum connections") == log_before


def test_a_turn_that_never_comes_is_said_not_waited_for_forever(peers, tmp_path):
    import dataclasses as dc

    from targets.errors import TransientError
    from targets.sftp_sessions import session_slot
    settings = dc.replace(peers("proftpd-one-session").settings(), session_wait=0.5)
    with session_slot(settings):  # another run holds the one session
        with pytest.raises(TransientError, match=r"allows 1 session\(s\) at a time .* held them for 0.5 s"):
            SftpClient(settings).listdir(".")
    assert SftpClient(settings).listdir(".") == []  # its turn, once let go
