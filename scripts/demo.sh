#!/usr/bin/env bash
# npm run demo: the product tour on a fresh machine (see scripts/demo.ts).
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
bash "$PGSYNC_ROOT/scripts/pg.sh" install
exec node --import tsx "$PGSYNC_ROOT/scripts/demo.ts" "$@"
