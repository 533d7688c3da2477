"""GCS raw archive: every file the warehouse loads is kept as
``gs://<bucket>/<folder>/<date>/<file>`` (the bucket is looked up, and created only when absent
and the account may; the same object is replaced by a rerun). An account with only its bucket's
objects (no storage.buckets.get) works too. ``[gcs] project, bucket, api_endpoint, credentials`` (see targets/google.py).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from targets import faults
from targets.config import Section
from targets.errors import ConfigError, TransientError
from targets.google import credentials, said, transient
from targets.google_down import GiveUpWhenUnreachable, backoff_cap, check_up
from targets.local import atomic_path


@dataclass(frozen=True)
class GcsSettings:
    project: str
    bucket: str
    api_endpoint: str | None = None
    credentials: str | None = None
    io_timeout: float = 120.0  # seconds of refused or lost connections before a call gives up

    @classmethod
    def from_config(cls, section: str = "gcs") -> "GcsSettings":
        s = Section(section)
        return cls(project=s.str("project", required=True), bucket=s.str("bucket", required=True),
                   api_endpoint=s.str("api_endpoint") or None, credentials=s.str("credentials") or None,
                   io_timeout=s.float("io_timeout", 120.0))


class GcsArchive:
    """Raw files archived as ``gs://<bucket>/<folder>/<date>/<file>`` (bucket created if missing)."""

    _pool: dict[tuple[int, GcsSettings], "GcsArchive"] = {}

    def __init__(self, settings: GcsSettings):
        self.settings = settings
        options = ClientOptions(api_endpoint=settings.api_endpoint) if settings.api_endpoint else None
        self.gcs = storage.Client(project=settings.project, credentials=credentials(settings.credentials, "gcs"),
                                  client_options=options)
        self._bucket = None
        # a GCS that cannot be reached: a call gives up after io_timeout, and the rest of the
        # run's archive work fails at once (targets/google_down.py)
        self.service = f"GCS ({settings.api_endpoint or 'storage.googleapis.com'})"
        self.retry = DEFAULT_RETRY.with_predicate(GiveUpWhenUnreachable(self.service, settings.io_timeout)).with_delay(
            maximum=backoff_cap(settings.io_timeout))

    @classmethod
    def from_config(cls, section: str = "gcs") -> "GcsArchive":
        settings = GcsSettings.from_config(section)
        key = (os.getpid(), settings)
        if key not in cls._pool:
            cls._pool[key] = cls(settings)
        return cls._pool[key]

    def bucket(self):
        check_up(self.service)
        if self._bucket is None:
            bucket = self.gcs.bucket(self.settings.bucket)
            try:
                if not bucket.exists(retry=self.retry):
                    bucket = self._create(bucket)
            except gexc.Forbidden:
                # no storage.buckets.get: an account with objects in its bucket and nothing more
                # (roles/storage.objectUser on the bucket); its object calls will tell
                pass
            except Exception as e:
                if transient(e):
                    raise TransientError(f"GCS bucket {self.settings.bucket}: {e}") from e
                raise
            self._bucket = bucket
        return self._bucket

    def _create(self, bucket):
        """A bucket found absent, created (``storage.buckets.create`` on the project), or one
        clear ConfigError when the account may not."""
        try:
            return self.gcs.create_bucket(bucket, retry=self.retry)
        except gexc.Forbidden as e:
            raise ConfigError(f"GCS bucket {bucket.name} does not exist, and this account may not create it "
                              f"({said(e)}): create it, or set [gcs] bucket to one that exists") from e

    @staticmethod
    def object_name(folder: str, run_date: dt.date, name: str) -> str:
        return f"{folder.strip('/')}/{run_date.isoformat()}/{name}"

    def archive(self, path: str | os.PathLike, folder: str, run_date: dt.date) -> str:
        """Upload the file (replacing the same object); returns its gs:// URI."""
        name = self.object_name(folder, run_date, Path(path).name)
        blob = self.bucket().blob(name)
        try:
            try:
                blob.upload_from_filename(os.fspath(path), retry=self.retry)
            except gexc.NotFound:  # no bucket (an account that may not look buckets up found out only now)
                self._bucket = self._create(self.bucket())
                blob = self._bucket.blob(name)
                blob.upload_from_filename(os.fspath(path), retry=self.retry)
            faults.point(f"gcs.put:{Path(path).name}")
        except gexc.Forbidden as e:
            raise ConfigError(f"GCS bucket {self.settings.bucket}: this account may not write objects in it "
                              f"({said(e)}): grant it roles/storage.objectUser on the bucket, or create the bucket "
                              "if it does not exist") from e
        except Exception as e:
            if transient(e):
                raise TransientError(f"GCS upload of {Path(path).name}: {e}") from e
            raise
        return f"gs://{self.settings.bucket}/{name}"

    def names(self, folder: str, run_date: dt.date) -> list[str]:
        """The files archived for ``folder`` on ``run_date``, sorted."""
        prefix = self.object_name(folder, run_date, "")
        try:
            found = self.gcs.list_blobs(self.bucket(), prefix=prefix, retry=self.retry)
            return sorted(b.name[len(prefix):] for b in found
                          if "/" not in b.name[len(prefix):])
        except Exception as e:
            if transient(e):
                raise TransientError(f"GCS listing of {prefix}: {e}") from e
            raise

    def fetch(self, folder: str, run_date: dt.date, name: str, local: str | os.PathLike) -> str:
        """The archived copy, downloaded to an atomic local file; returns its gs:// URI."""
        object_name = self.object_name(folder, run_date, name)
        try:
            with atomic_path(local) as tmp:
                self.bucket().blob(object_name).download_to_filename(os.fspath(tmp), retry=self.retry)
        except Exception as e:
            if transient(e):
                raise TransientError(f"GCS download of {object_name}: {e}") from e
            raise
        return f"gs://{self.settings.bucket}/{object_name}"

    def exists(self, folder: str, run_date: dt.date, name: str) -> bool:
        return self.bucket().blob(self.object_name(folder, run_date, name)).exists(retry=self.retry)

    def read(self, uri: str) -> bytes:
        prefix = f"gs://{self.settings.bucket}/"
        if not uri.startswith(prefix):
            raise ValueError(f"{uri} is not in bucket {self.settings.bucket}")
        return self.bucket().blob(uri[len(prefix):]).download_as_bytes(retry=self.retry)
