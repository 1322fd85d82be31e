"""WakeStream reconnect, resume and dedup logic against an in-process fake server (no stack)."""

from __future__ import annotations

import importlib.util
import json
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from pg_sync_client import Backoff, PgSyncClient, PgSyncError, wake_pb2
from pg_sync_client.v1 import pg_sync_service_pb2 as pb, pg_sync_service_pb2_grpc as pb_grpc

REF = "61b724fea24ae3c5"
FAST = Backoff(initial=0.01, maximum=0.05)


def _wake(first: int, last: int, token: str) -> pb.WatchWakesResponse:
    return pb.WatchWakesResponse(
        wake=wake_pb2.Wake(wake_id=f"{REF}-{first}-{last}", source_ref=REF, first_seq=first, last_seq=last, resume_token=token)
    )


def _ready(token: str) -> pb.WatchWakesResponse:
    return pb.WatchWakesResponse(ready=wake_pb2.Ready(resume_token=token))


def _example(name: str) -> Any:
    """A module of clients/python/examples (they are not part of the installed package)."""
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _not_found_status() -> grpc.Status:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="SOURCE_NOT_FOUND", domain="pgsync.dev", metadata={"k": "v"}))
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.NOT_FOUND, message="no such source", details=[detail]))


Script = Callable[[pb.WatchWakesRequest, grpc.ServicerContext, int], Iterator[pb.WatchWakesResponse]]


class FakeService(pb_grpc.PgSyncServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[pb.WatchWakesRequest] = []
        self.auth: list[str] = []

    def WatchWakes(self, request: pb.WatchWakesRequest, context: grpc.ServicerContext) -> Iterator[pb.WatchWakesResponse]:
        self.requests.append(request)
        self.auth.append(dict(context.invocation_metadata()).get("authorization", ""))
        yield from self.script(request, context, len(self.requests))

    def GetSource(self, request: pb.GetSourceRequest, context: grpc.ServicerContext) -> Any:
        context.abort_with_status(_not_found_status())


@pytest.fixture
def fake(serve: Callable[[FakeService], PgSyncClient]) -> Callable[[Script], tuple[FakeService, PgSyncClient]]:
    def start(script: Script) -> tuple[FakeService, PgSyncClient]:
        service = FakeService(script)
        return service, serve(service)

    return start


def _abort(code: grpc.StatusCode, message: str) -> Script:
    """A script that fails every call with ``code``."""

    def script(req: pb.WatchWakesRequest, ctx: grpc.ServicerContext, n: int) -> Iterator[pb.WatchWakesResponse]:
        ctx.abort(code, message)
        yield  # pragma: no cover

    return script


def test_resumes_after_unavailable_without_duplicates(fake) -> None:
    def script(req, ctx, n):
        if n == 1:
            yield _ready("r0")
            yield _wake(1, 1, "t1")
            yield _wake(2, 3, "t3")
            ctx.set_trailing_metadata((("pgsync-resume-token", "t3"),))
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down")
        elif n == 2:
            yield _ready("r1")
            yield _wake(2, 3, "t3")  # re-delivered: same id
            yield _wake(3, 3, "t3b")  # covered by the earlier range
            yield _wake(4, 4, "t4")

    service, client = fake(script)
    stream = client.watch_wakes(REF, ops=["insert", "delete"], debounce_ms=5, backoff=FAST)
    events = list(stream)
    kinds = [(type(e).__name__, getattr(e, "wake_id", "")) for e in events]
    assert kinds == [
        ("Ready", ""),
        ("Wake", f"{REF}-1-1"),
        ("Wake", f"{REF}-2-3"),
        ("Ready", ""),
        ("Wake", f"{REF}-4-4"),
    ]
    assert stream.reconnects == 1
    assert stream.resume_token == "t4"
    assert service.requests[0].WhichOneof("start") == "start_position"
    assert service.requests[0].start_position == wake_pb2.START_POSITION_NOW
    assert list(service.requests[0].ops) == [wake_pb2.OPERATION_INSERT, wake_pb2.OPERATION_DELETE]
    assert service.requests[1].resume_token == "t3"
    assert service.requests[1].debounce_ms == 5
    assert service.auth == ["Bearer tok", "Bearer tok"]


def test_uses_trailer_token_when_no_frame_carried_one(fake) -> None:
    def script(req, ctx, n):
        if n == 1:
            ctx.set_trailing_metadata((("pgsync-resume-token", "from-trailer"),))
            ctx.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "consumer too slow")
        yield _ready("r1")

    service, client = fake(script)
    events = list(client.watch_wakes([REF], start="earliest", backoff=FAST))
    assert [type(e).__name__ for e in events] == ["Ready"]
    assert service.requests[0].start_position == wake_pb2.START_POSITION_EARLIEST
    assert service.requests[1].resume_token == "from-trailer"


