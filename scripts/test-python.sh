#!/usr/bin/env bash
# Python client tests: a cached virtualenv in clients/python/.venv (rebuilt only when
# pyproject.toml, constraints-test.txt or the Python version changes), the package installed
# editable with its test extras at the exact versions of constraints-test.txt (the library itself
# declares ranges), then pytest (offline tests plus live tests against a stack the tests start themselves).
# Uses PGSYNC_TEST_PG_URL when set (scripts/test.sh sets it), else starts a throwaway Postgres.
# Last line: `python: N passed, N failed`.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY_DIR="$ROOT/clients/python"
summary() { echo "python: $1 passed, $2 failed"; }

if ! . "$ROOT/scripts/bootstrap.sh"; then echo "bootstrap failed" >&2; summary 0 1; exit 1; fi
set +e

PYTHON="${PYTHON:-python3}"
VENV="$PY_DIR/.venv"
EXTRAS="test,dev" # dev: grpcio-tools, for the test that checks the generated code against /proto
CONSTRAINTS="$PY_DIR/constraints-test.txt"
stamp_value="$( { cat "$PY_DIR/pyproject.toml" "$CONSTRAINTS"; "$PYTHON" -VV; echo "$EXTRAS"; } | sha256sum | cut -d' ' -f1)"
stamp_file="$VENV/.pgsync-stamp"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_value" ]; then
  echo "[test-python] creating $VENV" >&2
  rm -rf "$VENV"
  if ! "$PYTHON" -m venv "$VENV" \
    || ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$PY_DIR[$EXTRAS]" -c "$CONSTRAINTS" >&2; then
    echo "[test-python] install failed" >&2
    rm -rf "$VENV"
    summary 0 1; exit 1
  fi
  echo "$stamp_value" > "$stamp_file"
fi

PG_DIR=""
cleanup() { [ -n "$PG_DIR" ] && bash "$ROOT/scripts/pg.sh" destroy "$PG_DIR" >/dev/null 2>&1; rm -f "${JUNIT:-}"; }
trap cleanup EXIT
if [ -z "${PGSYNC_TEST_PG_URL:-}" ]; then
  PG_DIR="$(mktemp -d /tmp/pgsync-py-pg.XXXXXX)"
  if ! PGSYNC_TEST_PG_URL="$(bash "$ROOT/scripts/pg.sh" start "$PG_DIR")"; then
    echo "[test-python] could not start Postgres" >&2; summary 0 1; exit 1
  fi
  export PGSYNC_TEST_PG_URL
fi
export PGSYNC_REQUIRE_LIVE=1

JUNIT="$(mktemp /tmp/pgsync-pytest.XXXXXX.xml)"
(cd "$PY_DIR" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$JUNIT" tests)
rc=$?
read -r passed failed < <("$VENV/bin/python" - "$JUNIT" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    t = f = e = s = 0
    for suite in suites:
        t += int(suite.get("tests", 0)); f += int(suite.get("failures", 0))
        e += int(suite.get("errors", 0)); s += int(suite.get("skipped", 0))
    print(t - f - e - s, f + e)
except Exception:
    print(0, 1)
PY
)
if [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
summary "${passed:-0}" "${failed:-1}"
[ "$rc" -eq 0 ]
