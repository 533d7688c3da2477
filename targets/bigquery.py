"""BigQuery: a client from ``[bigquery]``; loads that replace the run's table (so a rerun never
duplicates rows); streaming exports to atomic local files in a per-destination CSV dialect;
views deployed only when their SQL changed (``ViewTarget``). The raw-file archive is
``targets/gcs.py``.

``[bigquery] project, location, api_endpoint`` (emulator), ``credentials`` = ``anonymous``
(emulator), a service-account key file, or empty for application-default credentials
(``GOOGLE_APPLICATION_CREDENTIALS``); ``timeout``: seconds a call keeps retrying a server that
does not answer (default 600, Google's own; the doctor uses a few); ``io_timeout``: seconds one
request may wait for the server's answer (default 120), so a stalled connection is retried.
"""
from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import importlib
import logging
import os
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import google.api_core.exceptions as gexc
import luigi
from google.api_core.client_options import ClientOptions
from google.auth.transport.requests import AuthorizedSession

from formats.csv_dialect import CsvDialect
from formats.csv_header import header_schema
from formats.spreadsheet import is_spreadsheet, to_csv
from targets import faults
from targets.bq_csv import arrow_text, write_rows
from targets.bq_pages import raw_pages
from targets.config import Section
from targets.errors import BadInputError, ConfigError, TransientError
from targets.google import credentials, said, transient
from targets.google_down import GiveUpWhenUnreachable, backoff_cap, check_up
from targets.local import atomic_open, file_digest

logger = logging.getLogger(__name__)


class _OnFirstUse:
    """A module imported when first used: google.cloud.bigquery takes a third of a second (it
    brings pyarrow and the Storage API client along), and a run that finds every step done
    (the no-op rerun) never calls BigQuery."""

    def __init__(self, name: str):
        self._name, self._module = name, None

    def __getattr__(self, attr):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


bigquery = _OnFirstUse("google.cloud.bigquery")

Progress = Callable[[int, int], None]
VIEW_HASH_PREFIX = "sql-sha256:"


@dataclass(frozen=True)
class BigQuerySettings:
    project: str
    location: str = "US"
    api_endpoint: str | None = None
    credentials: str | None = None
    timeout: float = 600.0
    io_timeout: float = 120.0
    storage_api: bool = True
    storage_endpoint: str | None = None
    scratch_dataset: str = "etl_scratch"

    @classmethod
    def from_config(cls, section: str = "bigquery") -> "BigQuerySettings":
        s = Section(section)
        return cls(project=s.str("project", required=True), location=s.str("location", "US"),
                   api_endpoint=s.str("api_endpoint") or None, credentials=s.str("credentials") or None,
                   timeout=s.float("timeout", 600.0), io_timeout=s.float("io_timeout", 120.0),
                   storage_api=s.bool("storage_api", True), storage_endpoint=s.str("storage_endpoint") or None,
                   scratch_dataset=s.str("scratch_dataset", "etl_scratch"))


@dataclass
class LoadOutcome:
    table: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class ExportOutcome:
    path: str
    rows: int
    bytes: int
    sha256: str
    columns: list[str] = field(default_factory=list)


class _BoundedSession(AuthorizedSession):
    """The client's HTTP session, where a request the library sends without a timeout (most
    of them) gets ``[bigquery] io_timeout``: a server that stops answering mid-response
    (a stalled network) fails the call, and ``timeout``'s retries take over, instead of the
    run waiting forever. Requests that carry their own timeout keep it."""

    def __init__(self, credentials, io_timeout: float, service: str):
        super().__init__(credentials)
        self.io_timeout, self.service = io_timeout, service

    def request(self, method, url, *args, timeout=None, **kwargs):
        check_up(self.service)  # found unreachable earlier in this run: fail at once (targets/google_down.py)
        return super().request(method, url, *args, timeout=timeout if timeout is not None else self.io_timeout,
                               **kwargs)


_POOL: dict[tuple[int, BigQuerySettings], "BigQueryClient"] = {}
_POOL_LOCK = threading.Lock()


