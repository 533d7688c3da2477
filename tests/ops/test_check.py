"""./run.sh check against the embedded stack: every check passes (SFTP algorithms, host keys
and sign-ins, PostgreSQL, BigQuery, SMTP with TLS, folders, no placeholders); a changed host
key, a placeholder and a readable secrets file each fail with one clear line; exit 1. With every
server down, each is a FAIL line within seconds (no 10-minute wait on BigQuery)."""
from pathlib import Path

import luigi.configuration
import pytest

from ops import check
from pipelines.base import data_dir
from stack import free_port


def test_the_stack_passes_and_each_broken_part_is_one_clear_line(stack_config, google_stack, feeds, tmp_path,
                                                                    capsys, monkeypatch):
    data_dir().mkdir(parents=True, exist_ok=True)
    parser = luigi.configuration.get_config()
    if parser.has_section("dps"):
        (tmp_path / "share").mkdir()
        parser.set("dps", "share_dir", str(tmp_path / "share"))
    assert check.main([]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.strip().endswith("checks passed")
    assert "ok   sftp clever" in out and "host key verified, signed in as" in out
    assert "ok   SMTP: " in out and "TLS, certificate trusted" in out
    assert "ok   PostgreSQL ledger: signed in as" in out and "ok   BigQuery: " in out
    assert "ok   BigQuery exports: a one-row export through the Storage Read API" in out
    assert "ok   Google permissions: service account district-etl@district-local.iam.gserviceaccount.com holds " \
           "the " in out  # the stack's least-privilege account, asked through the front
    assert "ok   PostgreSQL Feeds database" in out

    # the clever server's key changed (or a man in the middle answers): another ed25519 key recorded for it
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    other = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                   serialization.PublicFormat.OpenSSH).decode()
    known = Path(parser.get("sftp_clever", "known_hosts"))
    host = known.read_text().split()[0]
    (tmp_path / "known_hosts").write_text(f"{host} {other}\n")
    parser.set("sftp_clever", "known_hosts", str(tmp_path / "known_hosts"))
    parser.set("district", "code", "CHANGE_ME")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("X=1\n")
    secrets.chmod(0o644)
    monkeypatch.setenv("ETL_SECRETS_ENV", str(secrets))
    storage = parser.get("bigquery", "storage_endpoint")  # the Storage Read API does not answer: queries still do
    parser.set("bigquery", "storage_endpoint", f"127.0.0.1:{free_port()}")
    assert check.main([]) == 1
    out = capsys.readouterr().out
    parser.set("bigquery", "storage_endpoint", storage)
    (line,) = [ln for ln in out.splitlines() if ln.startswith("FAIL BigQuery exports")]
    assert "bigquery.readsessions.create" in line and "storage_api = false" in line and "ok   BigQuery: " in out
    assert "Timeout of 10.0s exceeded" in line  # not the library's own ten minutes
    (line,) = [ln for ln in out.splitlines() if ln.startswith("FAIL sftp clever")]
    assert "HostKeyError" in line and "./run.sh sftp-trust clever" in line
    assert "FAIL placeholders: [district] code still say CHANGE_ME" in out
    assert f"FAIL secrets file: PermissionError: {secrets} has mode 644" in out and f"chmod 600 {secrets}" in out
    assert "Traceback" not in out and out.strip().endswith("4 failed")


@pytest.mark.timeout(180)  # Google's own retry waited 600 s on a BigQuery that did not answer
def test_servers_that_are_down_fail_quickly_one_line_each(stack_config, google_stack, tmp_path, capsys):
    data_dir().mkdir(parents=True, exist_ok=True)
    parser = luigi.configuration.get_config()
    if parser.has_section("dps"):
        (tmp_path / "share").mkdir()
        parser.set("dps", "share_dir", str(tmp_path / "share"))
    closed = str(free_port())
    for section in [s for s in parser.sections() if s.startswith("sftp_")] + ["postgres", "smtp"]:
        parser.set(section, "port", closed)
    parser.set("bigquery", "api_endpoint", f"http://127.0.0.1:{closed}")
    if parser.has_section("feeds_db"):
        parser.set("feeds_db", "port", closed)
    assert check.main([]) == 1
    out = capsys.readouterr().out
    assert f"FAIL BigQuery: ConnectionError: http://127.0.0.1:{closed} did not answer within 10 s" in out
    assert "FAIL BigQuery exports: ConnectionError: not tried: the BigQuery check above failed" in out
    assert "FAIL PostgreSQL ledger: TransientError: PostgreSQL" in out and "FAIL SMTP: TransientError:" in out
    assert f"FAIL sftp clever (127.0.0.1:{closed}) algorithms: ConnectionRefusedError" in out
    assert "Traceback" not in out and all(ln[:4] in ("ok  ", "FAIL", "warn") for ln in out.splitlines()[:-1])


def test_the_venv_check_passes_as_installed_and_names_a_package_that_moved_from_its_lock(tmp_path):
    """The suite's venv is the locks' (run.sh bootstrap); a lock that pins another version of an
    installed package, or a package that is not installed, fails naming both."""
    assert "packages as locked in requirements.txt + requirements-dev.txt" in check.venv_matches_lock()
    import importlib.metadata
    luigi_version = importlib.metadata.version("luigi")
    (tmp_path / "requirements.txt").write_text(
        f"luigi=={luigi_version} \\\n    --hash=sha256:{'0' * 64}\n"
        f"paramiko==0.0.1 \\\n    --hash=sha256:{'0' * 64}\n"
        f"no-such-package==1.0 \\\n    --hash=sha256:{'0' * 64}\n")
    with pytest.raises(RuntimeError) as e:
        check.venv_matches_lock(tmp_path)
    text = str(e.value)
    assert "does not match requirements.txt" in text and "luigi" not in text
    assert f"paramiko {importlib.metadata.version('paramiko')} (locked 0.0.1)" in text
    assert "no-such-package missing (locked 1.0)" in text
