//! The SQL text of the three detection queries; every value goes through `values`.

use super::*;

/// Where an event's account comes from in the counts and new queries: `$group_N`, paged on it;
/// with parent accounts (SPEC §14), the parent that account names as of T (a join on
/// [`parent_map`]), so every count runs over the union of a parent's workspaces and each user
/// counts once, paged on the parent's key.
struct Accounts {
    account: String,
    join: String,
    inner: String,
    outer: String,
}

impl Accounts {
    fn of(v: &mut Values, cfg: &Config, gi: u8, t: i64, c_after: &str) -> Self {
        let g = format!("$group_{gi}");
        match cfg.accounts.parent() {
            None => Self {
                account: g.clone(),
                join: String::new(),
                inner: format!("{g} > {c_after}"),
                outer: String::new(),
            },
            Some(property) => Self {
                account: format!("coalesce(nullIf(pm.parent, ''), {g})"),
                join: format!(
                    "\n    LEFT JOIN ({}) AS pm ON pm.ws = {g}",
                    parent_map(v, cfg, gi, property, t)
                ),
                inner: format!("{g} != ''"),
                outer: format!("\nWHERE account > {c_after}"),
            },
        }
    }
}

/// Every account that names a parent as of T (SPEC §14): `ws`, and the parent's key `parent`.
/// The property is read as the props query reads it (the `groups` row overlaid with the latest
/// `$group_set` before T); its value is the key when a string (trimmed) or a number (as its
/// JSON text), and an account naming itself or nothing stands alone.
fn parent_map(v: &mut Values, cfg: &Config, gi: u8, property: &str, t: i64) -> String {
    let pp = v.put("parent_property", property);
    let c_gi = v.put("group_index", gi);
    let c_gt = v.put("group_type", cfg.group_type.as_str());
    let c_ev = v.put("identify_event", "$groupidentify");
    let c_set = v.put("group_set", "$group_set");
    let c_t = v.ts("t", t);
    let history = cfg.posthog.as_ref().map_or(
        crate::config::PosthogSettings::default().property_history_days,
        |p| p.property_history_days,
    );
    let c_h = v.ts("history_from", t - days(history));
    let key = |path: &str| {
        format!(
            "multiIf(JSONType({path}) = 'String', JSONExtractString({path}), \
             JSONType({path}) IN ('Int64', 'UInt64', 'Double'), JSONExtractRaw({path}), '')"
        )
    };
    let snap = key(&format!("properties, {pp}"));
    let set = key(&format!("properties, {c_set}, {pp}"));
    format!(
        "SELECT account AS ws, parent FROM (
        SELECT account, trim(argMaxIf(value, src, has)) AS parent
        FROM (
            SELECT key AS account, 0 AS src, {snap} AS value, JSONHas(properties, {pp}) AS has
            FROM groups
            WHERE index = {c_gi}
            UNION ALL
            SELECT properties.$group_key AS account, 1 AS src,
                argMaxIf({set}, timestamp, JSONHas(properties, {c_set}, {pp}) = 1) AS value,
                max(JSONHas(properties, {c_set}, {pp})) AS has
            FROM events
            WHERE event = {c_ev} AND properties.$group_type = {c_gt} AND timestamp >= {c_h}
                AND timestamp < {c_t}
            GROUP BY account
        )
        GROUP BY account
    )
    WHERE parent != '' AND parent != account"
    )
}

