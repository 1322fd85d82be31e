"""Consumer groups: ConsumeWakes as an iterator of deliveries, each acknowledged or given back.

>>> with consume_wakes(client, "workers", [ref]) as deliveries:   # doctest: +SKIP
...     for delivery in deliveries:
...         handle(delivery.wake)
...         delivery.ack()

The server keeps every position and delivery (docs/api.md, "Consumer groups"), so this module
keeps no state of its own beyond the open stream: on UNAVAILABLE (a server restart or shutdown)
or a broken connection it reconnects with the same full-jitter backoff as WatchWakes, and what
this member did not acknowledge is delivered again (to it or another member) with ``attempt`` + 1.
"""

from __future__ import annotations

import datetime
import threading
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Sequence

import grpc

from pg_sync_client.errors import InvalidArgumentError, PgSyncError, error_from_rpc
from pg_sync_client.v1 import consumer_group_pb2 as cg, wake_pb2
from pg_sync_client.watch import Backoff

if TYPE_CHECKING:
    from pg_sync_client.client import PgSyncClient

__all__ = [
    "ConsumerGroupStream",
    "Delivery",
    "SettleOutcome",
    "ack_wakes",
    "consume_request",
    "consume_wakes",
    "delete_consumer_group",
    "get_consumer_group",
    "nack_wakes",
]

#: What AckWakes / NackWakes did with one delivery id (SettleStatus, by name).
SettleOutcome = Literal[
    "acknowledged",
    "released",
    "dead-lettered",
    "redriven",
    "discarded",
    "already-acknowledged",
    "stale",
    "unknown",
]

_OUTCOMES: dict[int, SettleOutcome] = {
    cg.SETTLE_STATUS_ACKNOWLEDGED: "acknowledged",
    cg.SETTLE_STATUS_RELEASED: "released",
    cg.SETTLE_STATUS_DEAD_LETTERED: "dead-lettered",
    cg.SETTLE_STATUS_REDRIVEN: "redriven",
    cg.SETTLE_STATUS_DISCARDED: "discarded",
    cg.SETTLE_STATUS_ALREADY_ACKNOWLEDGED: "already-acknowledged",
    cg.SETTLE_STATUS_STALE: "stale",
}
_ORDERINGS = {"source": cg.ORDERING_SOURCE, "key": cg.ORDERING_KEY, "none": cg.ORDERING_NONE}
_OPS = {"insert": wake_pb2.OPERATION_INSERT, "update": wake_pb2.OPERATION_UPDATE, "delete": wake_pb2.OPERATION_DELETE}
_STARTS = {"now": wake_pb2.START_POSITION_NOW, "earliest": wake_pb2.START_POSITION_EARLIEST}
_UINT32_MAX = 2**32 - 1
_MAX_IDS_PER_CALL = 1000
#: Codes after which the member reconnects (the group keeps its state on the server).
_RECONNECT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED}
)


