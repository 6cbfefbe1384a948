#!/usr/bin/env bash
# Installs everything the build and the tests need, on a machine that has only Rust, Node and npm.
# Idempotent and quick when already done: each step checks before it installs.
# Every tool comes from crates.io or npm (GitHub is unreachable on these machines): the wasm32 target,
# the wasm-bindgen CLI at the library's version, and through npm wrangler, Miniflare, esbuild and
# binaryen's wasm-opt. scripts/build.sh runs them directly (no worker-build).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The wasm-bindgen CLI must be exactly the library version in Cargo.lock (Cargo.toml pins it with "=").
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)

step() { printf '[setup] %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

installed_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | awk '{print $NF}'; }

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION from crates.io (a few minutes, once)"
  # No --locked: the CLI's own lockfile pins crates that no longer build on current Rust.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# npm ci only when node_modules does not match package-lock.json.
stamp=node_modules/.setup-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step "npm ci (wrangler, miniflare, esbuild, binaryen)"
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# The browser suite (tests/e2e/browser.test.mjs) drives Debian's Chromium through playwright-core,
# which never downloads a browser of its own. AUTH_CHROMIUM names another binary to use instead;
# AUTH_SETUP_BROWSER=no skips this (npm run dev does not need it).
chromium=${AUTH_CHROMIUM:-/usr/bin/chromium}
if [ "${AUTH_SETUP_BROWSER:-yes}" != no ] && [ ! -x "$chromium" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    step "installing Debian's chromium for the browser tests (once)"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    step "no $chromium and no apt-get: install Chromium and set AUTH_CHROMIUM to its path"
    exit 1
  fi
fi

if [ ! -f .dev.vars ]; then
  step "creating .dev.vars from .dev.vars.example (development-only secrets)"
  cp .dev.vars.example .dev.vars
fi
step "ready"
