#!/usr/bin/env bash
# Package checks: each client installs, as a user would install it, into a clean temporary
# directory and runs its example there (test/packages/README.md):
#   - TypeScript: `npm pack` of @pg-sync/runtime and @pg-sync/agents (prepack builds dist/), the
#     tarballs' contents, `npm install` of the tarballs, test/packages/ts/example.mjs with plain
#     node, and tsc on test/packages/ts/consumer.ts under strict settings (nodenext and node10);
#   - Python: the wheel built from clients/python, its contents, `pip install` into a fresh venv,
#     test/packages/python/example.py;
#   - Go: `go run` of test/packages/go/main.go in a fresh module that `replace`s the client module;
#   - the go directive, the LICENSE copies equal to the root one, and one version everywhere.
# Offline after the first run: npm installs --prefer-offline from npm's cache, pip installs
# --no-index from a wheelhouse in clients/python/.wheelhouse (filled once, refreshed when
# pyproject.toml or constraints-test.txt change), Go uses the module cache in .tools/go.
# Last line: `packages: N passed, N failed`.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
passed=0 failed=0
summary() { echo "packages: $passed passed, $failed failed"; }
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1" >&2; }
# check NAME CMD...: runs CMD, its output kept for a failure only.
check() {
  local name="$1" out; shift
  if out="$("$@" 2>&1)"; then ok "$name"; else not_ok "$name"; printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /' >&2; fi
}

if ! . "$ROOT/scripts/bootstrap.sh"; then echo "bootstrap failed" >&2; failed=1; summary; exit 1; fi
set +e
TMP="$(mktemp -d /tmp/pgsync-packages.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
EXAMPLES="$ROOT/test/packages"

# --- TypeScript -------------------------------------------------------------------------------
ts_pack() {
  (cd "$ROOT" && npm pack --silent --pack-destination "$TMP" -w @pg-sync/runtime -w @pg-sync/agents >/dev/null) || return 1
  ls "$TMP"/pg-sync-runtime-*.tgz "$TMP"/pg-sync-agents-*.tgz >/dev/null
}
# Only built client code, README and LICENSE: no TypeScript sources, no server-only generated code.
ts_contents() {
  local list bad
  list="$(for t in "$TMP"/pg-sync-*.tgz; do tar -tzf "$t"; done)"
  for want in package/dist/src/index.js package/dist/src/index.d.ts package/dist/src/source-ref.js \
    package/dist/gen/pgsync/v1/wake_pb.js package/dist/index.js package/dist/index.d.ts package/README.md package/LICENSE; do
    grep -qx "$want" <<<"$list" || { echo "missing $want"; return 1; }
  done
  bad="$(grep -E '\.ts$' <<<"$list" | grep -v '\.d\.ts$'; grep -E 'grpc/(health|reflection)|google/rpc|/test/' <<<"$list")"
  [ -z "$bad" ] || { echo "unexpected files:"; echo "$bad"; return 1; }
}
ts_install() {
  mkdir -p "$TMP/ts" && cd "$TMP/ts" || return 1
  printf '{ "name": "consumer", "private": true, "type": "module" }\n' >package.json
  local node_types
  node_types="$(node -p 'require(process.argv[1]).version' "$ROOT/node_modules/@types/node/package.json")"
  npm install --prefer-offline --no-audit --no-fund --loglevel=error "$TMP"/pg-sync-runtime-*.tgz "$TMP"/pg-sync-agents-*.tgz \
    "@types/node@$node_types"
}
ts_plain_node() { cd "$TMP/ts" && node -e 'import("@pg-sync/runtime").then((m) => { if (!m.createPgSyncClient) process.exit(1); })'; }
ts_example() { cp "$EXAMPLES/ts/example.mjs" "$TMP/ts/" && cd "$TMP/ts" && node example.mjs; }
ts_strict() {
  cp "$EXAMPLES"/ts/consumer.ts "$EXAMPLES"/ts/tsconfig.*.json "$TMP/ts/" && cd "$TMP/ts" \
    && tsc -p tsconfig.nodenext.json && tsc -p tsconfig.node10.json
}

# NODE_OPTIONS or a condition from this repository must not leak into the consumer.
unset NODE_OPTIONS
if check "npm pack @pg-sync/runtime @pg-sync/agents" ts_pack; then
  check "tarballs hold dist, README and LICENSE only" ts_contents
  if check "npm install of the tarballs in a clean directory" ts_install; then
    check "plain node imports @pg-sync/runtime" ts_plain_node
    check "TypeScript example runs" ts_example
    check "consumer type-checks (strict, exactOptionalPropertyTypes, erasableSyntaxOnly; nodenext and node10)" ts_strict
  fi
fi

