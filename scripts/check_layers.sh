#!/usr/bin/env bash
# The layers' dependencies run one way (README, "Architecture"):
#   ui -> api, model, domain;  api -> model, services;  services -> model, domain, db;
#   db -> domain;  model -> domain;  domain -> nothing.
# This fails when code in a lower layer names a higher one (comments aside), the way a
# module-privacy error would. Rerun it by hand: `bash scripts/check_layers.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

status=0
# forbid DIR LAYER...: no path in DIR may name crate::LAYER (also inside `crate::{...}`).
forbid() {
  local dir="$1"; shift
  local alt
  alt="$(IFS='|'; echo "$*")"
  local hits
  hits="$(grep -rnE "crate::($alt)\b|crate::\{[^}]*\b($alt)\b" "$dir" --include='*.rs' \
    | grep -vE '^[^:]+:[0-9]+:\s*//' || true)"
  if [ -n "$hits" ]; then
    echo "layer check: $dir must not depend on $*:" >&2
    echo "$hits" >&2
    status=1
  fi
}
forbid src/domain server api ui model app
forbid src/model server api ui app
# `server::http` mounts the pages (`crate::app`), the one place the server names them.
forbid src/server api ui
exit "$status"