def test_source_reset_gap_clears_dedup_memory(fake) -> None:
    def script(req, ctx, n):
        yield _wake(1, 1, "t1")
        yield pb.WatchWakesResponse(
            gap=wake_pb2.Gap(source_ref=REF, reason=wake_pb2.GAP_REASON_SOURCE_RESET, resume_token="g")
        )
        yield _wake(1, 1, "t1b")

    _, client = fake(script)
    events = list(client.watch_wakes(REF, backoff=FAST))
    assert [type(e).__name__ for e in events] == ["Wake", "Gap", "Wake"]


def test_heartbeats_update_token_and_are_optional(fake) -> None:
    def script(req, ctx, n):
        yield pb.WatchWakesResponse(heartbeat=wake_pb2.Heartbeat(resume_token="h1"))

    _, client = fake(script)
    stream = client.watch_wakes(REF, backoff=FAST)
    assert list(stream) == []
    assert stream.resume_token == "h1"
    assert [type(e).__name__ for e in client.watch_wakes(REF, heartbeats=True)] == ["Heartbeat"]


def test_non_retryable_error_is_raised_with_reason(fake) -> None:
    _, client = fake(_abort(grpc.StatusCode.NOT_FOUND, "unknown source"))
    with pytest.raises(PgSyncError) as info:
        list(client.watch_wakes(REF, backoff=FAST))
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(PgSyncError) as info:
        client.get_source(REF)
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.reason == "SOURCE_NOT_FOUND"
    assert info.value.domain == "pgsync.dev"
    assert info.value.metadata == {"k": "v"}


def test_gives_up_after_max_attempts(fake) -> None:
    service, client = fake(_abort(grpc.StatusCode.UNAVAILABLE, "down"))
    with pytest.raises(PgSyncError) as info:
        list(client.watch_wakes(REF, backoff=FAST, max_attempts=3))
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert len(service.requests) == 3


def test_close_from_another_thread_ends_iteration(fake) -> None:
    release = threading.Event()

    def script(req, ctx, n):
        yield _ready("r")
        release.wait(10)

    _, client = fake(script)
    stream = client.watch_wakes(REF, backoff=FAST)
    seen: list = []
    got_first = threading.Event()
    done: queue.Queue = queue.Queue()

    def consume() -> None:
        for e in stream:
            seen.append(type(e).__name__)
            got_first.set()
        done.put(True)

    t = threading.Thread(target=consume)
    t.start()
    assert got_first.wait(10)  # the consumer holds Ready and is blocked on the next frame
    stream.close()
    t.join(10)
    release.set()
    assert done.get(timeout=1) is True
    assert seen == ["Ready"]


def test_connection_refused_is_retried_then_raised() -> None:
    with PgSyncClient("http://127.0.0.1:1", "tok") as client:
        stream = client.watch_wakes(REF, backoff=FAST, max_attempts=2)
        with pytest.raises(PgSyncError) as info:
            next(stream)
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        assert stream.reconnects == 1


def test_wake_line_is_one_json_line() -> None:
    wake = _wake(1, 1, "t").wake
    change = wake.changes.add(key='"public"."todos"/"1"', operation=wake_pb2.OPERATION_INSERT, seq=1)
    change.value.update({"id": "1", "title": "a\nb"})
    line = _example("watch_wakes").wake_line(wake)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["changes"][0]["op"] == "insert"
    assert parsed["changes"][0]["value"] == {"id": "1", "title": "a\nb"}


def test_url_forms() -> None:
    from pg_sync_client.client import target_of as _target

    assert _target("http://127.0.0.1:5000") == ("127.0.0.1:5000", False)
    assert _target("https://example.com") == ("example.com:443", True)
    assert _target("localhost:7") == ("localhost:7", False)
    with pytest.raises(ValueError):
        _target("postgres://x")


def test_internal_is_resumed_only_mid_stream(fake) -> None:
    def script(req, ctx, n):
        if req.debounce_ms == 1:
            ctx.abort(grpc.StatusCode.INTERNAL, "internal error")
        if n == 1:
            yield _ready("r0")
            ctx.abort(grpc.StatusCode.INTERNAL, "stream reset")
        yield _wake(1, 1, "t1")

    service, client = fake(script)
    events = list(client.watch_wakes(REF, backoff=FAST))
    assert [type(e).__name__ for e in events] == ["Ready", "Wake"]
    assert service.requests[1].resume_token == "r0"
    with pytest.raises(PgSyncError) as info:
        list(client.watch_wakes(REF, debounce_ms=1, backoff=FAST))
    assert info.value.code == grpc.StatusCode.INTERNAL
