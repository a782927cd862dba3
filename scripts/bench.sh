#!/usr/bin/env bash
# Benchmarks: measured here, never asserted by the tests. Needs the release build
# (`cargo leptos build --release`, which ./scripts/run.sh and ./scripts/test.sh make).
#
#   scripts/bench.sh sizes     release wasm, JS and CSS: raw, gzip, brotli, and what the
#                              server sends for each with Accept-Encoding: br
#   scripts/bench.sh page      /faq and /subscription for the signed-in demo customer (a
#                              month of history), and /healthz (the app's cheapest answer,
#                              the ceiling), wrk with 50 connections, each against
#                              nginx serving the same bytes, alternating, on SQLite and
#                              PostgreSQL: req/s, the ratio to nginx, p99
#   scripts/bench.sh ledger    reserve -> capture cycles, W=20 A=50 D=30, on both backends
#                              (PostgreSQL twice: its PL/pgSQL functions, then the rules
#                              in Rust steps as on SQLite)
#   scripts/bench.sh pgledger  the reference for the ledger's bar: transfers of pgledger
#                              (github.com/pgr0ss/pgledger) on the same PostgreSQL, pgbench
#                              with 20 clients over 50 accounts for 30 s. Its code is not in
#                              this repository: set PGLEDGER_SQL to its pgledger.sql and
#                              PGLEDGER_ULID_SQL to the uuid_to_ulid function it needs
#                              (github.com/scoville/pgsql-ulid, uuid-to-ulid.sql).
#   scripts/bench.sh signin-flood
#                              the ledger bench on SQLite alone, then again while the app
#                              (on the same database file) takes 10,000 wrong sign-ins from
#                              one address; compare the two p99s
#   scripts/bench.sh           sizes, page and ledger
#
# PostgreSQL: $BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432); the script makes
# and drops its own database there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
use_shared_target

# BENCH_BIN / BENCH_SITE: another build to measure (an earlier one, for a before/after run).
BIN="${BENCH_BIN:-target/release/studio-billing}"
SITE="${BENCH_SITE:-target/site}"
PG="${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
PORT="${BENCH_PORT:-3200}"
DURATION="${BENCH_SECONDS:-20}"
[ -x "$BIN" ] || { echo "build first: cargo leptos build --release" >&2; exit 1; }

need() { command -v "$1" >/dev/null || { echo "needs $1 (apt-get install $2)" >&2; exit 1; }; }

# The site's file of `kind` (wasm, js, css), hashed name or not, never a .br or .gz copy.
site_file() {
  find "$SITE/pkg" -maxdepth 1 -name "studio-billing*.$1" | head -1
}

sizes() {
  need brotli brotli
  step "release front-end sizes (bytes)"
  printf '%-40s %10s %10s %10s\n' file raw gzip brotli
  for kind in wasm js css; do
    local f; f="$(site_file "$kind")"
    [ -n "$f" ] || { echo "no $kind in $SITE/pkg: build first" >&2; exit 1; }
    printf '%-40s %10d %10d %10d\n' "$(basename "$f")" "$(stat -c %s "$f")" \
      "$(gzip -9 -c "$f" | wc -c)" "$(brotli -q 11 -c "$f" | wc -c)"
  done
  # What a browser is sent: the server on a scratch database, asked as a browser asks.
  local dir base="http://127.0.0.1:$PORT"; dir="$(mktemp -d)"
  start_app "sqlite://$dir/sizes.db"
  step "as served with Accept-Encoding: br (bytes on the wire)"
  printf '%-48s %10s %-10s %s\n' path bytes encoding cache-control
  # served PATH: the bytes, encoding and caching rule a browser that takes brotli gets.
  served() {
    printf '%-48s %s\n' "$1" "$(curl -s -o /dev/null -H 'Accept-Encoding: br' \
      -w '%{size_download} %header{content-encoding} %header{cache-control}' "$base$1" \
      | awk '{ printf "%10d %-10s", $1, ($2 == "" ? "-" : $2); $1 = $2 = ""; sub(/^ +/, ""); print }')"
  }
  local html path
  html="$(curl -sf "$base/faq")"
  for path in $(grep -oE '/pkg/studio-billing[^"]*\.(wasm|js|css)' <<<"$html" | sort -u); do
    served "$path"
  done
  served /faq
  stop_app
  rm -rf "$dir"
}

fresh_pg() { # name -> url of a new, empty database
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
  echo "$PG/$1"
}