class BigQueryClient:
    """One google-cloud-bigquery client per settings and process."""

    def __init__(self, settings: BigQuerySettings):
        self.settings = settings
        options = ClientOptions(api_endpoint=settings.api_endpoint) if settings.api_endpoint else None
        creds = credentials(settings.credentials, "bigquery")
        self.creds = creds
        self._read_client = None
        self._datasets: set[str] = set()  # looked up (or created) by this client, in the right location
        self.service = f"BigQuery ({settings.api_endpoint or 'bigquery.googleapis.com'})"
        self.http = _BoundedSession(creds, settings.io_timeout, self.service)
        self.bq = bigquery.Client(project=settings.project, location=settings.location, credentials=creds,
                                  client_options=options, _http=self.http)
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY
        # every call retries a server that does not answer for at most ``timeout`` seconds, and
        # one that cannot be reached for ``io_timeout`` (then not at all for the rest of the run)
        self.retry = DEFAULT_RETRY.with_timeout(settings.timeout).with_predicate(
            GiveUpWhenUnreachable(self.service, settings.io_timeout)).with_delay(
            maximum=backoff_cap(settings.io_timeout))
        self.job_retry = DEFAULT_JOB_RETRY.with_timeout(settings.timeout)

    @classmethod
    def from_config(cls, section: str = "bigquery") -> "BigQueryClient":
        settings = BigQuerySettings.from_config(section)
        key = (os.getpid(), settings)
        with _POOL_LOCK:
            if key not in _POOL:
                _POOL[key] = cls(settings)
            return _POOL[key]

    def table_id(self, table: str) -> str:
        """``dataset.table`` or ``project.dataset.table`` → full id."""
        parts = table.split(".")
        if len(parts) == 2:
            return f"{self.settings.project}.{table}"
        if len(parts) == 3:
            return table
        raise ConfigError(f"BigQuery table must be 'dataset.table', got {table!r}")

    def ensure_dataset(self, dataset: str, expiration_ms: int | None = None) -> None:
        """The dataset, looked up first (``bigquery.datasets.get``, which an account with data
        access to it has) and created only when absent (``datasets.create``, which a
        least-privilege account lacks: asking for it every time, as ``exists_ok`` does, was a
        403 even for a dataset that exists). One in another location than ``[bigquery]
        location`` is a ConfigError naming both: every job would fail with "Not found … in
        location". Once per dataset and client."""
        if dataset in self._datasets:
            return
        ref, want = f"{self.settings.project}.{dataset}", self.settings.location
        try:
            found = self.bq.get_dataset(ref, retry=self.retry)
        except gexc.Forbidden as e:
            raise ConfigError(f"BigQuery dataset {ref}: this account may not read it ({said(e)}); grant it "
                              f"roles/bigquery.dataEditor on the dataset (or create the dataset in {want})") from e
        except gexc.NotFound:
            ds = bigquery.Dataset(ref)
            ds.location, ds.default_table_expiration_ms = want, expiration_ms
            try:
                found = self.bq.create_dataset(ds, exists_ok=True, retry=self.retry)
            except gexc.Forbidden as e:
                raise ConfigError(f"BigQuery dataset {ref} does not exist, and this account may not create it "
                                  f"({said(e)}): create it in {want}, or grant bigquery.datasets.create") from e
        if found.location and want and found.location.lower() != want.lower():
            raise ConfigError(f"BigQuery dataset {ref} is in location {found.location}, but [bigquery] location is "
                              f"{want}: every job would fail with 'Not found'; set [bigquery] location = "
                              f"{found.location}, or use a dataset in {want}")
        self._datasets.add(dataset)

    # -- loads

    def load_file(self, path: str | os.PathLike, table: str, file_format: str = "csv",
                  schema: list[tuple[str, str]] | None = None, header_rows: int = 1, delimiter: str = ",",
                  encoding: str = "UTF-8", sheet: str | None = None, write: str = "truncate",
                  quote: str = '"') -> LoadOutcome:
        """Load one local file into ``table``, replacing it (``truncate``) or appending.

        Spreadsheets are converted to CSV first (explicit formatting). Without a schema the
        columns are read from the header, every one as text (``header_schema``: BigQuery's own
        detection is never relied on); with one, the file must have exactly those columns. The
        file's own sha256 and size are returned for the ledger.
        """
        path = Path(path)
        size, sha = file_digest(path)
        fmt = file_format.lower()
        table_id = self.table_id(table)
        self.ensure_dataset(table_id.split(".")[1])
        with tempfile.TemporaryDirectory(prefix="bq-load-") as tmp:
            source = path
            if fmt in ("xlsx", "xls", "ods") or (fmt == "auto" and is_spreadsheet(path)):
                source = Path(tmp) / (path.stem + ".csv")
                to_csv(path, source, sheet=sheet, header_row=header_rows)
                fmt, header_rows, delimiter, encoding = "csv", 1, ",", "UTF-8"
            elif fmt in ("csv", "txt") and codecs.lookup(encoding).name != "utf-8":
                # Load UTF-8 everywhere: the emulator reads only UTF-8, and one path is simpler.
                source = Path(tmp) / path.name
                _transcode(path, source, encoding)
                encoding = "UTF-8"
            if not schema and fmt in ("csv", "txt"):  # never BigQuery's guess: see header_schema
                schema = header_schema(source, header_rows, delimiter, quote, encoding, str(path))
            config = self._load_config(fmt, schema, header_rows, delimiter, encoding, write, quote)
            if fmt == "parquet" and write == "truncate":
                self._ensure_table(table_id, schema)  # the emulator cannot truncate a missing table
            try:
                with open(source, "rb") as fh:
                    job = self.bq.load_table_from_file(fh, table_id, job_config=config, rewind=True)
                job.result()
                faults.point(f"bq.loaded:{table}")  # in the table, not yet in the ledger
            except gexc.BadRequest as e:
                raise BadInputError(str(path), _first_error(e, job if "job" in locals() else None)) from e
            except Exception as e:
                if transient(e):
                    raise TransientError(f"BigQuery load of {path.name} into {table}: {e}") from e
                raise
        rows = job.output_rows if job.output_rows is not None else self.bq.get_table(table_id, retry=self.retry).num_rows
        logger.info("loaded %s rows from %s into %s", rows, path.name, table_id)
        return LoadOutcome(table_id, int(rows or 0), size, sha)

    @staticmethod
    def _load_config(fmt, schema, header_rows, delimiter, encoding, write, quote) -> bigquery.LoadJobConfig:
        disposition = {"truncate": "WRITE_TRUNCATE", "append": "WRITE_APPEND"}.get(write)
        if disposition is None:
            raise ConfigError(f"write mode must be 'truncate' or 'append', got {write!r}")
        config = bigquery.LoadJobConfig(write_disposition=disposition)
        if fmt in ("csv", "txt"):
            config.source_format = bigquery.SourceFormat.CSV
            config.skip_leading_rows = header_rows
            config.field_delimiter = delimiter
            config.encoding = encoding
            config.quote_character = quote
            config.allow_quoted_newlines = True
        elif fmt == "parquet":
            config.source_format = bigquery.SourceFormat.PARQUET
        else:
            raise ConfigError(f"unknown file format {fmt!r} (csv, txt, xlsx, xls, parquet)")
        if schema:
            config.schema = [bigquery.SchemaField(name, typ) for name, typ in schema]
        return config

    def _ensure_table(self, table_id: str, schema) -> None:
        if schema:
            self.bq.create_table(bigquery.Table(table_id, schema=[bigquery.SchemaField(n, t) for n, t in schema]),
                                 exists_ok=True, retry=self.retry)

    # -- queries and exports

    def _rows(self, sql: str, config: bigquery.QueryJobConfig | None = None, page_size: int | None = None,
              max_results: int | None = None):
        """A query's result. A call the server does not answer is retried (``self.retry``) and a
        job that fails for a passing reason (rate limit, backend error) runs again
        (``self.job_retry``), both for at most ``timeout`` seconds: the library's own query
        retry would wait 600 s whatever ``timeout`` says, so it is off (``job_retry=None``)."""
        def attempt():
            job = self.bq.query(sql, job_config=config, retry=self.retry, job_retry=None)
            result = job.result(page_size=page_size, max_results=max_results, retry=self.retry, job_retry=None)
            result.job = job
            return result
        try:
            return self.job_retry(attempt)()
        except Exception as e:
            if transient(e):
                raise TransientError(f"BigQuery query: {str(e).splitlines()[0][:300]}") from e
            raise

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """A small query's rows as dicts (not for big results: see export)."""
        config = bigquery.QueryJobConfig(query_parameters=[_param(k, v) for k, v in (params or {}).items()])
        return [dict(r.items()) for r in self._rows(sql, config)]

    def columns(self, sql: str) -> list[str]:
        """The column names a query returns (run with LIMIT 0 by the caller's SQL)."""
        return [f.name for f in self._rows(sql).schema]

    def export(self, sql: str, dest: str | os.PathLike, dialect: CsvDialect = CsvDialect(),
               header: list[str] | None = None, page_size: int = 10_000, progress: Progress | None = None,
               params: dict | None = None, mode: int = 0o660, group: str | None = None) -> ExportOutcome:
        """Run ``sql`` and stream its rows into an atomic local CSV file: through the Storage
        Read API (targets/bq_storage.py), or the REST pages with ``storage_api = false``.

        Memory: a record batch or a page and ``page_size`` rows. ``header`` names the columns
        written (by default the result's own names).
        """
        config = bigquery.QueryJobConfig(query_parameters=[_param(k, v) for k, v in (params or {}).items()])
        storage = self.uses_storage_api
        if storage:
            schema, total, batches, cleanup = self._through_storage(sql, config, page_size, dialect)
        else:
            schema, total, batches, cleanup = self._through_pages(sql, config, page_size)
        columns = header or [f.name for f in schema]
        try:
            with atomic_open(dest, encoding=dialect.encoding, mode=mode, group=group) as fh:
                rows = write_rows(fh, batches, schema, columns, dialect, storage, page_size, total, progress)
        except Exception as e:
            if transient(e):
                raise TransientError(f"BigQuery export to {Path(dest).name}: {str(e).splitlines()[0][:300]}") from e
            raise
        finally:
            cleanup()
        size, sha = file_digest(dest)
        logger.info("exported %s rows to %s", rows, dest)
        return ExportOutcome(os.fspath(dest), rows, size, sha, columns)

    @property
    def uses_storage_api(self) -> bool:
        """Do exports read through the Storage Read API? An emulator's REST endpoint without its
        gRPC one reads the pages (Google's own never does, unless ``storage_api = false``)."""
        return self.settings.storage_api and bool(self.settings.storage_endpoint or not self.settings.api_endpoint)

    def _through_pages(self, sql: str, config, page_size: int):
        result = self._rows(sql, config, page_size=1, max_results=1)  # the schema and row count
        pages = raw_pages(self.http, self.settings.api_endpoint or "https://bigquery.googleapis.com",
                          result.job.project, result.job.job_id, result.job.location, page_size, self.retry)
        return result.schema, result.total_rows or 0, pages, lambda: None

    def _through_storage(self, sql: str, config, page_size: int, dialect: CsvDialect):
        """The rows kept in a scratch table (expiring in a day), read as Arrow (record batches
        as they come when ``arrow_text`` says Arrow writes them, else rows); the cleanup drops
        the table."""
        scratch = f"{self.settings.project}.{self.settings.scratch_dataset}"
        self.ensure_dataset(self.settings.scratch_dataset, expiration_ms=86_400_000)
        table_id = f"{scratch}.export_{uuid.uuid4().hex}"
        self._rows(f"CREATE TABLE `{table_id}` OPTIONS(expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(),"
                   f" INTERVAL 1 DAY)) AS\n{sql}", config)

        def cleanup():
            try:
                self.bq.delete_table(table_id, not_found_ok=True, retry=self.retry)
            except Exception as e:  # it expires by itself in a day
                logger.warning("could not drop the export's scratch table %s: %s", table_id, e)
        try:
            table = self.bq.get_table(table_id, retry=self.retry)
            from targets.bq_storage import read_client, table_batches, table_rows
            if self._read_client is None:
                self._read_client = read_client(self.settings.storage_endpoint, self.creds)
            s = self.settings
            reopen = lambda: read_client(s.storage_endpoint, self.creds)  # noqa: E731  (a new connection after a stall)
            if arrow_text(table.schema, dialect):
                rows = table_batches(self._read_client, s.project, table_id, s.timeout, s.io_timeout, reopen)
            else:
                rows = table_rows(self._read_client, s.project, table_id, s.timeout, min(page_size, 5000), s.io_timeout,
                                  reopen)
        except BaseException:
            cleanup()
            raise
        return table.schema, table.num_rows or 0, rows, cleanup

    # -- views

    def view_is_current(self, view: str, sql: str) -> bool:
        """The view exists with exactly this SQL (one metadata call: the SQL's sha256 is kept
        in the view's description)."""
        try:
            existing = self.bq.get_table(self.table_id(view), retry=self.retry)
        except gexc.NotFound:
            return False
        return (existing.description or "") == _view_digest(sql)

    def deploy_view(self, view: str, sql: str) -> bool:
        """Create or replace a view when its SQL changed; True if it was (re)deployed.

        An existing view is replaced in place (``tables.patch``), never deleted first: BigQuery
        checks a view's SQL when it is written, and a create that failed after a delete left no
        view at all. A view whose source tables do not exist yet (the first deploy before the
        first load) is a TransientError that says so; the view stays as it was, and the next
        run, after the load, deploys it."""
        view_id = self.table_id(view)
        digest = _view_digest(sql)
        self.ensure_dataset(view_id.split(".")[1])
        try:
            existing = self.bq.get_table(view_id, retry=self.retry)
        except gexc.NotFound:
            existing = None
        if existing is not None and (existing.description or "") == digest:
            return False
        try:
            if existing is not None:
                existing.view_query, existing.description = sql, digest
                self.bq.update_table(existing, ["view_query", "description"], retry=self.retry)
            else:
                table = bigquery.Table(view_id)
                table.view_query, table.description = sql, digest
                self.bq.create_table(table, retry=self.retry)
        except gexc.NotFound as e:
            stays = "stays as it was" if existing is not None else "is not created yet"
            why = ((e.errors or [{}])[0] or {}).get("message") or e.message
            raise TransientError(f"BigQuery view {view_id} reads what does not exist yet ({why}): the view "
                                 f"{stays}; the next run deploys it once its sources are loaded") from e
        logger.info("deployed view %s", view_id)
        return True


