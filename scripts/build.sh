#!/usr/bin/env bash
# Builds the worker to build/ with worker-build, using local tools instead of GitHub downloads,
# then prints the gzipped size of the WASM (the platform limit is 3 MB free / 10 MB paid, gzipped).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WASM_BINDGEN_BIN=$(command -v wasm-bindgen) || { echo "[build] wasm-bindgen not found: run npm run setup" >&2; exit 1; }
export WASM_BINDGEN_BIN
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
for bin in "$ESBUILD_BIN" "$WASM_OPT_BIN"; do
  # worker-build only warns on a bad *_BIN path and then retries a GitHub download for minutes: fail fast.
  [ -x "$bin" ] || { echo "[build] missing $bin: run npm run setup" >&2; exit 1; }
done

worker-build --release "$@"

wasm=build/index_bg.wasm
raw=$(wc -c < "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
printf '[build] %s: %d KiB raw, %d KiB gzipped (limit 3072 KiB free / 10240 KiB paid)\n' "$wasm" $((raw / 1024)) $((gz / 1024))
