"""Live-test fixtures: one pg-sync stack per session (test/support/stack.ts), started lazily.

The stack needs PGSYNC_TEST_PG_URL (admin URL of a throwaway Postgres) and the project's node on
PATH (scripts/test-python.sh sources scripts/bootstrap.sh first).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from concurrent import futures
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import psycopg
import pytest

from pg_sync_client import PgSyncClient
from pg_sync_client.v1 import pg_sync_service_pb2_grpc as pb_grpc

REPO_ROOT = Path(__file__).resolve().parents[3]
STACK_START_TIMEOUT_S = 180


class Stack:
    def __init__(self, info: dict[str, str]) -> None:
        self.info = info
        self.url = info["pgsyncUrl"]
        self.token_a = info["tokenA"]
        self.token_b = info["tokenB"]
        self.database_url = info["databaseUrl"]
        self.control_url = info["controlUrl"]

    def sql(self, statement: str, params: Any = None) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(statement, params)

    def restart(self, timeout: float = 120) -> None:
        """Restarts pg-sync on the same port; returns once it listens again."""
        req = urllib.request.Request(self.control_url + "/restart", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=timeout) as res:
            assert res.status == 200, res.read()

    def new_table(self) -> str:
        name = f"todos_py_{secrets.token_hex(4)}"
        self.sql(f"CREATE TABLE {name} (id serial PRIMARY KEY, title text, done bool)")
        return name


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if not os.environ.get("PGSYNC_TEST_PG_URL"):
        message = "PGSYNC_TEST_PG_URL is not set (scripts/test-python.sh starts a Postgres when it is missing)"
        if os.environ.get("PGSYNC_REQUIRE_LIVE"):
            pytest.fail(message)
        pytest.skip(message)
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not on PATH (source scripts/bootstrap.sh)")
    keep_log = os.environ.get("PGSYNC_STACK_LOG")  # keep the stack's output at this path
    log = open(keep_log, "w") if keep_log else tempfile.NamedTemporaryFile(prefix="pgsync-py-stack-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [node, "--import", "tsx", "test/support/stack.ts"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + STACK_START_TIMEOUT_S
    info: dict[str, str] | None = None
    try:
        while info is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("stack did not start in time")
            line = lines.get(timeout=remaining)
            if line is None:
                raise RuntimeError(f"stack exited with {proc.wait()}")
            if line.startswith("{") and "pgsyncUrl" in line:
                info = json.loads(line)
    except (TimeoutError, RuntimeError, queue.Empty) as err:
        proc.kill()
        proc.wait()
        pytest.fail(f"stack failed to start: {err}\n{Path(log.name).read_text(errors='replace')[-4000:]}")
    try:
        yield Stack(info)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if not keep_log:
            os.unlink(log.name)


@pytest.fixture
def serve() -> Iterator[Callable[[pb_grpc.PgSyncServiceServicer], PgSyncClient]]:
    """Serves a fake PgSyncService in-process on a loopback port and returns a client for it."""
    servers: list[grpc.Server] = []
    clients: list[PgSyncClient] = []

    def start(service: pb_grpc.PgSyncServiceServicer) -> PgSyncClient:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_PgSyncServiceServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        clients.append(PgSyncClient(f"http://127.0.0.1:{port}", "tok"))
        return clients[-1]

    yield start
    for c in clients:
        c.close()
    for s in servers:
        s.stop(None)


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05, what: str = "condition") -> Any:
    """Polls ``predicate`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
