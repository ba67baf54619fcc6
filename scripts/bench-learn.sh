#!/usr/bin/env bash
# Benchmark of `beton learn` (not a test): the default 365-day replay (53 dates, weekly, 90-day
# horizon) on a generated workspace, next to a backtest over the same dates: replayed (the replay
# cache off), and reading back the replay that backtest kept.
#
#   scripts/bench-learn.sh [ACCOUNTS] [DAYS] [ACTIVITY_SCALE]
#   (defaults: 10000 accounts, 400 days of history — the replay's 365 plus most of the first
#   date's lookback — and activity scale 0.5, about 8 M events)
#
# BENCH_DIR (default ./bench-data) holds the data; the workspace is imported once and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-10000}
days=${2:-400}
scale=${3:-0.5}
dir=${BENCH_DIR:-bench-data}/learn-a${accounts}-d${days}-s${scale}
as_of=${BENCH_AS_OF:-2026-11-01T00:00:00Z}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/beton
export BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml
mkdir -p "$dir"
[ -s "$BETON_CONFIG" ] || : > "$BETON_CONFIG"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %U s user, %M KiB peak RSS" "$@"
}

if [ ! -s "$BETON_DATA/workspace.sqlite" ]; then
  measure "generate and import the demo" "$bin" demo --accounts "$accounts" --days "$days" --seed 1 \
    --activity-scale "$scale" --as-of "$as_of" > /dev/null
fi
echo "workspace: $(du -h "$BETON_DATA/workspace.sqlite" | cut -f1); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
# Cold: the replay cache off, so every run replays.
for i in 1 2 3; do
  BETON_REPLAY_CACHE=off measure "learn, 365 days / 53 dates, replayed (run $i)" "$bin" --as-of "$as_of" --json learn > "$dir/learn$i.json"
done
for i in 1 2; do
  BETON_REPLAY_CACHE=off measure "backtest over the same 53 dates, replayed (run $i)" "$bin" --as-of "$as_of" --json backtest --range-days 365 > "$dir/backtest$i.json"
done
cmp -s "$dir/learn1.json" "$dir/learn2.json" && echo "learn output identical run to run"
# Warm: a backtest over the same dates keeps its replay; learn reads it back.
measure "backtest over the same 53 dates, keeping its replay" "$bin" --as-of "$as_of" --json backtest --range-days 365 > /dev/null
for i in 1 2 3; do
  measure "learn, 365 days / 53 dates, reading the backtest's replay (run $i)" "$bin" --as-of "$as_of" --json learn > "$dir/learn-warm$i.json"
done
cmp -s "$dir/learn1.json" "$dir/learn-warm1.json" && echo "learn output identical with the replay read back"
python3 - "$dir/learn1.json" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
t, s = l["train"], l["test"]
print(f"learn: train {t['observations']} observations ({t['won_accounts']} won accounts), "
      f"test {s['observations']} observations; test AUC {s['auc']}, model {'fitted' if l['model'] else 'none: ' + l['reason']}")
PY
