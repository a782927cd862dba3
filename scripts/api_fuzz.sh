#!/usr/bin/env bash
# The usage API against its own OpenAPI document: schemathesis (PyPI, installed by
# scripts/setup.sh test) generates requests from /api/v1/openapi.json, valid and invalid,
# and checks every answer: no 5xx, only documented statuses and shapes, every schema-valid
# request accepted and every invalid one refused. Bounded: a fixed seed and a fixed number
# of examples per operation, so a run takes about a minute and repeats exactly.
#
# Runs the release binary (`cargo leptos build --release` first) on a fresh SQLite
# database with the demo data and a token of every scope. Part of ./scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

BIN=target/release/studio-billing
ST="$TOOLS/schemathesis/bin/st"
PORT="${FUZZ_PORT:-3290}"
EXAMPLES="${FUZZ_EXAMPLES:-40}"
SEED="${FUZZ_SEED:-20261202}"
[ -x "$BIN" ] || { echo "build first: cargo leptos build --release" >&2; exit 1; }
[ -x "$ST" ] || { echo "needs schemathesis: scripts/setup.sh test" >&2; exit 1; }

dir="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
export STUDIO_MODE=demo DATABASE_URL="sqlite://$dir/fuzz.db" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" \
  LEPTOS_SITE_ROOT=target/site RUST_LOG=warn
"$BIN" seed demo >/dev/null
token="$("$BIN" token create --name fuzz --scopes all 2>/dev/null)"
"$BIN" serve 2>"$dir/server.log" &
pid=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done

# `ignored_auth` sends requests without the token and expects 401s; the others are on.
if ! "$ST" --config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json" --url "$base" \
    --checks all --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 \
    --header "Authorization: Bearer $token" --request-timeout 10 \
    --no-color --output-truncate true; then
  echo "--- server log ---" >&2
  tail -50 "$dir/server.log" >&2
  exit 1
fi
if grep -q 'panicked' "$dir/server.log"; then
  echo "the server panicked during the run:" >&2
  grep -B2 -A5 panicked "$dir/server.log" >&2
  exit 1
fi
