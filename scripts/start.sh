#!/usr/bin/env bash
# Run a compiled entry point, building first when dist/ is missing or stale:
#   scripts/start.sh src/main.ts [ARGS...]   runs node dist/src/main.js [ARGS...]
#
# The last step is `exec`, so the server *is* this process: a signal sent to it (by npm, which
# forwards SIGTERM/SIGINT to its child, or by a supervisor) reaches the server, which drains.
# While a build runs, SIGTERM/SIGINT/SIGHUP stop the build's whole process group and nothing starts.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
. "$PGSYNC_ROOT/scripts/lib/build-inputs.sh"
entry="${1:?usage: scripts/start.sh ENTRY.ts [ARGS...]}"; shift

if build_is_stale; then
  # Job control puts the build in its own process group, so a signal can stop all of it (tsc too).
  build_pid="" signalled=""
  trap 'signalled=1; [ -z "$build_pid" ] || kill -TERM -- "-$build_pid" 2>/dev/null || true' TERM INT HUP
  set -m
  bash "$PGSYNC_ROOT/scripts/build.sh" --if-stale &
  build_pid=$!
  set +m
  # A signal that came before build_pid was known: the build has not been waited for yet.
  if [ -n "$signalled" ]; then kill -TERM -- "-$build_pid" 2>/dev/null || true; fi
  rc=0
  wait "$build_pid" || rc=$?
  if [ -n "$signalled" ]; then
    # The trap interrupted `wait`: let the build's group finish dying, then start nothing.
    while kill -0 "$build_pid" 2>/dev/null; do wait "$build_pid" || true; done
    exit 143
  fi
  trap - TERM INT HUP
  if [ "$rc" -ne 0 ]; then echo "[start] build failed (exit $rc)" >&2; exit "$rc"; fi
fi

# The server's V8 flags (SERVER_V8_FLAGS in scripts/lib/processes.ts; docs/operations.md, "Memory").
flags=(--enable-source-maps)
if [ "$entry" = src/main.ts ]; then flags+=(--max-semi-space-size=4); fi
exec node "${flags[@]}" "$PGSYNC_ROOT/dist/${entry%.ts}.js" "$@"