APP_PID=""
start_app() { # database url: seeds the demo data and serves on $PORT
  export STUDIO_MODE=demo DATABASE_URL="$1" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" \
    LEPTOS_SITE_ROOT="$SITE" RUST_LOG=warn
  "$BIN" seed demo >/dev/null
  "$BIN" serve 2>>"${TMPDIR:-/tmp}/studio-billing-bench-server.log" & APP_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return; sleep 0.2; done
  echo "the app did not start" >&2; exit 1
}
stop_app() {
  [ -n "$APP_PID" ] && { kill "$APP_PID" 2>/dev/null || true; wait "$APP_PID" 2>/dev/null || true; }
  APP_PID=""
}

NGINX_DIR=""
start_nginx() { # serves $NGINX_DIR/www on $NGINX_PORT, two workers (one per core, as the app)
  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    step "installing nginx-light with apt"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  fi
  cat >"$NGINX_DIR/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGINX_DIR/www;
    default_type text/html;
    location / { try_files \$uri.html =404; }
  }
}
CONF
  chmod -R a+rX "$NGINX_DIR"
  "$(command -v nginx || echo /usr/sbin/nginx)" -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR" & NGINX_PID=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NGINX_PORT/faq" >/dev/null && return; sleep 0.1; done
  echo "nginx did not start (see $NGINX_DIR/error.log)" >&2; exit 1
}

# wrk's requests per second and p99 (in ms) from its output on stdin: "rps p99".
wrk_figures() {
  awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { v = $2; unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v)
               p99 = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v }
    END { printf "%.0f %.2f", rps, p99 }'
}

ROUNDS="${BENCH_ROUNDS:-2}"
NGINX_PORT="${BENCH_NGINX_PORT:-3299}"
page_on() { # label, database url
  local label="$1" base="http://127.0.0.1:$PORT"
  start_app "$2"
  local cookie
  cookie="$(curl -s -D - -o /dev/null -X POST "$base/api/auth/sign_in" \
    -H "Origin: $base" -H 'Accept: application/json' \
    --data 'email=demo%40studio.test&password=demo-password' \
    | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(sb_session=[^;]*\).*/\1/p' | head -1)"
  [ -n "$cookie" ] || { echo "could not sign in" >&2; return 1; }
  # nginx serves the very bytes the app sends for each page.
  NGINX_DIR="$(mktemp -d)"; mkdir -p "$NGINX_DIR/www"
  curl -sf "$base/faq" >"$NGINX_DIR/www/faq.html"
  curl -sf "$base/healthz" >"$NGINX_DIR/www/healthz.html"
  curl -sf -H "Cookie: $cookie" "$base/subscription" >"$NGINX_DIR/www/subscription.html"
  grep -q 'Where your credits went' "$NGINX_DIR/www/subscription.html" \
    || { echo "/subscription did not render for the demo customer" >&2; return 1; }
  start_nginx
  local path round app ngx
  # /healthz first: the app's cheapest answer (no page, no statement) through the same
  # layers as every page, so the ceiling of any page's ratio on this machine.
  for path in /healthz /faq /subscription; do
    local hdr=(); [ "$path" = /subscription ] && hdr=(-H "Cookie: $cookie")
    for round in $(seq "$ROUNDS"); do
      # Alternating, so a machine that slows down slows both.
      app="$(wrk -t2 -c50 -d"${DURATION}s" --latency "${hdr[@]}" "$base$path" | wrk_figures)"
      ngx="$(wrk -t2 -c50 -d"${DURATION}s" --latency "http://127.0.0.1:$NGINX_PORT$path" | wrk_figures)"
      read -r app_rps app_p99 <<<"$app"; read -r ngx_rps ngx_p99 <<<"$ngx"
      printf '%-10s %-14s round %d: app %7d req/s p99 %7.2f ms | nginx %7d req/s p99 %6.2f ms | ratio %.2fx\n' \
        "$label" "$path" "$round" "$app_rps" "$app_p99" "$ngx_rps" "$ngx_p99" \
        "$(awk -v a="$app_rps" -v n="$ngx_rps" 'BEGIN { print (n > 0 ? a / n : 0) }')"
    done
  done
  kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
  rm -rf "$NGINX_DIR"
  stop_app
}

page() {
  need wrk wrk
  # nginx may be gone already; a failed kill must not fail the bench (set -e).
  trap 'stop_app; if [ -n "${NGINX_PID:-}" ]; then kill "$NGINX_PID" 2>/dev/null || true; fi' EXIT
  local dir; dir="$(mktemp -d)"
  step "pages against nginx serving the same bytes (wrk -t2 -c50, ${DURATION}s each, $ROUNDS rounds)"
  page_on SQLite "sqlite://$dir/bench.db"
  page_on PostgreSQL "$(fresh_pg sb_bench_page)"
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS sb_bench_page WITH (FORCE)" >/dev/null
  rm -rf "$dir"
}

