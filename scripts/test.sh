#!/usr/bin/env bash
# npm test: bootstrap, one throwaway Postgres for the run, every test suite (TypeScript via vitest,
# then the Python and Go clients and the package checks when present), and a last line
# `N passed, N failed` summing them.
# Extra arguments are passed to vitest (e.g. `npm test -- test/unit`).
set -uo pipefail
. "$(dirname "$0")/bootstrap.sh"
# bootstrap.sh sets -e; a failing suite must not end the run before the summary line.
set +e
cd "$PGSYNC_ROOT"

bash scripts/pg.sh install
PG_DIR="$(mktemp -d /tmp/pgsync-test-pg.XXXXXX)"
cleanup() { bash scripts/pg.sh destroy "$PG_DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
PGSYNC_TEST_PG_URL="$(bash scripts/pg.sh start "$PG_DIR")" || { echo "could not start Postgres" >&2; exit 1; }
export PGSYNC_TEST_PG_URL

passed=0; failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

# TypeScript (vitest): counts come from its JSON report.
results="$(mktemp /tmp/pgsync-vitest.XXXXXX.json)"
vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
vitest_rc=$?
counts="$(node -e '
  const fs = require("node:fs");
  try {
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const failedSuites = (r.testResults ?? []).filter((f) => f.status === "failed" && (f.assertionResults ?? []).length === 0).length;
    console.log(`${r.numPassedTests ?? 0} ${(r.numFailedTests ?? 0) + failedSuites}`);
  } catch { console.log("0 1"); }
' "$results")"
rm -f "$results"
read -r ts_pass ts_fail <<<"$counts"
if [ "$vitest_rc" -ne 0 ] && [ "$ts_fail" -eq 0 ]; then ts_fail=1; fi
echo "typescript: $ts_pass passed, $ts_fail failed"
add "$ts_pass" "$ts_fail"

# Other languages: each script prints "N passed, N failed" as its last line.
for suite in scripts/test-python.sh scripts/test-go.sh scripts/test-packages.sh; do
  [ -f "$suite" ] || continue
  out="$(mktemp)"
  bash "$suite" 2>&1 | tee "$out"
  line="$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)"
  rm -f "$out"
  if [ -z "$line" ]; then echo "$suite printed no summary" >&2; add 0 1; continue; fi
  p="$(sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$line")"
  f="$(sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$line")"
  add "$p" "$f"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
