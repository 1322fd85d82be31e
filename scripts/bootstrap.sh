#!/usr/bin/env bash
# Bootstrap: make sure a Node >= 22 and the project's npm packages are present.
# Source this file (". scripts/bootstrap.sh") from every entry point; it exports PATH so that
# `node` is the project's Node. Idempotent and quick (a few ms) when nothing is missing.
set -euo pipefail

PGSYNC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGSYNC_ROOT
NODE_MIN_MAJOR=22
NODE_PIN="24.21.0"
NODE_LOCAL_DIR="$PGSYNC_ROOT/.tools/node"
NODE_LOCAL_BIN="$NODE_LOCAL_DIR/node_modules/node/bin"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ -x "$NODE_LOCAL_BIN/node" ]; then
  export PATH="$NODE_LOCAL_BIN:$PATH"
elif ! command -v node >/dev/null 2>&1 || [ "$(node_major node)" -lt "$NODE_MIN_MAJOR" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    log "npm is required to install Node $NODE_PIN (apt-get install -y npm)"; exit 1
  fi
  log "system Node is $(node --version 2>/dev/null || echo missing); installing Node $NODE_PIN from the npm registry into .tools/node"
  mkdir -p "$NODE_LOCAL_DIR"
  npm install --silent --no-save --no-audit --no-fund --prefix "$NODE_LOCAL_DIR" "node@$NODE_PIN" >&2
  export PATH="$NODE_LOCAL_BIN:$PATH"
fi

# npm ci when node_modules is missing or older than the lockfile.
stamp="$PGSYNC_ROOT/node_modules/.pgsync-lock-stamp"
if [ ! -f "$stamp" ] || ! cmp -s "$PGSYNC_ROOT/package-lock.json" "$stamp"; then
  log "installing npm packages (npm ci)"
  (cd "$PGSYNC_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$PGSYNC_ROOT/package-lock.json" "$stamp"
fi
export PATH="$PGSYNC_ROOT/node_modules/.bin:$PATH"

# The client packages' dist/, which Node resolves @pg-sync/runtime to: built when stale (a few ms
# to check when nothing changed).
bash "$PGSYNC_ROOT/scripts/build-clients.sh" --if-stale
