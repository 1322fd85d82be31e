#!/usr/bin/env bash
# Regenerates pgsync/v1/*_pb2*.py from /proto with grpcio-tools (the pinned dev dependency).
# The generated modules import each other as `pgsync.v1.*`, which is exactly where they live
# inside this package, so no import rewriting is needed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$here/.venv/bin/python}"
if ! "$py" -c 'import grpc_tools' 2>/dev/null; then
  echo "grpcio-tools is missing: $py -m pip install -e '$here[dev]'" >&2; exit 1
fi
rm -f "$here"/pgsync/v1/*_pb2*.py "$here"/pgsync/v1/*_pb2*.pyi
"$py" -m grpc_tools.protoc -I "$root/proto" \
  --python_out="$here" --pyi_out="$here" --grpc_python_out="$here" \
  "$root"/proto/pgsync/v1/*.proto
# Only the service file has stubs; drop the empty *_pb2_grpc.py the others get.
for f in "$here"/pgsync/v1/*_pb2_grpc.py; do
  case "$f" in */pg_sync_service_pb2_grpc.py) ;; *) rm -f "$f" ;; esac
done
touch "$here/pgsync/v1/__init__.py"
