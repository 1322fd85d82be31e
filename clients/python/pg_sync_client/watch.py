"""WakeStream: a WatchWakes iterator that survives reconnects, and the checks of its arguments.

The reconnect rules and backoff defaults are the same in every pg-sync client
(test/vectors/client-conformance.json).
"""

from __future__ import annotations

import collections
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, Union

import grpc

from pg_sync_client.errors import InvalidArgumentError, PgSyncError, error_from_rpc
from pg_sync_client.v1 import pg_sync_service_pb2 as pb, wake_pb2

if TYPE_CHECKING:
    from pg_sync_client.client import PgSyncClient

__all__ = ["Backoff", "Event", "WakeStream", "should_reconnect", "watch_request"]

#: What a WakeStream yields: the proto frames themselves.
Event = Union[wake_pb2.Wake, wake_pb2.Ready, wake_pb2.Gap, wake_pb2.SourceStatus, wake_pb2.Heartbeat]

_OPS = {
    "insert": wake_pb2.OPERATION_INSERT,
    "update": wake_pb2.OPERATION_UPDATE,
    "delete": wake_pb2.OPERATION_DELETE,
}
_STARTS = {"now": wake_pb2.START_POSITION_NOW, "earliest": wake_pb2.START_POSITION_EARLIEST}
_UINT32_MAX = 2**32 - 1
_SEEN_IDS_PER_SOURCE = 10_000


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n sleeps uniform(0, :meth:`cap` (n)) seconds.

    The defaults (0.2 s doubling up to 10 s) are the same in every pg-sync client.
    """

    initial: float = 0.2
    maximum: float = 10.0
    multiplier: float = 2.0

    def cap(self, attempt: int) -> float:
        """Upper bound of the wait before attempt ``attempt`` (1-based): min(maximum, initial * multiplier**(n-1))."""
        return min(self.maximum, self.initial * self.multiplier ** min(max(0, attempt - 1), 64))

    def delay(self, attempt: int) -> float:
        return random.uniform(0, self.cap(attempt))


def should_reconnect(err: PgSyncError, got_frame: bool) -> bool:
    """Whether a stream that ended with ``err`` is resumed.

    UNAVAILABLE always; RESOURCE_EXHAUSTED when it carries a resume token (a slow consumer, not a
    quota); INTERNAL/UNKNOWN only when this connection had delivered a frame (a broken stream;
    before a frame they are a real error). Everything else is raised.
    """
    if err.code == grpc.StatusCode.UNAVAILABLE:
        return True
    if err.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return bool(err.resume_token)
    if err.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        return got_frame
    return False


def _uint32(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise InvalidArgumentError(f"watch_wakes: {name} must be an integer from 0 to {_UINT32_MAX}, got {value!r}")
    return value


def _enum(name: str, value: Any, by_name: dict[str, int], expected: str) -> int:
    if isinstance(value, str) and value in by_name:
        return by_name[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in by_name.values():
        return value
    raise InvalidArgumentError(f"watch_wakes: {name} must be {expected}, got {value!r}")


def watch_request(
    source_refs: str | Sequence[str],
    ops: Iterable[str | int] | None,
    start: str | int,
    resume_token: str | None,
    **limits: Any,
) -> pb.WatchWakesRequest:
    """Checks the arguments of :meth:`PgSyncClient.watch_wakes` and builds the request.

    A bad argument raises :class:`pg_sync_client.InvalidArgumentError` naming it (``ops[0]``, ``debounce_ms``).
    """
    refs = [source_refs] if isinstance(source_refs, str) else list(source_refs)
    if not refs:
        raise InvalidArgumentError("watch_wakes: source_refs must name at least one source")
    for i, ref in enumerate(refs):
        if not isinstance(ref, str) or not ref:
            raise InvalidArgumentError(f"watch_wakes: source_refs[{i}] must be a non-empty string, got {ref!r}")
    op_values = [_enum(f"ops[{i}]", op, _OPS, "insert, update or delete") for i, op in enumerate(ops or ())]
    start_value = _enum("start", start, _STARTS, "'now' or 'earliest'")
    if resume_token is not None and not isinstance(resume_token, str):
        raise InvalidArgumentError(f"watch_wakes: resume_token must be a string, got {resume_token!r}")
    request = pb.WatchWakesRequest(
        source_refs=refs,
        ops=op_values,
        start_position=start_value,
        **{name: _uint32(name, value) for name, value in limits.items()},
    )
    if resume_token:
        request.resume_token = resume_token
    return request


class _Seen:
    """Wake ids and the highest seq yielded per source; forgotten when a source's seqs restart."""

    def __init__(self) -> None:
        self._ids: dict[str, collections.OrderedDict[str, None]] = {}
        self._high: dict[str, int] = {}

    def forget(self, source_ref: str) -> None:
        self._ids.pop(source_ref, None)
        self._high.pop(source_ref, None)

    def is_new(self, wake: wake_pb2.Wake) -> bool:
        ids = self._ids.setdefault(wake.source_ref, collections.OrderedDict())
        high = self._high.get(wake.source_ref)
        if wake.wake_id in ids or (high is not None and wake.last_seq <= high):
            return False
        ids[wake.wake_id] = None
        if len(ids) > _SEEN_IDS_PER_SOURCE:
            ids.popitem(last=False)
        self._high[wake.source_ref] = wake.last_seq if high is None else max(high, wake.last_seq)
        return True


