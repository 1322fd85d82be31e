"""PgSyncClient: a synchronous client for pgsync.v1.PgSyncService (grpcio)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import grpc

from pg_sync_client.errors import error_from_rpc
from pg_sync_client.source_ref import canonical_options
from pg_sync_client.v1 import cursor_pb2, pg_sync_service_pb2 as pb, pg_sync_service_pb2_grpc as pb_grpc
from pg_sync_client.v1 import source_pb2
from pg_sync_client.watch import Backoff, Event, WakeStream, watch_request

__all__ = ["Backoff", "Event", "KEEPALIVE_OPTIONS", "PgSyncClient", "WakeStream", "options_to_proto", "target_of"]

_REPLICAS = {"default": source_pb2.REPLICA_DEFAULT, "full": source_pb2.REPLICA_FULL}


def options_to_proto(options: Mapping[str, Any]) -> source_pb2.SourceOptions:
    """Upstream ``pgSync()`` options (a dict, see :mod:`pg_sync_client.source_ref`) to proto SourceOptions."""
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


#: Channel options of both clients: keepalive pings so a dead connection is noticed on idle streams.
KEEPALIVE_OPTIONS = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000)]


def target_of(url: str) -> tuple[str, bool]:
    """(host:port, tls) from ``http://host:port``, ``https://host:port`` or a bare ``host:port``."""
    if "://" not in url:
        return url, False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"pg-sync url must be http://host:port or https://host:port, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", parts.scheme == "https"



class PgSyncClient:
    """A client for one pg-sync server.

    ``url`` is ``http://host:port`` (plaintext h2c), ``https://host:port`` or ``host:port``;
    ``token`` is sent as ``authorization: Bearer <token>`` on every call. Failed calls raise
    :class:`pg_sync_client.PgSyncError`. Use as a context manager or call :meth:`close`.
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
            target, tls = target_of(url)
            channel = (
                grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=KEEPALIVE_OPTIONS)
                if tls
                else grpc.insecure_channel(target, options=KEEPALIVE_OPTIONS)
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
        overrides it. See :class:`WakeStream` for reconnection and deduplication. Arguments are
        checked before any call: a bad one raises :class:`pg_sync_client.InvalidArgumentError` naming it.
        """
        request = watch_request(
            source_refs,
            ops,
            start,
            resume_token,
            debounce_ms=debounce_ms,
            max_wait_ms=max_wait_ms,
            max_changes_per_wake=max_changes_per_wake,
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        return WakeStream(self, request, heartbeats, backoff, max_attempts)
