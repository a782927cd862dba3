#!/usr/bin/env bash
# Sets up what is missing, builds the release app, and runs it at http://127.0.0.1:3000
# in demo mode on SQLite (./data/studio-billing.db) with the local checkout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
use_shared_target

scripts/setup.sh build
build_release

export STUDIO_MODE="${STUDIO_MODE:-demo}"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
step "studio-billing migrate"
target/release/studio-billing migrate
if [ "$STUDIO_MODE" = demo ]; then
  step "studio-billing seed demo"
  target/release/studio-billing seed demo
fi
step "serving on http://$LEPTOS_SITE_ADDR (Ctrl-C stops)"
exec target/release/studio-billing serve
