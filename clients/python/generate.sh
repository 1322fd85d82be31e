#!/usr/bin/env bash
# Regenerates pg_sync_client/v1/*_pb2*.py from /proto with grpcio-tools (the pinned dev dependency).
# protoc names the modules after the proto path (`pgsync.v1.*`); this package's import name is
# `pg_sync_client` (the PyPI name `pgsync` belongs to another project), so the generated imports
# and module names are rewritten to `pg_sync_client.v1.*`. The proto package and the descriptors
# registered in the pool stay `pgsync.v1`: that is the wire API, not a Python name.
# Usage: generate.sh [OUT] (default: this package; tests/test_generated.py passes a temp dir).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here}"
dest="$out/pg_sync_client/v1"
py="${PYTHON:-$here/.venv/bin/python}"
if ! "$py" -c 'import grpc_tools' 2>/dev/null; then
  echo "grpcio-tools is missing: $py -m pip install -e '$here[dev]'" >&2; exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -m grpc_tools.protoc -I "$root/proto" \
  --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" \
  "$root"/proto/pgsync/v1/*.proto
# Only the service file has stubs; drop the empty *_pb2_grpc.py the others get.
for f in "$tmp"/pgsync/v1/*_pb2_grpc.py; do
  case "$f" in */pg_sync_service_pb2_grpc.py) ;; *) rm -f "$f" ;; esac
done
sed -i -E \
  -e 's/^from pgsync\.v1 import /from pg_sync_client.v1 import /' \
  -e "s/^(_builder\.BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')pgsync\.v1\./\1pg_sync_client.v1./" \
  -e 's#generated code in pgsync/v1/#generated code in pg_sync_client/v1/#' \
  "$tmp"/pgsync/v1/*
mkdir -p "$dest"
rm -f "$dest"/*_pb2*.py "$dest"/*_pb2*.pyi
cp "$tmp"/pgsync/v1/* "$dest"/
touch "$dest/__init__.py"