def _check_uint32(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise InvalidArgumentError(f"consume_wakes: {name} must be an integer from 0 to {_UINT32_MAX}, got {value!r}")
    return value


def _check_choice(name: str, value: Any, by_name: dict[str, int]) -> int:
    if isinstance(value, str) and value in by_name:
        return by_name[value]
    choices = ", ".join(repr(k) for k in by_name)
    raise InvalidArgumentError(f"consume_wakes: {name} must be one of {choices}, got {value!r}")


def _check_group(where: str, group: Any) -> str:
    if not isinstance(group, str) or not group:
        raise InvalidArgumentError(f"{where}: group must be a non-empty string, got {group!r}")
    return group


def consume_request(
    group: str,
    source_refs: str | Sequence[str],
    *,
    ops: Iterable[str] | None = None,
    ordering: str | None = None,
    start: str = "now",
    member_name: str = "",
    **limits: int,
) -> cg.ConsumeWakesRequest:
    """Checks the arguments of :func:`consume_wakes` and builds the request.

    ``limits`` are the request's uint32 fields (``max_in_flight``, ``ack_timeout_ms``, ...); a
    bad argument raises :class:`pg_sync_client.InvalidArgumentError` naming it.
    """
    _check_group("consume_wakes", group)
    refs = [source_refs] if isinstance(source_refs, str) else list(source_refs)
    if not refs:
        raise InvalidArgumentError("consume_wakes: source_refs must name at least one source")
    for i, ref in enumerate(refs):
        if not isinstance(ref, str) or not ref:
            raise InvalidArgumentError(f"consume_wakes: source_refs[{i}] must be a non-empty string, got {ref!r}")
    if not isinstance(member_name, str):
        raise InvalidArgumentError(f"consume_wakes: member_name must be a string, got {member_name!r}")
    return cg.ConsumeWakesRequest(
        group=group,
        source_refs=refs,
        ops=[_check_choice(f"ops[{i}]", op, _OPS) for i, op in enumerate(ops or ())],
        ordering=cg.ORDERING_UNSPECIFIED if ordering is None else _check_choice("ordering", ordering, _ORDERINGS),
        start_position=_check_choice("start", start, _STARTS),
        member_name=member_name,
        **{name: _check_uint32(name, value) for name, value in limits.items()},
    )


def _settle_ids(where: str, ids: Sequence[str]) -> list[str]:
    out = list(ids)
    if not 1 <= len(out) <= _MAX_IDS_PER_CALL:
        raise InvalidArgumentError(f"{where}: delivery_ids must hold 1 to {_MAX_IDS_PER_CALL} ids, got {len(out)}")
    for i, value in enumerate(out):
        if not isinstance(value, str) or not value:
            raise InvalidArgumentError(f"{where}: delivery_ids[{i}] must be a non-empty string, got {value!r}")
    return out


def ack_wakes(client: "PgSyncClient", group: str, delivery_ids: Sequence[str]) -> dict[str, SettleOutcome]:
    """Acknowledges deliveries in one call (1 to 1,000 ids); returns each id's outcome.

    One bad id never fails the others: it comes back as ``"unknown"`` or ``"stale"``. The id of a
    dead letter discards it.
    """
    ids = _settle_ids("ack_wakes", delivery_ids)
    req = cg.AckWakesRequest(group=_check_group("ack_wakes", group), delivery_ids=ids)
    res = client._unary(client._stub.AckWakes, req)
    return {r.delivery_id: _OUTCOMES.get(r.status, "unknown") for r in res.results}


def nack_wakes(
    client: "PgSyncClient", group: str, delivery_ids: Sequence[str], retry_after_ms: int = 0, error: str = ""
) -> dict[str, SettleOutcome]:
    """Gives deliveries back to the group, not delivered again before ``retry_after_ms``.

    ``error`` is recorded as the deliveries' last error. The id of a dead letter (listed by
    :func:`get_consumer_group`) redrives it. Returns each id's outcome.
    """
    ids = _settle_ids("nack_wakes", delivery_ids)
    if isinstance(retry_after_ms, bool) or not isinstance(retry_after_ms, int) or retry_after_ms < 0:
        raise InvalidArgumentError(f"nack_wakes: retry_after_ms must be a non-negative integer, got {retry_after_ms!r}")
    if not isinstance(error, str):
        raise InvalidArgumentError(f"nack_wakes: error must be a string, got {error!r}")
    req = cg.NackWakesRequest(
        group=_check_group("nack_wakes", group), delivery_ids=ids, retry_after_ms=retry_after_ms, error=error
    )
    res = client._unary(client._stub.NackWakes, req)
    return {r.delivery_id: _OUTCOMES.get(r.status, "unknown") for r in res.results}


def get_consumer_group(client: "PgSyncClient", group: str, dead_letter_limit: int = 0) -> cg.GetConsumerGroupResponse:
    """The group's state (``group``: settings, per-source positions, members) and its dead letters."""
    req = cg.GetConsumerGroupRequest(group=_check_group("get_consumer_group", group), dead_letter_limit=dead_letter_limit)
    return client._unary(client._stub.GetConsumerGroup, req)


def delete_consumer_group(client: "PgSyncClient", group: str) -> str:
    """Deletes the group and all its state; returns its name."""
    req = cg.DeleteConsumerGroupRequest(group=_check_group("delete_consumer_group", group))
    return client._unary(client._stub.DeleteConsumerGroup, req).group


class Delivery:
    """One delivery: a wake (or a gap) to handle, then :meth:`ack` or :meth:`nack`.

    As a context manager it settles itself: acknowledged when the block ends normally, given back
    (nacked, with the exception as its error) when the block raises; the exception propagates.
    """

    def __init__(self, client: "PgSyncClient", group: str, frame: cg.Delivery | cg.GapDelivery) -> None:
        self._client = client
        self.group = group
        #: Id to acknowledge or nack this attempt with.
        self.delivery_id: str = frame.delivery_id
        #: 1 for the first delivery, +1 for each redelivery.
        self.attempt: int = frame.attempt
        #: Acknowledge before this (UTC), or the delivery goes back to the group.
        self.ack_deadline: datetime.datetime = frame.ack_deadline.ToDatetime(datetime.timezone.utc)
        #: The wake (None for a gap).
        self.wake: wake_pb2.Wake | None = frame.wake if isinstance(frame, cg.Delivery) else None
        #: The gap (None for a wake): changes in this range may be missing.
        self.gap: wake_pb2.Gap | None = frame.gap if isinstance(frame, cg.GapDelivery) else None
        #: The outcome of the last ack/nack, None before.
        self.outcome: SettleOutcome | None = None

    def ack(self) -> SettleOutcome:
        """Acknowledges the delivery (durably; never delivered again)."""
        self.outcome = ack_wakes(self._client, self.group, [self.delivery_id]).get(self.delivery_id, "unknown")
        return self.outcome

    def nack(self, retry_after_ms: int = 0, error: str = "") -> SettleOutcome:
        """Gives the delivery back, to be delivered again (attempt + 1) after ``retry_after_ms``."""
        self.outcome = nack_wakes(self._client, self.group, [self.delivery_id], retry_after_ms, error).get(
            self.delivery_id, "unknown"
        )
        return self.outcome

    def __enter__(self) -> "Delivery":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.outcome is not None:
            return
        if exc is None:
            self.ack()
        else:
            self.nack(error=f"{type(exc).__name__}: {exc}"[:1000])

    def __repr__(self) -> str:
        kind = "gap" if self.gap is not None else "wake"
        return f"Delivery({self.delivery_id!r}, attempt={self.attempt}, {kind})"


class ConsumerGroupStream:
    """An iterator of :class:`Delivery` over a ConsumeWakes stream, reconnecting on failures.

    Use as a context manager, or call :meth:`close` (safe from another thread): the deliveries
    this member still holds then go back to the group at once. UNAVAILABLE, UNKNOWN, INTERNAL and
    ABORTED reconnect after a full-jitter backoff; NOT_FOUND (group deleted, unknown source),
    INVALID_ARGUMENT, FAILED_PRECONDITION (settings differ from the group's) and other definite
    errors raise :class:`pg_sync_client.PgSyncError`, as does exhausting ``max_attempts`` consecutive
    failed attempts. :attr:`member_id` and :attr:`settings` come from the latest ConsumeReady.
    """

    def __init__(
        self, client: "PgSyncClient", request: cg.ConsumeWakesRequest, backoff: Backoff, max_attempts: int | None
    ) -> None:
        if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1):
            raise InvalidArgumentError(f"consume_wakes: max_attempts must be a positive integer, got {max_attempts!r}")
        self._client = client
        self._request = request
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._closed = threading.Event()
        self._call: Any = None
        self._gen = self._run()
        #: The group's name.
        self.group = request.group
        #: This stream's member id (from ConsumeReady); "" before it joined.
        self.member_id = ""
        #: The group's settings in force (from ConsumeReady); None before it joined.
        self.settings: cg.ConsumerGroupSettings | None = None
        #: Number of reconnects so far.
        self.reconnects = 0
        #: The last error that caused a reconnect.
        self.last_error: PgSyncError | None = None

    def __iter__(self) -> "ConsumerGroupStream":
        return self

    def __next__(self) -> Delivery:
        return next(self._gen)

    def __enter__(self) -> "ConsumerGroupStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Leaves the group: cancels the stream; the iteration then ends."""
        self._closed.set()
        call = self._call
        if call is not None:
            call.cancel()

    def ack(self, deliveries: Iterable[Delivery | str]) -> dict[str, SettleOutcome]:
        """Acknowledges several deliveries in one call (1 to 1,000); returns each id's outcome."""
        return self._settle(deliveries, lambda ids: ack_wakes(self._client, self.group, ids))

    def nack(self, deliveries: Iterable[Delivery | str], retry_after_ms: int = 0, error: str = "") -> dict[str, SettleOutcome]:
        """Gives several deliveries back in one call; returns each id's outcome."""
        return self._settle(deliveries, lambda ids: nack_wakes(self._client, self.group, ids, retry_after_ms, error))

    @staticmethod
    def _settle(deliveries: Iterable[Delivery | str], call: Any) -> dict[str, SettleOutcome]:
        items = list(deliveries)
        outcomes: dict[str, SettleOutcome] = call([d.delivery_id if isinstance(d, Delivery) else d for d in items])
        for d in items:
            if isinstance(d, Delivery):
                d.outcome = outcomes.get(d.delivery_id, "unknown")
        return outcomes

    def _frame(self, resp: cg.ConsumeWakesResponse) -> Delivery | None:
        kind = resp.WhichOneof("event")
        if kind == "ready":
            self.member_id = resp.ready.member_id
            self.settings = resp.ready.settings
        elif kind in ("delivery", "gap"):
            return Delivery(self._client, self.group, getattr(resp, kind))
        return None

    def _run(self) -> Iterator[Delivery]:
        failures = 0
        while not self._closed.is_set():
            call = self._client._stub.ConsumeWakes(self._request, metadata=self._client._metadata)
            self._call = call
            if self._closed.is_set():
                call.cancel()
            try:
                for resp in call:
                    failures = 0
                    delivery = self._frame(resp)
                    if delivery is not None:
                        yield delivery
                return
            except grpc.RpcError as rpc_err:
                if self._closed.is_set():
                    return
                err = error_from_rpc(rpc_err)
                failures += 1
                if err.code not in _RECONNECT or (self._max_attempts is not None and failures >= self._max_attempts):
                    raise err from None
                self.last_error = err
                self.reconnects += 1
                self._closed.wait(self._backoff.delay(failures))
            finally:
                self._call = None
                call.cancel()


