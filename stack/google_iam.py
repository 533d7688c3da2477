"""Google's permissions, as the stack plays them (issue 26): predefined roles as the sets of
permissions Google's documentation lists for them (only the permissions our calls need), bindings
of a role to an identity on a project, a dataset or a bucket, and the permissions each BigQuery
and Cloud Storage JSON API call needs. The front (stack/google_identity.py) asks ``denied`` before
it lets a call through and answers a denied one with the API's own 403.

A binding on the project reaches every dataset and bucket in it, as in IAM. Bindings live in a
JSON file of the stack (``iam.json``: ``[{"member", "role", "resource"}]``), read again when it
changes, so a test or an administrator can grant a dataset while the front runs.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

_VIEWER = {"bigquery.datasets.get", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.list",
           "bigquery.tables.export"}
_EDITOR = _VIEWER | {"bigquery.datasets.create", "bigquery.tables.create", "bigquery.tables.update",
                     "bigquery.tables.updateData", "bigquery.tables.delete"}
_OBJECTS = {"storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list",
            "storage.objects.update"}
ROLES: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "roles/bigquery.jobUser": {"bigquery.jobs.create"},
    "roles/bigquery.readSessionUser": {"bigquery.readsessions.create", "bigquery.readsessions.getData",
                                       "bigquery.readsessions.update"},
    "roles/bigquery.dataViewer": _VIEWER,
    "roles/bigquery.dataEditor": _EDITOR,
    "roles/bigquery.dataOwner": _EDITOR | {"bigquery.datasets.update", "bigquery.datasets.delete"},
    "roles/bigquery.admin": _EDITOR | {"bigquery.datasets.update", "bigquery.datasets.delete", "bigquery.jobs.create",
                                       "bigquery.readsessions.create", "bigquery.readsessions.getData",
                                       "bigquery.readsessions.update"},
    "roles/storage.objectViewer": {"storage.objects.get", "storage.objects.list"},
    "roles/storage.objectUser": _OBJECTS,
    "roles/storage.objectAdmin": _OBJECTS,
    "roles/storage.admin": _OBJECTS | {"storage.buckets.create", "storage.buckets.get", "storage.buckets.list",
                                       "storage.buckets.update", "storage.buckets.delete"},
}.items()}


@dataclass(frozen=True)
class Need:
    """One permission a call needs on one resource (``projects/p``, ``projects/p/datasets/d``,
    ``projects/_/buckets/b``), with the words the API's 403 uses for it."""
    permission: str
    resource: str
    message: str


class WatchedJson:
    """A JSON file, read again only when it changed (its mtime or size); ``empty`` while absent."""

    def __init__(self, path: Path, empty):
        self.path, self.empty = path, empty
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._value = empty

    def read(self):
        with self._lock:
            try:
                st = self.path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._value = json.loads(self.path.read_text()) if stamp else self.empty
                self._stamp = stamp
            return self._value


class Policy:
    """Bindings from a JSON file, read again when the file changes."""

    def __init__(self, path: Path):
        self.file = WatchedJson(path, [])

    def bindings(self) -> list[dict]:
        return self.file.read()

    def allows(self, member: str, permission: str, resource: str) -> bool:
        project = "/".join(resource.split("/")[:2])
        for b in self.bindings():
            if b["member"] == member and b["resource"] in (resource, project) and \
                    permission in ROLES.get(b["role"], ()):
                return True
        # a bucket is in its project (projects/_/buckets/b): a project binding reaches it
        if resource.startswith("projects/_/buckets/"):
            return any(b["member"] == member and b["resource"].count("/") == 1 and permission in ROLES.get(b["role"], ())
                       for b in self.bindings())
        return False

    def denied(self, member: str, needs: list[Need]) -> Need | None:
        return next((n for n in needs if not self.allows(member, n.permission, n.resource)), None)


def grant(path: Path, member: str, role: str, resource: str) -> None:
    """Add a binding to the file (an administrator's grant); the front sees it on its next call."""
    import fcntl
    if role not in ROLES:
        raise ValueError(f"unknown role {role}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bindings = json.loads(path.read_text()) if path.exists() else []
        binding = {"member": member, "role": role, "resource": resource}
        if binding not in bindings:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(bindings + [binding], indent=1))
            tmp.replace(path)


# ---------------------------------------------------------------- BigQuery

