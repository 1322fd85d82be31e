#!/usr/bin/env bash
# Static checks CI runs before the tests: buf lint, buf breaking against the committed baseline
# image, gen/ drift, TypeScript types and Biome. Exits non-zero on the first failure.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$PGSYNC_ROOT"
step() { printf '[check] %s\n' "$*" >&2; }
step "buf lint"; buf lint
step "buf breaking against buf-baseline.binpb"; buf breaking --against buf-baseline.binpb
step "gen/, clients/ts-runtime/gen/ and descriptors/ in sync with proto/"
bash scripts/generate.sh
if [ -n "$(git status --porcelain -- gen clients/ts-runtime/gen descriptors)" ]; then
  git status --porcelain -- gen clients/ts-runtime/gen descriptors >&2
  echo "gen/ is out of date: run 'npm run generate' and commit the result" >&2; exit 1
fi
step "tsc --noEmit"; tsc --noEmit -p tsconfig.json
step "biome check"; biome check --error-on-warnings .
step "ok"
