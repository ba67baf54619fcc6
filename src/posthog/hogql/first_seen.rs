//! The backtest's one undated query: each account's first event in the replay's range.

use super::*;

/// Every account with its first event in `[from, to)` (`$groupidentify` events count for the
/// group they identify, as in the local workspace; an account of the `groups` table with no
/// event there has none): the backtest's accounts, and whether each had any event before a
/// replay date. The scan is bounded in time so it stays inside PostHog's execution limit on a
/// large project: `from` is `posthog.first_seen_days` before the first replay date, `to` the
/// last replay date (see [`first_seen_range`]).
pub fn first_seen_query(cfg: &Config, gi: u8, range: (i64, i64), after: &str, page: u32) -> HogQl {
    let mut v = Values::default();
    let g = format!("$group_{gi}");
    let c_gi = v.put("group_index", gi);
    let c_from = v.ts("from", range.0);
    let c_to = v.ts("to", range.1);
    let c_after = v.put("after", after);
    let c_ev = v.put("identify_event", "$groupidentify");
    let c_gt = v.put("group_type", cfg.group_type.as_str());
    let lim = limit(&mut v, page);
    let sql = format!(
        "SELECT account, min(first) AS first_seen
FROM (
    SELECT {g} AS account, min(timestamp) AS first
    FROM events
    WHERE timestamp >= {c_from} AND timestamp < {c_to} AND {g} > {c_after}
    GROUP BY account
    UNION ALL
    SELECT properties.$group_key AS account, min(timestamp) AS first
    FROM events
    WHERE event = {c_ev} AND timestamp >= {c_from} AND timestamp < {c_to}
        AND properties.$group_type = {c_gt} AND properties.$group_key > {c_after}
    GROUP BY account
    UNION ALL
    SELECT key AS account, NULL AS first
    FROM groups
    WHERE index = {c_gi} AND key > {c_after}
)
GROUP BY account
ORDER BY account
LIMIT {lim}"
    );
    HogQl {
        name: FIRST_SEEN.into(),
        sql,
        values: v.0,
    }
}

/// The first-seen scan's time range for replay dates `dates`: from `first_seen_days` before the
/// first to the last (an event at or after the last replay date tells the replay nothing).
pub fn first_seen_range(cfg: &Config, dates: &[i64]) -> (i64, i64) {
    let days = cfg
        .posthog
        .as_ref()
        .map_or(365, |p| i64::from(p.first_seen_days));
    let first = dates.iter().copied().min().unwrap_or(0);
    let last = dates.iter().copied().max().unwrap_or(first);
    (first - days * DAY, last)
}

/// Every account's first event in the scan range of `dates` (see [`first_seen_query`]), paged.
pub fn first_seen(
    client: &Client,
    cfg: &Config,
    dates: &[i64],
) -> Result<BTreeMap<String, Option<i64>>, PosthogError> {
    let s = crate::posthog::settings(cfg)?;
    let (gi, page) = (s.group_type_index, s.page_size);
    let range = first_seen_range(cfg, dates);
    let (rows, _) = fetch_paged(client, FIRST_SEEN, page, |after| {
        Ok(first_seen_query(cfg, gi, range, after, page))
    })?;
    first_seen_from(&rows)
}

/// Reads a [`first_seen_query`] answer.
pub fn first_seen_from(rows: &Rows) -> Result<BTreeMap<String, Option<i64>>, PosthogError> {
    let acc = rows.col("account", FIRST_SEEN)?;
    let first = rows.col("first_seen", FIRST_SEEN)?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| {
            let key = match r.get(acc)? {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((key, as_ts(r.get(first))))
        })
        .collect())
}
