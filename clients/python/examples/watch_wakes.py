"""Prints every wake of a source, one JSON line each, resuming across server restarts.

    PGSYNC_URL=http://127.0.0.1:50051 PGSYNC_TOKEN=... python examples/watch_wakes.py <source_ref> [...]

An example of the pg-sync-client package (install it first: pip install clients/python); not part of it.

Options: --ops insert,update  --debounce-ms N  --start now|earliest  --resume-token T.
Ready, Gap and SourceStatus frames go to stderr; Ctrl-C prints the resume token to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from google.protobuf.json_format import MessageToDict

from pg_sync_client import PgSyncClient, PgSyncError, wake_pb2


def wake_line(wake: wake_pb2.Wake) -> str:
    changes = [
        {
            "op": wake_pb2.Operation.Name(c.operation).removeprefix("OPERATION_").lower(),
            "key": c.key,
            "seq": c.seq,
            "value": MessageToDict(c.value),
            **({"old_value": MessageToDict(c.old_value)} if c.HasField("old_value") else {}),
        }
        for c in wake.changes
    ]
    return json.dumps(
        {
            "wake_id": wake.wake_id,
            "source_ref": wake.source_ref,
            "first_seq": wake.first_seq,
            "last_seq": wake.last_seq,
            "changes": changes,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="watch_wakes.py", description=__doc__.splitlines()[0])
    parser.add_argument("source_refs", nargs="+", metavar="source_ref")
    parser.add_argument("--ops", default="", help="comma-separated: insert,update,delete (default: all)")
    parser.add_argument("--debounce-ms", type=int, default=0)
    parser.add_argument("--start", choices=("now", "earliest"), default="now")
    parser.add_argument("--resume-token", default=None)
    args = parser.parse_args(argv)
    url = os.environ.get("PGSYNC_URL")
    if not url:
        print("PGSYNC_URL is required (e.g. http://127.0.0.1:50051)", file=sys.stderr)
        return 2
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    with PgSyncClient(url, os.environ.get("PGSYNC_TOKEN")) as client:
        stream = client.watch_wakes(
            args.source_refs, ops=ops, debounce_ms=args.debounce_ms, start=args.start, resume_token=args.resume_token
        )
        try:
            for event in stream:
                if isinstance(event, wake_pb2.Wake):
                    print(wake_line(event), flush=True)
                else:
                    kind = type(event).__name__.lower()
                    print(f"[{kind}] " + json.dumps(MessageToDict(event), separators=(",", ":")), file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print(f"[stopped] resume token: {stream.resume_token}", file=sys.stderr)
        except PgSyncError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
