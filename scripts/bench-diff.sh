#!/usr/bin/env bash
# `beton diff` against one detection run on the workspace scripts/bench.sh makes (not a test).
#
#   scripts/bench-diff.sh [ACCOUNTS] [ACTIVITY_SCALE] [RUNS]   (defaults: 10000 accounts, 1.6, 5 runs)
#
# Makes the workspace (generated files, imported) when $BENCH_DIR does not hold it yet, then times
# whole processes with GNU time, in turn: `--run-daily --json` at T (one detection, recorded) and
# `diff --from T−7d --to T --json` (two detections in one pass, nothing recorded).
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-10000}
scale=${2:-1.6}
runs=${3:-5}
dir=${BENCH_DIR:-bench-data}/a${accounts}-s${scale}
as_of=2026-06-01T13:37:00Z
from=2026-05-25T13:37:00Z
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/beton
export BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml
if [ ! -s "$dir/data/workspace.sqlite" ]; then
  mkdir -p "$dir"
  rm -f "$dir/config.toml"
  if [ ! -s "$dir/files/events.jsonl" ]; then
    "$bin" demo --accounts "$accounts" --days 180 --seed 1 --activity-scale "$scale" \
      --as-of "$as_of" --out "$dir/files"
  fi
  "$bin" import accounts "$dir/files/accounts.jsonl"
  "$bin" import events "$dir/files/events.jsonl"
  "$bin" import deals "$dir/files/deals.csv"
fi
rm -f "$dir/config.toml"
"$bin" --run-daily --as-of "$as_of" --json > /dev/null # rollups up to date
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "detect run $i: %e s wall, %U s user, %M KiB peak" \
    "$bin" --run-daily --as-of "$as_of" --json > /dev/null
  /usr/bin/time -f "diff run $i: %e s wall, %U s user, %M KiB peak" \
    "$bin" diff --from "$from" --to "$as_of" --json > "$dir/diff.json"
done
python3 - "$dir/diff.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"diff: {len(d['accounts'])} accounts changed of {d['accounts_compared']} scored on either side")
PY
