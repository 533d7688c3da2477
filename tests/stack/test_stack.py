"""The embedded stack: up twice reuses state, down stops every process, and each service is
the real thing (PostgreSQL with password auth, the BigQuery emulator through the official
client, SFTP per vendor with its own key and folder, SMTP keeping messages under mail/)."""
import io
import json
import smtplib
import subprocess
import sys
from email.message import EmailMessage

import psutil
import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

import stack as cli
from stack import port_open, sftp_accounts
from targets.sftp import SftpClient, SftpSettings


def _stack_processes(var):
    return [p for p in psutil.process_iter(["cmdline"]) if str(var) in " ".join(p.info["cmdline"] or [])]


@pytest.fixture(scope="module")
def full_stack(tmp_path_factory):
    var = tmp_path_factory.mktemp("full-stack")
    cli.up(var, with_bigquery=True)
    yield var
    cli.down(var)


def test_up_twice_reuses_state_and_down_stops_everything(tmp_path):
    var = tmp_path / "var"
    cli.up(var, with_bigquery=False)
    ports = json.loads((var / "stack.json").read_text())["ports"]
    host_key = (var / "sftp" / "host_ed25519_key.pub").read_text()
    pg_pid = (var / "pg" / "data" / "postmaster.pid").read_text().split()[0]
    cli.up(var, with_bigquery=False)
    assert json.loads((var / "stack.json").read_text())["ports"] == ports
    assert (var / "sftp" / "host_ed25519_key.pub").read_text() == host_key
    assert (var / "pg" / "data" / "postmaster.pid").read_text().split()[0] == pg_pid
    assert oct((var / "secrets.env").stat().st_mode & 0o777) == "0o600"
    status = cli.status(var)
    assert status["postgres"].startswith("running") and status["sftp"].startswith("running")
    assert status["eis"].startswith("running on http://127.0.0.1:")
    assert len(_stack_processes(var)) >= 2
    stopped = cli.down(var)
    assert set(stopped) == {"sftp+smtp", "postgres", "meetmax", "eis"}
    assert not any(port_open(ports[n]) for n in ("postgres", "sftp", "smtp", "meetmax", "eis"))
    assert _stack_processes(var) == []
    assert cli.down(var) == []
    # up again after down: the same data comes back
    cli.up(var, with_bigquery=False)
    assert json.loads((var / "stack.json").read_text())["ports"]["postgres"] == ports["postgres"]
    cli.down(var)


def test_bigquery_emulator_through_the_official_client(full_stack):
    port = json.loads((full_stack / "stack.json").read_text())["ports"]["bigquery"]
    client = bigquery.Client(project=cli.BQ_PROJECT, credentials=AnonymousCredentials(),
                             client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{port}"))
    client.create_dataset("smoke", exists_ok=True)
    job = client.load_table_from_file(
        io.BytesIO(b"id,name\n1,Ana\n2,O'Brien\n"), f"{cli.BQ_PROJECT}.smoke.students",
        job_config=bigquery.LoadJobConfig(source_format="CSV", skip_leading_rows=1, autodetect=True,
                                          write_disposition="WRITE_TRUNCATE"))
    job.result()
    rows = list(client.query("SELECT id, name FROM smoke.students ORDER BY id").result())
    assert [(r["id"], r["name"]) for r in rows] == [(1, "Ana"), (2, "O'Brien")]



def test_the_pipelines_reach_google_through_the_identity_front_as_the_least_privilege_account(full_stack):
    """The generated config names the front (not the emulator) and the ETL account's key; that
    account works in the datasets the registries name and the bucket, and may not create a
    dataset: the stack's administrator made them (stack/google_stack.py)."""
    import configparser

    from google.api_core.exceptions import Forbidden

    from stack import google_stack
    from targets.bigquery import BigQueryClient, BigQuerySettings
    from targets.gcs import GcsArchive, GcsSettings
    ports = json.loads((full_stack / "stack.json").read_text())["ports"]
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(full_stack / "luigi.cfg")
    bq, gcs = cfg["bigquery"], cfg["gcs"]
    assert bq["api_endpoint"] == f"http://127.0.0.1:{ports['bigquery_front']}" != f"http://127.0.0.1:{ports['bigquery']}"
    assert gcs["api_endpoint"] == f"http://127.0.0.1:{ports['gcs_front']}"
    assert bq["credentials"] == gcs["credentials"] == str(full_stack / "google" / "etl.json")
    assert json.loads((full_stack / "google" / "etl.json").read_text())["client_email"] == google_stack.ETL
    client = BigQueryClient(BigQuerySettings(project=bq["project"], api_endpoint=bq["api_endpoint"],
                                             credentials=bq["credentials"], timeout=30, io_timeout=10))
    assert {"powerschool", "roster_files", "etl_scratch"} <= set(google_stack.registry_datasets())
    for dataset in google_stack.registry_datasets():
        client.ensure_dataset(dataset)
    with pytest.raises(Forbidden, match="User does not have bigquery.datasets.create permission"):
        client.bq.create_dataset(f"{bq['project']}.not_granted")
    archive = GcsArchive(GcsSettings(project=gcs["project"], bucket=gcs["bucket"], api_endpoint=gcs["api_endpoint"],
                                     credentials=gcs["credentials"]))
    src = full_stack / "smoke.csv"
    src.write_text("id\n1\n")
    import datetime as dt
    assert archive.archive(src, "smoke", dt.date(2026, 11, 24)) == f"gs://{gcs['bucket']}/smoke/2026-11-24/smoke.csv"


def test_each_vendor_has_its_own_key_and_folder(full_stack):
    ports = json.loads((full_stack / "stack.json").read_text())["ports"]
    for user, (_, folders) in sftp_accounts().items():
        s = SftpSettings(name=user, host="127.0.0.1", port=ports["sftp"], user=user,
                         key_file=full_stack / "sftp" / "keys" / user, known_hosts=full_stack / "known_hosts",
                         remote_dir="/", retries=0)
        with SftpClient(s) as client:
            top = set(client.listdir("/"))
            assert top == {p.split("/")[0] for p in folders}
    # clever's key does not open savvas's folder
    wrong = SftpSettings(name="savvas", host="127.0.0.1", port=ports["sftp"], user="savvas",
                         key_file=full_stack / "sftp" / "keys" / "clever", known_hosts=full_stack / "known_hosts",
                         retries=0)
    from targets.errors import ConfigError
    with pytest.raises(ConfigError, match="refused the key of user savvas"):
        SftpClient(wrong).exists("x")


def test_smtp_keeps_every_message(full_stack):
    port = json.loads((full_stack / "stack.json").read_text())["ports"]["smtp"]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "etl@localhost", "ops@district.test", "nightly report"
    msg.set_content("3 files sent")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg)
    mails = list((full_stack / "mail").glob("*.eml"))
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "Subject: nightly report" in text and "3 files sent" in text


def test_stack_cli_status_and_config(full_stack):
    out = subprocess.run([sys.executable, "-m", "stack", "status", "--var", str(full_stack)], capture_output=True,
                         text=True, check=True).stdout
    for name in ("postgres", "sftp", "smtp", "bigquery"):
        assert f"{name}" in out and "stopped" not in out
