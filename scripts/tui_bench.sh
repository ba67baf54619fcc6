#!/usr/bin/env bash
# The terminal app's speed (a benchmark, not a test): time to the first frame, to the first frame
# with the hot queue, and how long each keypress takes to handle and draw, on a demo workspace of
# ACCOUNTS accounts (default 10,000), in a 120×40 tmux terminal.
#
#   scripts/tui_bench.sh [ACCOUNTS]
#
# Needs tmux. Data goes to $BENCH_DIR (default ./bench-data, git-ignored). The app logs its own
# timings (BETON_LOG=beton::tui::timing=debug); this script reads them back from beton.log.
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-10000}
dir=$(realpath -m "${BENCH_DIR:-bench-data}/tui-a${accounts}")
as_of=2026-06-01T13:37:00Z
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/beton
export BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml
mkdir -p "$dir"
[ -f "$BETON_CONFIG" ] || : > "$BETON_CONFIG" # an explicit BETON_CONFIG must exist
if [ ! -s "$dir/data/workspace.sqlite" ]; then
  /usr/bin/time -f "demo workspace: %e s" "$bin" demo --accounts "$accounts" --days 180 --as-of "$as_of" > /dev/null
  /usr/bin/time -f "first detection: %e s" "$bin" --run-daily --as-of "$as_of" > /dev/null
fi
sock=beton-tui-bench-$$
trap 'tmux -L $sock kill-server 2>/dev/null || true' EXIT

session() { # label
  : > "$dir/data/beton.log"
  tmux -L "$sock" -f /dev/null new-session -d -s b -x 120 -y 40 \
    "BETON_LOG=info,beton::tui::timing=debug $bin --as-of $as_of; sleep 2"
  for _ in $(seq 600); do grep -q "first frame with the hot queue" "$dir/data/beton.log" && break; sleep 0.1; done
  # Keys while the startup job (health, sources, and a first backtest when none is saved) still
  # runs in the background, then the same again once it has finished.
  local keys=(j j j j j j j j j j k k k G g s s S / b i l l Enter Escape 2 j j 3 4 1 Tab BTab Enter Escape)
  for k in "${keys[@]}"; do tmux -L "$sock" send-keys -t b "$k"; sleep 0.15; done
  for _ in $(seq 1200); do tmux -L "$sock" capture-pane -p -t b | grep -q "loading:" || break; sleep 0.1; done
  for k in "${keys[@]}"; do tmux -L "$sock" send-keys -t b "$k"; sleep 0.15; done
  tmux -L "$sock" send-keys -t b q
  sleep 1
  tmux -L "$sock" kill-server 2>/dev/null || true
  echo "== $1"
  grep -o "first frame after [0-9]* ms" "$dir/data/beton.log"
  grep -o "first frame with the hot queue ([0-9]* rows) after [0-9]* ms" "$dir/data/beton.log"
  grep -o "key handled and drawn in [0-9]* µs" "$dir/data/beton.log" | grep -o "[0-9]*" | sort -n | python3 -c '
import sys
v = [int(x) for x in sys.stdin.read().split()]
if v:
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    print(f"keys: {len(v)}, median {p(0.5) / 1000:.1f} ms, p95 {p(0.95) / 1000:.1f} ms, max {v[-1] / 1000:.1f} ms")'
}

session "first start on this workspace (no saved backtest: one runs in the background)"
session "second start (saved backtest)"
