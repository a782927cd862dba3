#!/usr/bin/env bash
# The dependency picture: for each room of src/, the rooms it names (`crate::…` paths,
# comments aside), with how many lines name each. Rerun it anywhere: `bash scripts/deps.sh`
# (or `bash scripts/deps.sh DIR` for another checkout). `crate::server::{…}` groups count
# as "server"; the usage API (once `src/server/usage_api.rs`) counts as server/http.
set -euo pipefail
root="${1:-$(dirname "${BASH_SOURCE[0]}")/..}"
cd "$root"
# The room a path under src/ belongs to (files directly in src/server/ other than those
# named above count as "server/other").
room_of_path() {
  local p="${1#src/}"
  case "$p" in
    server/services/*|server/services.rs) echo server/services ;;
    server/db/*) echo server/db ;;
    server/payments/*) echo server/payments ;;
    server/http.rs|server/http/*) echo server/http ;;
    server/usage_api.rs) echo server/http ;;
    server/auth.rs) echo server/auth ;;
    server/jobs.rs) echo server/jobs ;;
    server/cli.rs) echo server/cli ;;
    server/*) echo server/other ;;
    *) echo "${p%%/*}" | sed 's/\.rs$//' ;;
  esac
}
room_of_name() {
  case "$1" in
    server::services*) echo server/services ;;
    server::db*) echo server/db ;;
    server::payments*) echo server/payments ;;
    server::http*) echo server/http ;;
    server::usage_api*) echo server/http ;;
    server::auth*) echo server/auth ;;
    server::jobs*) echo server/jobs ;;
    server::cli*) echo server/cli ;;
    server::*) echo server/other ;;
    *) echo "${1%%::*}" ;;
  esac
}
grep -rnoE 'crate::[a-z_]+(::[a-z_]+)?' src --include='*.rs' \
  | grep -v '^[^:]*:[0-9]*:\s*//' \
  | while IFS=: read -r file _ name; do
      from="$(room_of_path "$file")"
      to="$(room_of_name "${name#crate::}")"
      [ "$from" = "$to" ] || echo "$from -> $to"
    done | sort | uniq -c | awk '{printf "%-18s -> %-18s %4d\n", $2, $4, $1}'
