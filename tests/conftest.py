"""Session fixtures: the embedded stack (real PostgreSQL, SFTP, SMTP) started once in a private
state folder; each test gets its own database and folders."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from psycopg2 import sql

import stack
from registry.vendors import load_vendors
from stack import StackState
from targets.postgres import PostgresSettings
from tests.feedfiles import feeds  # noqa: F401  (a test database as the Feeds database, with its tables and rows)


def pytest_collection_modifyitems(config, items):
    """A test that uses the embedded stack (any fixture built on ``stack_var``, or in
    tests/stack/) is marked ``stack``; so are, by hand, the modules that start servers,
    browsers or ./run.sh of their own. ``./run.sh test --fast`` leaves them all out."""
    for item in items:
        if "stack_var" in getattr(item, "fixturenames", ()) or Path(str(item.fspath)).parent.name == "stack":
            item.add_marker(pytest.mark.stack)  # tests/stack/: the stack itself, the benches, simulate


@pytest.fixture(autouse=True)
def the_day():
    """Every test runs on 2026-11-24 at noon in the district (a Tuesday), whatever the real date:
    pushes send only today's data, so the tests' fixed dates must be today. A test that needs
    another day sets the clock itself."""
    import datetime as dt

    from targets import clock
    clock.set_now(dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))))
    yield dt.date(2026, 11, 24)
    clock.set_now(None)


@pytest.fixture(autouse=True)
def own_var(tmp_path_factory, monkeypatch):
    """Each test its own state folder (ETL_VAR: pauses, locks, what SFTP servers allow), never
    the checkout's var/, and its own run (a service found down in one test's run is not in the
    next one's: targets/google_down.py)."""
    from targets.process import new_run
    monkeypatch.setenv("ETL_VAR", str(tmp_path_factory.mktemp("var")))
    new_run()


@pytest.fixture(scope="session")
def stack_var(tmp_path_factory) -> Path:
    """A private embedded stack (without the BigQuery emulator) for the whole test session."""
    var = tmp_path_factory.mktemp("stack")
    stack.up(var, with_bigquery=False)
    yield var
    stack.down(var)


@pytest.fixture(scope="session")
def google_stack(stack_var) -> Path:
    """The session stack with the BigQuery and GCS emulators added (started on first use)."""
    stack.up(stack_var, with_bigquery=True)
    return stack_var


@pytest.fixture
def bq_client(google_stack):
    """A BigQuery client on the emulator; tests use datasets of their own (unique names)."""
    from targets.bigquery import BigQueryClient, BigQuerySettings
    ports = StackState.load(google_stack).ports
    return BigQueryClient(BigQuerySettings(project=stack.BQ_PROJECT, api_endpoint=f"http://127.0.0.1:{ports['bigquery']}",
                                           storage_endpoint=f"127.0.0.1:{ports['bigquery_grpc']}",
                                           credentials="anonymous"))


@pytest.fixture
def bq_pages_client(bq_client):
    """The same emulator, exports through the REST pages (``storage_api = false``)."""
    import dataclasses

    from targets.bigquery import BigQueryClient
    return BigQueryClient(dataclasses.replace(bq_client.settings, storage_api=False))


@pytest.fixture
def gcs_archive(google_stack):
    from targets.gcs import GcsArchive, GcsSettings
    port = StackState.load(google_stack).ports["gcs"]
    return GcsArchive(GcsSettings(project=stack.BQ_PROJECT, bucket=f"b-{uuid.uuid4().hex[:8]}",
                                  api_endpoint=f"http://127.0.0.1:{port}", credentials="anonymous"))


@pytest.fixture(scope="session")
def stack_state(stack_var) -> StackState:
    return StackState.load(stack_var)


@pytest.fixture(scope="session")
def pg_password(stack_var) -> str:
    return stack.secrets(stack_var)["PG_PASSWORD"]


@pytest.fixture
def pg_settings(stack_state, pg_password) -> PostgresSettings:
    """A fresh database on the stack's PostgreSQL for this test."""
    admin = PostgresSettings(host="127.0.0.1", port=stack_state.ports["postgres"], dbname="postgres",
                             user="postgres", password=pg_password)
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = admin.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    yield PostgresSettings(host=admin.host, port=admin.port, dbname=name, user="postgres", password=pg_password)
    conn = admin.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


@pytest.fixture
def stack_config(stack_var, pg_settings, tmp_path, monkeypatch):
    """Point luigi's config at the stack's generated luigi.cfg, with this test's database."""
    import luigi.configuration
    cfg = tmp_path / "luigi.cfg"
    text = (stack_var / "luigi.cfg").read_text()
    text = text.replace("dbname = district", f"dbname = {pg_settings.dbname}")
    text = text.replace(f"data_dir = {stack_var / 'data'}", f"data_dir = {tmp_path / 'data'}")
    text = text.replace(f"log_fallback_dir = {stack_var / 'log-fallback'}",
                        f"log_fallback_dir = {tmp_path / 'log-fallback'}")
    cfg.write_text(text)
    for name, value in stack.secrets(stack_var).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(cfg))
    parser = luigi.configuration.get_config()
    cls = type(parser)
    saved = list(cls._config_paths)
    cls._config_paths = [str(cfg)]
    parser.clear()
    parser.reload()
    yield cfg
    cls._config_paths = saved
    parser.clear()
    parser.reload()


