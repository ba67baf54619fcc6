#!/usr/bin/env bash
# The import rate alone, repeated (a benchmark, not a test): RUNS fresh imports of the events
# file `scripts/bench.sh` generates, each into an empty data dir (accounts imported first).
# Prints each run's wall time, CPU time (user, sys), peak memory and events/s, then the median.
# CPU time tells a slow machine from a slow run: the work is the same every time.
#
#   scripts/bench-import.sh [ACCOUNTS] [ACTIVITY_SCALE] [RUNS]     (defaults: 10000 1.6 5)
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-10000}
scale=${2:-1.6}
runs=${3:-5}
dir=${BENCH_DIR:-bench-data}/a${accounts}-s${scale}
files=$dir/files
cargo build --release --quiet
bin=$PWD/target/release/beton
if [ ! -s "$files/events.jsonl" ]; then
  "$bin" demo --accounts "$accounts" --days 180 --seed 1 --activity-scale "$scale" \
    --as-of 2026-06-01T13:37:00Z --out "$files" > /dev/null
fi
events=$(wc -l < "$files/events.jsonl")
echo "events.jsonl: $events events, $(du -h "$files/events.jsonl" | cut -f1)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rates=()
for i in $(seq 1 "$runs"); do
  rm -rf "$work/data"
  export BETON_DATA=$work/data BETON_CONFIG=$work/config.toml
  : > "$BETON_CONFIG" # an explicit BETON_CONFIG must exist; empty means every default
  "$bin" import accounts "$files/accounts.jsonl" > /dev/null
  /usr/bin/time -o "$work/time" -f "%e %U %S %M" "$bin" import events "$files/events.jsonl" > /dev/null
  read -r wall user sys rss < "$work/time"
  rate=$(python3 -c "print(int($events / $wall))")
  rates+=("$rate")
  printf 'run %d: %s s wall, %s s user, %s s sys, %d MiB peak, %s events/s\n' \
    "$i" "$wall" "$user" "$sys" $((rss / 1024)) "$rate"
done
python3 -c "import statistics, sys; r = sorted(map(int, sys.argv[1:])); print(f'median {int(statistics.median(r)):,} events/s (min {r[0]:,}, max {r[-1]:,})')" "${rates[@]}"