ledger() {
  local dir; dir="$(mktemp -d)"
  step "bench ledger on PostgreSQL"
  DATABASE_URL="$(fresh_pg sb_bench_ledger)" "$BIN" bench ledger -w 20 -a 50 -d 30
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS sb_bench_ledger WITH (FORCE)" >/dev/null
  # The same on PostgreSQL with the rules in Rust steps instead of the PL/pgSQL functions:
  # the measurement behind the choice written at the top of src/domain/ledger/mod.rs.
  step "bench ledger on PostgreSQL, rules in Rust"
  DATABASE_URL="$(fresh_pg sb_bench_ledger)" "$BIN" bench ledger -w 20 -a 50 -d 30 --rules-in-rust
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS sb_bench_ledger WITH (FORCE)" >/dev/null
  step "bench ledger on SQLite"
  DATABASE_URL="sqlite://$dir/ledger.db" "$BIN" bench ledger -w 20 -a 50 -d 30
  rm -rf "$dir"
}

signin_flood() {
  local dir base="http://127.0.0.1:$PORT" attempts="${FLOOD_ATTEMPTS:-10000}"
  dir="$(mktemp -d)"
  local url="sqlite://$dir/flood.db"
  export STUDIO_MODE=demo LEPTOS_SITE_ADDR="127.0.0.1:$PORT" LEPTOS_SITE_ROOT=target/site RUST_LOG=warn
  DATABASE_URL="$url" "$BIN" migrate >/dev/null
  step "bench ledger on SQLite, alone"
  DATABASE_URL="$url" "$BIN" bench ledger -w 20 -a 50 -d "$DURATION"
  DATABASE_URL="$url" "$BIN" serve 2>>"${TMPDIR:-/tmp}/studio-billing-bench-server.log" & local pid=$!
  for _ in $(seq 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done
  step "bench ledger on SQLite, during $attempts wrong sign-ins from one address"
  # Spread over the bench's own duration, so the whole bench runs under the flood.
  python3 scripts/sign_in_flood.py "$base" "$attempts" 8 "$DURATION" & local flood=$!
  DATABASE_URL="$url" "$BIN" bench ledger -w 20 -a 50 -d "$DURATION"
  wait "$flood"
  echo "sign-in attempt rows left: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM sign_in_failures').fetchone()[0])" "$dir/flood.db")"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

pgledger() {
  need pgbench postgresql-client
  [ -r "${PGLEDGER_SQL:-}" ] && [ -r "${PGLEDGER_ULID_SQL:-}" ] \
    || { echo "set PGLEDGER_SQL and PGLEDGER_ULID_SQL (see the top of this script)" >&2; exit 1; }
  local url script
  url="$(fresh_pg sb_bench_pgledger)"
  psql "$url" -q -v ON_ERROR_STOP=1 -f "$PGLEDGER_ULID_SQL" -f "$PGLEDGER_SQL" \
    -c "CREATE TABLE bench_accounts (n INT PRIMARY KEY, id TEXT NOT NULL)" \
    -c "INSERT INTO bench_accounts SELECT g, (pgledger_create_account('bench' || g, 'USD')).id FROM generate_series(1, 50) g" \
    >/dev/null
  script="$(mktemp)"
  # A transfer of 1 between two different accounts picked at random.
  cat >"$script" <<'SQL'
\set a random(1, 50)
\set d random(1, 49)
SELECT pgledger_create_transfer((SELECT id FROM bench_accounts WHERE n = :a), (SELECT id FROM bench_accounts WHERE n = ((:a + :d - 1) % 50) + 1), 1);
SQL
  step "pgledger transfers on PostgreSQL (pgbench, 20 clients, 50 accounts, 30 s)"
  pgbench -n -c 20 -j 2 -T 30 -f "$script" "$url" | grep -E '^(tps|latency|number of failed)'
  rm -f "$script"
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS sb_bench_pgledger WITH (FORCE)" >/dev/null
}

case "${1:-all}" in
  sizes) sizes ;;
  page) page ;;
  ledger) ledger ;;
  pgledger) pgledger ;;
  signin-flood) signin_flood ;;
  all) sizes; page; ledger ;;
  *) echo "usage: $0 [sizes|page|ledger|pgledger|signin-flood]" >&2; exit 2 ;;
esac