class _ResumeState:
    """What the sync and asyncio streams share: the resume token, the wake ids already yielded,
    which frames reach the caller, and whether (and after how long) a failed attempt is retried."""

    def __init__(self, request: pb.WatchWakesRequest, heartbeats: bool, backoff: Backoff, max_attempts: int | None) -> None:
        if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1):
            raise InvalidArgumentError(f"watch_wakes: max_attempts must be a positive integer, got {max_attempts!r}")
        self.request = request
        self.token = request.resume_token
        self.heartbeats = heartbeats
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.seen = _Seen()
        self.failures = 0
        self.reconnects = 0
        self.last_error: PgSyncError | None = None

    def next_request(self) -> pb.WatchWakesRequest:
        req = pb.WatchWakesRequest()
        req.CopyFrom(self.request)
        if self.token:
            req.resume_token = self.token
        return req

    def event(self, resp: pb.WatchWakesResponse) -> Event | None:
        """The frame to yield (None for a dropped wake or an unwanted heartbeat); moves the token."""
        self.failures = 0
        kind = resp.WhichOneof("event")
        if kind is None:
            return None
        frame = getattr(resp, kind)
        self.token = frame.resume_token or self.token
        if kind == "wake":
            return frame if self.seen.is_new(frame) else None
        if kind == "gap" and frame.reason == wake_pb2.GAP_REASON_SOURCE_RESET:
            self.seen.forget(frame.source_ref)
        elif kind == "status" and frame.deleted:
            self.seen.forget(frame.source_ref)
        elif kind == "heartbeat" and not self.heartbeats:
            return None
        return frame

    def retry_delay(self, err: PgSyncError, got_frame: bool) -> float | None:
        """After a failed attempt: None to raise ``err``, else the seconds to wait before the next."""
        self.failures += 1
        if not should_reconnect(err, got_frame):
            return None
        self.token = self.token or err.resume_token
        self.last_error = err
        if self.max_attempts is not None and self.failures >= self.max_attempts:
            return None
        self.reconnects += 1
        return self.backoff.delay(self.failures)


class WakeStream:
    """An iterator over a WatchWakes stream that survives reconnects.

    It yields the proto frames: ``Wake``, ``Ready`` (again after every reconnect, once the
    backlog is delivered), ``Gap``, ``SourceStatus`` and, when asked for, ``Heartbeat``. Every
    frame's resume token is remembered (:attr:`resume_token`). The stream reconnects after an
    exponential full-jitter backoff when :func:`should_reconnect` says so (UNAVAILABLE;
    RESOURCE_EXHAUSTED with a resume token; INTERNAL/UNKNOWN after this connection delivered a
    frame), resuming from the last token (else the ``pgsync-resume-token`` trailer). A wake whose
    id was already yielded, or whose seq range was already covered, is dropped, so no wake id is
    yielded twice; a source's memory is forgotten on a SOURCE_RESET gap or its deletion, since
    seqs then restart. Other errors raise :class:`pg_sync_client.PgSyncError`; so does exhausting
    ``max_attempts`` consecutive failed attempts. A stream the server ends normally ends the
    iteration.
    """

    def __init__(
        self,
        client: "PgSyncClient",
        request: pb.WatchWakesRequest,
        heartbeats: bool,
        backoff: Backoff,
        max_attempts: int | None,
    ) -> None:
        self._state = _ResumeState(request, heartbeats, backoff, max_attempts)
        self._client = client
        self._closed = threading.Event()
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

    def _run(self) -> Iterator[Event]:
        while not self._closed.is_set():
            call = self._client._stub.WatchWakes(self._state.next_request(), metadata=self._client._metadata)
            self._call = call
            if self._closed.is_set():
                call.cancel()
            got_frame = False
            try:
                for resp in call:
                    got_frame = True
                    event = self._state.event(resp)
                    if event is not None:
                        yield event
                return
            except grpc.RpcError as rpc_err:
                if self._closed.is_set():
                    return
                err = error_from_rpc(rpc_err)
                delay = self._state.retry_delay(err, got_frame)
                if delay is None:
                    raise err from None
                self._closed.wait(delay)
            finally:
                self._call = None
                call.cancel()
