"""The shared client conformance vectors (test/vectors/client-conformance.json) against WakeStream.

Each watch case scripts an in-process fake server's answer to each successive WatchWakes call;
the stream must open, yield, reconnect or raise exactly as the vector says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest

from pg_sync_client import Backoff, InvalidArgumentError, PgSyncClient, PgSyncError, wake_pb2
from pg_sync_client.v1 import pg_sync_service_pb2 as pb, pg_sync_service_pb2_grpc as pb_grpc

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "test/vectors/client-conformance.json").read_text())
FAST = Backoff(initial=0.001, maximum=0.002)


def _frame(frame: dict[str, dict[str, Any]]) -> pb.WatchWakesResponse:
    ((kind, body),) = frame.items()
    fields = dict(body)
    if "reason" in fields:
        fields["reason"] = wake_pb2.GapReason.Value("GAP_REASON_" + fields["reason"])
    message = {"wake": wake_pb2.Wake, "ready": wake_pb2.Ready, "gap": wake_pb2.Gap, "heartbeat": wake_pb2.Heartbeat, "status": wake_pb2.SourceStatus}[kind]
    return pb.WatchWakesResponse(**{kind: message(**fields)})


class ScriptedService(pb_grpc.PgSyncServiceServicer):
    """Answers the n-th WatchWakes call with the case's n-th connection."""

    def __init__(self, connections: list[dict[str, Any]]) -> None:
        self.connections = connections
        self.requests: list[pb.WatchWakesRequest] = []

    def WatchWakes(self, request: pb.WatchWakesRequest, context: grpc.ServicerContext) -> Iterator[pb.WatchWakesResponse]:
        self.requests.append(request)
        if len(self.requests) > len(self.connections):
            context.abort(grpc.StatusCode.DATA_LOSS, "unscripted connection")
        connection = self.connections[len(self.requests) - 1]
        for frame in connection["frames"]:
            yield _frame(frame)
        end = connection.get("end")
        if end:
            if end.get("trailer_resume_token"):
                context.set_trailing_metadata((("pgsync-resume-token", end["trailer_resume_token"]),))
            context.abort(getattr(grpc.StatusCode, end["code"]), end["message"])


@pytest.fixture
def scripted(serve: Callable[[ScriptedService], PgSyncClient]) -> Callable[[list[dict[str, Any]]], tuple[ScriptedService, PgSyncClient]]:
    def start(connections: list[dict[str, Any]]) -> tuple[ScriptedService, PgSyncClient]:
        service = ScriptedService(connections)
        return service, serve(service)

    return start


def _open(request: pb.WatchWakesRequest) -> str:
    if request.WhichOneof("start") == "resume_token":
        return "token:" + request.resume_token
    return "start:earliest" if request.start_position == wake_pb2.START_POSITION_EARLIEST else "start:now"


def _yield(event: Any) -> str:
    if isinstance(event, wake_pb2.Wake):
        return "wake:" + event.wake_id
    if isinstance(event, wake_pb2.Gap):
        return "gap:" + wake_pb2.GapReason.Name(event.reason).removeprefix("GAP_REASON_")
    return {wake_pb2.Ready: "ready", wake_pb2.SourceStatus: "status"}[type(event)]


@pytest.mark.parametrize("case", VECTORS["watch"], ids=[c["name"] for c in VECTORS["watch"]])
def test_watch_vector(scripted: Any, case: dict[str, Any]) -> None:
    service, client = scripted(case["connections"])
    req = case["request"]
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
        for event in stream:
            yields.append(_yield(event))
    except PgSyncError as err:
        outcome = {"raise": err.code.name}
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
def test_invalid_argument_vector(scripted: Any, case: dict[str, Any]) -> None:
    service, client = scripted([])
    args = {"source_refs": [VECTORS["source_refs"]["A"]], **case["args"]}
    with pytest.raises(InvalidArgumentError) as info:
        client.watch_wakes(**args)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert case["argument"] in str(info.value)
    assert isinstance(info.value, ValueError)
    assert service.requests == []


def test_backoff_defaults_are_shared() -> None:
    b = VECTORS["backoff"]
    caps = [round(Backoff().cap(n) * 1000) for n in range(1, len(b["caps_ms"]) + 1)]
    assert caps == b["caps_ms"]
    assert all(0 <= Backoff().delay(n) < Backoff().cap(n) for n in range(1, 10))
