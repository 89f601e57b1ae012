#!/usr/bin/env bash
# The test command (README): everything a clean clone needs, then the checks, fastest first so
# that a failure shows early: lint, type check, unit, integration (real PostgreSQL/RabbitMQ),
# peer (real third-party programs), build, end to end (built binaries). Ends with one line "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

bash scripts/services.sh all || exit 1
# Where PostgreSQL does not let postgres in without a password (a stock Debian), services.sh made
# the role nova_bm and wrote its URLs there: the tests create their databases through it. Only
# TEST_DATABASE_URL is taken (tests give each service they start its own DATABASE_URL).
if [ -z "${TEST_DATABASE_URL:-}" ] && [ -f .lab/database.env ]; then
  # shellcheck source=/dev/null
  TEST_DATABASE_URL=$(. ./.lab/database.env && printf '%s' "$TEST_DATABASE_URL")
  export TEST_DATABASE_URL
fi

mkdir -p .jest
rm -f .jest/*.json
failed_stage=''
stage() {
  local name=$1
  shift
  printf '\n=== %s\n' "$name"
  local t=$SECONDS
  if "$@"; then
    printf '=== %s ok (%ss)\n' "$name" $((SECONDS - t))
  else
    printf '=== %s FAILED (%ss)\n' "$name" $((SECONDS - t))
    failed_stage=${failed_stage:-$name}
  fi
}
jest_project() {
  npx jest --selectProjects "$1" --ci --json --outputFile=".jest/$1.json" "${@:2}"
}

stage lint npm run -s lint
stage typecheck npx tsc -p tsconfig.json --noEmit
stage unit jest_project unit
stage integration jest_project integration --runInBand
stage peer jest_project peer --runInBand
stage build node scripts/build.js
[ -z "$failed_stage" ] && stage e2e jest_project e2e --runInBand

# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
const fs = require("fs");
let passed = 0, failed = 0, skipped = 0;
for (const f of fs.readdirSync(".jest").filter((f) => f.endsWith(".json"))) {
  const r = JSON.parse(fs.readFileSync(".jest/" + f, "utf8"));
  passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  skipped += r.numPendingTests + r.numTodoTests;
}
console.log(`\ntests: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
'
if [ -n "$failed_stage" ]; then
  echo "first failure: $failed_stage"
  exit 1
fi