@pytest.fixture(scope="session")
def openssh(tmp_path_factory):
    """A private OpenSSH sshd for the session (Debian's openssh-server)."""
    from stack.openssh import OpenSshServer
    if not Path("/usr/sbin/sshd").exists():
        pytest.fail("OpenSSH sshd is missing: install Debian's openssh-server (.ci/run does as root)")
    server = OpenSshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(params=["asyncssh", "openssh"])
def sftp_settings(request, stack_var, stack_state):
    """Settings for a fresh folder on each real SFTP server."""
    from stack.openssh import asyncssh_settings
    if request.param == "asyncssh":
        return asyncssh_settings(stack_var, stack_state)
    return request.getfixturevalue("openssh").settings()


@pytest.fixture
def loaded_district(google_stack, stack_config, tmp_path):
    """A small fixed synthetic district loaded into a BigQuery dataset of this test's own
    (the views read it through [views] source_dataset); returns the dataset name. The
    administrator makes the dataset and grants it to the ETL account, which may not create one
    (stack/google_stack.py)."""
    import datetime as dt

    import luigi
    import luigi.configuration

    from pipelines.base import ROOT
    from pipelines.warehouse import BigQueryOperations
    from stack.district import generate, generate_merge_inputs
    day = dt.date(2026, 11, 24)
    from stack.google_stack import grant_dataset
    ds = f"ps_{uuid.uuid4().hex[:8]}"
    grant_dataset(google_stack, ds)
    reg = tmp_path / "sources.toml"
    reg.write_text((ROOT / "sources.toml").read_text().replace('table = "powerschool.', f'table = "{ds}.'))
    parser = luigi.configuration.get_config()
    parser.set("warehouse", "sources_file", str(reg))
    parser.set("views", "source_dataset", ds)
    generate(tmp_path / "data" / "powerschool_combined", students=40, seed=7, today=day,
             idm_file=tmp_path / "data" / "powerschool_combined" / "clever_idm_students.csv")
    generate_merge_inputs(tmp_path / "data", seed=7)
    assert luigi.build([BigQueryOperations(date=day)], local_scheduler=True)
    return ds


@pytest.fixture
def vendors(loaded_district, stack_var, tmp_path):
    """vendors.toml with remote folders of this test's own on the stack's SFTP accounts."""
    import luigi.configuration

    from pipelines.base import ROOT
    tag = uuid.uuid4().hex[:8]
    text = (ROOT / "vendors.toml").read_text()
    remotes = {}
    for name, vendor in load_vendors(ROOT / "vendors.toml").vendors.items():  # every push, as vendors.toml has it
        base = vendor.remote_dir or stack.sftp_remote_dir(vendor.server)
        remotes[name] = stack_var / "sftp" / "root" / vendor.server / base.strip("/") / tag
        remotes[name].mkdir(parents=True)
        text = text.replace(f'[{name}]\n', f'[{name}]\nremote_dir = "{base}/{tag}"\n', 1)
    path = tmp_path / "vendors.toml"
    path.write_text(text)
    luigi.configuration.get_config().set("vendors", "vendors_file", str(path))
    return remotes


def added_vendor(stack_var, tmp_path, fixture: str, server: str):
    """A vendor added as a table (tests/fixtures/vendors/<fixture>.toml) to a copy of
    vendors.toml, pushing to a folder of this test's own: the stack gives its server an account
    from that registry, and its [sftp_<server>] section. Returns (the registry, the vendor's
    TOML, the remote folder)."""
    import luigi.configuration

    from pipelines.base import ROOT
    tag = uuid.uuid4().hex[:8]
    text = (ROOT / "tests" / "fixtures" / "vendors" / f"{fixture}.toml").read_text().replace(
        "{remote_dir}", f"/upload/{tag}")
    registry = tmp_path / "vendors.toml"
    registry.write_text((registry.read_text() if registry.exists() else (ROOT / "vendors.toml").read_text())
                        + "\n" + text)
    home, folders = stack.sftp_accounts(registry)[server]
    stack.add_sftp_account(stack_var, server, folders)
    parser = luigi.configuration.get_config()
    parser.set("vendors", "vendors_file", str(registry))
    parser.add_section(f"sftp_{server}")
    for key, value in stack.sftp_section(stack_var, server, home).items():
        parser.set(f"sftp_{server}", key, value)
    return registry, text, stack_var / "sftp" / "root" / server / "upload" / tag


@pytest.fixture
def acme_vendor(loaded_district, stack_var, tmp_path):
    """The acme vendor (tests/fixtures/vendors/acme.toml, server acme_rostering), added as a
    table (``added_vendor``)."""
    return added_vendor(stack_var, tmp_path, "acme", "acme_rostering")


@pytest.fixture
def oneroster_vendors(loaded_district, stack_var, tmp_path):
    """Two OneRoster vendors added as tables: classlink (1.2, delta; tests/fixtures/vendors/
    classlink.toml) and hmh (1.1, bulk; hmh.toml). Returns {name: (registry, TOML, remote folder)}."""
    return {"classlink": added_vendor(stack_var, tmp_path, "classlink", "classlink"),
            "hmh": added_vendor(stack_var, tmp_path, "hmh", "hmh")}