_BQ = re.compile(r"^(?:/upload)?/bigquery/v2/projects/(?P<p>[^/]+)(?P<rest>/[^?]*)?")
_WRITES = re.compile(r"\b(?:CREATE(?:\s+OR\s+REPLACE)?(?:\s+TEMP(?:ORARY)?)?\s+(?:TABLE|VIEW)(?:\s+IF\s+NOT\s+EXISTS)?|"
                     r"INSERT(?:\s+INTO)?|MERGE(?:\s+INTO)?|UPDATE|DELETE(?:\s+FROM)?|TRUNCATE\s+TABLE|"
                     r"DROP\s+(?:TABLE|VIEW)(?:\s+IF\s+EXISTS)?)\s+`?([A-Za-z0-9_.$-]+)`?", re.I)
_READS = re.compile(r"\b(?:FROM|JOIN)\s+`?([A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_$-]+){1,2})`?", re.I)


# comments and string literals (what they say is not SQL); quoted names (`…`) are kept
_CODE_ONLY = re.compile(r"--[^\n]*|#[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`", re.S)


def read_references(sql: str) -> list[str]:
    """The tables a query reads (``dataset.table`` or ``project.dataset.table``), as written;
    ``EXTRACT(x FROM t.c)`` and ``IS DISTINCT FROM t.c`` read a column, not a table."""
    sql = _CODE_ONLY.sub(lambda m: m.group(0) if m.group(0).startswith("`") else " ", sql or "")
    sql = re.sub(r"\bEXTRACT\s*\([^()]*\)|\bDISTINCT\s+FROM\b", " ", sql, flags=re.I)
    return [ref for ref in _READS.findall(sql) if "INFORMATION_SCHEMA" not in ref.upper()]


def _dataset_of(project: str, ref: str) -> tuple[str, str] | None:
    parts = ref.strip("`").split(".")
    if len(parts) == 2:
        return project, parts[0]
    if len(parts) == 3:
        return parts[0], parts[1]
    return None


def table_need(permission: str, project: str, dataset: str, table: str | None) -> Need:
    what = f"Table {project}:{dataset}.{table}" if table else f"Dataset {project}:{dataset}"
    if permission == "bigquery.tables.getData":
        message = f"Access Denied: {what}: User does not have permission to query table {project}:{dataset}.{table}, " \
                  "or perhaps it does not exist."
    else:
        message = f"Access Denied: {what}: Permission {permission} denied on dataset {project}:{dataset} " \
                  f"(or it may not exist)."
    return Need(permission, f"projects/{project}/datasets/{dataset}", message)


def _project_need(permission: str, project: str) -> Need:
    return Need(permission, f"projects/{project}",
                f"Access Denied: Project {project}: User does not have {permission} permission in project {project}.")


def _query_needs(project: str, sql: str, default_dataset: dict | None) -> list[Need]:
    needs = []
    written = set()
    sql = _CODE_ONLY.sub(lambda m: m.group(0) if m.group(0).startswith("`") else " ", sql or "")
    for m in _WRITES.finditer(sql):
        ref = m.group(1)
        where = _dataset_of(project, ref) if "." in ref else \
            ((default_dataset or {}).get("projectId", project), (default_dataset or {}).get("datasetId")) \
            if default_dataset else None
        if where and where[1]:
            written.add(ref)
            permission = "bigquery.tables.delete" if m.group(0).upper().startswith("DROP") else \
                "bigquery.tables.create" if m.group(0).upper().startswith("CREATE") else "bigquery.tables.updateData"
            needs.append(table_need(permission, *where, ref.split(".")[-1]))
    for ref in read_references(sql):
        where = _dataset_of(project, ref)
        if where and ref not in written:
            needs.append(table_need("bigquery.tables.getData", *where, ref.split(".")[-1]))
    return needs


def _job_needs(project: str, job: dict) -> list[Need]:
    config = job.get("configuration") or {}
    needs = [_project_need("bigquery.jobs.create", project)]
    for kind, key, permission in (("load", "destinationTable", "bigquery.tables.updateData"),
                                  ("query", "destinationTable", "bigquery.tables.updateData"),
                                  ("extract", "sourceTable", "bigquery.tables.export"),
                                  ("copy", "destinationTable", "bigquery.tables.updateData")):
        table = (config.get(kind) or {}).get(key)
        if table:
            needs.append(table_need(permission, table.get("projectId", project), table["datasetId"],
                                     table.get("tableId")))
    for table in (config.get("copy") or {}).get("sourceTables") or []:
        needs.append(table_need("bigquery.tables.getData", table.get("projectId", project), table["datasetId"],
                                 table.get("tableId")))
    query = config.get("query") or {}
    needs += _query_needs(project, query.get("query", ""), query.get("defaultDataset"))
    return needs


