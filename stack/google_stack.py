"""The stack's Google as a district has it (issue 26): the identity front before the emulators
(stack/google_identity.py), two service accounts with keys, and the least-privilege grants of
docs/google.md.

- ``stack-admin@…`` (``roles/bigquery.admin``, ``roles/storage.admin`` on the project) makes the
  datasets the registries name and the archive bucket, once, as a district's administrator
  does.
- ``district-etl@…`` is what the pipelines, the demo, the suite and ``simulate`` run as: jobs and
  read sessions on the project, data on its datasets, objects in its bucket. It may not create a
  dataset or a bucket.

``grant_dataset`` is the administrator's step for a dataset of one's own (a test's).
"""
from __future__ import annotations

import sys
from pathlib import Path

from stack.state import StackState

ADMIN = "stack-admin@district-local.iam.gserviceaccount.com"
ETL = "district-etl@district-local.iam.gserviceaccount.com"
BUCKET = "district-raw-archive"
ROOT = Path(__file__).resolve().parents[1]
ETL_PROJECT_ROLES = ("roles/bigquery.jobUser", "roles/bigquery.readSessionUser")


def google_dir(var: Path) -> Path:
    return var / "google"


def key_file(var: Path, who: str) -> Path:
    return google_dir(var) / ("admin.json" if who == ADMIN else "etl.json")


def front_url(state: StackState, api: str = "bigquery") -> str:
    return f"http://127.0.0.1:{state.ports['bigquery_front' if api == 'bigquery' else 'gcs_front']}"


def ensure_keys(state: StackState, project: str) -> None:
    """The two accounts' keys (``token_uri``: the front's token endpoint), made once."""
    from stack.google_identity import Registry, service_account_key
    registry = Registry(path=google_dir(state.var) / "accounts.json")
    for who in (ADMIN, ETL):
        if not key_file(state.var, who).exists() or registry.account(who) is None:
            service_account_key(registry, who, project, f"{front_url(state)}/token", key_file(state.var, who))


def front_up(state: StackState, start_daemon) -> None:
    """The front's daemon (both APIs and the token endpoint)."""
    import os
    port = state.port("bigquery_front")
    start_daemon(state.var, "google-front", [
        sys.executable, "-m", "stack.google_stack", "--dir", str(google_dir(state.var)),
        "--bigquery", str(port), "--bigquery-upstream", f"http://127.0.0.1:{state.ports['bigquery']}",
        "--gcs", str(state.port("gcs_front")), "--gcs-upstream", f"http://127.0.0.1:{state.ports['gcs']}",
        "--grpc", str(state.port("bigquery_grpc_front")), "--grpc-upstream", f"127.0.0.1:{state.ports['bigquery_grpc']}"],
        port, 30, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def registry_datasets() -> list[str]:
    """The datasets the pipelines use: the tables of sources.toml, the views of sql/views, and the
    exports' scratch dataset."""
    from ops.google_permissions import datasets_of
    from registry.sources import load_sources
    return datasets_of(load_sources(ROOT / "sources.toml"), "powerschool", "etl_scratch")


def provision(state: StackState, project: str, bucket: str = BUCKET) -> None:
    """As the administrator of ``project``: every dataset the registries name and the bucket,
    and the ETL account's grants (a district of several has a project of its own)."""
    from stack.google_iam import grant
    iam = google_dir(state.var) / "iam.json"
    for role in ("roles/bigquery.admin", "roles/storage.admin"):
        grant(iam, ADMIN, role, f"projects/{project}")
    for role in ETL_PROJECT_ROLES:
        grant(iam, ETL, role, f"projects/{project}")
    for dataset in registry_datasets():
        grant_dataset(state.var, dataset, project)
    grant_bucket(state.var, bucket, project)


def grant_dataset(var: Path, dataset: str, project: str = "district-local") -> None:
    """The administrator makes ``dataset`` (if absent) and grants the ETL account
    ``roles/bigquery.dataEditor`` on it."""
    from stack.google_iam import grant
    _admin_bigquery(StackState.load(var), project).ensure_dataset(dataset)
    grant(google_dir(var) / "iam.json", ETL, "roles/bigquery.dataEditor", f"projects/{project}/datasets/{dataset}")


def grant_bucket(var: Path, bucket: str, project: str = "district-local") -> None:
    """The administrator makes ``bucket`` (if absent) and grants the ETL account
    ``roles/storage.objectUser`` on it."""
    from stack.google_iam import grant
    _admin_archive(StackState.load(var), project, bucket).bucket()
    grant(google_dir(var) / "iam.json", ETL, "roles/storage.objectUser", f"projects/_/buckets/{bucket}")


def _admin_bigquery(state: StackState, project: str):
    from targets.bigquery import BigQueryClient, BigQuerySettings
    return BigQueryClient(BigQuerySettings(project=project, api_endpoint=front_url(state),
                                           credentials=str(key_file(state.var, ADMIN)), timeout=60, io_timeout=30))


def _admin_archive(state: StackState, project: str, bucket: str):
    from targets.gcs import GcsArchive, GcsSettings
    return GcsArchive(GcsSettings(project=project, bucket=bucket, api_endpoint=front_url(state, "gcs"),
                                  credentials=str(key_file(state.var, ADMIN))))


def main(argv: list[str] | None = None) -> None:
    """The stack's daemon: a front before the BigQuery emulator's REST and gRPC (Storage Read)
    APIs and one before the GCS emulator, the REST ones also the token endpoint, with the
    stack's service accounts and bindings."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m stack.google_stack")
    ap.add_argument("--dir", type=Path, required=True, help="accounts.json and iam.json")
    ap.add_argument("--bigquery", type=int, required=True, help="the BigQuery front's port")
    ap.add_argument("--bigquery-upstream", required=True)
    ap.add_argument("--gcs", type=int, required=True, help="the GCS front's port")
    ap.add_argument("--gcs-upstream", required=True)
    ap.add_argument("--grpc", type=int, required=True, help="the Storage Read API front's port")
    ap.add_argument("--grpc-upstream", required=True, help="the emulator's gRPC host:port")
    args = ap.parse_args(argv)
    from stack.google_grpc import ReadFront
    from stack.google_iam import Policy
    from stack.google_identity import IdentityFront, Registry
    registry, policy = Registry(path=args.dir / "accounts.json"), Policy(args.dir / "iam.json")
    ReadFront(registry, args.grpc_upstream, port=args.grpc, policy=policy).start()
    IdentityFront(registry, "bigquery", args.bigquery_upstream, port=args.bigquery, policy=policy).start()
    IdentityFront(registry, "storage", args.gcs_upstream, port=args.gcs, policy=policy).serve_forever()


if __name__ == "__main__":
    main()
