"""Live tests against a real pg-sync stack (Postgres, shape server, pg-sync)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest

from pg_sync_client import Backoff, PgSyncClient, PgSyncError, WakeStream, source_pb2, source_ref, wake_pb2

from conftest import Stack, wait_for

FAST = Backoff(initial=0.05, maximum=1.0)
OP_NAMES = {wake_pb2.OPERATION_INSERT: "insert", wake_pb2.OPERATION_UPDATE: "update", wake_pb2.OPERATION_DELETE: "delete"}


@pytest.fixture
def client_a(stack: Stack) -> Iterator[PgSyncClient]:
    with PgSyncClient(stack.url, stack.token_a) as client:
        yield client


@pytest.fixture
def client_b(stack: Stack) -> Iterator[PgSyncClient]:
    with PgSyncClient(stack.url, stack.token_b) as client:
        yield client


def register_live(client: PgSyncClient, table: str) -> str:
    res = client.register_source({"table": table})
    wait_for(
        lambda: client.get_cursor(res.source_ref).state == source_pb2.SOURCE_STATE_LIVE,
        timeout=60,
        what=f"source on {table} to be LIVE",
    )
    return res.source_ref


class Watcher:
    """Consumes a WakeStream on a thread, so the test can wait on events with deadlines."""

    def __init__(self, stream: WakeStream) -> None:
        self.stream = stream
        self.events: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.stream:
                self.events.put(event)
        except Exception as err:  # surfaced to the test by next()
            self.events.put(err)

    def next(self, timeout: float = 30) -> Any:
        event = self.events.get(timeout=timeout)
        if isinstance(event, Exception):
            raise event
        return event

    def next_of(self, kind: type, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.01, deadline - time.monotonic()))
            if isinstance(event, kind):
                return event

    def close(self) -> None:
        self.stream.close()
        self.thread.join(10)

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def ready_watch(stack: Stack, client: PgSyncClient) -> Iterator[tuple[str, str, Watcher]]:
    """A new table, its source LIVE, and a Watcher on it that has seen Ready."""
    table = stack.new_table()
    ref = register_live(client, table)
    with Watcher(client.watch_wakes([ref], backoff=FAST)) as watcher:
        watcher.next_of(wake_pb2.Ready)
        yield table, ref, watcher


def test_register_is_deterministic_and_idempotent(stack: Stack, client_a: PgSyncClient) -> None:
    table = stack.new_table()
    options = {"table": table, "columns": ["id", "title"], "replica": "full"}
    first = client_a.register_source(options)
    assert first.created
    assert first.source_ref == source_ref(options)
    again = client_a.register_source(options)
    assert not again.created and again.source_ref == first.source_ref
    source = client_a.get_source(first.source_ref)
    assert source.options.table == table and list(source.options.columns) == ["id", "title"]
    refs = [s.source_ref for s in client_a.iter_sources(page_size=1)]
    assert first.source_ref in refs and refs == sorted(refs)
    cursor = client_a.get_cursor(first.source_ref)
    assert cursor.source_ref == first.source_ref


def test_wakes_arrive_with_operations_in_order(stack: Stack, client_a: PgSyncClient) -> None:
    with ready_watch(stack, client_a) as (table, ref, watcher):
        stack.sql(f"INSERT INTO {table} (title, done) VALUES ('write tests', false)")
        stack.sql(f"UPDATE {table} SET done = true WHERE title = 'write tests'")
        stack.sql(f"DELETE FROM {table} WHERE title = 'write tests'")
        changes: list[Any] = []
        wake_ids: list[str] = []
        while len(changes) < 3:
            wake = watcher.next_of(wake_pb2.Wake)
            assert wake.source_ref == ref
            wake_ids.append(wake.wake_id)
            changes.extend(wake.changes)
        assert [OP_NAMES[c.operation] for c in changes] == ["insert", "update", "delete"]
        assert len(set(wake_ids)) == len(wake_ids)
        seqs = [c.seq for c in changes]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert changes[0].value["title"] == "write tests"
        assert len({c.key for c in changes}) == 1


def test_ops_filter_and_start_earliest(stack: Stack, client_a: PgSyncClient) -> None:
    table = stack.new_table()
    ref = register_live(client_a, table)
    stack.sql(f"INSERT INTO {table} (title) VALUES ('a')")
    stack.sql(f"DELETE FROM {table} WHERE title = 'a'")
    watcher = Watcher(client_a.watch_wakes(ref, ops=["delete"], start="earliest", backoff=FAST))
    try:
        wake = watcher.next_of(wake_pb2.Wake)
        assert [OP_NAMES[c.operation] for c in wake.changes] == ["delete"]
    finally:
        watcher.close()


def test_resumes_across_server_restart_without_loss_or_duplicates(stack: Stack, client_a: PgSyncClient) -> None:
    with ready_watch(stack, client_a) as (table, ref, watcher):
        stack.sql(f"INSERT INTO {table} (title) VALUES ('before')")
        seen_titles: list[str] = []
        wake_ids: list[str] = []
        seqs: list[int] = []

        def take_wake(timeout: float = 60) -> None:
            wake = watcher.next_of(wake_pb2.Wake, timeout=timeout)
            wake_ids.append(wake.wake_id)
            for c in wake.changes:
                seqs.append(c.seq)
                seen_titles.append(c.value["title"])

        take_wake()
        assert seen_titles == ["before"]

        restarted = threading.Event()
        failure: list[BaseException] = []

        def restart() -> None:
            try:
                stack.restart()
            except BaseException as err:  # noqa: BLE001
                failure.append(err)
            finally:
                restarted.set()

        threading.Thread(target=restart, daemon=True).start()
        for i in range(3):
            stack.sql(f"INSERT INTO {table} (title) VALUES (%s)", (f"during-{i}",))
        assert restarted.wait(120), "restart did not finish"
        assert not failure, failure
        stack.sql(f"INSERT INTO {table} (title) VALUES ('after')")
        expected = ["before", "during-0", "during-1", "during-2", "after"]
        while len(seen_titles) < len(expected):
            take_wake()
        assert seen_titles == expected
        assert len(set(wake_ids)) == len(wake_ids)
        assert seqs == sorted(set(seqs))
        assert watcher.stream.reconnects >= 1


def test_resume_token_from_a_new_stream(stack: Stack, client_a: PgSyncClient) -> None:
    table = stack.new_table()
    ref = register_live(client_a, table)
    first = Watcher(client_a.watch_wakes(ref, backoff=FAST))
    first.next_of(wake_pb2.Ready)
    stack.sql(f"INSERT INTO {table} (title) VALUES ('one')")
    first.next_of(wake_pb2.Wake)
    token = first.stream.resume_token
    first.close()
    stack.sql(f"INSERT INTO {table} (title) VALUES ('two')")
    second = Watcher(client_a.watch_wakes(ref, resume_token=token, backoff=FAST))
    try:
        wake = second.next_of(wake_pb2.Wake)
        assert [c.value["title"] for c in wake.changes] == ["two"]
    finally:
        second.close()


def test_other_tenant_gets_not_found(stack: Stack, client_a: PgSyncClient, client_b: PgSyncClient) -> None:
    table = stack.new_table()
    ref = client_a.register_source({"table": table}).source_ref
    for call in (client_b.get_source, client_b.get_cursor, client_b.delete_source):
        with pytest.raises(PgSyncError) as info:
            call(ref)
        assert info.value.code == grpc.StatusCode.NOT_FOUND
        assert info.value.reason == "SOURCE_NOT_FOUND"
    with pytest.raises(PgSyncError) as info:
        next(iter(client_b.watch_wakes([ref], backoff=FAST)))
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert ref not in [s.source_ref for s in client_b.iter_sources()]
    assert client_a.get_source(ref).source_ref == ref


def test_missing_or_bad_token_is_unauthenticated(stack: Stack) -> None:
    for token in (None, "not-a-token"):
        with PgSyncClient(stack.url, token) as anon:
            with pytest.raises(PgSyncError) as info:
                anon.list_sources()
            assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(PgSyncError) as info:
                next(iter(anon.watch_wakes(["61b724fea24ae3c5"], backoff=FAST)))
            assert info.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_invalid_options_are_invalid_argument(client_a: PgSyncClient) -> None:
    with pytest.raises(PgSyncError) as info:
        client_a.register_source({"table": "   "})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_delete_source(stack: Stack, client_a: PgSyncClient) -> None:
    table = stack.new_table()
    ref = client_a.register_source({"table": table}).source_ref
    assert client_a.delete_source(ref) == ref
    with pytest.raises(PgSyncError) as info:
        client_a.get_source(ref)
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_demo_prints_one_line_per_wake(stack: Stack, client_a: PgSyncClient) -> None:
    table = stack.new_table()
    ref = register_live(client_a, table)
    env = {**os.environ, "PGSYNC_URL": stack.url, "PGSYNC_TOKEN": stack.token_a}
    example = Path(__file__).resolve().parents[1] / "examples" / "watch_wakes.py"
    proc = subprocess.Popen(
        [sys.executable, str(example), ref], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    for pipe, q in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=lambda p=pipe, q=q: [q.put(line) for line in p], daemon=True).start()
    try:
        ready = err.get(timeout=30)  # "[ready] ..." once the stream is live
        assert ready.startswith("[ready]"), ready
        stack.sql(f"INSERT INTO {table} (title) VALUES ('demo')")
        line = json.loads(out.get(timeout=30))
        assert line["source_ref"] == ref
        assert line["changes"][0]["op"] == "insert"
        assert line["changes"][0]["value"]["title"] == "demo"
    finally:
        proc.terminate()
        proc.wait(10)
