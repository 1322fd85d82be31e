#!/usr/bin/env bash
# Regenerates pgsync/v1/*_pb2*.py from /proto with grpcio-tools (the pinned dev dependency).
# The generated modules import each other as `pgsync.v1.*`, which is exactly where they live
# inside this package, so no import rewriting is needed.
# Usage: generate.sh [OUT] (default: this package; tests/test_generated.py passes a temp dir).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here}"
mkdir -p "$out/pgsync/v1"
py="${PYTHON:-$here/.venv/bin/python}"
if ! "$py" -c 'import grpc_tools' 2>/dev/null; then
  echo "grpcio-tools is missing: $py -m pip install -e '$here[dev]'" >&2; exit 1
fi
rm -f "$out"/pgsync/v1/*_pb2*.py "$out"/pgsync/v1/*_pb2*.pyi
"$py" -m grpc_tools.protoc -I "$root/proto" \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  "$root"/proto/pgsync/v1/*.proto
# Only the service file has stubs; drop the empty *_pb2_grpc.py the others get.
for f in "$out"/pgsync/v1/*_pb2_grpc.py; do
  case "$f" in */pg_sync_service_pb2_grpc.py) ;; *) rm -f "$f" ;; esac
done
touch "$out/pgsync/v1/__init__.py"
