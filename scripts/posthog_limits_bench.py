#!/usr/bin/env python3
"""Execution time of every HogQL query Beton sends with its API key, on a large synthetic
project in ClickHouse (chdb), against PostHog Cloud's 10 s limit for personal-API-key queries.

Builds N events (default 10 000 000) over the 730 days before T in PostHog's `events` shape
(2 000 accounts of 20 users; page views with some pricing URLs, feature_used, support and
billing events, $groupidentify) and the `groups` table, takes the queries from
`beton hogql --dump --as-of T`, rewrites them as tests/chdb_parity.py does, and runs each
three times, printing the median wall time and the median CPU time of the process (chdb runs
in it, all threads counted). On a shared machine the wall time grows with its load (printed at
the end) while the CPU time does not: a query's CPU seconds bound the wall time it needs on an
idle machine of the same speed. It also times the backtest's first-seen scan without its time
bound, as it was before.

Usage: python3 scripts/posthog_limits_bench.py path/to/beton [events ...]
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from chdb_parity import need_chdb, to_clickhouse  # noqa: E402

T = "2026-05-01T09:30:00Z"
ACCOUNTS = 2000
USERS = 20


def build(session, n):
    session.query("DROP DATABASE IF EXISTS ph")
    session.query("CREATE DATABASE ph")
    session.query("USE ph")
    session.query("""CREATE TABLE events (uuid String, event String, distinct_id String, person_id String,
        timestamp DateTime64(6, 'UTC'), properties String, `$group_0` String)
        ENGINE = MergeTree ORDER BY (toDate(timestamp), event, cityHash64(distinct_id))""")
    # Event mix: 60 % page views (1 in 20 on /pricing), 25 % feature_used over 30 features,
    # 5 % support, 2 % billing, 1 % $groupidentify, the rest other product events.
    session.query(f"""INSERT INTO events
        SELECT toString(generateUUIDv4()) AS uuid,
            multiIf(r < 60, '$pageview', r < 85, 'feature_used', r < 90, 'intercom_conversation_started',
                    r < 92, 'checkout_started', r < 93, '$groupidentify', 'report_exported') AS event,
            concat('u', toString(acct), '-', toString(user)) AS distinct_id,
            distinct_id AS person_id,
            toDateTime64('{T.replace('T', ' ').rstrip('Z')}', 6, 'UTC') - toIntervalSecond(rand64(3) % (730 * 86400)) AS timestamp,
            multiIf(event = '$pageview',
                        concat('{{"$current_url":"https://app.example.com/', if(rand(4) % 20 = 0, 'pricing', 'home'), '"}}'),
                    event = 'feature_used', concat('{{"feature":"f', toString(rand(5) % 30), '"}}'),
                    event = '$groupidentify',
                        concat('{{"$group_type":"company","$group_key":"acct-', toString(acct),
                               '","$group_set":{{"usage":', toString(rand(6) % 1000), ',"plan_limit":1000}}}}'),
                    '{{}}') AS properties,
            concat('acct-', toString(acct)) AS `$group_0`
        FROM (SELECT number, rand(1) % 100 AS r, rand(2) % {ACCOUNTS} AS acct, rand(7) % {USERS} AS user
              FROM numbers({n}))""")
    session.query("CREATE TABLE groups (`index` UInt8, key String, properties String) ENGINE = MergeTree ORDER BY key")
    session.query(f"""INSERT INTO groups SELECT 0, concat('acct-', toString(number)),
        concat('{{"name":"Account ', toString(number), '","usage":', toString(number % 1000), ',"plan_limit":1000,"seat_limit":10,"seats_used":', toString(number % 12), '}}')
        FROM numbers({ACCOUNTS})""")


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(session, sql, runs=3):
    walls, cpus = [], []
    rows = 0
    for _ in range(runs):
        started, c = time.perf_counter(), cpu()
        res = session.query(sql, "JSONCompact")
        walls.append(time.perf_counter() - started)
        cpus.append(cpu() - c)
        rows = len(json.loads(res.bytes())["data"])
    return statistics.median(walls), statistics.median(cpus), rows


def main():
    need_chdb()
    from chdb import session as chs

    binary = sys.argv[1]
    sizes = [int(x) for x in sys.argv[2:]] or [10_000_000]
    work = tempfile.mkdtemp(prefix="beton-limits-")
    env = dict(os.environ, BETON_CONFIG=os.path.join(work, "config.toml"), BETON_DATA=os.path.join(work, "data"))
    # An explicit BETON_CONFIG must exist; an empty file means every default.
    open(env["BETON_CONFIG"], "w").close()
    env.pop("POSTHOG_API_KEY", None)
    dump = subprocess.run([binary, "hogql", "--dump", "--as-of", T], env=env, capture_output=True, text=True, check=True)
    queries = [json.loads(l) for l in dump.stdout.splitlines()]
    queries = [q for q in queries if not q["name"].startswith(("tile_", "view_"))]
    session = chs.Session(os.path.join(work, "chdb"))
    for n in sizes:
        started = time.perf_counter()
        build(session, n)
        print(f"{n} events, {ACCOUNTS} accounts: built in {time.perf_counter() - started:.1f} s")
        for q in queries:
            secs, cpus, rows = timed(session, to_clickhouse(q["query"], q["values"]))
            print(f"  {q['name']:<28} wall {secs:6.2f} s  cpu {cpus:6.2f} s  ({rows} rows)")
            if q["name"] == "beton_backtest_first_seen":
                unbounded = q["query"].replace("timestamp >= {from} AND timestamp < {to} AND ", "").replace(
                    "AND timestamp >= {from} AND timestamp < {to}\n", "\n")
                unbounded = unbounded.replace("timestamp >= toDateTime({from}) AND timestamp < toDateTime({to}) AND ", "")
                unbounded = unbounded.replace(" AND timestamp >= toDateTime({from}) AND timestamp < toDateTime({to})", "")
                secs, cpus, rows = timed(session, to_clickhouse(unbounded, q["values"]))
                print(f"  {'(first seen, no time bound)':<28} wall {secs:6.2f} s  cpu {cpus:6.2f} s  ({rows} rows)")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    session.close()


if __name__ == "__main__":
    main()
