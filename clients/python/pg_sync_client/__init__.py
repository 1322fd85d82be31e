"""Python client for pg-sync (pgsync.v1.PgSyncService).

>>> from pg_sync_client import PgSyncClient, source_ref
>>> source_ref({"table": "todos"})
'61b724fea24ae3c5'
"""

from pg_sync_client.aio import AsyncPgSyncClient, AsyncWakeStream
from pg_sync_client.client import PgSyncClient, options_to_proto
from pg_sync_client.errors import InvalidArgumentError, PgSyncError
from pg_sync_client.rows import old_row, operation_name, plain, row
from pg_sync_client.watch import Backoff, Event, WakeStream
from pg_sync_client.source_ref import canonical_json, fnv1a64, is_source_ref, source_ref
from pg_sync_client.v1 import cursor_pb2, pg_sync_service_pb2, source_pb2, wake_pb2

__all__ = [
    "AsyncPgSyncClient",
    "AsyncWakeStream",
    "Backoff",
    "Event",
    "InvalidArgumentError",
    "PgSyncClient",
    "PgSyncError",
    "WakeStream",
    "canonical_json",
    "cursor_pb2",
    "fnv1a64",
    "is_source_ref",
    "old_row",
    "operation_name",
    "options_to_proto",
    "pg_sync_service_pb2",
    "plain",
    "row",
    "source_pb2",
    "source_ref",
    "wake_pb2",
]
