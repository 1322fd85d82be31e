#!/usr/bin/env bash
# Go client tests: `go test -json ./...` in clients/go/pgsync with GOPATH, GOMODCACHE and GOCACHE under
# <repo>/.tools/go (so a second run is offline and fast). Live tests start their own stack
# (TestMain); PGSYNC_TEST_PG_URL is used when set (scripts/test.sh sets it), else a throwaway
# Postgres is started. Last line: `go: N passed, N failed` (subtests count, parents with
# subtests do not).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO_DIR="$ROOT/clients/go/pgsync"
summary() { echo "go: $1 passed, $2 failed"; }

if ! . "$ROOT/scripts/bootstrap.sh"; then echo "bootstrap failed" >&2; summary 0 1; exit 1; fi
set +e

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then echo "[test-go] go not found (install Go >= 1.26)" >&2; summary 0 1; exit 1; fi
export PATH="$(dirname "$GO"):$PATH"
export GOPATH="$ROOT/.tools/go" GOMODCACHE="$ROOT/.tools/go/pkg/mod" GOCACHE="$ROOT/.tools/go/cache"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="${GOFLAGS:-} -mod=readonly"

# The pinned code generators, for the test that checks gen/ against proto/ (cached in .tools/go/bin).
bash "$GO_DIR/generate.sh" --install-only >&2 || { echo "[test-go] could not install the code generators" >&2; summary 0 1; exit 1; }

PG_DIR=""
OUT="$(mktemp /tmp/pgsync-gotest.XXXXXX.json)"
cleanup() { [ -n "$PG_DIR" ] && bash "$ROOT/scripts/pg.sh" destroy "$PG_DIR" >/dev/null 2>&1; rm -f "$OUT"; }
trap cleanup EXIT
if [ -z "${PGSYNC_TEST_PG_URL:-}" ]; then
  PG_DIR="$(mktemp -d /tmp/pgsync-go-pg.XXXXXX)"
  if ! PGSYNC_TEST_PG_URL="$(bash "$ROOT/scripts/pg.sh" start "$PG_DIR")"; then
    echo "[test-go] could not start Postgres" >&2; summary 0 1; exit 1
  fi
  export PGSYNC_TEST_PG_URL
fi
export PGSYNC_REQUIRE_LIVE=1
export PGSYNC_REQUIRE_GENERATOR=1 # the drift test fails, not skips, without buf and the plugins

(cd "$GO_DIR" && "$GO" mod download >&2 && "$GO" test -json -count=1 -timeout 15m ./... >"$OUT")
rc=$?
read -r passed failed < <(python3 - "$OUT" <<'PY'
import json, sys
results, pkg_fail, names = {}, 0, set()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    action, test = ev.get("Action"), ev.get("Test")
    if action == "output" and not test:
        sys.stderr.write(ev.get("Output", ""))
    elif action == "output" and ev.get("Output", "").lstrip().startswith(("---", "===", "panic")) or action == "output" and ("_test.go:" in ev.get("Output", "")):
        sys.stderr.write(ev.get("Output", ""))
    if action in ("pass", "fail", "skip") and test:
        key = (ev.get("Package"), test)
        results[key] = action
        names.add(key)
    elif action == "fail" and not test:
        pkg_fail += 1
parents = {(p, t.rsplit("/", 1)[0]) for p, t in names if "/" in t}
leaves = {k: v for k, v in results.items() if k not in parents}
passed = sum(1 for v in leaves.values() if v == "pass")
failed = sum(1 for v in leaves.values() if v == "fail")
if pkg_fail and failed == 0:
    failed = pkg_fail
print(passed, failed)
PY
)
if [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
summary "${passed:-0}" "${failed:-1}"
[ "$rc" -eq 0 ]
