#!/usr/bin/env bash
# The layers' dependencies run one way (README, "Architecture"):
#   ui -> api, model, domain;  api -> model, services;  services -> model, domain, db;
#   db -> domain (and other db);  model -> domain;  domain -> nothing.
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
# Storage runs statements: it names no service, handler or job (the order of steps and the
# policy are `server::services`' and `domain`'s), only other storage.
hits="$(grep -rnP 'crate::server::(?!db\b)\w+|crate::server::\{[^}]*\b(?!db\b)\w+' src/server/db --include='*.rs' \
  | grep -vE '^[^:]+:[0-9]+:\s*//' || true)"
if [ -n "$hits" ]; then
  echo "layer check: src/server/db must not depend on the rest of src/server:" >&2
  echo "$hits" >&2
  status=1
fi
# Stripe's client, its event shapes and the local checkout sit below the services: they
# name no service and no HTTP handler (the webhook's processing is `services::webhook`).
forbid src/server/payments 'server::services' 'server::http'
# Services are called by the handlers, never the other way round.
forbid src/server/services 'server::http'
# The domain is pure: no database, network, files or OpenAPI attributes (the usage API's
# schemas for domain values are `server::api_schemas`).
hits="$(grep -rnP '(?<!::)\b(sqlx|tokio|axum|reqwest|utoipa|stripe)::|std::(fs|net)\b' src/domain --include='*.rs' \
  | grep -vE '^[^:]+:[0-9]+:\s*//' || true)"
if [ -n "$hits" ]; then
  echo "layer check: src/domain must stay pure (no I/O, no OpenAPI library):" >&2
  echo "$hits" >&2
  status=1
fi
exit "$status"
