#!/usr/bin/env bash
# Installs the Go-based ops tools the tests use (grpcurl) into .tools/go/bin, once: the Go
# module and build caches live in .tools/go too, so a second run is instant and offline.
# Prints the tool's path. Usage: bash scripts/tools.sh grpcurl
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
GRPCURL_VERSION="v1.9.4"
export GOPATH="$ROOT/.tools/go" GOMODCACHE="$ROOT/.tools/go/pkg/mod" GOBIN="$ROOT/.tools/go/bin"
export GOCACHE="$ROOT/.tools/go/cache" GOFLAGS="-modcacherw"
case "${1:-}" in
  grpcurl)
    bin="$GOBIN/grpcurl"
    stamp="$GOBIN/.grpcurl-$GRPCURL_VERSION"
    if [ ! -x "$bin" ] || [ ! -f "$stamp" ]; then
      command -v go >/dev/null || { echo "tools.sh: Go is required to install grpcurl" >&2; exit 1; }
      echo "[tools] installing grpcurl $GRPCURL_VERSION (go install)" >&2
      go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >&2
      touch "$stamp"
    fi
    echo "$bin"
    ;;
  *) echo "usage: tools.sh grpcurl" >&2; exit 2 ;;
esac