def consume_wakes(
    client: "PgSyncClient",
    group: str,
    source_refs: str | Sequence[str],
    *,
    ops: Iterable[str] | None = None,
    ordering: str | None = None,
    start: str = "now",
    member_name: str = "",
    max_in_flight: int = 0,
    ack_timeout_ms: int = 0,
    max_deliveries: int = 0,
    debounce_ms: int = 0,
    max_wait_ms: int = 0,
    max_changes_per_wake: int = 0,
    heartbeat_interval_ms: int = 0,
    backoff: Backoff = Backoff(),
    max_attempts: int | None = None,
) -> ConsumerGroupStream:
    """Joins consumer group ``group`` (created on first use) and returns its deliveries' iterator.

    ``ops``: ``"insert"``/``"update"``/``"delete"`` (empty: all); ``ordering``: ``"source"``
    (the server default), ``"key"`` or ``"none"``; ``start``: ``"now"`` or ``"earliest"`` (where
    a source starts when the group first consumes it). ``ordering``, ``ops``, the debounce
    settings, ``ack_timeout_ms`` and ``max_deliveries`` are group settings: left at their
    defaults they keep the group's, and a different value fails with FAILED_PRECONDITION. A 0
    limit means the server default. Arguments are checked before any call.
    """
    request = consume_request(
        group,
        source_refs,
        ops=ops,
        ordering=ordering,
        start=start,
        member_name=member_name,
        max_in_flight=max_in_flight,
        ack_timeout_ms=ack_timeout_ms,
        max_deliveries=max_deliveries,
        debounce_ms=debounce_ms,
        max_wait_ms=max_wait_ms,
        max_changes_per_wake=max_changes_per_wake,
        heartbeat_interval_ms=heartbeat_interval_ms,
    )
    return ConsumerGroupStream(client, request, backoff, max_attempts)
