# Shared by scripts/run.sh and scripts/test.sh. Source it from the repository root.

TOOLS="${STUDIO_BILLING_TOOLS:-$HOME/.cache/studio-billing/tools}"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*" >&2; }

# Keep build output in one cached directory, so a fresh clone (as CI makes) reuses the
# compiled dependencies of the last build on this machine. A real ./target is left alone.
use_shared_target() {
  local shared="${STUDIO_BILLING_TARGET:-$HOME/.cache/studio-billing/target}"
  if [ ! -e target ]; then
    mkdir -p "$shared"
    ln -s "$shared" target
  fi
}
