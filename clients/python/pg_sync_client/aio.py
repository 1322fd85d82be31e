"""AsyncPgSyncClient: the asyncio client (grpc.aio), with the same calls and resume rules as the
synchronous :class:`pg_sync_client.PgSyncClient`.

>>> async with AsyncPgSyncClient("http://127.0.0.1:50051", token) as client:
...     ref = (await client.register_source({"table": "todos"})).source_ref
...     async with client.watch_wakes([ref], ops=["insert"]) as stream:
...         async for event in stream:
...             ...
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterable, Mapping, Sequence

import grpc
import grpc.aio

from pg_sync_client.client import KEEPALIVE_OPTIONS, options_to_proto, target_of
from pg_sync_client.errors import PgSyncError, error_from_rpc
from pg_sync_client.v1 import cursor_pb2, pg_sync_service_pb2 as pb, pg_sync_service_pb2_grpc as pb_grpc
from pg_sync_client.v1 import source_pb2
from pg_sync_client.watch import Backoff, Event, _ResumeState, watch_request

__all__ = ["AsyncPgSyncClient", "AsyncWakeStream"]


class AsyncPgSyncClient:
    """An asyncio client for one pg-sync server (grpc.aio).

    Arguments and results are those of :class:`pg_sync_client.PgSyncClient`; every call is a
    coroutine, and :meth:`watch_wakes` returns an :class:`AsyncWakeStream` (``async for``).
    Failed calls raise :class:`pg_sync_client.PgSyncError`. Create it inside the event loop that
    uses it; use ``async with`` or ``await client.close()``.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float | None = 30.0,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        if channel is None:
            target, tls = target_of(url)
            channel = (
                grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=KEEPALIVE_OPTIONS)
                if tls
                else grpc.aio.insecure_channel(target, options=KEEPALIVE_OPTIONS)
            )
        self._channel = channel
        self._stub = pb_grpc.PgSyncServiceStub(channel)

    async def close(self) -> None:
        """Closes the channel; open streams end with an error."""
        await self._channel.close()

    async def __aenter__(self) -> "AsyncPgSyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, metadata=self._metadata, timeout=self.timeout)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None

    async def register_source(self, options: Mapping[str, Any] | source_pb2.SourceOptions) -> pb.RegisterSourceResponse:
        """Registers a source (idempotent); returns the response (``source_ref``, ``created``, ``source``)."""
        proto = options if isinstance(options, source_pb2.SourceOptions) else options_to_proto(options)
        return await self._unary(self._stub.RegisterSource, pb.RegisterSourceRequest(options=proto))

    async def get_source(self, source_ref: str) -> source_pb2.Source:
        """One of the caller's sources (NOT_FOUND when unknown or another tenant's)."""
        return (await self._unary(self._stub.GetSource, pb.GetSourceRequest(source_ref=source_ref))).source

    async def list_sources(self, page_size: int = 0, page_token: str = "") -> pb.ListSourcesResponse:
        """One page of the caller's sources (``sources``, ``next_page_token``)."""
        return await self._unary(self._stub.ListSources, pb.ListSourcesRequest(page_size=page_size, page_token=page_token))

    async def iter_sources(self, page_size: int = 0) -> AsyncIterator[source_pb2.Source]:
        """Every source of the caller, following page tokens (``async for``)."""
        token = ""
        while True:
            page = await self.list_sources(page_size, token)
            for source in page.sources:
                yield source
            token = page.next_page_token
            if not token:
                return

    async def delete_source(self, source_ref: str) -> str:
        """Deletes one of the caller's sources; returns its ref."""
        return (await self._unary(self._stub.DeleteSource, pb.DeleteSourceRequest(source_ref=source_ref))).source_ref

    async def get_cursor(self, source_ref: str) -> cursor_pb2.Cursor:
        """Where a source stands (state, log head and tail, up-to-date time)."""
        return (await self._unary(self._stub.GetCursor, pb.GetCursorRequest(source_ref=source_ref))).cursor

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
    ) -> "AsyncWakeStream":
        """Watches sources; returns an :class:`AsyncWakeStream` (``async for event in stream``).

        The arguments are those of :meth:`pg_sync_client.PgSyncClient.watch_wakes` and are
        checked before any call: a bad one raises :class:`pg_sync_client.InvalidArgumentError`.
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
        return AsyncWakeStream(self, request, heartbeats, backoff, max_attempts)


class AsyncWakeStream:
    """An async iterator over a WatchWakes stream that survives reconnects.

    It follows the rules of :class:`pg_sync_client.WakeStream` (the same reconnect decision,
    backoff, resume token and duplicate dropping; test/vectors/client-conformance.json): it
    yields ``Wake``, ``Ready``, ``Gap``, ``SourceStatus`` (and ``Heartbeat`` when asked for),
    raises :class:`pg_sync_client.PgSyncError` on an error it does not retry, and ends when the
    server ends the stream or :meth:`close` is called. Cancelling the task that iterates it
    cancels the call.
    """

    def __init__(
        self,
        client: AsyncPgSyncClient,
        request: pb.WatchWakesRequest,
        heartbeats: bool,
        backoff: Backoff,
        max_attempts: int | None,
    ) -> None:
        self._state = _ResumeState(request, heartbeats, backoff, max_attempts)
        self._client = client
        self._closed = asyncio.Event()
        self._call: Any = None
        self._gen = self._run()

    @property
    def resume_token(self) -> str:
        """Token of the last frame received: a new stream started with it loses nothing."""
        return self._state.token

    @property
    def reconnects(self) -> int:
        """Number of reconnects so far."""
        return self._state.reconnects

    @property
    def last_error(self) -> PgSyncError | None:
        """The last error that caused a reconnect."""
        return self._state.last_error

    def __aiter__(self) -> "AsyncWakeStream":
        return self

    async def __anext__(self) -> Event:
        return await self._gen.__anext__()

    async def __aenter__(self) -> "AsyncWakeStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def close(self) -> None:
        """Cancels the stream from the event loop's thread; the iteration then ends."""
        self._closed.set()
        if self._call is not None:
            self._call.cancel()

    async def aclose(self) -> None:
        """Closes the stream and finishes its generator."""
        self.close()
        await self._gen.aclose()

    async def _backoff(self, delay: float) -> None:
        """Waits ``delay`` seconds, or less when the stream is closed meanwhile."""
        try:
            await asyncio.wait_for(self._closed.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> AsyncIterator[Event]:
        while not self._closed.is_set():
            call = self._client._stub.WatchWakes(self._state.next_request(), metadata=self._client._metadata)
            self._call = call
            got_frame = False
            try:
                async for resp in call:
                    got_frame = True
                    event = self._state.event(resp)
                    if event is not None:
                        yield event
                return
            except asyncio.CancelledError:
                if self._closed.is_set():
                    return  # close() cancelled the call, not the task
                raise
            except grpc.RpcError as rpc_err:
                if self._closed.is_set():
                    return
                err = error_from_rpc(rpc_err)
                delay = self._state.retry_delay(err, got_frame)
                if delay is None:
                    raise err from None
                await self._backoff(delay)
            finally:
                self._call = None
                call.cancel()
