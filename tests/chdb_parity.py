#!/usr/bin/env python3
"""Parity of the HogQL detection queries with the embedded store, on a real ClickHouse engine.

Loads the demo workspace (`beton demo --out DIR`) into chdb in PostHog's `events` / `groups`
shape, takes the detection queries from `beton hogql --dump`, rewrites only what HogQL does for
PostHog (property access `properties.$x` printed as PostHog prints it, `$group_N` quoted, and
`{placeholders}` replaced by their `values` as literals), runs them, scores the answers with
`beton hogql --score`, and compares accounts, scores, tiers and signals with
`beton --run-daily --json` on the same data and the same T. Last, the deals view that
`beton provision` saves runs over tables in the shape of PostHog's Attio source (`attio_deals`,
`attio_companies`: Attio records with their `values` as a JSON string) and must give the SPEC §1
deal columns of three hand-written records.

Usage: python3 tests/chdb_parity.py [path/to/beton]    (installs chdb with pip if missing)
Exit 0 when every T matches, 1 on a difference, 2 when chdb cannot be installed.
"""
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

AS_OF = "2026-05-01T09:30:00Z"
TIMES = [AS_OF, "2026-04-28T21:15:00Z", "2026-04-01T00:00:00Z", "2026-03-15T12:00:00Z"]


def need_chdb():
    try:
        import chdb  # noqa: F401
    except ImportError:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "chdb"])
        if r.returncode != 0:
            print("chdb_parity: chdb could not be installed with pip", file=sys.stderr)
            sys.exit(2)


