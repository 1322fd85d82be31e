"""Live tests of AsyncPgSyncClient against the real pg-sync stack (Postgres, shape server, pg-sync)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

import grpc
import pytest

from pg_sync_client import AsyncPgSyncClient, AsyncWakeStream, Backoff, PgSyncError, operation_name, row, source_pb2, source_ref, wake_pb2

from conftest import Stack

FAST = Backoff(initial=0.05, maximum=1.0)
TEST_DEADLINE_S = 180


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, TEST_DEADLINE_S))


async def _wait_for(predicate: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _register_live(client: AsyncPgSyncClient, table: str) -> str:
    ref = (await client.register_source({"table": table})).source_ref

    async def live() -> bool:
        return (await client.get_cursor(ref)).state == source_pb2.SOURCE_STATE_LIVE

    await _wait_for(live, f"source on {table} to be LIVE")
    return ref


async def _next_of(stream: AsyncWakeStream, kind: type, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        event = await asyncio.wait_for(stream.__anext__(), max(0.01, deadline - time.monotonic()))
        if isinstance(event, kind):
            return event


def test_aio_register_watch_and_plain_rows(stack: Stack) -> None:
    table = stack.new_table()

    async def scenario() -> list[tuple[str, Any]]:
        async with AsyncPgSyncClient(stack.url, stack.token_a) as client:
            first = await client.register_source({"table": table})
            assert first.created and first.source_ref == source_ref({"table": table})
            assert not (await client.register_source({"table": table})).created
            ref = await _register_live(client, table)
            assert ref in [s.source_ref async for s in client.iter_sources(page_size=1)]
            async with client.watch_wakes(ref, ops=["insert", "update", "delete"], backoff=FAST) as stream:
                await _next_of(stream, wake_pb2.Ready)
                await asyncio.to_thread(stack.sql, f"INSERT INTO {table} (title, done) VALUES ('async', false)")
                await asyncio.to_thread(stack.sql, f"UPDATE {table} SET done = true WHERE title = 'async'")
                await asyncio.to_thread(stack.sql, f"DELETE FROM {table} WHERE title = 'async'")
                changes: list[tuple[str, Any]] = []
                while len(changes) < 3:
                    wake = await _next_of(stream, wake_pb2.Wake)
                    changes.extend((operation_name(c), row(c)) for c in wake.changes)
                return changes

    changes = _run(scenario())
    assert [op for op, _ in changes] == ["insert", "update", "delete"]
    inserted = changes[0][1]
    assert inserted == {"id": 1, "title": "async", "done": False}
    assert type(inserted["id"]) is int  # a Struct number, back as an int
    assert changes[2][1] == {"id": 1}


def test_aio_resumes_across_server_restart_without_loss_or_duplicates(stack: Stack) -> None:
    table = stack.new_table()

    async def scenario() -> tuple[list[str], list[str], int]:
        async with AsyncPgSyncClient(stack.url, stack.token_a) as client:
            ref = await _register_live(client, table)
            async with client.watch_wakes(ref, backoff=FAST) as stream:
                await _next_of(stream, wake_pb2.Ready)
                titles: list[str] = []
                wake_ids: list[str] = []

                async def take_wake() -> None:
                    wake = await _next_of(stream, wake_pb2.Wake)
                    wake_ids.append(wake.wake_id)
                    titles.extend(row(c)["title"] for c in wake.changes)

                await asyncio.to_thread(stack.sql, f"INSERT INTO {table} (title) VALUES ('before')")
                await take_wake()
                restart = asyncio.create_task(asyncio.to_thread(stack.restart))
                for i in range(3):
                    await asyncio.to_thread(stack.sql, f"INSERT INTO {table} (title) VALUES (%s)", (f"during-{i}",))
                await asyncio.wait_for(restart, 120)
                await asyncio.to_thread(stack.sql, f"INSERT INTO {table} (title) VALUES ('after')")
                while len(titles) < 5:
                    await take_wake()
                return titles, wake_ids, stream.reconnects

    titles, wake_ids, reconnects = _run(scenario())
    assert titles == ["before", "during-0", "during-1", "during-2", "after"]
    assert len(set(wake_ids)) == len(wake_ids)
    assert reconnects >= 1


def test_aio_errors_are_pg_sync_errors(stack: Stack) -> None:
    table = stack.new_table()

    async def scenario() -> list[tuple[grpc.StatusCode, str]]:
        out: list[tuple[grpc.StatusCode, str]] = []
        async with AsyncPgSyncClient(stack.url, stack.token_a) as a, AsyncPgSyncClient(stack.url, stack.token_b) as b:
            ref = (await a.register_source({"table": table})).source_ref
            with pytest.raises(PgSyncError) as info:
                await b.get_source(ref)
            out.append((info.value.code, info.value.reason))
            with pytest.raises(PgSyncError) as info:
                async for _ in b.watch_wakes(ref, backoff=FAST):
                    pass
            out.append((info.value.code, info.value.reason))
        async with AsyncPgSyncClient(stack.url, "not-a-token") as anon:
            with pytest.raises(PgSyncError) as info:
                await anon.list_sources()
            out.append((info.value.code, ""))
        return out

    assert _run(scenario()) == [
        (grpc.StatusCode.NOT_FOUND, "SOURCE_NOT_FOUND"),
        (grpc.StatusCode.NOT_FOUND, "SOURCE_NOT_FOUND"),
        (grpc.StatusCode.UNAUTHENTICATED, ""),
    ]