/// Per account: the windowed counts of every signal and the health figures (SPEC §2, §4).
pub fn counts_query(cfg: &Config, gi: u8, t: i64, after: &str, page: u32) -> HogQl {
    let s = &cfg.signals;
    let mut v = Values::default();
    let us0 = t - days(s.usage_spike.window_days);
    let usp = us0 - days(s.usage_spike.window_days);
    let starts = [
        usp,
        t - days(s.pricing_intent.window_days),
        t - days(s.trial_expiring.window_days),
        t - days(s.support_engagement.window_days),
        t - days(s.billing_intent.window_days),
        t - 44 * DAY,
    ];
    let from = starts.iter().copied().min().unwrap_or(t);
    let act = v.names("ex", "event", &cfg.activity_exclude);
    let pv = v.put("pageview", "$pageview");
    let urls = v.pricing_urls(&s.pricing_intent.url_patterns);
    let support = v.names("sup", "event", &s.support_engagement.events);
    let billing = v.names("bil", "event", &s.billing_intent.events);
    let fe = v.put("feature_event", FEATURE_EVENT);
    let c_from = v.ts("from", from);
    let c_t = v.ts("t", t);
    let c_after = v.put("after", after);
    let acc = Accounts::of(&mut v, cfg, gi, t, &c_after);
    let w_us = v.ts("us_w0", us0);
    let w_usp = v.ts("us_p0", usp);
    let w_pi = v.ts("pi_w0", t - days(s.pricing_intent.window_days));
    let w_te = v.ts("te_w0", t - days(s.trial_expiring.window_days));
    let w_se = v.ts("se_w0", t - days(s.support_engagement.window_days));
    let w_bi = v.ts("bi_w0", t - days(s.billing_intent.window_days));
    let h7 = v.ts("h7", t - 7 * DAY);
    let h14 = v.ts("h14", t - 14 * DAY);
    let h30 = v.ts("h30", t - 30 * DAY);
    let h44 = v.ts("h44", t - 44 * DAY);
    // Activity per UTC day for the health sparkline: the day of T (up to T) and the 29 before.
    let first_day = crate::time::day_of(t - 1) - crate::health::SPARK_DAYS as i64 + 1;
    let edges: Vec<String> = (0..crate::health::SPARK_DAYS as i64)
        .map(|i| v.ts(&format!("day{i}"), (first_day + i) * DAY))
        .collect();
    let daily: Vec<String> = edges
        .iter()
        .enumerate()
        .map(|(i, from)| match edges.get(i + 1) {
            Some(to) => format!("countIf(act AND ts >= {from} AND ts < {to})"),
            None => format!("countIf(act AND ts >= {from})"),
        })
        .collect();
    let daily = daily.join(", ");
    let lim = limit(&mut v, page);
    let Accounts {
        account,
        join,
        inner,
        outer,
    } = &acc;
    let sql = format!(
        "SELECT account,
    countIf(act AND ts >= {w_us}) AS activity,
    countIf(act AND ts >= {w_usp} AND ts < {w_us}) AS activity_before,
    countIf(pricing AND ts >= {w_pi}) AS pricing_views,
    countIf(act AND ts >= {w_te}) AS trial_activity,
    countIf(support AND ts >= {w_se}) AS support_events,
    countIf(billing AND ts >= {w_bi}) AS billing_events,
    countIf(act AND ts >= {h7}) AS events_7d,
    countIf(act AND ts >= {h14} AND ts < {h7}) AS events_prev_7d,
    countIf(act AND ts >= {h14}) AS events_14d,
    countIf(act AND ts >= {h44} AND ts < {h14}) AS events_44_14d,
    uniqExactIf(uid, act AND ts >= {h30}) AS active_users_30d,
    uniqExactIf(feature, is_feature AND ts >= {h30}) AS features_30d,
    maxIf(ts, act) AS last_seen,
    [{daily}] AS daily,
    arraySort(groupUniqArrayIf(feature, is_feature AND ts >= {h30} AND feature != '')) AS features
FROM (
    SELECT {account} AS account, timestamp AS ts, person_id AS uid, properties.feature AS feature,
        NOT {act} AS act,
        (event = {pv} AND ({urls})) AS pricing,
        {support} AS support,
        {billing} AS billing,
        event = {fe} AS is_feature
    FROM events{join}
    WHERE timestamp >= {c_from} AND timestamp < {c_t} AND {inner}
){outer}
GROUP BY account
ORDER BY account
LIMIT {lim}"
    );
    HogQl {
        name: COUNTS.into(),
        sql,
        values: v.0,
    }
}

