#!/usr/bin/env bash
# Beton's scale benchmark (not a test): generate a workspace as files, import it, detect.
#
#   scripts/bench.sh [ACCOUNTS] [ACTIVITY_SCALE]       (defaults: 10000 accounts, scale 1.6 ≈ 10 M events)
#
# Prints import events/s, detection seconds and peak memory (GNU time's maximum resident set
# size) for each step. Data goes to $BENCH_DIR (default ./bench-data, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-10000}
scale=${2:-1.6}
dir=${BENCH_DIR:-bench-data}/a${accounts}-s${scale}
as_of=2026-06-01T13:37:00Z
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/beton
export BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml
rm -rf "$dir/data" "$dir/config.toml"
mkdir -p "$dir"
: > "$BETON_CONFIG" # an explicit BETON_CONFIG must exist; empty means every default

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %M KiB peak RSS" "$@"
}

if [ ! -s "$dir/files/events.jsonl" ]; then
  measure "generate files" "$bin" demo --accounts "$accounts" --days 180 --seed 1 \
    --activity-scale "$scale" --as-of "$as_of" --out "$dir/files"
fi
events=$(wc -l < "$dir/files/events.jsonl")
echo "events.jsonl: $events events, $(du -h "$dir/files/events.jsonl" | cut -f1)"
measure "import accounts" "$bin" import accounts "$dir/files/accounts.jsonl"
start=$(date +%s.%N)
measure "import events" "$bin" import events "$dir/files/events.jsonl"
end=$(date +%s.%N)
python3 -c "print(f'import rate: {int($events / ($end - $start)):,} events/s')"
measure "import deals" "$bin" import deals "$dir/files/deals.csv"
echo "workspace: $(du -h "$dir/data/workspace.sqlite" | cut -f1)"

for i in 1 2 3; do
  measure "detect run $i (T mid-day)" "$bin" --run-daily --as-of "$as_of" --json > "$dir/run$i.json"
done
measure "detect (T at midnight)" "$bin" --run-daily --as-of 2026-06-01T00:00:00Z --json > /dev/null
python3 - "$dir/run1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"run report: {r['accounts_scored']} accounts, {r['hot']} hot, {r['warm']} warm, {r['cool']} cool, "
      f"{r['routed']} routed; core pipeline {r['seconds']:.3f} s")
PY
# A threshold or window change needs no rebuild.
printf '[signals.pricing_intent]\nmin_count = 3\nwindow_days = 10\n' > "$BETON_CONFIG"
measure "detect after a threshold + window change" "$bin" --run-daily --as-of "$as_of" --json > /dev/null
# An event list or URL pattern change rebuilds the rollups once.
printf '[signals.pricing_intent]\nurl_patterns = ["/pricing", "/plans"]\n' > "$BETON_CONFIG"
measure "detect after a URL pattern change (rebuild)" "$bin" --run-daily --as-of "$as_of" --json > /dev/null
measure "detect after that (no rebuild)" "$bin" --run-daily --as-of "$as_of" --json > /dev/null