def beton(binary, env, *args):
    r = subprocess.run([binary, *args], env=env, capture_output=True, text=True)
    if r.returncode not in (0, 2):
        sys.exit(f"beton {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def literal(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{s}'"


PROP = re.compile(r"properties\.(\$?[A-Za-z_][A-Za-z0-9_]*)")
GROUP = re.compile(r"(?<![`\w])(\$group_\d)")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def to_clickhouse(sql, values):
    """The mechanical rewrite: PostHog's printing of property access, quoting of $group_N,
    and placeholders as literals. Nothing else changes."""
    sql = PROP.sub(
        lambda m: "replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(properties, '%s'), ''), 'null'), '^\"|\"$', '')"
        % m.group(1),
        sql,
    )
    sql = GROUP.sub(lambda m: f"`{m.group(1)}`", sql)
    return PLACEHOLDER.sub(lambda m: literal(values[m.group(1)]), sql)


def load(session, out):
    """events.jsonl and accounts.jsonl into PostHog-shaped tables (group type `company` = 0)."""
    ev = os.path.join(out, "ch_events.jsonl")
    with open(os.path.join(out, "events.jsonl")) as src, open(ev, "w") as dst:
        for line in src:
            e = json.loads(line)
            props = e.get("properties") or {}
            group = (props.get("$groups") or {}).get("company")
            dst.write(json.dumps({
                "uuid": e.get("uuid") or "",
                "event": e["event"],
                "distinct_id": str(e["distinct_id"]),
                # No merged persons in the demo: person_id is the distinct_id (SPEC §1).
                "person_id": str(e["distinct_id"]),
                "ts": e["timestamp"],
                "properties": json.dumps(props),
                "group0": "" if group is None else str(group),
            }) + "\n")
    gr = os.path.join(out, "ch_groups.jsonl")
    with open(os.path.join(out, "accounts.jsonl")) as src, open(gr, "w") as dst:
        for line in src:
            a = json.loads(line)
            dst.write(json.dumps({"key": str(a["group_key"]), "properties": json.dumps(a.get("properties") or {})}) + "\n")
    session.query("CREATE DATABASE IF NOT EXISTS ph")
    session.query("USE ph")
    session.query("""CREATE TABLE events (uuid String, event String, distinct_id String, person_id String,
        timestamp DateTime64(6, 'UTC'), properties String, `$group_0` String) ENGINE = MergeTree ORDER BY timestamp""")
    session.query(f"""INSERT INTO events SELECT uuid, event, distinct_id, person_id,
        parseDateTime64BestEffort(ts, 6, 'UTC'), properties, group0
        FROM file('{ev}', 'JSONEachRow', 'uuid String, event String, distinct_id String, person_id String, ts String, properties String, group0 String')""")
    session.query("CREATE TABLE groups (`index` UInt8, key String, properties String) ENGINE = MergeTree ORDER BY key")
    session.query(f"""INSERT INTO groups SELECT 0, key, properties
        FROM file('{gr}', 'JSONEachRow', 'key String, properties String')""")
    n = session.query("SELECT count() FROM events", "CSV").bytes().decode().strip()
    return int(n)


HEALTH_FIELDS = ("status", "active_users_30d", "events_7d", "events_prev_7d", "features_30d", "daily", "last_seen")


def compare_health(t, local, remote):
    """SPEC §4 from the counts query against the local workspace: every field of every account
    the query returns, and feature adoption. PostHog only sees accounts with events in the 44
    days it reads; an account missing there must have had no activity in the last 30 days."""
    mine = {a["account"]: a for a in local["accounts"]}
    theirs = {a["account"]: a for a in remote["accounts"]}
    diffs = []
    for key, a in sorted(theirs.items()):
        b = mine.get(key)
        if b is None:
            diffs.append(f"{key}: only in HogQL")
            continue
        for f in HEALTH_FIELDS:
            if a[f] != b[f]:
                diffs.append(f"{key}.{f}: local {b[f]!r}, HogQL {a[f]!r}")
    for key, b in sorted(mine.items()):
        if key not in theirs and (any(b["daily"]) or b["features_30d"] or b["active_users_30d"]):
            diffs.append(f"{key}: active locally, missing in HogQL")
    if local["feature_adoption"] != remote["feature_adoption"]:
        diffs.append(f"feature adoption: local {local['feature_adoption']}, HogQL {remote['feature_adoption']}")
    if diffs:
        print(f"T={t}: health DIFFERENT ({len(diffs)}):")
        for d in diffs[:10]:
            print(f"  {d}")
        return 1
    days = sum(sum(a["daily"]) for a in theirs.values())
    print(f"T={t}: health of {len(theirs)} accounts identical ({len(mine) - len(theirs)} more only locally, all quiet for 30 days; "
          f"{days} activity events in the daily series; {len(remote['feature_adoption'])} features in adoption)")
    return 0


def run_queries(session, binary, env, t, prefix):
    """The dumped queries at T whose names start with `prefix`, answered by chdb."""
    out = []
    for line in beton(binary, env, "hogql", "--dump", "--as-of", t).splitlines():
        q = json.loads(line)
        if not q["name"].startswith(prefix):
            continue
        res = json.loads(session.query(to_clickhouse(q["query"], q["values"]), "JSONCompact").bytes())
        if len(res["data"]) >= q["values"]["limit"]:
            sys.exit(f"{q['name']}: {len(res['data'])} rows reach LIMIT {q['values']['limit']}; raise page_size for this check")
        out.append({"name": q["name"], "columns": [c["name"] for c in res["meta"]], "rows": res["data"]})
    return out


def compare_backtest(binary, env, session, work, t):
    """SPEC §5 with detection in HogQL at every replay date (and one first-seen query) against
    the local backtest: the whole report must be the same."""
    local = json.loads(beton(binary, env, "backtest", "--json", "--as-of", t))
    start = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    dates = []
    k = 0
    while True:
        d = start - datetime.timedelta(days=local["range_days"]) + datetime.timedelta(days=k * local["step_days"])
        if d > start:
            break
        dates.append(d.strftime("%Y-%m-%dT%H:%M:%SZ"))
        k += 1
    answers = os.path.join(work, "backtest-answers.jsonl")
    started = time.perf_counter()
    with open(answers, "w") as f:
        for a in run_queries(session, binary, env, t, "beton_backtest_"):
            f.write(json.dumps(a) + "\n")
        for d in dates:
            for a in run_queries(session, binary, env, d, "beton_detect_"):
                f.write(json.dumps(dict(a, as_of=d)) + "\n")
    took = time.perf_counter() - started
    remote = json.loads(beton(binary, env, "hogql", "--backtest", answers, "--as-of", t))
    diffs = [k for k in sorted(set(local) | set(remote)) if local.get(k) != remote.get(k)]
    if diffs:
        print(f"backtest T={t}: DIFFERENT in {', '.join(diffs)}")
        for k in diffs[:5]:
            print(f"  {k}: local {json.dumps(local.get(k))[:300]}")
            print(f"  {k}: HogQL {json.dumps(remote.get(k))[:300]}")
        return 1
    print(f"backtest T={t}: identical report from {len(dates)} replay dates in HogQL ({3 * len(dates) + 1} queries in {took:.1f} s): "
          f"precision {local['precision']}, recall {local['recall']}, lift {local['lift']}, {local['accounts']} accounts")
    return 0


def attio_record(rid, created, values):
    """One record as PostHog's Attio source lands it: the `id` object flattened, `values` as the
    JSON string the pipeline makes of nested objects, each attribute a list of value objects."""
    return {"workspace_id": "w1", "object_id": "o1", "record_id": rid, "created_at": created,
            "web_url": f"https://app.attio.com/w/deal/{rid}", "values": json.dumps(values)}


def status(title, since):
    return [{"active_from": since, "active_until": None, "status": {"title": title, "is_archived": False},
             "attribute_type": "status"}]


DEALS_VIEW_CASES = [
    # A PQL deal Beton made: won, so closed (and SQL) when it entered the won stage.
    (attio_record("r1", "2026-01-05T10:00:00.000000000Z", {
        "name": [{"value": "Acme PQL", "attribute_type": "text"}],
        "beton_account_key": [{"value": "acme.com", "attribute_type": "text"}],
        "lead_source": [{"option": {"title": "pql"}, "attribute_type": "select"}],
        "stage": status("Won 🎉", "2026-02-01T09:00:00.000000000Z"),
        "value": [{"currency_value": 4200, "currency_code": "USD", "attribute_type": "currency"}]}),
     {"deal_id": "r1", "account_key": "acme.com", "lead_source": "pql", "stage": "Won 🎉", "value": 4200.0,
      "created_at": "2026-01-05 10:00:00", "sql_at": "2026-02-01 09:00:00", "closed_at": "2026-02-01 09:00:00"}),
    # An inbound deal from another source: no Beton key, matched by its company's domain; the
    # value as Attio's docs show it, a string; open, so no close.
    (attio_record("r2", "2026-03-01T00:00:00.000000000Z", {
        "name": [{"value": "Globex inbound", "attribute_type": "text"}],
        "lead_source": [{"option": {"title": "Inbound"}, "attribute_type": "select"}],
        "associated_company": [{"target_object": "companies", "target_record_id": "c2",
                                "attribute_type": "record-reference"}],
        "stage": status("Lead", "2026-03-01T00:00:00.000000000Z"),
        "value": [{"currency_value": "499.50", "attribute_type": "currency"}]}),
     {"deal_id": "r2", "account_key": "g-17", "lead_source": "inbound", "stage": "Lead", "value": 499.5,
      "created_at": "2026-03-01 00:00:00", "sql_at": None, "closed_at": None}),
    # Lost, no lead source, no value, a company no account has.
    (attio_record("r3", "2026-02-10T08:30:00.000000000Z", {
        "associated_company": [{"target_object": "companies", "target_record_id": "c3",
                                "attribute_type": "record-reference"}],
        "stage": status("Lost", "2026-04-02T12:00:00.000000000Z")}),
     {"deal_id": "r3", "account_key": "", "lead_source": "unknown", "stage": "Lost", "value": None,
      "created_at": "2026-02-10 08:30:00", "sql_at": None, "closed_at": "2026-04-02 12:00:00"}),
]


def check_deals_view(binary, env, work):
    """The deals view `beton provision` saves, run on ClickHouse over tables in the shape of
    PostHog's Attio source, gives the SPEC §1 deal columns. HogQL prints `toDateTime(s)` of a
    string as parseDateTime64BestEffortOrNull and `toFloat` as toFloat64OrNull; that is
    rewritten, nothing else."""
    from chdb import session as chs

    view = next(json.loads(l) for l in beton(binary, env, "hogql", "--dump").splitlines()
                if json.loads(l)["name"].startswith("view_"))
    s = chs.Session()
    s.query("SET session_timezone = 'UTC'")
    s.query("CREATE DATABASE IF NOT EXISTS wh")
    s.query("USE wh")
    cols = "workspace_id String, object_id String, record_id String, created_at String, web_url String, `values` String"
    for table, rows in [("attio_deals", [c[0] for c in DEALS_VIEW_CASES]),
                        ("attio_companies", [attio_record("c2", "2025-01-01T00:00:00Z", {"domains": [{"domain": "Globex.io"}]}),
                                             attio_record("c3", "2025-01-01T00:00:00Z", {"domains": [{"domain": "nobody.example"}]})])]:
        path = os.path.join(work, f"{table}.jsonl")
        with open(path, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        s.query(f"CREATE TABLE {table} ({cols}) ENGINE = MergeTree ORDER BY record_id")
        s.query(f"INSERT INTO {table} SELECT * FROM file('{path}', 'JSONEachRow', '{cols}')")
    s.query("CREATE TABLE groups (`index` UInt8, key String, properties String) ENGINE = MergeTree ORDER BY key")
    s.query("""INSERT INTO groups VALUES (0, 'acme.com', '{"name":"Acme"}'), (0, 'g-17', '{"domain":"globex.io"}')""")
    sql = to_clickhouse(view["query"], {})
    sql = sql.replace("toDateTime(", "parseDateTime64BestEffortOrNull(").replace("toFloat(", "toFloat64OrNull(")
    res = json.loads(s.query(f"SELECT * FROM ({sql}) ORDER BY deal_id", "JSONCompact").bytes())
    names = [c["name"] for c in res["meta"]]
    rows = [dict(zip(names, r)) for r in res["data"]]
    want = [c[1] for c in DEALS_VIEW_CASES]
    # Times to the second as ClickHouse prints them; the value as a number.
    got = [{k: (r[k][:19] if k.endswith("_at") and r[k] else
                float(r[k]) if k == "value" and r[k] is not None else r[k]) for k in w} for r, w in zip(rows, want)]
    if got != want:
        print("deals view: DIFFERENT")
        for g, w in zip(got, want):
            if g != w:
                print(f"  got  {g}\n  want {w}")
        return 1
    print(f"deals view: {len(want)} Attio records (won PQL, inbound matched by domain, lost) give the SPEC §1 columns")
    return 0


PARENTS = "[accounts]\nparent_property = \"parent_domain\"\n"
PARENT_MOVE = "2026-04-20T00:00:00Z"


def parent_fixture(out, dst):
    """The demo files with parent accounts (SPEC §14): of every three accounts, one stands alone
    (and is the parent of the next-but-one, so its own events are one more workspace), one is a
    workspace of `p<i mod 40>.example` (a parent that is no account), and the third a workspace
    of the first. At PARENT_MOVE a `$group_set` moves one workspace to another parent, so the
    parent is read as of T. Returns the moved account."""
    os.makedirs(dst, exist_ok=True)
    rows = [json.loads(l) for l in open(os.path.join(out, "accounts.jsonl"))]
    for i, a in enumerate(rows):
        props = a.setdefault("properties", {})
        if i % 3 == 1:
            props["parent_domain"] = f" p{i % 40}.example "
        elif i % 3 == 2:
            props["parent_domain"] = str(rows[i - 2]["group_key"])
    with open(os.path.join(dst, "accounts.jsonl"), "w") as f:
        for a in rows:
            f.write(json.dumps(a) + "\n")
    moved = str(rows[1]["group_key"])
    with open(os.path.join(out, "events.jsonl")) as src, open(os.path.join(dst, "events.jsonl"), "w") as f:
        for line in src:
            f.write(line)
        f.write(json.dumps({"event": "$groupidentify", "distinct_id": "admin", "timestamp": PARENT_MOVE,
                            "properties": {"$group_type": "company", "$group_key": moved,
                                           "$group_set": {"parent_domain": "p-moved.example"}}}) + "\n")
    for name in ("deals.csv",):
        with open(os.path.join(out, name)) as src, open(os.path.join(dst, name), "w") as f:
            f.write(src.read())
    return moved


def check_parents(binary, base_env, session, out, work):
    """Parent accounts: the HogQL queries (the parent read as of T from the group properties,
    the union of the workspaces' events, each user once) against the local workspace in parent
    mode, at every T: accounts, scores, tiers, signals, and health."""
    pout = os.path.join(work, "parents")
    moved = parent_fixture(out, pout)
    env = dict(base_env, BETON_CONFIG=os.path.join(pout, "config.toml"), BETON_DATA=os.path.join(pout, "data"))
    with open(env["BETON_CONFIG"], "w") as f:
        f.write(PARENTS)
    for kind, f in [("accounts", "accounts.jsonl"), ("events", "events.jsonl"), ("deals", "deals.csv")]:
        beton(binary, env, "import", kind, os.path.join(pout, f))
    # The same engine: the PostHog-shaped tables are made again from the parent fixture.
    session.query("DROP DATABASE IF EXISTS ph")
    load(session, pout)
    failures = 0
    for t in TIMES:
        local = json.loads(beton(binary, env, "--run-daily", "--json", "--as-of", t))
        answers = os.path.join(pout, f"answers-{t}.jsonl")
        with open(answers, "w") as f:
            for a in run_queries(session, binary, env, t, "beton_detect_"):
                f.write(json.dumps(a) + "\n")
        remote = json.loads(beton(binary, env, "hogql", "--score", answers, "--as-of", t))
        key = lambda a: (a["account"], a["score"], a["tier"], tuple(a["signals"]))  # noqa: E731
        mine = sorted(map(key, local["accounts"]))
        theirs = sorted(map(key, remote["accounts"]))
        parents = sum(1 for a in local["accounts"] if a.get("workspaces"))
        if mine == theirs and parents > 0:
            print(f"parents T={t}: {len(mine)} accounts with signals ({parents} of them parents), identical")
        else:
            failures += 1
            print(f"parents T={t}: DIFFERENT: {len(mine)} local ({parents} parents) vs {len(theirs)} HogQL")
            print(f"  only local: {sorted(set(mine) - set(theirs))[:10]}")
            print(f"  only HogQL: {sorted(set(theirs) - set(mine))[:10]}")
        failures += compare_health(t, json.loads(beton(binary, env, "health", "--json", "--as-of", t)), remote["health"])
    failures += compare_backtest(binary, env, session, pout, AS_OF)
    # The move is seen: before it the account's events are p1's, after it p-moved's.
    for t, want in [(TIMES[2], " p1.example ".strip()), (AS_OF, "p-moved.example")]:
        e = json.loads(beton(binary, env, "explain", moved, "--as-of", t, "--json"))
        if e["account"] != want:
            failures += 1
            print(f"parents T={t}: {moved} is a workspace of {e['account']}, expected {want}")
    return failures


def main():
    need_chdb()
    from chdb import session as chs

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "debug", "beton")
    work = tempfile.mkdtemp(prefix="beton-parity-")
    env = dict(os.environ, BETON_CONFIG=os.path.join(work, "config.toml"), BETON_DATA=os.path.join(work, "data"))
    # An explicit BETON_CONFIG must exist; an empty file means every default.
    open(env["BETON_CONFIG"], "w").close()
    env.pop("POSTHOG_API_KEY", None)
    out = os.path.join(work, "demo")
    beton(binary, env, "demo", "--accounts", "200", "--days", "120", "--seed", "7", "--as-of", AS_OF, "--out", out)
    for kind, f in [("accounts", "accounts.jsonl"), ("events", "events.jsonl"), ("deals", "deals.csv")]:
        beton(binary, env, "import", kind, os.path.join(out, f))
    session = chs.Session()
    session.query("SET session_timezone = 'UTC'")
    events = load(session, out)
    print(f"chdb {session.query('SELECT version()', 'CSV').bytes().decode().strip()}: {events} events loaded")
    failures = 0
    for t in TIMES:
        local = json.loads(beton(binary, env, "--run-daily", "--json", "--as-of", t))
        answers = os.path.join(work, f"answers-{t}.jsonl")
        names = []
        with open(answers, "w") as f:
            for line in beton(binary, env, "hogql", "--dump", "--as-of", t).splitlines():
                q = json.loads(line)
                if not q["name"].startswith("beton_detect_"):
                    continue
                started = time.perf_counter()
                res = json.loads(session.query(to_clickhouse(q["query"], q["values"]), "JSONCompact").bytes())
                took = time.perf_counter() - started
                cols = [c["name"] for c in res["meta"]]
                limit = q["values"]["limit"]
                if len(res["data"]) >= limit:
                    sys.exit(f"{q['name']}: {len(res['data'])} rows reach LIMIT {limit}; raise page_size for this check")
                names.append(f"{q['name']}={len(res['data'])} in {took * 1000:.0f} ms")
                f.write(json.dumps({"name": q["name"], "columns": cols, "rows": res["data"]}) + "\n")
        remote = json.loads(beton(binary, env, "hogql", "--score", answers, "--as-of", t))
        key = lambda a: (a["account"], a["score"], a["tier"], tuple(a["signals"]))  # noqa: E731
        mine = sorted(map(key, local["accounts"]))
        theirs = sorted(map(key, remote["accounts"]))
        if mine == theirs:
            fired = {}
            for a in mine:
                for sig in a[3]:
                    fired[sig] = fired.get(sig, 0) + 1
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(fired.items()))
            print(f"T={t}: {len(mine)} accounts with signals, identical (rows: {', '.join(names)}; {kinds})")
        else:
            failures += 1
            only_local = sorted(set(mine) - set(theirs))
            only_hogql = sorted(set(theirs) - set(mine))
            print(f"T={t}: DIFFERENT: {len(mine)} local vs {len(theirs)} HogQL")
            print(f"  only local: {only_local[:10]}")
            print(f"  only HogQL: {only_hogql[:10]}")
        failures += compare_health(t, json.loads(beton(binary, env, "health", "--json", "--as-of", t)), remote["health"])
    failures += compare_backtest(binary, env, session, work, AS_OF)
    failures += check_deals_view(binary, env, work)
    failures += check_parents(binary, env, session, out, work)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
