"""Credentials as Google takes them (issue 26), through the stack's token endpoint and its front
before the BigQuery and GCS emulators (stack/google_identity.py): a key file, application-
default credentials from a service-account key and from an authorized user's file, each
scoped; no token, an expired one or one without a scope the API takes is refused the way
Google refuses it, before the emulator sees the request."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
import requests

from stack.google_identity import (CLOUD_PLATFORM, IdentityFront, Registry, authorized_user_file,
                                   service_account_key)

EMAIL = "district-etl@district-local.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def fronts(google_stack):
    from stack import StackState
    ports = StackState.load(google_stack).ports
    registry = Registry()
    bq = IdentityFront(registry, "bigquery", f"http://127.0.0.1:{ports['bigquery']}").start()
    gcs = IdentityFront(registry, "storage", f"http://127.0.0.1:{ports['gcs']}").start()
    yield registry, bq, gcs
    bq.stop()
    gcs.stop()


def _settings(bq_client, front, credentials):
    # exports through the REST pages: the Storage Read API's gRPC front is still to come
    return dataclasses.replace(bq_client.settings, api_endpoint=front.url, credentials=credentials,
                               storage_endpoint=None, storage_api=False, timeout=20, io_timeout=10)


def test_a_key_file_gets_a_scoped_token_and_bigquery_and_gcs_take_it(fronts, bq_client, tmp_path):
    from targets.bigquery import BigQueryClient
    from targets.gcs import GcsArchive, GcsSettings
    registry, bq, gcs = fronts
    key = service_account_key(registry, EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "key.json")
    client = BigQueryClient(_settings(bq_client, bq, str(key)))
    assert client.query("SELECT 1 AS x") == [{"x": 1}]
    grants = [r for r in registry.requests if r["grant_type"].endswith("jwt-bearer")]
    assert grants, registry.requests
    assert bq.seen and {who for who, _, _ in bq.seen} == {EMAIL}
    archive = GcsArchive(GcsSettings(project=bq_client.settings.project, bucket=f"b-{uuid.uuid4().hex[:8]}",
                                     api_endpoint=gcs.url, credentials=str(key)))
    src = tmp_path / "f.csv"
    src.write_text("id\n1\n")
    import datetime as dt
    assert archive.archive(src, "folder", dt.date(2026, 11, 24)).startswith("gs://")
    assert {who for who, _, _ in gcs.seen} == {EMAIL}


@pytest.mark.parametrize("kind", ["service_account", "authorized_user"])
def test_application_default_credentials_of_each_kind_are_used_scoped(fronts, bq_client, tmp_path, monkeypatch, kind):
    """An empty [bigquery] credentials, as docs/deploy-aws.md prescribes: every call failed with
    "'NoneType' object has no attribute 'before_request'" before any request was sent."""
    from targets.bigquery import BigQueryClient
    registry, bq, _ = fronts
    if kind == "service_account":
        path = service_account_key(registry, EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "adc.json")
    else:
        path = authorized_user_file(registry, "operator@district.example", f"{bq.url}/token", tmp_path / "adc.json")
        # the library sends an authorized user's refresh to Google's own token URI whatever the
        # file says; without DNS for oauth2.googleapis.com here, that one constant points at the
        # stand-in instead
        monkeypatch.setattr("google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT", f"{bq.url}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    client = BigQueryClient(_settings(bq_client, bq, None))
    assert client.query("SELECT 2 AS y") == [{"y": 2}]
    expected = EMAIL if kind == "service_account" else "operator@district.example"
    assert bq.seen[-1][0] == expected


def test_no_application_default_credentials_is_one_clear_config_error(monkeypatch, bq_client, tmp_path):
    from targets.bigquery import BigQueryClient
    from targets.errors import ConfigError
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server here (and nothing reaches the internet)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    with pytest.raises(ConfigError, match=r"\[bigquery\] credentials is empty, so application-default credentials"):
        BigQueryClient(dataclasses.replace(bq_client.settings, credentials=None))


def test_a_credentials_file_of_another_kind_or_not_json_is_one_clear_config_error(bq_client, tmp_path, monkeypatch):
    from targets.bigquery import BigQueryClient
    from targets.errors import ConfigError
    other = tmp_path / "other.json"
    other.write_text('{"type": "impersonated_service_account", "source_credentials": {}}')
    with pytest.raises(ConfigError, match=r"is of type 'impersonated_service_account'; a service_account key, an "
                                          "authorized_user file or an external_account"):
        BigQueryClient(dataclasses.replace(bq_client.settings, credentials=str(other)))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "gone.json"))
    with pytest.raises(ConfigError, match=r"GOOGLE_APPLICATION_CREDENTIALS names .*gone.json, which does not exist"):
        BigQueryClient(dataclasses.replace(bq_client.settings, credentials=None))
    broken = tmp_path / "broken.json"
    broken.write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match=r"broken.json is not a JSON credentials file"):
        BigQueryClient(dataclasses.replace(bq_client.settings, credentials=str(broken)))


def test_the_stand_in_refuses_what_google_refuses(fronts, bq_client, tmp_path):
    """A control: what the old code did (a key file's credentials without scopes) is refused by
    the token endpoint with invalid_scope; no token, an unknown or expired one is a 401, a
    token without a scope BigQuery takes a 403, each in Google's JSON shape."""
    from google.auth.exceptions import RefreshError
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2 import service_account
    registry, bq, _ = fronts
    key = service_account_key(registry, EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "key.json")
    unscoped = service_account.Credentials.from_service_account_file(str(key))
    url = f"{bq.url}/bigquery/v2/projects/{bq_client.settings.project}/datasets"
    with pytest.raises(RefreshError, match="invalid_scope"):
        AuthorizedSession(unscoped).get(url)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"
    assert answer.json()["error"]["errors"][0]["reason"] == "required"
    answer = requests.get(url, headers={"Authorization": "Bearer ya29.not-issued"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"]["errors"][0]["reason"] == "authError"
    storage_only = registry.issue(EMAIL, frozenset({"https://www.googleapis.com/auth/devstorage.read_write"}))
    answer = requests.get(url, headers={"Authorization": f"Bearer {storage_only['access_token']}"}, timeout=10)
    assert answer.status_code == 403 and answer.json()["error"]["message"] == \
        "Request had insufficient authentication scopes."
    good = registry.issue(EMAIL, frozenset({CLOUD_PLATFORM}))
    assert requests.get(url, headers={"Authorization": f"Bearer {good['access_token']}"}, timeout=10).status_code == 200
    registry.expire(good["access_token"])
    answer = requests.get(url, headers={"Authorization": f"Bearer {good['access_token']}"}, timeout=10)
    assert answer.status_code == 401
    # another key's signature under the account's name
    other = service_account_key(Registry(), EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "o.json")
    forged = service_account.Credentials.from_service_account_file(str(other), scopes=[CLOUD_PLATFORM])
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        AuthorizedSession(forged).get(url)


def test_a_view_is_replaced_in_place_and_one_whose_sources_are_missing_waits(fronts, bq_client, tmp_path):
    """Views were redeployed by delete, then create; BigQuery checks a view's SQL when it is
    written (the front does too: 404 for a table that does not exist), so a failed create
    left no view at all. Now a view is replaced in place (no DELETE reaches BigQuery); one
    whose source is not loaded yet is a TransientError that says so, and the old view stays."""
    from targets.bigquery import BigQueryClient
    from targets.errors import TransientError
    registry, bq, _ = fronts
    key = service_account_key(registry, EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "key.json")
    client = BigQueryClient(_settings(bq_client, bq, str(key)))
    ds = f"v_{uuid.uuid4().hex[:8]}"
    project = bq_client.settings.project
    with pytest.raises(TransientError, match=rf"view {project}.{ds}.v reads what does not exist yet \(Not found: "
                                             rf"Table {project}:{ds}.t was not found in location US\): the view is "
                                             r"not created yet"):
        client.deploy_view(f"{ds}.v", f"SELECT a FROM `{project}.{ds}.t`")  # the first deploy, before the first load
    client.query(f"CREATE TABLE `{project}.{ds}.t` AS SELECT 1 AS a, 2 AS b")
    assert client.deploy_view(f"{ds}.v", f"SELECT a FROM `{project}.{ds}.t`")
    assert client.query(f"SELECT * FROM `{project}.{ds}.v`") == [{"a": 1}]
    with pytest.raises(TransientError, match=r"Table .*\.later was not found .* the view stays as it was"):
        client.deploy_view(f"{ds}.v", f"SELECT a FROM `{project}.{ds}.t` JOIN `{project}.{ds}.later` USING (a)")
    assert client.query(f"SELECT * FROM `{project}.{ds}.v`") == [{"a": 1}]  # the old view, still there
    assert client.deploy_view(f"{ds}.v", f"SELECT a, b FROM `{project}.{ds}.t`")
    assert client.query(f"SELECT * FROM `{project}.{ds}.v`") == [{"a": 1, "b": 2}]
    assert not [p for _, method, p in bq.seen if method == "DELETE" and f"/datasets/{ds}/tables/v" in p]


def test_a_load_without_pinned_columns_passes_the_header_as_text_columns_never_detection(fronts, bq_client, tmp_path):
    """With every column text, BigQuery's own detection takes the header row for data and
    names the columns string_field_N (powerschool.google_accounts: its view failed). The
    header is read here and passed as the schema, every column STRING; the front keeps the
    load's configuration as BigQuery got it."""
    from targets.bigquery import BigQueryClient
    from targets.errors import BadInputError
    registry, bq, _ = fronts
    key = service_account_key(registry, EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "key.json")
    client = BigQueryClient(_settings(bq_client, bq, str(key)))
    ds = f"l_{uuid.uuid4().hex[:8]}"
    src = tmp_path / "clever_idm.csv"
    src.write_text("\ufeffSIS_ID,Email,Client ID,1st Period,Email\nS1,a@x.org,7,A,b@x.org\n", encoding="utf-8")
    assert client.load_file(src, f"{ds}.google_accounts").rows == 1
    load = bq.loads[-1]
    assert not load.get("autodetect") and int(load["skipLeadingRows"]) == 1, load  # the API sends it as a string
    assert [(f["name"], f["type"]) for f in load["schema"]["fields"]] == [
        ("SIS_ID", "STRING"), ("Email", "STRING"), ("Client_ID", "STRING"), ("_1st_Period", "STRING"),
        ("Email_2", "STRING")]
    assert client.query(f"SELECT SIS_ID, Client_ID FROM `{bq_client.settings.project}.{ds}.google_accounts`") == [
        {"SIS_ID": "S1", "Client_ID": "7"}]
    empty = tmp_path / "empty.csv"
    empty.write_text(",,\n1,2,3\n")
    with pytest.raises(BadInputError, match=r"row 1: the header row is empty"):
        client.load_file(empty, f"{ds}.empty")


def test_the_doctor_names_the_identity_and_its_scopes(fronts, bq_client, tmp_path):
    import luigi.configuration

    from ops import check
    registry, bq, _ = fronts
    key = service_account_key(registry, EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "key.json")
    parser = luigi.configuration.get_config()
    saved = dict(parser.items("bigquery")) if parser.has_section("bigquery") else None
    if saved is None:
        parser.add_section("bigquery")
    try:
        for k, v in dict(project=bq_client.settings.project, api_endpoint=bq.url, credentials=str(key)).items():
            parser.set("bigquery", k, v)
        assert check.bigquery() == (f"project {bq_client.settings.project} as service account {EMAIL}, scopes "
                                    "cloud-platform: a query ran")
    finally:
        if saved is None:
            parser.remove_section("bigquery")
        else:
            for k, v in saved.items():
                parser.set("bigquery", k, v)


def test_a_least_privilege_identity_does_its_work_and_is_refused_the_rest_in_googles_shape(google_stack, bq_client,
                                                                                           tmp_path):
    """Permissions as Google's roles (stack/google_iam.py): an administrator makes a dataset and
    a bucket and grants the ETL's account data on that dataset, objects in that bucket and jobs
    on the project, as docs/google.md asks a district to. The account then loads, queries,
    replaces a view and archives without one call it may not make (no datasets.create, no
    buckets.get or create); reading a dataset it was not granted, creating one, or a bucket,
    is Google's 403, and our errors say which permission to grant."""
    from stack import StackState
    from stack.google_iam import Policy, grant
    from targets.bigquery import BigQueryClient
    from targets.errors import ConfigError
    from targets.gcs import GcsArchive, GcsSettings
    ports = StackState.load(google_stack).ports
    policy_file = tmp_path / "iam.json"
    registry, policy = Registry(), Policy(policy_file)
    bq = IdentityFront(registry, "bigquery", f"http://127.0.0.1:{ports['bigquery']}", policy=policy).start()
    gcs = IdentityFront(registry, "storage", f"http://127.0.0.1:{ports['gcs']}", policy=policy).start()
    try:
        project = bq_client.settings.project
        admin_email, etl_email = f"admin@{project}.iam.gserviceaccount.com", EMAIL
        admin = service_account_key(registry, admin_email, project, f"{bq.url}/token", tmp_path / "admin.json")
        etl = service_account_key(registry, etl_email, project, f"{bq.url}/token", tmp_path / "etl.json")
        for role in ("roles/bigquery.admin", "roles/storage.admin"):
            grant(policy_file, admin_email, role, f"projects/{project}")
        ours, theirs = f"ours_{uuid.uuid4().hex[:8]}", f"theirs_{uuid.uuid4().hex[:8]}"
        bucket = f"b-{uuid.uuid4().hex[:8]}"
        as_admin = BigQueryClient(_settings(bq_client, bq, str(admin)))
        for ds in (ours, theirs):
            as_admin.ensure_dataset(ds)
        as_admin.query(f"CREATE TABLE `{project}.{theirs}.secret` AS SELECT 1 AS a")
        GcsArchive(GcsSettings(project=project, bucket=bucket, api_endpoint=gcs.url, credentials=str(admin))).bucket()
        for role, resource in (("roles/bigquery.jobUser", f"projects/{project}"),
                               ("roles/bigquery.dataEditor", f"projects/{project}/datasets/{ours}"),
                               ("roles/storage.objectUser", f"projects/_/buckets/{bucket}")):
            grant(policy_file, etl_email, role, resource)

        client = BigQueryClient(_settings(bq_client, bq, str(etl)))
        src = tmp_path / "students.csv"
        src.write_text("id,name\n1,a\n2,b\n")
        assert client.load_file(src, f"{ours}.students").rows == 2
        assert client.query(f"SELECT count(*) AS n FROM `{project}.{ours}.students`") == [{"n": 2}]
        assert client.deploy_view(f"{ours}.v", f"SELECT id FROM `{project}.{ours}.students`")
        archive = GcsArchive(GcsSettings(project=project, bucket=bucket, api_endpoint=gcs.url, credentials=str(etl)))
        assert archive.archive(src, "roster", dt.date(2026, 11, 24)) == f"gs://{bucket}/roster/2026-11-24/students.csv"
        assert archive.names("roster", dt.date(2026, 11, 24)) == ["students.csv"]
        etl_calls = [(m, p) for who, m, p in bq.seen + gcs.seen if who == etl_email]
        assert etl_calls and not [c for c in etl_calls if c[0] == "POST" and c[1].split("?")[0].endswith("/datasets")]

        # the 403s, as Google words them
        token = registry.issue(etl_email, frozenset({CLOUD_PLATFORM}))["access_token"]
        got = requests.get(f"{bq.url}/bigquery/v2/projects/{project}/datasets/{theirs}",
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert got.status_code == 403 and got.json()["error"]["errors"][0]["reason"] == "accessDenied"
        assert got.json()["error"]["message"] == (f"Access Denied: Dataset {project}:{theirs}: Permission "
                                                  f"bigquery.datasets.get denied on dataset {project}:{theirs} (or it "
                                                  "may not exist).")
        from google.api_core.exceptions import Forbidden
        with pytest.raises(Forbidden, match=rf"User does not have permission to query table {project}:{theirs}.secret"):
            client.query(f"SELECT a FROM `{project}.{theirs}.secret`")
        with pytest.raises(ConfigError, match=rf"BigQuery dataset {project}.{theirs}: this account may not read it .*"
                                              r"grant it roles/bigquery.dataEditor on the dataset"):
            client.ensure_dataset(theirs)
        new_bucket = f"b-{uuid.uuid4().hex[:8]}"
        got = requests.post(f"{gcs.url}/storage/v1/b?project={project}", json={"name": new_bucket},
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert got.status_code == 403 and got.json()["error"]["errors"][0]["reason"] == "forbidden"
        assert "does not have storage.buckets.create access to the Google Cloud project" in got.json()["error"]["message"]
        # an absent bucket: creating it is refused, one clear line
        with pytest.raises(ConfigError, match=rf"GCS bucket {new_bucket}: this account may not write objects in it .*"
                                              r"grant it roles/storage.objectUser on the bucket"):
            GcsArchive(GcsSettings(project=project, bucket=new_bucket, api_endpoint=gcs.url,
                                   credentials=str(etl))).archive(src, "roster", dt.date(2026, 11, 24))
    finally:
        bq.stop()
        gcs.stop()


@pytest.fixture
def read_front(fronts, google_stack):
    from stack import StackState
    from stack.google_grpc import ReadFront
    registry, _, _ = fronts
    front = ReadFront(registry, f"127.0.0.1:{StackState.load(google_stack).ports['bigquery_grpc']}").start()
    yield front
    front.stop()


ROWS = 200_000  # the emulator sends 65,536 rows a record batch: four batches


@pytest.mark.parametrize("fault", ["cut", "deadline", "stall"])
def test_a_storage_read_stream_reads_on_from_its_offset_after_a_cut_a_deadline_or_a_stall(fronts, read_front,
                                                                                          bq_client, tmp_path, fault):
    """Item 7: a Storage Read stream that runs past its deadline, loses its connection or
    stalls is read on from its offset (the rows received), not started again and not failed;
    every row comes once. The front plays Google's offsets (the emulator ignores them and
    starts again at row 0: see the control below). The faults are the proxy's, between our
    client and the front: a cut after 2 MB, a trickle of 2 MB/s against a 1 s deadline, a
    stall after 2 MB on each connection (each read on from there by a new connection)."""
    import dataclasses as dc

    from targets import bq_storage
    from targets.bigquery import BigQueryClient
    from tests.netproxy import TcpProxy
    registry, bq, _ = fronts
    key = service_account_key(registry, EMAIL, bq_client.settings.project, f"{bq.url}/token", tmp_path / "key.json")
    project = bq_client.settings.project
    ds = f"s_{uuid.uuid4().hex[:8]}"
    bq_client.ensure_dataset(ds)
    bq_client.query(f"CREATE TABLE `{project}.{ds}.t` AS SELECT x AS id, CONCAT('name-', CAST(x AS STRING)) AS name "
                    f"FROM UNNEST(GENERATE_ARRAY(0, {ROWS - 1})) AS x")
    proxy = {"cut": dict(cut_after_bytes=2_000_000), "deadline": dict(rate=2_000_000),
             "stall": dict(stall_after_bytes=2_000_000)}[fault]
    with TcpProxy(read_front.port, **proxy) as through:
        settings = dc.replace(_settings(bq_client, bq, str(key)), storage_endpoint=f"127.0.0.1:{through.port}",
                              storage_api=True, timeout=1.0 if fault == "deadline" else 60, io_timeout=2.0)
        client = BigQueryClient(settings)
        reader = bq_storage.read_client(settings.storage_endpoint, client.creds)
        reopen = lambda: bq_storage.read_client(settings.storage_endpoint, client.creds)  # noqa: E731
        ids = [i for batch in bq_storage.table_batches(reader, project, f"{project}.{ds}.t", settings.timeout,
                                                       settings.io_timeout, reopen)
               for i in batch.column("id").to_pylist()]
    assert len(ids) == ROWS and sorted(ids) == list(range(ROWS)), (len(ids), len(set(ids)))
    offsets = [offset for _, offset in read_front.reads]
    # read on from where it was, never from before it: a read cut before its first response
    # reached us is tried again at the same offset (0 too), one after rows goes on after them
    assert offsets[0] == 0 and len(offsets) >= 2 and any(o > 0 for o in offsets), offsets
    assert offsets == sorted(offsets)


def test_the_emulator_alone_starts_a_stream_again_at_row_0_which_is_why_the_front_plays_offsets(bq_client):
    """The control: read at an offset, the emulator sends every row from the first (Google
    sends from the offset). Were this to change, the front's slicing could go."""
    from google.cloud.bigquery_storage import types

    from stack import StackState
    from targets import bq_storage
    project = bq_client.settings.project
    ds = f"c_{uuid.uuid4().hex[:8]}"
    bq_client.ensure_dataset(ds)
    bq_client.query(f"CREATE TABLE `{project}.{ds}.t` AS SELECT x AS id FROM UNNEST(GENERATE_ARRAY(0, 99)) AS x")
    reader = bq_storage.read_client(bq_client.settings.storage_endpoint, bq_client.creds)
    session = reader.create_read_session(parent=f"projects/{project}", max_stream_count=1, read_session=types.ReadSession(
        table=f"projects/{project}/datasets/{ds}/tables/t", data_format=types.DataFormat.ARROW))
    rows = sum(r.row_count for r in reader.read_rows(session.streams[0].name, offset=60))
    assert rows == 100
    assert StackState  # the emulator of the session's stack, reached directly


def test_the_read_front_refuses_no_token_and_a_missing_read_session_permission(fronts, google_stack, bq_client,
                                                                              tmp_path):
    from google.api_core.exceptions import Forbidden, Unauthorized
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.bigquery_storage import types

    from stack import StackState
    from stack.google_grpc import ReadFront
    from stack.google_iam import Policy, grant
    from targets import bq_storage
    from targets.bigquery import BigQueryClient
    registry, bq, _ = fronts
    project = bq_client.settings.project
    ds = f"r_{uuid.uuid4().hex[:8]}"
    bq_client.ensure_dataset(ds)
    bq_client.query(f"CREATE TABLE `{project}.{ds}.t` AS SELECT 1 AS id")
    policy = Policy(tmp_path / "iam.json")
    front = ReadFront(registry, f"127.0.0.1:{StackState.load(google_stack).ports['bigquery_grpc']}",
                      policy=policy).start()
    try:
        key = service_account_key(registry, EMAIL, project, f"{bq.url}/token", tmp_path / "key.json")
        creds = BigQueryClient(_settings(bq_client, bq, str(key))).creds
        session = types.ReadSession(table=f"projects/{project}/datasets/{ds}/tables/t",
                                    data_format=types.DataFormat.ARROW)
        anonymous = bq_storage.read_client(front.endpoint, AnonymousCredentials())
        with pytest.raises(Unauthorized, match="Request is missing required authentication credential"):
            anonymous.create_read_session(parent=f"projects/{project}", read_session=session, max_stream_count=1)
        reader = bq_storage.read_client(front.endpoint, creds)
        grant(tmp_path / "iam.json", EMAIL, "roles/bigquery.dataViewer", f"projects/{project}/datasets/{ds}")
        with pytest.raises(Forbidden, match="the user does not have 'bigquery.readsessions.create' permission"):
            reader.create_read_session(parent=f"projects/{project}", read_session=session, max_stream_count=1)
        grant(tmp_path / "iam.json", EMAIL, "roles/bigquery.readSessionUser", f"projects/{project}")
        made = reader.create_read_session(parent=f"projects/{project}", read_session=session, max_stream_count=1)
        assert sum(r.row_count for r in bq_storage._responses(reader, made.streams[0].name, 30, 10)) == 1
    finally:
        front.stop()


@pytest.mark.parametrize("where", ["ec2", "ecs"])
def test_an_aws_servers_external_account_file_reaches_bigquery_as_its_service_account(fronts, bq_client, tmp_path,
                                                                                     monkeypatch, where):
    """Workload identity federation, as docs/deploy-aws.md has it: no key on the server. The
    role's credentials come from EC2's instance metadata (IMDSv2, the library's own code) or,
    in an ECS task, from the container credentials endpoint (targets/google_aws.py: the library
    does not read it, and a Fargate task has no IMDS). They sign a GetCallerIdentity request,
    exchanged at Google's STS for a federated token and that for the service account's token
    (stack/google_federation.py plays all of them). A signature made with another secret, or
    a role not allowed to act as the account, is refused in the services' own words."""
    import json

    from google.auth.exceptions import GoogleAuthError, RefreshError

    from stack.google_federation import Federation, credential_config, provider_audience
    from targets.bigquery import BigQueryClient
    from targets.google import identity
    registry, bq, _ = fronts
    fed = Federation()
    bq.federation = fed
    audience = provider_audience("314159265358", "district-pool", "aws")
    fed.providers[audience] = fed.account
    fed.impersonators[EMAIL] = {f"arn:aws:iam::{fed.account}:role/{fed.role}"}
    config = tmp_path / "external.json"
    config.write_text(json.dumps(credential_config(audience, bq.url, EMAIL)))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(config))
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    if where == "ecs":  # as ECS sets them for a task with a task role
        fed.ecs_token = "task-token-" + uuid.uuid4().hex
        (tmp_path / "ecs-token").write_text(fed.ecs_token + "\n")
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{bq.url}/v2/credentials/{uuid.uuid4()}")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(tmp_path / "ecs-token"))
        monkeypatch.setenv("AWS_REGION", fed.region)
    try:
        client = BigQueryClient(_settings(bq_client, bq, None))  # empty: application-default credentials
        assert client.query("SELECT 3 AS z") == [{"z": 3}]
        assert bq.seen[-1][0] == EMAIL
        assert type(client.creds).__module__ == "google.auth.aws" and fed.keys
        assert bool(fed.imds_tokens) == (where == "ec2")  # ECS's endpoint, never EC2's metadata, in a task
        assert identity(client.creds) == f"external account acting as {EMAIL} (workload identity federation), " \
                                         "scopes cloud-platform"
        # the same file named in [bigquery] credentials
        assert BigQueryClient(_settings(bq_client, bq, str(config))).query("SELECT 4 AS z") == [{"z": 4}]

        # another role may not act as the account
        fed.impersonators[EMAIL] = {f"arn:aws:iam::{fed.account}:role/someone-else"}
        with pytest.raises(RefreshError, match="iam.serviceAccounts.getAccessToken"):
            BigQueryClient(_settings(bq_client, bq, str(config))).query("SELECT 5 AS z")
        # a forged signature: AWS's keys are not the ones the server signed with
        fed.impersonators[EMAIL] = {f"arn:aws:iam::{fed.account}:role/{fed.role}"}
        real = fed.instance_role

        def forged():
            made = real()
            fed.keys[made["AccessKeyId"]]["secret"] = "not-the-secret"
            return made
        fed.instance_role = forged
        with pytest.raises(GoogleAuthError, match="signature we calculated does not match"):
            BigQueryClient(_settings(bq_client, bq, str(config))).query("SELECT 6 AS z")
        if where == "ecs":  # the task's authorization token is checked
            fed.ecs_token = "another"
            with pytest.raises(GoogleAuthError, match="container credentials endpoint answered 401"):
                BigQueryClient(_settings(bq_client, bq, str(config))).query("SELECT 7 AS z")
    finally:
        bq.federation = None


def test_the_doctor_names_each_permission_the_night_needs_that_the_account_lacks(google_stack, bq_client, tmp_path):
    """Item 8: ./run.sh check asks Google (Cloud Resource Manager's, BigQuery's and Cloud
    Storage's testIamPermissions, a dataset lookup) and names each missing permission with
    its resource and the role that grants it; with the grants of docs/google.md, it says the
    account holds what was asked."""
    from ops.google_permissions import check, night_datasets
    from stack import StackState
    from stack.google_iam import Policy, grant
    from targets.bigquery import BigQueryClient
    from targets.gcs import GcsArchive, GcsSettings
    ports = StackState.load(google_stack).ports
    project = bq_client.settings.project
    registry, policy_file = Registry(), tmp_path / "iam.json"
    bq = IdentityFront(registry, "bigquery", f"http://127.0.0.1:{ports['bigquery']}", policy=Policy(policy_file)).start()
    gcs = IdentityFront(registry, "storage", f"http://127.0.0.1:{ports['gcs']}", policy=Policy(policy_file)).start()
    try:
        key = service_account_key(registry, EMAIL, project, f"{bq.url}/token", tmp_path / "key.json")
        scratch = f"scratch_{uuid.uuid4().hex[:6]}"
        client = BigQueryClient(dataclasses.replace(_settings(bq_client, bq, str(key)), storage_api=True,
                                                    storage_endpoint="127.0.0.1:1", scratch_dataset=scratch))
        datasets = night_datasets(scratch)
        assert {"powerschool", "roster_files", scratch} <= set(datasets)
        for ds in datasets:
            bq_client.ensure_dataset(ds)
        bq_client.query(f"CREATE OR REPLACE TABLE `{project}.roster_files.doctor_probe` AS SELECT 1 AS a")
        bucket = f"b-{uuid.uuid4().hex[:8]}"
        GcsArchive(GcsSettings(project=project, bucket=bucket, api_endpoint=f"http://127.0.0.1:{ports['gcs']}",
                               credentials="anonymous")).bucket()
        archive = GcsArchive(GcsSettings(project=project, bucket=bucket, api_endpoint=gcs.url, credentials=str(key)))
        grant(policy_file, EMAIL, "roles/bigquery.jobUser", f"projects/{project}")
        for ds in datasets:
            if ds != "powerschool":
                grant(policy_file, EMAIL, "roles/bigquery.dataViewer" if ds == "roster_files" else
                      "roles/bigquery.dataEditor", f"projects/{project}/datasets/{ds}")
        with pytest.raises(RuntimeError) as refused:
            check(client, archive)
        said = str(refused.value)
        assert said.startswith(f"service account {EMAIL} lacks ")
        for missing in (f"bigquery.readsessions.create on project {project} (roles/bigquery.readSessionUser)",
                        f"bigquery.datasets.get on dataset {project}.powerschool (roles/bigquery.dataEditor)",
                        f"bigquery.tables.updateData on dataset {project}.roster_files (roles/bigquery.dataEditor)",
                        f"storage.objects.create on bucket {bucket} (roles/storage.objectUser)"):
            assert missing in said, (missing, said)
        assert "bigquery.jobs.create" not in said and "bigquery.tables.getData on dataset" not in said

        grant(policy_file, EMAIL, "roles/bigquery.readSessionUser", f"projects/{project}")
        for ds in datasets:
            grant(policy_file, EMAIL, "roles/bigquery.dataEditor", f"projects/{project}/datasets/{ds}")
        grant(policy_file, EMAIL, "roles/storage.objectUser", f"projects/_/buckets/{bucket}")
        line = check(client, archive)
        assert line.startswith(f"service account {EMAIL} holds the ") and "lacks" not in line, line
    finally:
        bq.stop()
        gcs.stop()