def bigquery_needs(method: str, path: str, job: dict | None) -> list[Need]:
    """The permissions a BigQuery REST call needs (``job``: a jobs.insert's or jobs.query's body)."""
    m = _BQ.match(path)
    if not m:
        return []
    project, rest = m.group("p"), (m.group("rest") or "").rstrip("/")
    parts = rest.split("/")[1:]  # e.g. ["datasets", "d", "tables", "t", "data"]
    if parts[:1] == ["jobs"] and method == "POST" and len(parts) == 1:
        return _job_needs(project, job or {})
    if parts[:1] == ["queries"] and method == "POST" and len(parts) == 1:  # jobs.query
        body = job or {}
        return [_project_need("bigquery.jobs.create", project)] + \
            _query_needs(project, body.get("query", ""), body.get("defaultDataset"))
    if parts[:1] in (["jobs"], ["queries"]):  # a job's status, results or cancel: its creator's
        return []
    if parts[:1] != ["datasets"]:
        return []
    if len(parts) == 1:
        return [_project_need("bigquery.datasets.create", project)] if method == "POST" else []
    dataset = parts[1]
    if len(parts) == 2:
        permission = {"GET": "bigquery.datasets.get", "DELETE": "bigquery.datasets.delete"}.get(
            method, "bigquery.datasets.update")
        return [Need(permission, f"projects/{project}/datasets/{dataset}",
                     f"Access Denied: Dataset {project}:{dataset}: Permission {permission} denied on dataset "
                     f"{project}:{dataset} (or it may not exist).")]
    if len(parts) == 3:  # tables: list, or insert
        permission = "bigquery.tables.list" if method == "GET" else "bigquery.tables.create"
        return [table_need(permission, project, dataset, None)]
    table = parts[3]
    if len(parts) == 5 and parts[4] in ("data", "insertAll"):
        permission = "bigquery.tables.getData" if method == "GET" else "bigquery.tables.updateData"
    else:
        permission = {"GET": "bigquery.tables.get", "DELETE": "bigquery.tables.delete"}.get(
            method, "bigquery.tables.update")
    return [table_need(permission, project, dataset, table)]


# ---------------------------------------------------------------- Cloud Storage

def _bucket_need(permission: str, bucket: str, member: str) -> Need:
    thing = "Google Cloud Storage bucket" if permission.startswith("storage.buckets") else \
        "Google Cloud Storage object"
    return Need(permission, f"projects/_/buckets/{bucket}",
                f"{member} does not have {permission} access to the {thing}. Permission '{permission}' denied on "
                "resource (or it may not exist).")


def storage_needs(method: str, path: str, member: str) -> list[Need]:
    """The permissions a Cloud Storage JSON API call needs (``path`` with its query)."""
    import urllib.parse
    url = urllib.parse.urlsplit(path)
    parts = url.path.split("/")
    if parts[1:2] in (["upload"], ["download"]):
        parts = parts[1:]
    if parts[1:4] != ["storage", "v1", "b"]:
        return []
    parts = [urllib.parse.unquote(x) for x in parts[4:]]  # [], [bucket], [bucket, "o"], [bucket, "o", object...]
    if not parts:
        project = urllib.parse.parse_qs(url.query).get("project", ["_"])[0]
        permission = "storage.buckets.create" if method == "POST" else "storage.buckets.list"
        return [Need(permission, f"projects/{project}",
                     f"{member} does not have {permission} access to the Google Cloud project. Permission "
                     f"'{permission}' denied on resource (or it may not exist).")]
    bucket = parts[0]
    if len(parts) == 1:
        permission = {"GET": "storage.buckets.get", "DELETE": "storage.buckets.delete"}.get(method, "storage.buckets.update")
        return [_bucket_need(permission, bucket, member)]
    if parts[1] != "o":  # iam, acl, notifications: not played
        return [_bucket_need("storage.buckets.update", bucket, member)]
    if len(parts) == 2:
        return [_bucket_need("storage.objects.create" if method == "POST" else "storage.objects.list", bucket, member)]
    if "rewriteTo" in parts or "copyTo" in parts:
        at = parts.index("rewriteTo" if "rewriteTo" in parts else "copyTo")
        return [_bucket_need("storage.objects.get", bucket, member),
                _bucket_need("storage.objects.create", parts[at + 2], member)]
    permission = {"GET": "storage.objects.get", "DELETE": "storage.objects.delete"}.get(method, "storage.objects.update")
    return [_bucket_need(permission, bucket, member)]
