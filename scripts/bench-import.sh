#!/usr/bin/env bash
# The import rate alone, repeated (a benchmark, not a test): RUNS fresh imports of the events
# file `scripts/bench.sh` generates, each into an empty data dir (accounts imported first).
# Prints each run's wall time, CPU time (user, sys), peak memory and events/s, then the median.
# CPU time tells a slow machine from a slow run: the work is the same every time.
#
#   scripts/bench-import.sh [--vs-duckdb] [ACCOUNTS] [ACTIVITY_SCALE] [RUNS]   (defaults: 10000 1.6 5)
#
# --vs-duckdb: each run also loads the same file with DuckDB's `read_json` into a fresh DuckDB
# database file (DuckDB from pip, installed into a virtualenv under $BENCH_DIR on first use;
# nothing of it is part of Beton), Beton and DuckDB in turn, and prints both figures per run and
# the medians of both, with the ratio. DUCKDB_MEMORY=1 loads into an in-memory DuckDB instead.
#
# After the runs, a daily-sized import into the last workspace: the file's last DAILY events
# (default 100000) with new uuids, then the same slice again (all duplicates).
set -euo pipefail
cd "$(dirname "$0")/.."
duckdb=0
if [ "${1:-}" = "--vs-duckdb" ]; then
  duckdb=1
  shift
fi
accounts=${1:-10000}
scale=${2:-1.6}
runs=${3:-5}
daily=${DAILY:-100000}
bench=${BENCH_DIR:-bench-data}
dir=$bench/a${accounts}-s${scale}
files=$dir/files
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/beton
if [ ! -s "$files/events.jsonl" ]; then
  "$bin" demo --accounts "$accounts" --days 180 --seed 1 --activity-scale "$scale" \
    --as-of 2026-06-01T13:37:00Z --out "$files" > /dev/null
fi
events=$(wc -l < "$files/events.jsonl")
echo "events.jsonl: $events events, $(du -h "$files/events.jsonl" | cut -f1)"
py=python3
if [ "$duckdb" = 1 ]; then
  venv=$bench/duckdb-venv
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet duckdb
  fi
  py=$venv/bin/python
  echo "DuckDB $("$py" -c 'import duckdb; print(duckdb.__version__)')"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Runs a command under GNU time; prints "wall user sys peak_kib".
timed() {
  /usr/bin/time -o "$work/time" -f "%e %U %S %M" "$@" > /dev/null
  cat "$work/time"
}
report() { # label, events, wall user sys rss
  python3 -c "import sys; l, n, w, u, s, m = sys.argv[1:]; print(f'{l}: {w} s wall, {u} s user, {s} s sys, {int(m) // 1024} MiB peak, {int(int(n) / float(w)):,} events/s')" "$@"
}
results=$work/results
for i in $(seq 1 "$runs"); do
  rm -rf "$work/data"
  export BETON_DATA=$work/data BETON_CONFIG=$work/config.toml
  : > "$BETON_CONFIG" # an explicit BETON_CONFIG must exist; empty means every default
  "$bin" import accounts "$files/accounts.jsonl" > /dev/null
  read -r wall user sys rss < <(timed "$bin" import events "$files/events.jsonl")
  echo "beton $wall $rss" >> "$results"
  report "run $i, beton " "$events" "$wall" "$user" "$sys" "$rss"
  if [ "$duckdb" = 1 ]; then
    rm -f "$work/duck.db" "$work/duck.db.wal"
    read -r wall user sys rss < <(timed "$py" -c "
import sys, duckdb
con = duckdb.connect(':memory:' if sys.argv[3] == '1' else sys.argv[1])
con.execute(\"CREATE TABLE events AS SELECT * FROM read_json(?, format = 'newline_delimited')\", [sys.argv[2]])
con.close()" "$work/duck.db" "$files/events.jsonl" "${DUCKDB_MEMORY:-0}")
    echo "duckdb $wall $rss" >> "$results"
    report "run $i, duckdb" "$events" "$wall" "$user" "$sys" "$rss"
  fi
done
python3 - "$results" "$events" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
events = int(sys.argv[2])
med = {}
for who in ("beton", "duckdb"):
    walls = sorted(float(r[1]) for r in rows if r[0] == who)
    peaks = sorted(int(r[2]) // 1024 for r in rows if r[0] == who)
    if walls:
        med[who] = (statistics.median(walls), statistics.median(peaks))
        print(f"{who}: median {med[who][0]:.2f} s ({int(events / med[who][0]):,} events/s; "
              f"min {walls[0]:.2f}, max {walls[-1]:.2f}), median peak {med[who][1]} MiB "
              f"({peaks[0]}-{peaks[-1]})")
if len(med) == 2:
    print(f"beton/duckdb: time {med['beton'][0] / med['duckdb'][0]:.2f}, "
          f"peak memory {med['beton'][1] / med['duckdb'][1]:.2f}")
PY
# A daily-sized import into the workspace of the last run.
tail -n "$daily" "$files/events.jsonl" | sed 's/"uuid":"0/"uuid":"f/' > "$work/daily.jsonl"
read -r wall user sys rss < <(timed "$bin" import events "$work/daily.jsonl")
report "daily import, $daily new events" "$daily" "$wall" "$user" "$sys" "$rss"
read -r wall user sys rss < <(timed "$bin" import events "$work/daily.jsonl")
report "the same again (all duplicates)" "$daily" "$wall" "$user" "$sys" "$rss"
