"""PgSyncClient: a synchronous client for pgsync.v1.PgSyncService (grpcio)."""

from __future__ import annotations

import collections
import random
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence, Union
from urllib.parse import urlsplit

import grpc

from pgsync.errors import PgSyncError, error_from_rpc
from pgsync.source_ref import canonical_options
from pgsync.v1 import cursor_pb2, pg_sync_service_pb2 as pb, pg_sync_service_pb2_grpc as pb_grpc
from pgsync.v1 import source_pb2, wake_pb2

__all__ = ["Backoff", "Event", "PgSyncClient", "WakeStream", "options_to_proto"]

#: What a WakeStream yields: the proto frames themselves.
Event = Union[wake_pb2.Wake, wake_pb2.Ready, wake_pb2.Gap, wake_pb2.SourceStatus, wake_pb2.Heartbeat]

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})
# A stream that broke after it delivered frames (e.g. an HTTP/2 reset) is resumed too.
_RETRYABLE_MID_STREAM = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
_OPS = {
    "insert": wake_pb2.OPERATION_INSERT,
    "update": wake_pb2.OPERATION_UPDATE,
    "delete": wake_pb2.OPERATION_DELETE,
}
_STARTS = {
    "now": wake_pb2.START_POSITION_NOW,
    "earliest": wake_pb2.START_POSITION_EARLIEST,
}
_REPLICAS = {"default": source_pb2.REPLICA_DEFAULT, "full": source_pb2.REPLICA_FULL}
_SEEN_IDS_PER_SOURCE = 10_000


def options_to_proto(options: Mapping[str, Any]) -> source_pb2.SourceOptions:
    """Upstream ``pgSync()`` options (a dict, see :mod:`pgsync.source_ref`) to proto SourceOptions."""
    canonical_options(options)  # validates field names and types
    msg = source_pb2.SourceOptions(table=options["table"])
    if options.get("url") is not None:
        msg.url = options["url"]
    if options.get("columns"):
        msg.columns.extend(options["columns"])
    if options.get("where") is not None:
        msg.where = options["where"]
    params = options.get("params")
    if isinstance(params, Mapping):
        msg.named_params.values.update({k: v for k, v in params.items() if v is not None})
        msg.named_params.SetInParent()
    elif params is not None:
        msg.positional_params.values.extend(params)
        msg.positional_params.SetInParent()
    if options.get("replica") is not None:
        msg.replica = _REPLICAS[options["replica"]]
    for k, v in (options.get("metadata") or {}).items():
        if v is not None:
            msg.metadata[k] = v
    return msg


