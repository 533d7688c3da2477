"""``./run.sh check``'s "Google permissions" line: each permission the night needs that the
account lacks, asked of Google where Google answers such a question (docs/google.md).

- **The project:** Cloud Resource Manager's ``projects.testIamPermissions`` for
  ``bigquery.jobs.create`` and, with exports through the Storage Read API, the read-session
  permissions.
- **Each dataset the night uses** (``sources.toml``'s tables, ``sql/views``, the views' source
  dataset, the scratch dataset): ``datasets.get`` (a 403 names the missing permission), then
  BigQuery's ``tables.testIamPermissions`` on one of its tables for what loads and views
  write. A dataset without a table yet cannot be asked that: said so.
- **The archive bucket:** Cloud Storage's ``testIamPermissions`` for the objects.

Each missing permission is named with its resource and the role that grants it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

READ_SESSIONS = ("bigquery.readsessions.create", "bigquery.readsessions.getData")
DATASET = ("bigquery.tables.create", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.update",
           "bigquery.tables.updateData")
BUCKET = ("storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list")
ROLE = {"bigquery.jobs.create": "roles/bigquery.jobUser", **{p: "roles/bigquery.readSessionUser" for p in READ_SESSIONS},
        **{p: "roles/bigquery.dataEditor" for p in DATASET + ("bigquery.datasets.get",)},
        **{p: "roles/storage.objectUser" for p in BUCKET}}


@dataclass
class Findings:
    lacking: list[str] = field(default_factory=list)  # "permission on resource (role)"
    held: int = 0
    not_asked: list[str] = field(default_factory=list)

    def lack(self, permissions, resource: str) -> None:
        for p in permissions:
            self.lacking.append(f"{p} on {resource} ({ROLE.get(p, 'see docs/google.md')})")


def night_datasets(scratch: str | None) -> list[str]:
    """The datasets the night's loads, views and exports use, as this installation's config names them."""
    from pipelines.base import sources_file
    from targets.config import Section
    from targets.errors import ConfigError
    try:
        source = Section("views").str("source_dataset", "powerschool")
    except ConfigError:  # no [views]: the views read the default, as pipelines/views.py does
        source = "powerschool"
    return datasets_of(sources_file(), source, scratch)


def datasets_of(sources, source_dataset: str, scratch: str | None) -> list[str]:
    """The datasets of a sources.toml (its tables), of sql/views, the views' source dataset and
    the exports' scratch dataset (stack/google_stack.py provisions the same list)."""
    from pipelines.views import view_files
    found = {s.table.split(".")[-2] for s in sources.source}
    found |= {name.split(".")[0] for name in view_files()}
    found.add(source_dataset)
    if scratch:
        found.add(scratch)
    return sorted(found)


def _project(client, found: Findings) -> None:
    s = client.settings
    wanted = ["bigquery.jobs.create"] + (list(READ_SESSIONS) if client.uses_storage_api else [])
    base = (s.api_endpoint or "https://cloudresourcemanager.googleapis.com").rstrip("/")
    try:
        answer = client.http.post(f"{base}/v1/projects/{s.project}:testIamPermissions", json={"permissions": wanted},
                                  timeout=30)
        answer.raise_for_status()
        held = set(answer.json().get("permissions") or [])
    except Exception as e:  # an API not enabled, a proxy: said, not fatal
        found.not_asked.append(f"project {s.project} ({type(e).__name__}: {str(e)[:120]})")
        return
    found.held += len(held & set(wanted))
    found.lack([p for p in wanted if p not in held], f"project {s.project}")


def _dataset(client, dataset: str, found: Findings) -> None:
    from google.api_core import exceptions as gexc
    ref = f"{client.settings.project}.{dataset}"
    try:
        client.bq.get_dataset(ref, retry=client.retry)
    except gexc.Forbidden:
        found.lack(["bigquery.datasets.get"], f"dataset {ref}")
        return
    except gexc.NotFound:
        found.lacking.append(f"dataset {ref} does not exist (create it in {client.settings.location}, then grant "
                             "roles/bigquery.dataEditor on it)")
        return
    found.held += 1
    tables = list(client.bq.list_tables(ref, max_results=1, retry=client.retry))
    if not tables:
        found.not_asked.append(f"writing in {ref} (no table yet)")
        return
    held = set(_table_permissions(client, tables[0].reference, DATASET))
    found.held += len(held)
    found.lack([p for p in DATASET if p not in held], f"dataset {ref}")


def _table_permissions(client, table, wanted) -> list[str]:
    base = (client.settings.api_endpoint or "https://bigquery.googleapis.com").rstrip("/")
    answer = client.http.post(f"{base}/bigquery/v2/projects/{table.project}/datasets/{table.dataset_id}/tables/"
                              f"{table.table_id}:testIamPermissions", json={"permissions": list(wanted)}, timeout=30)
    answer.raise_for_status()
    return answer.json().get("permissions") or []


def _bucket(archive, found: Findings) -> None:
    try:
        held = set(archive.gcs.bucket(archive.settings.bucket).test_iam_permissions(list(BUCKET), retry=archive.retry))
    except Exception as e:
        found.not_asked.append(f"bucket {archive.settings.bucket} ({type(e).__name__}: {str(e)[:120]})")
        return
    found.held += len(held & set(BUCKET))
    found.lack([p for p in BUCKET if p not in held], f"bucket {archive.settings.bucket}")


def check(client, archive=None) -> str:
    """The doctor's line, or a RuntimeError naming every missing permission."""
    from targets.google import identity
    found = Findings()
    _project(client, found)
    for dataset in night_datasets(client.settings.scratch_dataset if client.uses_storage_api else None):
        _dataset(client, dataset, found)
    if archive is not None:
        _bucket(archive, found)
    who = identity(client.creds).split(",")[0]
    unasked = f"; not asked: {', '.join(found.not_asked)}" if found.not_asked else ""
    if found.lacking:
        raise RuntimeError(f"{who} lacks {len(found.lacking)}: {'; '.join(found.lacking)}{unasked}")
    return f"{who} holds the {found.held} asked{unasked}"