/// Per account: features new in W (unused in the lookback before it) and users whose first
/// activity in lookback ∪ W falls in W.
pub fn new_query(cfg: &Config, gi: u8, t: i64, after: &str, page: u32) -> HogQl {
    let s = &cfg.signals;
    let mut v = Values::default();
    let fa0 = t - days(s.feature_adoption.window_days);
    let tg0 = t - days(s.team_growth.window_days);
    let act = v.names("ex", "event", &cfg.activity_exclude);
    let fe = v.put("feature_event", FEATURE_EVENT);
    let c_t = v.ts("t", t);
    let c_after = v.put("after", after);
    let acc = Accounts::of(&mut v, cfg, gi, t, &c_after);
    let Accounts {
        account,
        join,
        inner,
        outer,
    } = &acc;
    let fa_w = v.ts("fa_w0", fa0);
    let fa_l = v.ts("fa_l0", fa0 - days(s.feature_adoption.lookback_days));
    let tg_w = v.ts("tg_w0", tg0);
    let tg_l = v.ts("tg_l0", tg0 - days(s.team_growth.lookback_days));
    let lim = limit(&mut v, page);
    let sql = format!(
        "SELECT account,
    arraySort(groupArrayIf(value, kind = 1 AND in_w > 0 AND in_l = 0)) AS new_features,
    countIf(kind = 2 AND in_w > 0 AND in_l = 0) AS new_users
FROM (
    SELECT {account} AS account, 1 AS kind, properties.feature AS value,
        countIf(timestamp >= {fa_w}) AS in_w, countIf(timestamp < {fa_w}) AS in_l
    FROM events{join}
    WHERE event = {fe} AND timestamp >= {fa_l} AND timestamp < {c_t} AND {inner}
    GROUP BY account, value
    UNION ALL
    SELECT {account} AS account, 2 AS kind, toString(person_id) AS value,
        countIf(timestamp >= {tg_w}) AS in_w, countIf(timestamp < {tg_w}) AS in_l
    FROM events{join}
    WHERE NOT {act} AND timestamp >= {tg_l} AND timestamp < {c_t} AND {inner}
    GROUP BY account, value
){outer}
GROUP BY account
HAVING new_users > 0 OR length(new_features) > 0
ORDER BY account
LIMIT {lim}"
    );
    HogQl {
        name: NEW.into(),
        sql,
        values: v.0,
    }
}

/// Per account: the properties the rules read, as of T: the `groups` row overlaid with the
/// latest `$group_set` value of each key before T.
pub fn props_query(
    cfg: &Config,
    gi: u8,
    history_days: u32,
    t: i64,
    after: &str,
    page: u32,
) -> HogQl {
    let keys = prop_keys(cfg);
    let mut v = Values::default();
    let c_gi = v.put("group_index", gi);
    let c_gt = v.put("group_type", cfg.group_type.as_str());
    let c_ev = v.put("identify_event", "$groupidentify");
    let c_set = v.put("group_set", "$group_set");
    let c_t = v.ts("t", t);
    let c_h = v.ts("history_from", t - days(history_days));
    let c_after = v.put("after", after);
    let k: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| v.put(&format!("k{i}"), key.as_str()))
        .collect();
    let lim = limit(&mut v, page);
    let outer: Vec<String> = (0..k.len())
        .map(|i| format!("argMaxIf(v{i}, src, h{i}) AS p{i}, max(h{i}) AS has{i}"))
        .collect();
    let snap: Vec<String> = k
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!("JSONExtractRaw(properties, {p}) AS v{i}, JSONHas(properties, {p}) AS h{i}")
        })
        .collect();
    let sets: Vec<String> = k
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "argMaxIf(JSONExtractRaw(properties, {c_set}, {p}), timestamp, JSONHas(properties, {c_set}, {p}) = 1) AS v{i}, max(JSONHas(properties, {c_set}, {p})) AS h{i}"
            )
        })
        .collect();
    let having: Vec<String> = (0..k.len()).map(|i| format!("has{i} = 1")).collect();
    let sql = format!(
        "SELECT account, {}
FROM (
    SELECT key AS account, 0 AS src, {}
    FROM groups
    WHERE index = {c_gi} AND key > {c_after}
    UNION ALL
    SELECT properties.$group_key AS account, 1 AS src, {}
    FROM events
    WHERE event = {c_ev} AND properties.$group_type = {c_gt} AND timestamp >= {c_h} AND timestamp < {c_t}
        AND properties.$group_key > {c_after}
    GROUP BY account
)
GROUP BY account
HAVING {}
ORDER BY account
LIMIT {lim}",
        outer.join(", "),
        snap.join(", "),
        sets.join(", "),
        having.join(" OR ")
    );
    HogQl {
        name: PROPS.into(),
        sql,
        values: v.0,
    }
}