def _target(url: str) -> tuple[str, bool]:
    """(host:port, tls) from ``http://host:port``, ``https://host:port`` or a bare ``host:port``."""
    if "://" not in url:
        return url, False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"pg-sync url must be http://host:port or https://host:port, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", parts.scheme == "https"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n sleeps uniform(0, min(maximum, initial * multiplier**(n-1)))."""

    initial: float = 0.1
    maximum: float = 5.0
    multiplier: float = 2.0

    def delay(self, attempt: int) -> float:
        cap = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        return random.uniform(0, cap)


class PgSyncClient:
    """A client for one pg-sync server.

    ``url`` is ``http://host:port`` (plaintext h2c), ``https://host:port`` or ``host:port``;
    ``token`` is sent as ``authorization: Bearer <token>`` on every call. Failed calls raise
    :class:`pgsync.PgSyncError`. Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float | None = 30.0,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        if channel is None:
            target, tls = _target(url)
            opts = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000)]
            channel = (
                grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=opts)
                if tls
                else grpc.insecure_channel(target, options=opts)
            )
        self._channel = channel
        self._stub = pb_grpc.PgSyncServiceStub(channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "PgSyncClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unary(self, method: Any, request: Any) -> Any:
        try:
            return method(request, metadata=self._metadata, timeout=self.timeout)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None

    def register_source(self, options: Mapping[str, Any] | source_pb2.SourceOptions) -> pb.RegisterSourceResponse:
        """Registers a source (idempotent); returns the response (``source_ref``, ``created``, ``source``)."""
        proto = options if isinstance(options, source_pb2.SourceOptions) else options_to_proto(options)
        return self._unary(self._stub.RegisterSource, pb.RegisterSourceRequest(options=proto))

    def get_source(self, source_ref: str) -> source_pb2.Source:
        return self._unary(self._stub.GetSource, pb.GetSourceRequest(source_ref=source_ref)).source

    def list_sources(self, page_size: int = 0, page_token: str = "") -> pb.ListSourcesResponse:
        """One page of the caller's sources (``sources``, ``next_page_token``)."""
        return self._unary(self._stub.ListSources, pb.ListSourcesRequest(page_size=page_size, page_token=page_token))

    def iter_sources(self, page_size: int = 0) -> Iterator[source_pb2.Source]:
        """Every source of the caller, following page tokens."""
        token = ""
        while True:
            page = self.list_sources(page_size, token)
            yield from page.sources
            token = page.next_page_token
            if not token:
                return

    def delete_source(self, source_ref: str) -> str:
        return self._unary(self._stub.DeleteSource, pb.DeleteSourceRequest(source_ref=source_ref)).source_ref

    def get_cursor(self, source_ref: str) -> cursor_pb2.Cursor:
        return self._unary(self._stub.GetCursor, pb.GetCursorRequest(source_ref=source_ref)).cursor

    def watch_wakes(
        self,
        source_refs: str | Sequence[str],
        ops: Iterable[str | int] | None = None,
        debounce_ms: int = 0,
        start: str | int = "now",
        *,
        resume_token: str | None = None,
        max_wait_ms: int = 0,
        max_changes_per_wake: int = 0,
        heartbeat_interval_ms: int = 0,
        heartbeats: bool = False,
        backoff: Backoff = Backoff(),
        max_attempts: int | None = None,
    ) -> "WakeStream":
        """Watches sources; returns a :class:`WakeStream` (an iterator of events).

        ``ops``: ``"insert"``/``"update"``/``"delete"`` (or Operation values); empty means all.
        ``start``: ``"now"`` or ``"earliest"`` (or StartPosition values); ``resume_token``
        overrides it. See :class:`WakeStream` for reconnection and deduplication.
        """
        refs = [source_refs] if isinstance(source_refs, str) else list(source_refs)
        op_values = [_OPS[o] if isinstance(o, str) else int(o) for o in (ops or ())]
        start_value = _STARTS[start] if isinstance(start, str) else int(start)
        request = pb.WatchWakesRequest(
            source_refs=refs,
            ops=op_values,
            debounce_ms=debounce_ms,
            max_wait_ms=max_wait_ms,
            max_changes_per_wake=max_changes_per_wake,
            heartbeat_interval_ms=heartbeat_interval_ms,
            start_position=start_value,
        )
        return WakeStream(self, request, resume_token or "", heartbeats, backoff, max_attempts)


class WakeStream:
    """An iterator over a WatchWakes stream that survives reconnects.

    It yields the proto frames: ``Wake``, ``Ready`` (again after every reconnect, once the
    backlog is delivered), ``Gap``, ``SourceStatus`` and, when asked for, ``Heartbeat``. Every
    frame's resume token is remembered (:attr:`resume_token`). When the stream ends with
    UNAVAILABLE, RESOURCE_EXHAUSTED or ABORTED (server shutdown, slow consumer, lost connection)
    (or INTERNAL/UNKNOWN after frames were delivered: a broken stream) it reconnects after an
    exponential full-jitter backoff, resuming from the last token (or the
    ``pgsync-resume-token`` trailer when no frame carried one yet). A wake whose id was already
    yielded, or whose seq range was already covered, is dropped, so no wake id is yielded twice
    (the memory is cleared for a source on a SOURCE_RESET gap or its deletion, since seqs then
    restart). Other errors raise :class:`pgsync.PgSyncError`; so does exhausting ``max_attempts``
    consecutive failed attempts. A stream the server ends normally ends the iteration.
    """

    def __init__(
        self,
        client: PgSyncClient,
        request: pb.WatchWakesRequest,
        resume_token: str,
        heartbeats: bool,
        backoff: Backoff,
        max_attempts: int | None,
    ) -> None:
        self._client = client
        self._request = request
        self._token = resume_token
        self._heartbeats = heartbeats
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._closed = threading.Event()
        self._call: Any = None
        self._seen: dict[str, collections.OrderedDict[str, None]] = {}
        self._high: dict[str, int] = {}
        self._gen = self._run()
        #: Number of reconnects so far.
        self.reconnects = 0
        #: The last error that caused a reconnect.
        self.last_error: PgSyncError | None = None

    @property
    def resume_token(self) -> str:
        """Token of the last frame received: a new stream started with it loses nothing."""
        return self._token

    def __iter__(self) -> "WakeStream":
        return self

    def __next__(self) -> Event:
        return next(self._gen)

    def __enter__(self) -> "WakeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancels the stream; safe from another thread (the iteration then ends)."""
        self._closed.set()
        call = self._call
        if call is not None:
            call.cancel()

    def _forget(self, source_ref: str) -> None:
        self._seen.pop(source_ref, None)
        self._high.pop(source_ref, None)

    def _is_new(self, wake: wake_pb2.Wake) -> bool:
        seen = self._seen.setdefault(wake.source_ref, collections.OrderedDict())
        if wake.wake_id in seen or wake.last_seq <= self._high.get(wake.source_ref, 0):
            return False
        seen[wake.wake_id] = None
        if len(seen) > _SEEN_IDS_PER_SOURCE:
            seen.popitem(last=False)
        self._high[wake.source_ref] = max(self._high.get(wake.source_ref, 0), wake.last_seq)
        return True

    def _next_request(self) -> pb.WatchWakesRequest:
        req = pb.WatchWakesRequest()
        req.CopyFrom(self._request)
        if self._token:
            req.resume_token = self._token
        return req

    def _run(self) -> Iterator[Event]:
        failures = 0
        while not self._closed.is_set():
            call = self._client._stub.WatchWakes(self._next_request(), metadata=self._client._metadata)
            self._call = call
            if self._closed.is_set():
                call.cancel()
            got_frame = False
            try:
                for resp in call:
                    failures = 0
                    got_frame = True
                    kind = resp.WhichOneof("event")
                    if kind == "wake":
                        self._token = resp.wake.resume_token or self._token
                        if self._is_new(resp.wake):
                            yield resp.wake
                    elif kind == "ready":
                        self._token = resp.ready.resume_token or self._token
                        yield resp.ready
                    elif kind == "gap":
                        self._token = resp.gap.resume_token or self._token
                        if resp.gap.reason == wake_pb2.GAP_REASON_SOURCE_RESET:
                            self._forget(resp.gap.source_ref)
                        yield resp.gap
                    elif kind == "status":
                        self._token = resp.status.resume_token or self._token
                        if resp.status.deleted:
                            self._forget(resp.status.source_ref)
                        yield resp.status
                    elif kind == "heartbeat":
                        self._token = resp.heartbeat.resume_token or self._token
                        if self._heartbeats:
                            yield resp.heartbeat
                return
            except grpc.RpcError as rpc_err:
                if self._closed.is_set():
                    return
                err = error_from_rpc(rpc_err)
                if err.code not in _RETRYABLE and not (got_frame and err.code in _RETRYABLE_MID_STREAM):
                    raise err from None
                if not self._token and err.resume_token:
                    self._token = err.resume_token
                failures += 1
                self.last_error = err
                if self._max_attempts is not None and failures >= self._max_attempts:
                    raise err from None
                self.reconnects += 1
                if self._closed.wait(self._backoff.delay(failures)):
                    return
            finally:
                self._call = None
                call.cancel()
