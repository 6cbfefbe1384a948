#!/usr/bin/env bash
# The whole test suite: native unit tests (the domain crate and the worker's pure parts), then the end-to-end suites that
# run the built worker (build/) in workerd through Miniflare (browser.test.mjs among them drives Debian's
# Chromium through playwright-core), then one summary line.
# Expects scripts/setup.sh and scripts/build.sh to have run (npm test does both first).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "[test] lints: no unwrap/expect/panic/indexing outside tests (clippy, wasm32 target)"
cargo clippy --workspace --target wasm32-unknown-unknown --quiet -- -D warnings
lint_status=$?

echo "[test] types: the AUTH_SERVICE declaration and the README's requireAuth against @cloudflare/workers-types (tsc)"
node_modules/.bin/tsc -p types/check || lint_status=1

echo "[test] native unit tests: the pure domain crate, then the worker crate's own pure parts"
cargo test -p auth-domain 2>&1 | tee "$tmp/unit.log"
domain_status=${PIPESTATUS[0]}
cargo test -p auth-worker --lib 2>&1 | tee -a "$tmp/unit.log"
worker_status=${PIPESTATUS[0]}
unit_status=$((domain_status | worker_status))
unit_passed=$(grep -Eo '[0-9]+ passed' "$tmp/unit.log" | awk '{s+=$1} END {print s+0}')
unit_failed=$(grep -Eo '[0-9]+ failed' "$tmp/unit.log" | awk '{s+=$1} END {print s+0}')

echo "[test] Node tests: the import script's pure parts, the stand-in, then end-to-end: the WASM build in workerd (Miniflare)"
node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tmp/e2e.tap" \
  tests/unit/*.test.mjs tests/fixtures/*.test.mjs tests/e2e/*.test.mjs
e2e_status=$?
e2e_passed=$(awk '/^# pass /{print $3}' "$tmp/e2e.tap")
e2e_failed=$(awk '/^# fail /{print $3}' "$tmp/e2e.tap")

passed=$((unit_passed + ${e2e_passed:-0}))
failed=$((unit_failed + ${e2e_failed:-0}))
echo "[test] unit: ${unit_passed} passed, ${unit_failed} failed; end-to-end: ${e2e_passed:-0} passed, ${e2e_failed:-0} failed"
echo "summary: ${passed} passed, ${failed} failed"
if [ "$lint_status" -ne 0 ] || [ "$unit_status" -ne 0 ] || [ "$e2e_status" -ne 0 ]; then exit 1; fi
