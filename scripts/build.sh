#!/usr/bin/env bash
# Builds the worker into build/: the Rust crate to WASM (cargo), its JS bindings (wasm-bindgen,
# the CLI pinned to the library version), a size/speed pass (wasm-opt from binaryen), and one ES
# module bundling the hand-written entry src/entry.mjs with those bindings (esbuild). Every tool is
# local (scripts/setup.sh installs them), so nothing is downloaded at build time. Prints the gzipped
# WASM size (the platform limit is 3 MB free / 10 MB paid, gzipped).
#
#   AUTH_PROFILE=dev bash scripts/build.sh   # a faster, larger, unoptimised build for npm run dev
#
# The release build goes to build/ (wrangler.toml's main, what npm run deploy uploads and the tests run);
# the dev build to build-dev/, so a development build can never be the one deployed. The dev build's
# files are replaced by rename, the WASM first, so a running `wrangler dev` reloads onto a whole build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

profile=${AUTH_PROFILE:-release}
case "$profile" in
  release) cargo_profile=release; cargo_dir=release; out=build ;;
  dev) cargo_profile=dev-wasm; cargo_dir=dev-wasm; out=build-dev ;;
  *) echo "[build] AUTH_PROFILE must be release or dev" >&2; exit 2 ;;
esac
command -v wasm-bindgen >/dev/null || { echo "[build] wasm-bindgen not found: run npm run setup" >&2; exit 1; }
wasm_opt=node_modules/.bin/wasm-opt
esbuild=node_modules/.bin/esbuild
for bin in "$wasm_opt" "$esbuild"; do
  [ -x "$bin" ] || { echo "[build] missing $bin: run npm run setup" >&2; exit 1; }
done

target_dir=${CARGO_TARGET_DIR:-target}
cargo build --quiet --lib --target wasm32-unknown-unknown --profile "$cargo_profile"

# Everything is made in $stage; src/entry.mjs imports the bindings from ../build/wb/, so they go there.
stage=build/.stage-$profile
rm -rf "$stage" build/wb
mkdir -p "$stage" build/wb
# `module`: an ES module over `import wasm from "./index_bg.wasm"`, as workerd loads it. The reset
# function lets the entry start the module over after a trap (src/entry.mjs).
wasm-bindgen --target module --no-typescript --out-name index --out-dir build/wb \
  --experimental-reset-state-function --force-enable-abort-handler \
  "$target_dir/wasm32-unknown-unknown/$cargo_dir/auth_worker.wasm"
# esbuild does not parse source-phase imports yet; workerd gives a compiled module either way.
sed -i 's/^import source /import /' build/wb/index.js

if [ "$profile" = release ]; then
  # -Oz for size (rustc already optimised the hot crates for speed, see Cargo.toml), then drop the
  # name and producers sections, which only help debuggers.
  # (wasm-opt reads the features rustc used from the target_features section; wasm-bindgen adds
  # exception handling for its JS exception tag.)
  "$wasm_opt" -Oz --enable-exception-handling --strip-debug --strip-producers \
    build/wb/index_bg.wasm -o "$stage/index_bg.wasm"
else
  cp build/wb/index_bg.wasm "$stage/index_bg.wasm"
fi
"$esbuild" src/entry.mjs --bundle --format=esm --log-level=warning \
  --external:./index_bg.wasm --external:cloudflare:* --outfile="$stage/index.js" \
  $([ "$profile" = release ] && echo --minify)
rm -rf build/wb
if [ "$profile" = dev ]; then
  # The glue JS is often identical from one build to the next; name the WASM in it, so that the
  # entry wrangler dev watches changes whenever the WASM does.
  echo "// wasm sha256 $(sha256sum "$stage/index_bg.wasm" | cut -d' ' -f1)" >> "$stage/index.js"
fi
mkdir -p "$out"
mv -f "$stage/index_bg.wasm" "$out/index_bg.wasm"
mv -f "$stage/index.js" "$out/index.js"
rm -rf "$stage"

# Sizes as the bench prints them (gzip through zlib at level 9, KiB rounded to the nearest).
node -e '
  const bytes = require("fs").readFileSync("'"$out"'/index_bg.wasm");
  const kib = (n) => (n / 1024).toFixed(0);
  const gz = require("zlib").gzipSync(bytes, { level: 9 }).length;
  console.log(`[build] '"$out"'/index_bg.wasm ('"$profile"'): ${kib(bytes.length)} KiB raw, ${kib(gz)} KiB gzipped (limit 3072 KiB free / 10240 KiB paid)`);
'
