"""Consumer groups (pg_sync_client.consume) against a real pg-sync stack, plus its local argument checks."""

from __future__ import annotations

import queue
import secrets
import threading
import time
from typing import Any, Callable, Iterator

import grpc
import pytest

from pg_sync_client import Backoff, InvalidArgumentError, PgSyncClient, PgSyncError, source_pb2
from pg_sync_client.consume import (
    ConsumerGroupStream,
    Delivery,
    ack_wakes,
    consume_wakes,
    delete_consumer_group,
    get_consumer_group,
    nack_wakes,
)

from conftest import Stack, wait_for

FAST = Backoff(initial=0.05, maximum=1.0)


@pytest.fixture
def client_a(stack: Stack) -> Iterator[PgSyncClient]:
    with PgSyncClient(stack.url, stack.token_a) as client:
        yield client


def live_source(stack: Stack, client: PgSyncClient) -> tuple[str, str]:
    table = stack.new_table()
    ref = client.register_source({"table": table}).source_ref
    wait_for(lambda: client.get_cursor(ref).state == source_pb2.SOURCE_STATE_LIVE, timeout=60, what="source LIVE")
    return table, ref


def group_name() -> str:
    return f"py-{secrets.token_hex(4)}"


class Member:
    """Iterates a ConsumerGroupStream on a thread; the test takes deliveries with deadlines."""

    def __init__(self, stream: ConsumerGroupStream, handle: Callable[[Delivery], Any] | None = None) -> None:
        self.stream = stream
        self.handle = handle
        self.items: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for delivery in self.stream:
                if self.handle is not None:
                    self.handle(delivery)
                self.items.put(delivery)
        except Exception as err:  # surfaced to the test by next()
            self.items.put(err)

    def next(self, timeout: float = 30) -> Delivery:
        item = self.items.get(timeout=timeout)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self.stream.close()
        self.thread.join(10)


def members_of(client: PgSyncClient, group: str) -> int:
    try:
        return len(get_consumer_group(client, group).group.members)
    except PgSyncError as err:
        if err.code == grpc.StatusCode.NOT_FOUND:
            return 0
        raise


def test_two_members_share_a_group_and_every_change_is_acknowledged_once(stack: Stack, client_a: PgSyncClient) -> None:
    table, ref = live_source(stack, client_a)
    group = group_name()
    handled: list[tuple[str, int]] = []
    deliveries: list[Delivery] = []
    lock = threading.Lock()

    def worker(name: str) -> Callable[[Delivery], None]:
        def handle(delivery: Delivery) -> None:
            with delivery:  # acknowledged when the block ends without an exception
                assert delivery.wake is not None and delivery.attempt == 1
                with lock:
                    handled.extend((name, int(c.value["id"])) for c in delivery.wake.changes)
            with lock:
                deliveries.append(delivery)

        return handle

    opts = dict(ordering="none", max_changes_per_wake=1, max_in_flight=2, backoff=FAST)
    one = Member(consume_wakes(client_a, group, [ref], member_name="one", **opts), worker("one"))
    two = Member(consume_wakes(client_a, group, ref, member_name="two", **opts), worker("two"))
    try:
        wait_for(lambda: members_of(client_a, group) == 2, what="two members")
        for _ in range(20):
            stack.sql(f"INSERT INTO {table} (title) VALUES ('job')")
        wait_for(lambda: len(deliveries) >= 20, what="20 deliveries acknowledged")
        ids = sorted(i for _, i in handled)
        assert ids == list(range(1, 21)), ids
        assert {d.outcome for d in deliveries} == {"acknowledged"}
        assert len({d.delivery_id for d in deliveries}) == 20
        state = wait_for(
            lambda: (s := get_consumer_group(client_a, group).group.sources[0]).in_flight_count == 0 and s,
            what="nothing in flight",
        )
        assert state.source_ref == ref and state.pending_count == 0 and state.dead_letter_count == 0
        assert one.stream.member_id and one.stream.member_id != two.stream.member_id
        assert one.stream.settings is not None and one.stream.settings.max_changes_per_wake == 1
    finally:
        one.close()
        two.close()
    assert delete_consumer_group(client_a, group) == group
    with pytest.raises(PgSyncError) as gone:
        get_consumer_group(client_a, group)
    assert gone.value.code == grpc.StatusCode.NOT_FOUND


