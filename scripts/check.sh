#!/usr/bin/env bash
# The whole check, as CI runs it: set-up, lint, type-check, every test, and one
# closing line `N passed, N failed, N skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run lint
npm run typecheck
mkdir -p .tmp
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json || status=$?
node scripts/test-summary.js .tmp/vitest.json || status=1
exit "$status"
