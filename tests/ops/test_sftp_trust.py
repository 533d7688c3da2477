"""``./run.sh sftp-trust NAME`` against the stack's SFTP server: nothing is trusted until the
operator has checked the fingerprint and typed yes."""
import io
import os
import subprocess

import luigi.configuration
import pytest

from ops.sftp_trust import trust
from pipelines.base import ROOT
from targets.errors import HostKeyError
from targets.sftp import SftpClient, SftpSettings


def test_sftp_trust_records_key_after_confirmation(stack_config, stack_var, tmp_path):
    """Shows the fingerprint, records only on 'yes', then connections work; a second run says
    the key is already trusted."""
    parser = luigi.configuration.get_config()
    known = tmp_path / "kh" / "known_hosts"
    parser.set("sftp_feeds", "known_hosts", str(known))
    out = io.StringIO()
    assert trust("feeds", stdin=io.StringIO("no\n"), out=out) == 1
    assert "offers ssh-ed25519 SHA256:" in out.getvalue() and not known.exists()
    with pytest.raises(HostKeyError):
        SftpClient(SftpSettings.from_config("feeds")).exists("x")
    out = io.StringIO()
    assert trust("feeds", stdin=io.StringIO("yes\n"), out=out) == 0
    assert "Recorded in" in out.getvalue()
    assert SftpClient(SftpSettings.from_config("feeds")).list_files() is not None
    out = io.StringIO()
    assert trust("feeds", assume_yes=True, out=out) == 0 and "already trusted" in out.getvalue()


def test_the_command_refuses_an_unknown_server(stack_config):
    env = dict(os.environ, ETL_SECRETS_ENV="", ETL_VAR="/nonexistent")
    run = subprocess.run([str(ROOT / "run.sh"), "sftp-trust", "nosuch"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "no configuration" in run.stderr
    from ops.sftp_trust import main
    assert main(["nosuch"]) == 2
    with pytest.raises(SystemExit):
        main([])
