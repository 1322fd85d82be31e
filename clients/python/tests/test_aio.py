"""AsyncPgSyncClient against in-process fake servers: every client conformance vector (the same
resume rules as the sync client), local argument checks, errors with their reason, and close()."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Iterator

import grpc
import pytest

from pg_sync_client import AsyncPgSyncClient, InvalidArgumentError, PgSyncClient, PgSyncError, operation_name, row
from pg_sync_client.v1 import pg_sync_service_pb2 as pb, wake_pb2

from test_conformance import FAST, VECTORS, ScriptedService, _open, _yield
from test_watch_offline import REF, FakeService, _abort, _ready

DEADLINE_S = 10


def _run(coro: Any) -> Any:
    """Runs a coroutine with a deadline, so a hung stream fails the test instead of hanging it."""
    return asyncio.run(asyncio.wait_for(coro, DEADLINE_S))


@pytest.mark.parametrize("case", VECTORS["watch"], ids=[c["name"] for c in VECTORS["watch"]])
def test_watch_vector(serve: Callable[[Any], PgSyncClient], case: dict[str, Any]) -> None:
    service = ScriptedService(case["connections"])
    url = serve(service).url
    req = case["request"]

    async def consume() -> tuple[list[str], Any, Any]:
        async with AsyncPgSyncClient(url, "tok") as client:
            stream = client.watch_wakes(
                req["source_refs"],
                start=req.get("start", "now"),
                resume_token=req.get("resume_token"),
                max_attempts=req.get("max_attempts"),
                backoff=FAST,
            )
            yields: list[str] = []
            outcome: Any = "end"
            try:
                async for event in stream:
                    yields.append(_yield(event))
            except PgSyncError as err:
                outcome = {"raise": err.code.name}
            return yields, outcome, stream

    yields, outcome, stream = _run(consume())
    want = case["expect"]
    assert {"yields": yields, "outcome": outcome, "opens": [_open(r) for r in service.requests]} == {
        "yields": want["yields"],
        "outcome": want["outcome"],
        "opens": want["opens"],
    }
    assert stream.reconnects == want["reconnects"]
    if "resume_token" in want:
        assert stream.resume_token == want["resume_token"]


@pytest.mark.parametrize("case", VECTORS["invalid_arguments"], ids=[c["name"] for c in VECTORS["invalid_arguments"]])
def test_invalid_argument_vector(serve: Callable[[Any], PgSyncClient], case: dict[str, Any]) -> None:
    service = ScriptedService([])
    url = serve(service).url

    async def check() -> InvalidArgumentError:
        async with AsyncPgSyncClient(url, "tok") as client:
            with pytest.raises(InvalidArgumentError) as info:
                client.watch_wakes(**{"source_refs": [VECTORS["source_refs"]["A"]], **case["args"]})
            return info.value

    err = _run(check())
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT and case["argument"] in str(err)
    assert service.requests == []


def test_unary_error_carries_reason_and_bearer_token(serve: Callable[[Any], PgSyncClient]) -> None:
    service = FakeService(_abort(grpc.StatusCode.NOT_FOUND, "unknown source"))
    url = serve(service).url

    async def check() -> tuple[PgSyncError, PgSyncError]:
        async with AsyncPgSyncClient(url, "secret") as client:
            with pytest.raises(PgSyncError) as unary:
                await client.get_source(REF)
            with pytest.raises(PgSyncError) as stream:
                async for _ in client.watch_wakes(REF, backoff=FAST):
                    pass
            return unary.value, stream.value

    unary, stream = _run(check())
    assert (unary.code, unary.reason, unary.domain, unary.metadata) == (
        grpc.StatusCode.NOT_FOUND, "SOURCE_NOT_FOUND", "pgsync.dev", {"k": "v"})
    assert stream.code == grpc.StatusCode.NOT_FOUND
    assert service.auth == ["Bearer secret"]


def test_close_ends_an_open_stream(serve: Callable[[Any], PgSyncClient]) -> None:
    cancelled = threading.Event()

    def script(req: pb.WatchWakesRequest, ctx: grpc.ServicerContext, n: int) -> Iterator[pb.WatchWakesResponse]:
        ctx.add_callback(cancelled.set)  # runs when the call ends: here, the client's cancel
        yield _ready("r1")
        cancelled.wait(DEADLINE_S)

    service = FakeService(script)
    url = serve(service).url

    async def check() -> tuple[list[str], str]:
        async with AsyncPgSyncClient(url, "tok") as client:
            stream = client.watch_wakes(REF, backoff=FAST)
            seen: list[str] = []
            async for event in stream:
                seen.append(type(event).__name__)
                stream.close()
            return seen, stream.resume_token

    seen, token = _run(check())
    assert seen == ["Ready"] and token == "r1"
    assert cancelled.wait(DEADLINE_S), "the server never saw the call end"


def test_retries_unavailable_then_raises_after_max_attempts(serve: Callable[[Any], PgSyncClient]) -> None:
    service = FakeService(_abort(grpc.StatusCode.UNAVAILABLE, "down"))
    url = serve(service).url

    async def check() -> tuple[PgSyncError, int]:
        async with AsyncPgSyncClient(url, "tok") as client:
            stream = client.watch_wakes(REF, backoff=FAST, max_attempts=3)
            with pytest.raises(PgSyncError) as info:
                async for _ in stream:
                    pass
            return info.value, stream.reconnects

    err, reconnects = _run(check())
    assert err.code == grpc.StatusCode.UNAVAILABLE
    assert (len(service.requests), reconnects) == (3, 2)
    assert not any(r.HasField("resume_token") for r in service.requests)


def test_frames_reach_the_caller_with_wake_rows(serve: Callable[[Any], PgSyncClient]) -> None:
    def script(req: pb.WatchWakesRequest, ctx: grpc.ServicerContext, n: int) -> Iterator[pb.WatchWakesResponse]:
        wake = wake_pb2.Wake(wake_id="w1", source_ref=REF, first_seq=1, last_seq=1, resume_token="t1")
        change = wake.changes.add(operation=wake_pb2.OPERATION_INSERT, seq=1)
        change.value.update({"id": 4, "title": "x"})
        yield pb.WatchWakesResponse(wake=wake)

    url = serve(FakeService(script)).url

    async def check() -> list[Any]:
        async with AsyncPgSyncClient(url, "tok") as client:
            return [(operation_name(c), row(c)) async for w in client.watch_wakes(REF) for c in w.changes]

    assert _run(check()) == [("insert", {"id": 4, "title": "x"})]