class ViewTarget(luigi.Target):
    """A BigQuery view deployed with exactly this SQL."""

    def __init__(self, client: BigQueryClient, view: str, sql: str):
        self.client, self.view, self.sql = client, view, sql

    def exists(self) -> bool:
        return self.client.view_is_current(self.view, self.sql)

    def __repr__(self) -> str:
        return f"ViewTarget({self.view!r})"


def _view_digest(sql: str) -> str:
    return VIEW_HASH_PREFIX + hashlib.sha256(sql.encode("utf-8")).hexdigest()


def _transcode(src: Path, dest: Path, encoding: str) -> None:
    try:
        with open(src, encoding=encoding, newline="") as fin, open(dest, "w", encoding="utf-8", newline="") as fout:
            for block in iter(lambda: fin.read(1 << 20), ""):
                fout.write(block)
    except UnicodeDecodeError as e:
        raise BadInputError(str(src), f"bytes not valid {encoding}: {e.reason}") from e


def _param(name: str, value) -> bigquery.ScalarQueryParameter:
    types = [(bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (dt.datetime, "DATETIME"), (dt.date, "DATE")]
    for py, bq in types:
        if isinstance(value, py):
            return bigquery.ScalarQueryParameter(name, bq, value)
    return bigquery.ScalarQueryParameter(name, "STRING", value)


def _first_error(e: Exception, job) -> str:
    errors = getattr(job, "errors", None) or getattr(e, "errors", None) or []
    for err in errors:
        msg = err.get("message") if isinstance(err, dict) else None
        if msg:
            return msg
    return str(getattr(e, "message", e))
