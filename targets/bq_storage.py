"""Large query results through the BigQuery Storage Read API, as Arrow record batches.

The query's rows are kept in a table of the scratch dataset (``CREATE TABLE … AS``, expiring
after a day should the run die before it drops it), read in one stream of Arrow record
batches, handed on as they come (``table_batches``: an export whose column types
formats/arrow_csv.py ``csv_text`` writes) or as rows of Python values, a slice of
``slice_rows`` at a time, and the table is dropped. Neither side converts a cell through JSON: at 500,000 students an export
took 8 times less time than through the REST pages (which the emulator, a Python process,
serialises cell by cell, and the library parses so). ``[bigquery] storage_api = false``
keeps the REST pages (targets/bq_pages.py), e.g. for an account without the
``bigquery.readsessions.*`` permissions.

``[bigquery] storage_endpoint``: ``host:port`` of the emulator's gRPC API (plain gRPC on
loopback); empty for Google's own (TLS, the section's credentials).
"""
from __future__ import annotations

from typing import Iterator

import google.api_core.exceptions as gexc
import pyarrow as pa
from google.api_core import retry as retries
from google.cloud import bigquery_storage
from google.cloud.bigquery_storage import types
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1),
                    # a connection that stops answering is noticed within a minute
                    ("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 20_000)]


def _retry(deadline: float) -> retries.Retry:
    """Unavailable (refused, reset) and deadline errors tried again for ``deadline`` seconds."""
    return retries.Retry(predicate=retries.if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded),
                         initial=0.5, maximum=5.0, multiplier=2.0, timeout=deadline)


def read_client(endpoint: str | None, credentials) -> bigquery_storage.BigQueryReadClient:
    if endpoint:
        import grpc
        channel = grpc.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
        return bigquery_storage.BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
    return bigquery_storage.BigQueryReadClient(credentials=credentials)


def table_batches(client: bigquery_storage.BigQueryReadClient, project: str, table_id: str,
                  timeout: float, io_timeout: float = 120.0) -> Iterator[pa.RecordBatch]:
    """The rows of ``project.dataset.table`` as the Arrow record batches the API sends (a few
    MB each). An API that does not answer fails the export within ``io_timeout`` (the
    library's own retry would try again for ten minutes); a read within ``timeout``."""
    _, dataset, table = table_id.split(".")
    session = client.create_read_session(
        parent=f"projects/{project}", max_stream_count=1, timeout=io_timeout, retry=_retry(io_timeout),
        read_session=types.ReadSession(table=f"projects/{project}/datasets/{dataset}/tables/{table}",
                                       data_format=types.DataFormat.ARROW))
    if not session.streams:  # an empty table has none
        return
    schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
    for stream in session.streams:
        for response in client.read_rows(stream.name, timeout=timeout, retry=_retry(io_timeout)):
            yield pa.ipc.read_record_batch(pa.py_buffer(response.arrow_record_batch.serialized_record_batch), schema)


def table_rows(client: bigquery_storage.BigQueryReadClient, project: str, table_id: str, timeout: float,
               slice_rows: int = 10_000, io_timeout: float = 120.0) -> Iterator[list[list]]:
    """The rows of ``project.dataset.table`` as lists of Python values (dates, decimals,
    booleans as the BigQuery client gives them), ``slice_rows`` at a time; memory: one record
    batch (a few MB) and one slice of values."""
    for batch in table_batches(client, project, table_id, timeout, io_timeout):
        for start in range(0, batch.num_rows, slice_rows):
            part = batch.slice(start, slice_rows)
            yield [list(row) for row in zip(*(column.to_pylist() for column in part.columns))]
