#!/usr/bin/env bash
# Sets up what is missing and runs every test: formatting, clippy (server and browser),
# unit and integration tests on SQLite and PostgreSQL, and Playwright in Chromium with
# JavaScript on and off.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# CI tests a fresh clone, wherever it was made. A path that changes defeats the build
# cache: cargo and rustc key the crate's own compiled state to where it is built, so every
# clone would compile the whole crate three times again (check, tests, release: over five
# minutes on two cores). So a clean clone is tested from one fixed checkout instead, the
# way a CI runner's workspace path stays the same: the commit is checked out there, which
# rewrites only the files it changes (cargo compares their times), and what did not change
# is not compiled again. A checkout with changes of its own is tested where it is.
# One run at a time uses it (a lock held to the end of the run, waited for at most 15
# minutes); if it cannot be had or brought to this commit (a shallow clone's history, say),
# the clone is tested where it is.
to_build_root() {
  local here="$1" root="$2" commit
  commit="$(git rev-parse HEAD)"
  mkdir -p "$(dirname "$root")"
  exec 9>"$root.lock"
  flock -w 900 9 || return 1
  [ -d "$root/.git" ] || git clone -q --no-checkout "$here" "$root" || return 1
  rm -f "$root/.git/index.lock"
  git -C "$root" fetch -q --update-shallow "$here" HEAD || return 1
  git -C "$root" checkout -q --force FETCH_HEAD || return 1
  git -C "$root" clean -q -fd || return 1
  [ "$(git -C "$root" rev-parse HEAD)" = "$commit" ]
}
if [ "${CI:-}" = true ] && [ -z "${STUDIO_BILLING_IN_BUILD_ROOT:-}" ] \
  && [ -z "$(git status --porcelain 2>/dev/null)" ] && git rev-parse -q HEAD >/dev/null 2>&1; then
  root="${STUDIO_BILLING_BUILD_ROOT:-$HOME/.cache/studio-billing/build-root}"
  if to_build_root "$(pwd)" "$root"; then
    printf '==> testing %s in the build checkout %s\n' "$(git rev-parse --short HEAD)" "$root" >&2
    export STUDIO_BILLING_IN_BUILD_ROOT=1
    cd "$root"
    exec ./scripts/test.sh "$@"
  fi
  printf '==> the build checkout %s could not be brought to this commit; testing here\n' "$root" >&2
fi

source scripts/lib.sh
use_shared_target

scripts/setup.sh test
# CI: no incremental caches (gigabytes more; the release build is made as it ships).
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

# PostgreSQL: the one at 127.0.0.1:5432 when it answers; otherwise a private one started
# here (installed with apt if needed). Never skipped.
PG_PRIVATE=""
cleanup() {
  if [ -n "$PG_PRIVATE" ]; then
    su postgres -c "$PG_BIN/pg_ctl -D '$PG_PRIVATE' -m fast stop" >/dev/null 2>&1 || true
    rm -rf "$PG_PRIVATE"
  fi
}
trap cleanup EXIT
ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    return
  fi
  if [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    step "installing PostgreSQL with apt"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  PG_BIN="/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -1)/bin"
  PG_PRIVATE="$(mktemp -d /tmp/studio-billing-pg.XXXXXX)"
  chown postgres "$PG_PRIVATE"
  step "starting a private PostgreSQL on 127.0.0.1:55432"
  su postgres -c "$PG_BIN/initdb -q -A trust -U postgres -D '$PG_PRIVATE/data'"
  su postgres -c "$PG_BIN/pg_ctl -D '$PG_PRIVATE/data' -w -l '$PG_PRIVATE/log' -o \"-p 55432 -k '$PG_PRIVATE' -c listen_addresses=127.0.0.1\" start" >/dev/null
  PG_PRIVATE="$PG_PRIVATE/data"
  export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:55432/postgres"
}
ensure_postgres
# Databases left behind by an interrupted earlier run.
psql "$TEST_POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'sb\_test\_%'" \
  | while read -r db; do psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; done

step "layer check (dependencies run one way)"
bash scripts/check_layers.sh
step "cargo fmt --check"
cargo fmt --all -- --check
step "clippy (server)"
cargo clippy --features ssr --all-targets -- -D warnings
step "clippy (browser)"
cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings
step "unit and integration tests, SQLite and PostgreSQL ($TEST_POSTGRES_URL)"
# In parallel, with the default thread count. The pages' routes are generated once per
# process (`server::http::route_list`): Leptos holds every resource back with one
# process-wide flag while it generates them, and a page rendering in another test at that
# moment used to wait forever (issue 15; leptos#4773).
cargo test --features ssr
build_release
step "usage API against its OpenAPI document: schemathesis, fixed seed, bounded"
scripts/api_fuzz.sh
step "end to end: Playwright in Chromium, JavaScript on and off"
(cd end2end && npx playwright test)
step "all tests passed"
