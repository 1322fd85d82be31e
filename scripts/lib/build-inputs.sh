# What the production build reads, and whether dist/ is older than any of it. Sourced by
# scripts/build.sh and scripts/start.sh after bootstrap.sh (needs PGSYNC_ROOT).
BUILD_STAMP="$PGSYNC_ROOT/dist/.build-stamp"
BUILD_INPUTS=(src gen tools/shape-server descriptors tsconfig.json tsconfig.build.json package-lock.json)

# True when dist/ was never built or a build input (file or directory: a deleted or renamed file
# changes its directory's mtime) changed after the last build started. One `find`, a few ms.
build_is_stale() {
  [ -f "$BUILD_STAMP" ] || return 0
  local newer
  newer="$(cd "$PGSYNC_ROOT" && find "${BUILD_INPUTS[@]}" -newer "$BUILD_STAMP" -print -quit)"
  [ -n "$newer" ]
}
