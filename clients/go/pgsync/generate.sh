#!/usr/bin/env bash
# Regenerates gen/ from /proto/pgsync/v1 with buf (from the project's node_modules) and the
# pinned protoc-gen-go / protoc-gen-go-grpc, installed into <repo>/.tools/go/bin
# (`--install-only`: just install them; scripts/test-go.sh does, for its drift test).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
. "$root/scripts/bootstrap.sh"
export GOPATH="$root/.tools/go" GOMODCACHE="$root/.tools/go/pkg/mod" GOCACHE="$root/.tools/go/cache" GOBIN="$root/.tools/go/bin"
go="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
"$go" install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
"$go" install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
[ "${1:-}" = "--install-only" ] && exit 0
cd "$root"
buf generate --template clients/go/pgsync/buf.gen.yaml