# --- Python -----------------------------------------------------------------------------------
PY_DIR="$ROOT/clients/python"
PYTHON="${PYTHON:-python3}"
WHEELHOUSE="$PY_DIR/.wheelhouse"
py_wheelhouse() {
  local stamp
  stamp="$( { cat "$PY_DIR/pyproject.toml" "$PY_DIR/constraints-test.txt"; "$PYTHON" -VV; } | sha256sum | cut -d' ' -f1)"
  [ "$(cat "$WHEELHOUSE/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  rm -rf "$WHEELHOUSE" && mkdir -p "$WHEELHOUSE" || return 1
  # The runtime dependencies at the tested versions, and the build backend.
  "$PYTHON" -m pip download -q --disable-pip-version-check -d "$WHEELHOUSE" -c "$PY_DIR/constraints-test.txt" \
    grpcio grpcio-status googleapis-common-protos protobuf "setuptools>=77" || return 1
  echo "$stamp" >"$WHEELHOUSE/.stamp"
}
py_wheel() {
  "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-index --find-links "$WHEELHOUSE" --no-deps \
    -w "$TMP/wheel" "$PY_DIR" || return 1
  ls "$TMP"/wheel/pg_sync_client-*.whl >/dev/null
}
py_contents() {
  "$PYTHON" - "$TMP"/wheel/pg_sync_client-*.whl <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["pg_sync_client/__init__.py", "pg_sync_client/aio.py", "pg_sync_client/py.typed", "pg_sync_client/v1/wake_pb2.pyi"]
missing = [n for n in need if n not in names]
stray = [n for n in names if not n.startswith(("pg_sync_client/", "pg_sync_client-"))]
meta = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith("/METADATA"))).decode()
problems = missing + stray
if "Name: pg-sync-client" not in meta or "License-Expression: Apache-2.0" not in meta or "# pg-sync-client" not in meta:
    problems.append("METADATA lacks the name, license or README")
if not any(n.endswith("licenses/LICENSE") for n in names):
    problems.append("no LICENSE in the wheel")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
}
py_install() {
  "$PYTHON" -m venv "$TMP/venv" \
    && "$TMP/venv/bin/python" -m pip install -q --disable-pip-version-check --no-index --find-links "$WHEELHOUSE" \
      "$TMP"/wheel/pg_sync_client-*.whl
}
py_example() { cd "$TMP" && "$TMP/venv/bin/python" "$EXAMPLES/python/example.py"; }

if check "Python wheelhouse (runtime dependencies, build backend)" py_wheelhouse \
  && check "Python wheel builds" py_wheel; then
  check "wheel holds pg_sync_client only, with README, LICENSE and typing" py_contents
  if check "pip install of the wheel into a fresh venv" py_install; then
    check "Python example runs" py_example
  fi
fi

# --- Go ---------------------------------------------------------------------------------------
GO_DIR="$ROOT/clients/go/pgsync"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export GOPATH="$ROOT/.tools/go" GOMODCACHE="$ROOT/.tools/go/pkg/mod" GOCACHE="$ROOT/.tools/go/cache"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
go_directive() {
  local v
  v="$(cd "$GO_DIR" && "$GO" mod edit -json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])')"
  case "$v" in 1.24 | 1.24.* | 1.25 | 1.25.*) ;; *) echo "go directive $v is newer than the oldest supported Go (1.25)"; return 1 ;; esac
  ! grep -q '^toolchain ' "$GO_DIR/go.mod" || { echo "go.mod pins a toolchain"; return 1; }
}
go_example() {
  mkdir -p "$TMP/go" && cd "$TMP/go" || return 1
  cp "$EXAMPLES/go/main.go" . && cp "$GO_DIR/go.sum" .
  cat >go.mod <<EOF
module example.com/consumer

go 1.25.0

require github.com/pg-sync/pg-sync/clients/go/pgsync v0.0.0

replace github.com/pg-sync/pg-sync/clients/go/pgsync => $GO_DIR
EOF
  "$GO" mod tidy && "$GO" run .
}
if [ -x "$GO" ]; then
  check "Go module's go directive is an old supported release" go_directive
  check "go run of the example with a replace directive" go_example
else
  not_ok "go not found"
fi

# --- Licenses ---------------------------------------------------------------------------------
licenses() {
  for f in clients/python/LICENSE clients/ts-runtime/LICENSE clients/ts-agents/LICENSE clients/go/pgsync/LICENSE; do
    cmp -s "$ROOT/LICENSE" "$ROOT/$f" || { echo "$f differs from LICENSE"; return 1; }
  done
}
check "every package's LICENSE is the root LICENSE" licenses

# One version everywhere (docs/releasing.md).
versions() {
  node - "$ROOT" <<'JS'
const { readFileSync } = require("node:fs");
const root = process.argv[2];
const pkg = (p) => JSON.parse(readFileSync(`${root}/${p}`, "utf8"));
const py = /^version = "([^"]+)"/m.exec(readFileSync(`${root}/clients/python/pyproject.toml`, "utf8"))?.[1];
const agents = pkg("clients/ts-agents/package.json");
const found = {
  "package.json": pkg("package.json").version,
  "clients/ts-runtime/package.json": pkg("clients/ts-runtime/package.json").version,
  "clients/ts-agents/package.json": agents.version,
  "clients/python/pyproject.toml": py,
};
const want = found["package.json"];
const bad = Object.entries(found).filter(([, v]) => v !== want);
if (agents.dependencies["@pg-sync/runtime"] !== `^${want}`) bad.push(["@pg-sync/agents' @pg-sync/runtime range", agents.dependencies["@pg-sync/runtime"]]);
if (bad.length) { console.log(`want ${want}:`, JSON.stringify(bad)); process.exit(1); }
JS
}
check "one version in every package" versions

summary
[ "$failed" -eq 0 ]