def test_nack_redelivers_after_retry_and_a_closed_member_hands_over(stack: Stack, client_a: PgSyncClient) -> None:
    table, ref = live_source(stack, client_a)
    group = group_name()
    first = Member(consume_wakes(client_a, group, [ref], max_changes_per_wake=1, backoff=FAST))
    try:
        wait_for(lambda: members_of(client_a, group) == 1, what="one member")
        stack.sql(f"INSERT INTO {table} (title) VALUES ('a'), ('b')")
        d1 = first.next()
        assert d1.wake is not None and d1.attempt == 1 and d1.ack_deadline.tzinfo is not None
        nacked_at = time.monotonic()
        assert d1.nack(retry_after_ms=400, error="not yet") == "released"
        again = first.next()  # ORDERING_SOURCE: the nacked wake keeps its place, ahead of 'b'
        assert time.monotonic() - nacked_at >= 0.4
        assert again.attempt == 2 and again.wake is not None and again.wake.wake_id == d1.wake.wake_id
        assert d1.ack() == "stale"  # that attempt is over; attempt 2 is the current one
        assert first.stream.ack([again]) == {again.delivery_id: "acknowledged"} and again.outcome == "acknowledged"
        held = first.next()
        assert held.wake is not None and held.wake.changes[0].value["title"] == "b"
    finally:
        first.close()  # leaves with 'b' unacknowledged: it goes back to the group at once
    second = Member(consume_wakes(client_a, group, [ref], backoff=FAST))
    try:
        handed = second.next()
        assert handed.attempt == 2 and handed.wake is not None and handed.wake.wake_id == held.wake.wake_id
        assert handed.ack() == "acknowledged"
        assert handed.ack() == "already-acknowledged"
    finally:
        second.close()


def test_settle_reports_unknown_ids_and_unknown_groups(stack: Stack, client_a: PgSyncClient) -> None:
    _, ref = live_source(stack, client_a)
    group = group_name()
    member = Member(consume_wakes(client_a, group, [ref], backoff=FAST))
    try:
        wait_for(lambda: members_of(client_a, group) == 1, what="one member")
        assert ack_wakes(client_a, group, ["not-a-delivery"]) == {"not-a-delivery": "unknown"}
        assert nack_wakes(client_a, group, ["nope"], retry_after_ms=10) == {"nope": "unknown"}
    finally:
        member.close()
    with pytest.raises(PgSyncError) as missing:
        ack_wakes(client_a, f"{group}-missing", ["x"])
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(PgSyncError) as foreign:
        next(iter(consume_wakes(client_a, group_name(), ["0000000000000000"], backoff=FAST)))
    assert foreign.value.code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"group": ""}, "group"),
        ({"source_refs": []}, "source_refs"),
        ({"source_refs": ["ok", ""]}, "source_refs[1]"),
        ({"ordering": "fifo"}, "ordering"),
        ({"ops": ["insert", "upsert"]}, "ops[1]"),
        ({"start": "later"}, "start"),
        ({"max_in_flight": -1}, "max_in_flight"),
        ({"ack_timeout_ms": 1.5}, "ack_timeout_ms"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_consume_wakes_rejects_bad_arguments_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"group": "g", "source_refs": ["0123456789abcdef"], **kwargs}
    client = PgSyncClient("http://127.0.0.1:1", "tok")  # never called
    try:
        with pytest.raises(InvalidArgumentError) as err:
            consume_wakes(client, args.pop("group"), args.pop("source_refs"), **args)
        assert field in str(err.value)
        with pytest.raises(InvalidArgumentError, match="delivery_ids"):
            ack_wakes(client, "g", [])
        with pytest.raises(InvalidArgumentError, match="retry_after_ms"):
            nack_wakes(client, "g", ["id"], retry_after_ms=-5)
    finally:
        client.close()
