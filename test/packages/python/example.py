"""Runs against the installed wheel in a fresh virtualenv (no server)."""

import asyncio

import grpc
from google.protobuf import struct_pb2

import pg_sync_client
from pg_sync_client import AsyncPgSyncClient, InvalidArgumentError, PgSyncClient, operation_name, row, source_ref, wake_pb2

assert source_ref({"table": "todos"}) == "61b724fea24ae3c5", source_ref({"table": "todos"})
value = struct_pb2.Struct()
value.update({"id": 4, "big": "9007199254740993"})
change = wake_pb2.Change(operation=wake_pb2.OPERATION_INSERT, value=value)
assert row(change) == {"id": 4, "big": "9007199254740993"} and type(row(change)["id"]) is int
assert operation_name(change) == "insert"

with PgSyncClient("http://127.0.0.1:9", "token") as client:
    try:
        client.watch_wakes(["61b724fea24ae3c5"], ops=["upsert"])
        raise SystemExit("a bad operation was not rejected")
    except InvalidArgumentError as err:
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT and "ops[0]" in str(err)


async def main() -> None:
    async with AsyncPgSyncClient("http://127.0.0.1:9", "token") as client:
        try:
            client.watch_wakes(["61b724fea24ae3c5"], debounce_ms=-1)
            raise SystemExit("a bad debounce was not rejected")
        except InvalidArgumentError as err:
            assert "debounce_ms" in str(err)


asyncio.run(main())
print("example ok:", pg_sync_client.__name__, source_ref({"table": "todos"}))
