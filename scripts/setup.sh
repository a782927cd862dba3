#!/usr/bin/env bash
# Installs what the build and the tests need and is missing, per ../shared/BUILD.md.
# Safe to run again: every step checks first. Tools live under $TOOLS (cached between runs).
set -euo pipefail

TOOLS="${STUDIO_BILLING_TOOLS:-$HOME/.cache/studio-billing/tools}"
CARGO_LEPTOS_VERSION=0.3.10
SCHEMATHESIS_VERSION=4.32.5
BINARYEN_VERSION=132.0.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }

# The wasm-bindgen CLI must be the exact version of the crate in Cargo.lock.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

setup_build() {
  if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
    log "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if ! "$TOOLS/bin/cargo-leptos" --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    log "cargo install cargo-leptos $CARGO_LEPTOS_VERSION (about 10 minutes, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --root "$TOOLS"
  fi
  local wb
  wb="$(wasm_bindgen_version)"
  if ! "$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | grep -q "$wb"; then
    log "cargo install wasm-bindgen-cli $wb"
    # Not --locked: its lockfile names a crate the registry mirror lacks (BUILD.md).
    cargo install wasm-bindgen-cli --version "$wb" --root "$TOOLS" --force
  fi
  if ! "$TOOLS/bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
    log "npm install binaryen@$BINARYEN_VERSION (wasm-opt)"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/npm" "binaryen@$BINARYEN_VERSION"
    ln -sf "$TOOLS/npm/node_modules/binaryen/bin/wasm-opt" "$TOOLS/bin/wasm-opt"
  fi
}

setup_test() {
  setup_build
  apt_install chromium
  # localstripe: the fake Stripe the subscription tests talk to (PyPI).
  if ! python3 -c 'import localstripe' 2>/dev/null; then
    log "pip install localstripe"
    python3 -m pip install --quiet localstripe 2>/dev/null \
      || python3 -m pip install --quiet --user --break-system-packages localstripe
  fi
  # aiosmtpd: the SMTP server the e-mail notice tests send to (PyPI).
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    log "pip install aiosmtpd"
    python3 -m pip install --quiet aiosmtpd 2>/dev/null \
      || python3 -m pip install --quiet --user --break-system-packages aiosmtpd
  fi
  # schemathesis: the OpenAPI fuzz run of the test command (PyPI), in its own venv.
  if ! "$TOOLS/schemathesis/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    log "pip install schemathesis $SCHEMATHESIS_VERSION (own venv)"
    python3 -m venv "$TOOLS/schemathesis"
    "$TOOLS/schemathesis/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  # Again whenever the lockfile changed since (a kept checkout keeps its node_modules).
  local lock_hash stamp="$ROOT/end2end/node_modules/.package-lock.sha256"
  lock_hash="$(sha256sum "$ROOT/end2end/package-lock.json" | cut -d' ' -f1)"
  if [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ] \
    || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
    log "npm ci in end2end/"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund)
    echo "$lock_hash" > "$stamp"
  fi
}

case "${1:-build}" in
  build) setup_build ;;
  test) setup_test ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac
