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
rm -rf dist
tsc -p tsconfig.build.json
mkdir -p dist/src/storage/migrations dist/descriptors
cp src/storage/migrations/*.sql dist/src/storage/migrations/
cp descriptors/pgsync.binpb dist/descriptors/
mv "$started" "$BUILD_STAMP"
trap - EXIT
