#!/usr/bin/env bash
# Benchmark of the figures (not a test): backtest, what-if, sweep, explain-signal, health and
# sources on a generated workspace. Same data as scripts/bench.sh (files are shared).
#
#   scripts/bench-backtest.sh [ACCOUNTS] [ACTIVITY_SCALE]   (defaults: 10000 accounts, 1.6 ≈ 10 M events)
#
# BENCH_DIR (default ./bench-data) holds the data; BENCH_AS_OF is T (default: bench.sh's T, when
# the generated history ends). The workspace is imported once into $dir/figures-data and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-10000}
scale=${2:-1.6}
dir=${BENCH_DIR:-bench-data}/a${accounts}-s${scale}
as_of=${BENCH_AS_OF:-2026-06-01T13:37:00Z}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/beton
export BETON_DATA=$dir/figures-data BETON_CONFIG=$dir/figures-config.toml
# Every run replays: a repeated run would read the first one's replay back from the cache.
export BETON_REPLAY_CACHE=${BETON_REPLAY_CACHE:-off}
mkdir -p "$dir"
: > "$BETON_CONFIG"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %U s user, %M KiB peak RSS" "$@"
}

if [ ! -s "$BETON_DATA/workspace.sqlite" ]; then
  if [ ! -s "$dir/files/events.jsonl" ]; then
    measure "generate files" "$bin" demo --accounts "$accounts" --days 180 --seed 1 \
      --activity-scale "$scale" --as-of "$as_of" --out "$dir/files"
  fi
  "$bin" import accounts "$dir/files/accounts.jsonl"
  measure "import events" "$bin" import events "$dir/files/events.jsonl"
  "$bin" import deals "$dir/files/deals.csv"
fi
echo "workspace: $(wc -l < "$dir/files/events.jsonl") events, $(du -h "$BETON_DATA/workspace.sqlite" | cut -f1); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

midnight=${as_of:0:10}T00:00:00Z
for i in 1 2 3; do
  measure "backtest, 26 dates, T mid-day (run $i)" "$bin" --as-of "$as_of" --json backtest > "$dir/backtest$i.json"
done
measure "backtest, 26 dates, T at midnight" "$bin" --as-of "$midnight" --json backtest > /dev/null
measure "what-if (2 replays: saved + candidate)" "$bin" --as-of "$as_of" --json backtest \
  --set pricing_intent.min_count=4 --set route_threshold=65 > "$dir/whatif.json"
measure "sweep pricing_intent.min_count=1..6 (6 replays)" "$bin" --as-of "$as_of" --json backtest \
  --sweep pricing_intent.min_count=1..6 > /dev/null
measure "explain-signal pricing_intent (7 replays)" "$bin" --as-of "$as_of" explain-signal pricing_intent > /dev/null
measure "health" "$bin" --as-of "$as_of" --json health > /dev/null
measure "sources" "$bin" --as-of "$as_of" --json sources > /dev/null
python3 - "$dir/backtest1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"backtest: {r['replay_dates']} dates, {r['accounts']} accounts, flagged {r['flagged']}, "
      f"precision {r['precision']}, recall {r['recall']}, lift {r['lift']}")
PY
