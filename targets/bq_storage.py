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

A stream is read on from its offset after a deadline, a dropped connection or a stall
(``_responses``; docs/google.md).

``[bigquery] storage_endpoint``: ``host:port`` of a local gRPC API (the emulator, or the
stack's front: gRPC's "local" channel carries the token, plain gRPC when the credentials are
anonymous); empty for Google's own (TLS, the section's credentials).
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
                    ("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 20_000),
                    # a channel of its own connections: a new channel after a stall is a new
                    # connection, not the stalled one from gRPC's process-wide pool
                    ("grpc.use_local_subchannel_pool", 1),
                    # at most 4 MB read ahead of what the export has written, instead of a window
                    # gRPC grows by probing (on loopback, most of a stream of 13 MB messages was
                    # held while the CSV was written); 4 MB per round trip is 100 MB/s at 40 ms
                    ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4 << 20)]


def _retry(deadline: float) -> retries.Retry:
    """Unavailable (refused, reset) and deadline errors tried again for ``deadline`` seconds."""
    return retries.Retry(predicate=retries.if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded),
                         initial=0.5, maximum=5.0, multiplier=2.0, timeout=deadline)


def read_client(endpoint: str | None, credentials) -> bigquery_storage.BigQueryReadClient:
    """Google's API (TLS, the credentials), or a local ``endpoint``: plain gRPC on loopback,
    carrying the credentials' token unless they are anonymous (an emulator)."""
    if endpoint:
        import grpc
        from google.auth.credentials import AnonymousCredentials
        if credentials is None or isinstance(credentials, AnonymousCredentials):
            channel = grpc.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
        else:
            # gRPC sends call credentials only over a secure channel; "local" is loopback's
            from google.auth.transport.grpc import AuthMetadataPlugin
            from google.auth.transport.requests import Request
            channel = grpc.secure_channel(endpoint, grpc.composite_channel_credentials(
                grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP),
                grpc.metadata_call_credentials(AuthMetadataPlugin(credentials, Request()))), options=_CHANNEL_OPTIONS)
        return bigquery_storage.BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
    return bigquery_storage.BigQueryReadClient(credentials=credentials)


def table_batches(client: bigquery_storage.BigQueryReadClient, project: str, table_id: str,
                  timeout: float, io_timeout: float = 120.0, reopen=None) -> Iterator[pa.RecordBatch]:
    """The rows of ``project.dataset.table`` as the Arrow record batches the API sends (a few
    MB each). An API that does not answer fails the export within ``io_timeout`` (the
    library's own retry would try again for ten minutes); a stream is read on from its offset
    after a deadline (each read may take ``timeout``), a dropped connection or a stall
    (``reopen``: a new client, so a new connection, after a stall)."""
    _, dataset, table = table_id.split(".")
    session = client.create_read_session(
        parent=f"projects/{project}", max_stream_count=1, timeout=io_timeout, retry=_retry(io_timeout),
        read_session=types.ReadSession(table=f"projects/{project}/datasets/{dataset}/tables/{table}",
                                       data_format=types.DataFormat.ARROW))
    if not session.streams:  # an empty table has none
        return
    schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
    for stream in session.streams:
        for data in _responses(client, stream.name, timeout, io_timeout, reopen, _batch_bytes):
            yield pa.ipc.read_record_batch(pa.py_buffer(data), schema)


def _batch_bytes(response) -> bytes:
    return response.arrow_record_batch.serialized_record_batch


# what ends a stream worth reading on from its offset: a deadline, a dropped or refused
# connection, a stream the server closed (HTTP/2 RST_STREAM), our own watchdog's cancel
_RESUMABLE = {"DEADLINE_EXCEEDED", "UNAVAILABLE", "UNKNOWN", "INTERNAL", "CANCELLED"}


def _responses(client: bigquery_storage.BigQueryReadClient, stream: str, timeout: float, io_timeout: float,
               reopen=None, extract=None):
    """A stream's responses, read on from its offset (the rows received so far) after a
    deadline (each read may take ``timeout``), a dropped connection, or ``io_timeout`` without
    a response (a stalled connection, cancelled by a watchdog). A read that brought rows is
    always read on from; one that brought none is tried again until ``io_timeout`` has passed
    without a row, then it is a TransientError naming the stream's row. ``extract``: yield
    what it takes from each response instead, the response itself let go at once."""
    import logging
    import threading
    import time

    import grpc

    from targets.errors import TransientError
    log = logging.getLogger(__name__)
    offset, progress, backoff = 0, time.monotonic(), 0.5
    while True:
        # the gRPC call itself, not the library's reader: one we can cancel, at an offset we choose
        call = client.transport.read_rows(types.ReadRowsRequest(read_stream=stream, offset=offset), timeout=timeout,
                                          metadata=[("x-goog-request-params", f"read_stream={stream}")])
        last, stalled, started_at = [time.monotonic()], threading.Event(), offset
        done = threading.Event()

        def watch(call=call, last=last, stalled=stalled, done=done):
            while not done.wait(min(1.0, io_timeout / 4)):
                if time.monotonic() - last[0] > io_timeout:
                    stalled.set()
                    call.cancel()
                    return
        threading.Thread(target=watch, daemon=True).start()
        try:
            for response in call:
                last[0] = progress = time.monotonic()
                offset += response.row_count
                backoff = 0.5
                if extract is None:
                    yield response
                    continue
                data = extract(response)
                del response  # the message (as big as its rows) is not kept while its rows are written
                yield data
            return
        except grpc.RpcError as e:
            code = e.code().name if e.code() else "UNKNOWN"
            if code not in _RESUMABLE:
                raise gexc.from_grpc_error(e) from e  # refused (permissions, a table gone): as the library says it
            if offset == started_at and time.monotonic() - progress > io_timeout:  # this read brought no row
                raise TransientError(f"BigQuery Storage Read stream {stream.rsplit('/', 1)[-1]} failed at row "
                                     f"{offset:,} ({code}: {e.details()}); no row for "
                                     f"{time.monotonic() - progress:.0f}s") from e
            log.info("Storage Read stream %s: %s at row %d; reading on from there", stream.rsplit("/", 1)[-1],
                     "no answer for %.0fs" % io_timeout if stalled.is_set() else code, offset)
            if stalled.is_set() and reopen is not None:
                client = reopen()  # the stalled connection may still look open: a new one
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            done.set()
            call.cancel()  # ended, failed, or its reader stopped early: nothing more of it is wanted


def table_rows(client: bigquery_storage.BigQueryReadClient, project: str, table_id: str, timeout: float,
               slice_rows: int = 10_000, io_timeout: float = 120.0, reopen=None) -> Iterator[list[list]]:
    """The rows of ``project.dataset.table`` as lists of Python values (dates, decimals,
    booleans as the BigQuery client gives them), ``slice_rows`` at a time; memory: one record
    batch (a few MB) and one slice of values."""
    for batch in table_batches(client, project, table_id, timeout, io_timeout, reopen):
        for start in range(0, batch.num_rows, slice_rows):
            part = batch.slice(start, slice_rows)
            yield [list(row) for row in zip(*(column.to_pylist() for column in part.columns))]
