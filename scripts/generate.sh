#!/usr/bin/env bash
# Regenerate gen/ from proto/: TypeScript via the local protoc-gen-es, plus the descriptor set
# (with source info, so reflection keeps the proto comments) that the reflection service serves.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$PGSYNC_ROOT"
buf generate
# The runtime client's copy (pgsync/v1 only), with its own template.
buf generate --template clients/ts-runtime/buf.gen.yaml
# Outside gen/: buf generate cleans gen/ (clean: true), which would delete it.
buf build --as-file-descriptor-set -o descriptors/pgsync.binpb
