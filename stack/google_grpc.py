"""The identity front for the BigQuery Storage Read API (gRPC), as the stack plays Google
(issue 26): before the emulator's gRPC port, it refuses what Google refuses and reads a stream
from its offset as Google does.

- **Identity.** A call needs a live token with a BigQuery scope in its ``authorization``
  metadata (``UNAUTHENTICATED`` / ``PERMISSION_DENIED`` otherwise, before the emulator sees
  it); with a policy, ``CreateReadSession`` needs ``bigquery.readsessions.create`` on the
  project and ``bigquery.tables.getData`` on the table's dataset, ``ReadRows``
  ``bigquery.readsessions.getData``.
- **Offsets.** ``ReadRows`` with an ``offset`` starts at that row, as Google's API does when a
  client resumes a stream after a deadline or a dropped connection. The emulator ignores
  ``offset`` and starts again at row 0: resumed there, an export would repeat its rows. The
  front reads from row 0 and skips ``offset`` rows, slicing the record batch the offset falls
  in (it keeps each session's Arrow schema for that).

Messages pass through as bytes; only the requests it must read are parsed.
"""
from __future__ import annotations

import threading
from concurrent import futures

import grpc

_SERVICE = "/google.cloud.bigquery.storage.v1.BigQueryRead/"
_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class ReadFront:
    """A gRPC server on ``port`` (0: any) in front of ``upstream`` (``host:port``)."""

    def __init__(self, registry, upstream: str, port: int = 0, policy=None):
        self.registry, self.policy = registry, policy
        self.upstream = grpc.insecure_channel(upstream, options=_OPTIONS)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=_OPTIONS)
        self.server.add_generic_rpc_handlers((_Handler(self),))
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.schemas: dict[str, bytes] = {}  # read session name -> its serialized Arrow schema
        self.reads: list[tuple[str, int]] = []  # (stream, offset) of each ReadRows (tests read it)
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "ReadFront":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None)
        self.upstream.close()

    # -- the checks

    def _identity(self, context) -> str:
        from stack.google_identity import Token, authenticate
        metadata = dict(context.invocation_metadata())
        checked = authenticate(self.registry, "bigquery", metadata.get("authorization"))
        if not isinstance(checked, Token):
            status, body = checked
            code = grpc.StatusCode.UNAUTHENTICATED if status == 401 else grpc.StatusCode.PERMISSION_DENIED
            context.abort(code, body["error"]["message"])
        return checked.identity

    def _allow(self, context, identity: str, needs: list) -> None:
        if self.policy is None:
            return
        need = self.policy.denied(identity, needs)
        if need is not None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, need.message)

    # -- the calls

    def create_read_session(self, request: bytes, context) -> bytes:
        from google.cloud.bigquery_storage import types

        from stack.google_iam import Need, table_need
        identity = self._identity(context)
        asked = types.CreateReadSessionRequest.deserialize(request)
        project = asked.parent.split("/")[1]
        table = asked.read_session.table.split("/")  # projects/p/datasets/d/tables/t
        needs = [Need("bigquery.readsessions.create", f"projects/{project}",
                      f"request failed: the user does not have 'bigquery.readsessions.create' permission for "
                      f"'projects/{project}'")]
        if len(table) == 6:
            needs.append(table_need("bigquery.tables.getData", table[1], table[3], table[5]))
        self._allow(context, identity, needs)
        answer = self._forward(context, "CreateReadSession", request)
        session = types.ReadSession.deserialize(answer)
        with self._lock:
            self.schemas[session.name] = session.arrow_schema.serialized_schema
        return answer

    def read_rows(self, request: bytes, context):
        from google.cloud.bigquery_storage import types
        identity = self._identity(context)
        asked = types.ReadRowsRequest.deserialize(request)
        project = asked.read_stream.split("/")[1]
        from stack.google_iam import Need
        self._allow(context, identity, [Need("bigquery.readsessions.getData", f"projects/{project}",
                                             f"request failed: the user does not have 'bigquery.readsessions.getData' "
                                             f"permission for '{asked.read_stream}'")])
        with self._lock:
            self.reads.append((asked.read_stream, asked.offset))
        skip = asked.offset
        from_zero = types.ReadRowsRequest(read_stream=asked.read_stream, offset=0)
        try:
            call = self.upstream.unary_stream(_SERVICE + "ReadRows")(
                types.ReadRowsRequest.serialize(from_zero), timeout=context.time_remaining())
            context.add_callback(call.cancel)  # the client went away: so does the emulator's stream
            for answer in call:
                if skip == 0:
                    yield answer
                    continue
                response = types.ReadRowsResponse.deserialize(answer)
                if response.row_count <= skip:
                    skip -= response.row_count
                    continue
                yield self._sliced(asked.read_stream, response, skip)
                skip = 0
        except grpc.RpcError as e:
            context.abort(e.code(), e.details())

    def _sliced(self, stream: str, response, skip: int) -> bytes:
        """The response's rows from ``skip`` on (the offset falls inside its record batch)."""
        import pyarrow as pa
        from google.cloud.bigquery_storage import types
        session = stream.rsplit("/streams/", 1)[0]
        with self._lock:
            schema = pa.ipc.read_schema(pa.py_buffer(self.schemas[session]))
        batch = pa.ipc.read_record_batch(pa.py_buffer(response.arrow_record_batch.serialized_record_batch), schema)
        rest = batch.slice(skip)
        return types.ReadRowsResponse.serialize(types.ReadRowsResponse(
            row_count=rest.num_rows,
            arrow_record_batch=types.ArrowRecordBatch(serialized_record_batch=rest.serialize().to_pybytes(),
                                                      row_count=rest.num_rows)))

    def other(self, method: str, request: bytes, context) -> bytes:
        self._identity(context)
        return self._forward(context, method, request)

    def _forward(self, context, method: str, request: bytes) -> bytes:
        try:
            return self.upstream.unary_unary(_SERVICE + method)(request, timeout=context.time_remaining())
        except grpc.RpcError as e:
            context.abort(e.code(), e.details())


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, front: ReadFront):
        self.front = front

    def service(self, details):
        method = details.method
        if not method.startswith(_SERVICE):
            return None
        name = method[len(_SERVICE):]
        if name == "ReadRows":
            return grpc.unary_stream_rpc_method_handler(self.front.read_rows)
        if name == "CreateReadSession":
            return grpc.unary_unary_rpc_method_handler(self.front.create_read_session)
        return grpc.unary_unary_rpc_method_handler(lambda request, context: self.front.other(name, request, context))
