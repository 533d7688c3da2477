"""The drop-off accounts' OpenSSH block: ``sshd -t`` accepts it, ``sshd -T`` shows each client
chrooted to internal-sftp with reading and deleting refused (a key for one, a password for
the other, nothing changed for anyone else), and a live sshd with the block chroots a login
that can upload into /inbound but not read, delete or leave it."""
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from ops.dropoff import main, sshd_config
from stack.openssh import SSHD, OpenSshServer, sshd_ready
from targets.errors import ConfigError, ServerRefusedError
from targets.sftp import SftpClient


def _effective(cfg: Path, user: str) -> dict[str, str]:
    out = subprocess.run([SSHD, "-T", "-f", str(cfg), "-C", f"user={user},host=client.example,addr=127.0.0.1"],
                         check=True, capture_output=True, text=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def test_the_block_is_valid_openssh_and_applies_to_the_clients_only(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "hk")], check=True)
    cfg = tmp_path / "sshd_config"
    cfg.write_text(f"Port 2222\nHostKey {tmp_path / 'hk'}\nPasswordAuthentication no\nUsePAM no\n"
                   "Subsystem sftp internal-sftp\n" + sshd_config("/srv/feeds/dropoff", ["acme", "globex"], ["globex"]))
    sshd_ready()  # on a fresh machine, this may be the first sshd the suite starts
    subprocess.run([SSHD, "-t", "-f", str(cfg)], check=True)
    acme, globex, other = (_effective(cfg, u) for u in ("acme", "globex", "root"))
    assert acme["chrootdirectory"] == globex["chrootdirectory"] == "/srv/feeds/dropoff/%u"
    assert acme["forcecommand"] == "internal-sftp -d /inbound -u 0007 -P read,remove,rmdir,mkdir,symlink,hardlink," \
                                   "copy-data"
    assert (acme["authenticationmethods"], acme["passwordauthentication"]) == ("publickey", "no")
    assert (globex["authenticationmethods"], globex["passwordauthentication"]) == ("password", "yes")
    assert (other["chrootdirectory"], other["forcecommand"], other["passwordauthentication"]) == ("none", "none", "no")
    assert acme["permittty"] == acme["allowtcpforwarding"] == "no"


def test_the_command_prints_the_stacks_accounts_and_refuses_a_bad_list(stack_config, stack_var, capsys):
    assert main(["sshd-config"]) == 0
    out = capsys.readouterr().out
    assert "Match User globex\n" in out and "Match User acme,globex\n" in out
    assert f"ChrootDirectory {stack_var / 'data' / 'feeds' / 'dropoff'}/%u" in out
    with pytest.raises(ConfigError, match="password_clients names accounts not in clients: bob"):
        sshd_config("/srv/x", ["acme"], ["bob"])
    import luigi.configuration
    luigi.configuration.get_config().set("feeds_dropoff", "clients", "acme; rm -rf /")
    assert main(["sshd-config"]) == 2
    assert "[feeds_dropoff] clients: 'acme; rm -rf /' is not a plain account name" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="sshd chroots a login only when it runs as root, and the chroot "
                    "must be root-owned: as the service user this test cannot run (the sshd -t/-T tests still do)")
def test_a_live_sshd_with_the_block_chroots_an_upload_only_login(tmp_path):
    if not Path("/srv").is_dir():
        pytest.fail("/srv is missing: the chroot test needs a root-owned folder outside /tmp")
    base = Path("/srv") / f"etl-dropoff-test-{uuid.uuid4().hex[:8]}"  # every part root-owned, 0755
    try:
        user = "root"  # the only account the test sshd lets in; the block chroots it like a client
        (base / user / "inbound").mkdir(parents=True, mode=0o755)
        keys = tmp_path / "keys"
        server = OpenSshServer(tmp_path / "sshd")
        server.extra_config = sshd_config(str(base), [user], [], keys_dir=str(keys))
        server.start()
        try:
            keys.mkdir()
            shutil.copy(server.base / "client_key.pub", keys / user)
            settings = server.settings(remote_dir="/inbound")
            local = tmp_path / "clients_w48.csv"
            local.write_text("client_id,name\n1,Ada\n")
            client = SftpClient(settings)
            client.upload_atomic(local, "clients_w48.csv")  # a temporary name, then a rename
            assert (base / user / "inbound" / "clients_w48.csv").read_text() == local.read_text()
            assert client.listdir("/inbound") == ["clients_w48.csv"]
            with pytest.raises(ServerRefusedError, match="refused: "):
                client.download("clients_w48.csv", tmp_path / "back.csv")
            with pytest.raises(ServerRefusedError, match="refused: "):
                client.remove("clients_w48.csv")
            # "/" is the chroot (a client could not write there: it is root's, 0755; root can)
            client.upload_atomic(local, "/escape.csv")
            assert not Path("/escape.csv").exists() and (base / user / "escape.csv").exists()
            assert sorted(p.name for p in base.rglob("*")) == ["clients_w48.csv", "escape.csv", "inbound", user]
            client.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
