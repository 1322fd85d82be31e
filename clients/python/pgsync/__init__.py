"""Python client for pg-sync (pgsync.v1.PgSyncService).

>>> from pgsync import PgSyncClient, source_ref
>>> source_ref({"table": "todos"})
'61b724fea24ae3c5'
"""

from pgsync.client import PgSyncClient, options_to_proto
from pgsync.errors import InvalidArgumentError, PgSyncError
from pgsync.watch import Backoff, Event, WakeStream
from pgsync.source_ref import canonical_json, fnv1a64, is_source_ref, source_ref
from pgsync.v1 import cursor_pb2, pg_sync_service_pb2, source_pb2, wake_pb2

__all__ = [
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
    "options_to_proto",
    "pg_sync_service_pb2",
    "source_pb2",
    "source_ref",
    "wake_pb2",
]
