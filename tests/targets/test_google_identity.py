"""Credentials as Google takes them (issue 26), through the stack's token endpoint and its front
before the BigQuery and GCS emulators (stack/google_identity.py): a key file, application-
default credentials from a service-account key and from an authorized user's file, each
scoped; no token, an expired one or one without a scope the API takes is refused the way
Google refuses it, before the emulator sees the request."""
from __future__ import annotations

import dataclasses
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
