"""Logins as vendors' servers take them (issue 25): a server that takes only keyboard-interactive
(asyncssh, one hidden "Password:" prompt, as many hosted servers ask) gets the section's
password there; a wrong password and a method the server does not take are told apart, each
one line naming the server, the user and what to set, and neither is retried as a network
fault. A server that takes each file away as soon as it is closed (a "mover") is named as
one, with the setting that suits it (upload_mode = direct), which then delivers."""
from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import asyncssh
import pytest

from stack import free_port
from targets.errors import ConfigError
from targets.sftp import SftpClient
from targets.sftp_settings import SftpSettings

PASSWORD = "correct horse"


class _KeyboardInteractiveOnly(asyncssh.SSHServer):
    def password_auth_supported(self):
        return False

    def public_key_auth_supported(self):
        return False

    def kbdint_auth_supported(self):
        return True

    def get_kbdint_challenge(self, username, lang, submethods):
        return "", "", "", [("Password: ", False)]

    def validate_kbdint_response(self, username, responses):
        return list(responses) == [PASSWORD]


def _asyncssh_server(base: Path, login: type, sftp: type = asyncssh.SFTPServer):
    """An asyncssh SFTP server on its own loop and thread (``login``: its SSHServer class,
    ``sftp``: its SFTPServer class, chrooted to ``base/data``); yields (base, port)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(base / "host_key"))
    port = free_port()
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {key.export_public_key().decode().strip()}\n")
    (base / "data").mkdir(exist_ok=True)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve():
        await asyncssh.create_server(login, "127.0.0.1", port, server_host_keys=[str(base / "host_key")],
                                     sftp_factory=lambda chan: sftp(chan, chroot=str(base / "data").encode()))
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(15)
    yield base, port
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(scope="module")
def kbdint_server(tmp_path_factory):
    """A server that takes keyboard-interactive only."""
    yield from _asyncssh_server(tmp_path_factory.mktemp("kbdint"), _KeyboardInteractiveOnly)


def _settings(base: Path, port: int, **kw) -> SftpSettings:
    fields = dict(name="hosted", host="127.0.0.1", port=port, user="vendor", password=PASSWORD,
                  known_hosts=base / "known_hosts", remote_dir="/", retries=2, backoff=0.05, connect_timeout=5)
    fields.update(kw)
    return SftpSettings(**fields)


def test_a_keyboard_interactive_only_server_gets_the_password_there(kbdint_server, tmp_path):
    base, port = kbdint_server
    local = tmp_path / "f.csv"
    local.write_text("id\n1\n")
    with SftpClient(_settings(base, port)) as client:
        client.upload_atomic(local, "f.csv")
    assert (base / "data" / "f.csv").read_text() == "id\n1\n"


def test_a_wrong_password_and_a_refused_method_say_different_things_once(kbdint_server, tmp_path):
    base, port = kbdint_server
    wrong = SftpClient(_settings(base, port, password="wrong"))
    with pytest.raises(ConfigError) as e:
        wrong.listdir("/")
    assert str(e.value).startswith("SFTP server 'hosted' (127.0.0.1:") and "refused the password of user vendor" in \
        str(e.value) and "check [sftp_hosted] user and its password" in str(e.value)
    assert wrong.connects == 0  # not retried: a login refused is not the network
    key = tmp_path / "id"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    key.chmod(0o600)
    by_key = SftpClient(_settings(base, port, password=None, key_file=key))
    with pytest.raises(ConfigError) as e:
        by_key.listdir("/")
    assert "does not take a key for user vendor: it offers keyboard-interactive" in str(e.value)
    assert "set [sftp_hosted] password if the vendor gave one" in str(e.value)


class _Mover(asyncssh.SFTPServer):
    """A vendor's server that takes each file away to its processing folder when it is closed."""

    def close(self, file_obj):
        path = getattr(file_obj, "name", None)
        super().close(file_obj)
        if path is not None:
            target = Path(os.fsdecode(path))
            if target.exists():
                (target.parent.parent / "taken").mkdir(exist_ok=True)
                target.rename(target.parent.parent / "taken" / target.name)


class _Password(asyncssh.SSHServer):
    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        return password == PASSWORD


@pytest.fixture(scope="module")
def mover_server(tmp_path_factory):
    """A server (password login) that moves every file away as it is closed."""
    base = tmp_path_factory.mktemp("mover")
    (base / "data" / "in").mkdir(parents=True)
    yield from _asyncssh_server(base, _Password, _Mover)


def test_a_server_that_moves_each_file_on_close_is_named_and_direct_mode_delivers(mover_server, tmp_path):
    from targets.errors import ServerRefusedError
    base, port = mover_server
    local = tmp_path / "f.csv"
    local.write_text("id\n1\n")
    client = SftpClient(_settings(base, port, remote_dir="/in"))
    with pytest.raises(ServerRefusedError, match=r"took /in/f\.csv\.part away as soon as it was closed.*"
                                                 r"upload_mode = direct"):
        client.upload_atomic(local, "f.csv")
    assert client.connects == 1  # not retried
    direct = SftpClient(_settings(base, port, remote_dir="/in", upload_mode="direct"))
    direct.upload_atomic(local, "f.csv")
    assert (base / "data" / "taken" / "f.csv").read_text() == "id\n1\n"
