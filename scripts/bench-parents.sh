#!/usr/bin/env bash
# Parent-mode detection (`accounts.parent_property`, SPEC §14) against standalone detection on the
# workspace scripts/bench.sh makes (not a test).
#
#   scripts/bench-parents.sh [ACCOUNTS] [PARENTS] [ACTIVITY_SCALE] [RUNS]
#                            (defaults: 10000 accounts, 3000 parents, 1.6, 5 runs)
#
# Makes the standalone workspace (generated files, imported) when $BENCH_DIR does not hold it yet,
# then a copy whose accounts snapshot names a parent for every account (`parent_domain` =
# `parent<i mod PARENTS>.example`, so every parent has ACCOUNTS / PARENTS workspaces), and times
# whole processes with GNU time, in turn: `--run-daily --json` at T on each, then `health --json`
# on each. Prints the parents' and accounts' counts of the last reports.
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-10000}
parents=${2:-3000}
scale=${3:-1.6}
runs=${4:-5}
dir=${BENCH_DIR:-bench-data}/a${accounts}-s${scale}
pdir=$dir-p${parents}
as_of=2026-06-01T13:37:00Z
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/beton
if [ ! -s "$dir/data/workspace.sqlite" ]; then
  mkdir -p "$dir"
  : > "$dir/config.toml"
  if [ ! -s "$dir/files/events.jsonl" ]; then
    BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml "$bin" demo --accounts "$accounts" \
      --days 180 --seed 1 --activity-scale "$scale" --as-of "$as_of" --out "$dir/files"
  fi
  for kind in accounts events; do
    BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml "$bin" import "$kind" "$dir/files/$kind.jsonl"
  done
  BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml "$bin" import deals "$dir/files/deals.csv"
fi
: > "$dir/config.toml"
if [ ! -s "$pdir/data/workspace.sqlite" ]; then
  mkdir -p "$pdir"
  rm -rf "$pdir/data"
  cp -r "$dir/data" "$pdir/data"
  python3 - "$dir/files/accounts.jsonl" "$pdir/accounts.jsonl" "$parents" <<'PY'
import json, sys
src, out, parents = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src) as f, open(out, "w") as o:
    for i, line in enumerate(f):
        row = json.loads(line)
        row.setdefault("properties", {})["parent_domain"] = f"parent{i % parents}.example"
        o.write(json.dumps(row) + "\n")
PY
  : > "$pdir/config.toml"
  BETON_DATA=$pdir/data BETON_CONFIG=$pdir/config.toml "$bin" import accounts "$pdir/accounts.jsonl"
fi
printf '[accounts]\nparent_property = "parent_domain"\n' > "$pdir/config.toml"
alone() { BETON_DATA=$dir/data BETON_CONFIG=$dir/config.toml "$bin" "$@"; }
parent() { BETON_DATA=$pdir/data BETON_CONFIG=$pdir/config.toml "$bin" "$@"; }
alone --run-daily --as-of "$as_of" --json > /dev/null # rollups up to date
parent --run-daily --as-of "$as_of" --json > /dev/null
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "standalone detect run $i: %e s wall, %U s user, %M KiB peak" \
    env BETON_DATA="$dir/data" BETON_CONFIG="$dir/config.toml" "$bin" --run-daily --as-of "$as_of" --json > "$dir/report.json"
  /usr/bin/time -f "parents detect run $i: %e s wall, %U s user, %M KiB peak" \
    env BETON_DATA="$pdir/data" BETON_CONFIG="$pdir/config.toml" "$bin" --run-daily --as-of "$as_of" --json > "$pdir/report.json"
done
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "standalone health run $i: %e s wall, %U s user, %M KiB peak" \
    env BETON_DATA="$dir/data" BETON_CONFIG="$dir/config.toml" "$bin" health --as-of "$as_of" --json > /dev/null
  /usr/bin/time -f "parents health run $i: %e s wall, %U s user, %M KiB peak" \
    env BETON_DATA="$pdir/data" BETON_CONFIG="$pdir/config.toml" "$bin" health --as-of "$as_of" --json > /dev/null
done
python3 - "$dir/report.json" "$pdir/report.json" <<'PY'
import json, sys
for label, path in zip(["standalone", "parents"], sys.argv[1:]):
    r = json.load(open(path))
    print(f"{label}: {r['accounts_scored']} scored, {len(r['accounts'])} with a signal, {r['hot']} hot")
PY
