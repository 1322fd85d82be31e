#!/usr/bin/env bash
# Run a TypeScript entry point with the project's Node after bootstrapping: scripts/run.sh FILE [ARGS...]
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
entry="$1"; shift
exec node --import tsx "$PGSYNC_ROOT/$entry" "$@"
