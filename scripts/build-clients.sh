#!/usr/bin/env bash
# Builds the TypeScript client packages (clients/ts-runtime, then clients/ts-agents) into their
# dist/ with tsc: JavaScript, .d.ts and source maps, exactly what `npm pack` ships. Node resolves
# @pg-sync/runtime to that dist/ (tsx scripts, the test stacks and the compiled server import its
# source_ref module); vitest and `tsc --noEmit` read the sources through the "@pg-sync/source"
# export condition instead.
#
#   scripts/build-clients.sh             build both packages
#   scripts/build-clients.sh --if-stale  only those whose dist/ is missing or older than a source
#
# Needs node_modules/.bin on PATH (scripts/bootstrap.sh calls it with --if-stale). Concurrent
# builds serialise on a lock in node_modules/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(clients/ts-runtime clients/ts-agents)

# True when the package's dist/ was never built or one of its inputs changed after the last
# build started (a deleted or renamed file changes its directory's mtime).
is_stale() {
  local dir="$ROOT/$1" inputs=()
  [ -f "$dir/dist/.build-stamp" ] || return 0
  for f in src gen package.json tsconfig.build.json ../../tsconfig.json; do [ -e "$dir/$f" ] && inputs+=("$f"); done
  [ -n "$(cd "$dir" && find "${inputs[@]}" -newer dist/.build-stamp -print -quit)" ]
}

build() {
  local dir="$ROOT/$1" started
  printf '[build-clients] %s\n' "$1" >&2
  started="$(mktemp "$ROOT/node_modules/.pgsync-client-build.XXXXXX")"
  rm -rf "$dir/dist"
  if ! tsc -p "$dir/tsconfig.build.json"; then rm -f "$started"; return 1; fi
  mv "$started" "$dir/dist/.build-stamp"
}

exec 8>"$ROOT/node_modules/.pgsync-clients-build.lock"
flock 8
rebuilt=""
for pkg in "${PACKAGES[@]}"; do
  # A package is rebuilt after the one before it was (agents' types come from runtime's dist/).
  if [ "${1:-}" != "--if-stale" ] || [ -n "$rebuilt" ] || is_stale "$pkg"; then
    build "$pkg"
    rebuilt=1
  fi
done
