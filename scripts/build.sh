#!/usr/bin/env bash
# Production build: compiles the server (src/), its generated code (gen/) and the shape server
# (tools/shape-server/) to JavaScript with source maps under dist/, and copies the files they read
# at run time (SQL migrations, the reflection descriptor set) next to them.
#
#   scripts/build.sh              build unconditionally
#   scripts/build.sh --if-stale   build only when dist/ is missing or older than a source
#
# dist/.build-stamp is written last, with the time the build *started*, so a source saved during a
# build makes the next start rebuild. Concurrent builds serialise on a lock in node_modules/.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
. "$PGSYNC_ROOT/scripts/lib/build-inputs.sh"

if [ "${1:-}" = "--if-stale" ] && ! build_is_stale; then exit 0; fi

exec 9>"$PGSYNC_ROOT/node_modules/.pgsync-build.lock"
flock 9
# Another build may have finished while this one waited for the lock.
if [ "${1:-}" = "--if-stale" ] && ! build_is_stale; then exit 0; fi

cd "$PGSYNC_ROOT"
started="$(mktemp "$PGSYNC_ROOT/node_modules/.pgsync-build-started.XXXXXX")"
trap 'rm -f "$started"' EXIT
printf '[build] compiling to dist/\n' >&2
# Build beside dist/ and swap it in whole: a process starting from dist/ meanwhile (a test, the
# pg-sync command) sees the old build or the new one, never a half-written one.
next="$(mktemp -d "$PGSYNC_ROOT/.dist-next.XXXXXX")"
trap 'rm -f "$started"; rm -rf "$next"' EXIT
tsc -p tsconfig.build.json --outDir "$next"
mkdir -p "$next/src/storage/migrations" "$next/descriptors"
cp src/storage/migrations/*.sql "$next/src/storage/migrations/"
cp descriptors/pgsync.binpb "$next/descriptors/"
mv "$started" "$next/$(basename "$BUILD_STAMP")"
old="$PGSYNC_ROOT/.dist-old.$$"
if [ -d dist ]; then mv dist "$old"; fi
mv "$next" dist
rm -rf "$old"
trap - EXIT
