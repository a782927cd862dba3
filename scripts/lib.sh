# Shared by scripts/run.sh and scripts/test.sh. Source it from the repository root.

TOOLS="${STUDIO_BILLING_TOOLS:-$HOME/.cache/studio-billing/tools}"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"

# Each step says how long the script had run when it began (bash's SECONDS), so a slow
# run shows where its time went.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

# Keep build output in one cached directory, so a fresh clone (as CI makes) reuses the
# compiled dependencies of the last build on this machine. A real ./target is left alone.
use_shared_target() {
  local shared="${STUDIO_BILLING_TARGET:-$HOME/.cache/studio-billing/target}"
  if [ ! -e target ]; then
    mkdir -p "$shared"
    ln -s "$shared" target
  fi
}

# The release build: the server and the wasm, the site's files named by their content
# (hash-files) and compressed once here, with brotli (quality 11) and gzip, so the server
# sends them as they are (server::http::assets).
build_release() {
  step "release build (server and wasm): cargo leptos build --release --precompress"
  cargo leptos build --release --precompress
}
