//! The alert side of the workspace outbox (channels `webhook` and `slack`), the holdout
//! assignments and the group properties last set in PostHog. The state machine is the Attio
//! outbox's (pending → sent → done, marked sent before the request goes out).

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::Result;

/// A row to queue: one alert or digest for one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub channel: String,
    pub key: String,
    pub account_id: Option<i64>,
    /// `alert` or `digest`.
    pub kind: String,
    /// The body as sent to the channel (JSON).
    pub body: String,
    /// True for an alert held back by the throttle or quiet hours (it waits for the digest).
    pub rolled: bool,
    pub run_id: i64,
    pub as_of: i64,
    pub owner: Option<String>,
    pub newest_event: Option<i64>,
    /// For a digest: the rolled alert keys it takes in.
    pub takes_in: Vec<String>,
}

fn ts<S: serde::Serializer>(t: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::fmt_ts(*t))
}

fn opt_ts<S: serde::Serializer>(t: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match t {
        Some(t) => ts(t, s),
        None => s.serialize_none(),
    }
}

/// One row of the outbox as `beton alerts` and the TUI show it (every channel, Attio too). In
/// JSON the times are RFC 3339.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxEntry {
    #[serde(skip)]
    pub id: i64,
    pub channel: String,
    pub key: String,
    pub account: Option<String>,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    #[serde(serialize_with = "opt_ts")]
    pub sent_at: Option<i64>,
    #[serde(serialize_with = "opt_ts")]
    pub done_at: Option<i64>,
    pub error: Option<String>,
    #[serde(serialize_with = "opt_ts")]
    pub as_of: Option<i64>,
    pub owner: Option<String>,
    #[serde(serialize_with = "opt_ts")]
    pub newest_event: Option<i64>,
    pub digest: Option<String>,
    #[serde(serialize_with = "opt_ts")]
    pub not_before: Option<i64>,
    #[serde(skip)]
    pub body: String,
}

/// A stored holdout assignment with the account's key.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutRow {
    pub account_id: i64,
    pub account: String,
    pub held_out: bool,
    /// T of the first run that routed the account.
    pub routed_at: i64,
}

/// Group properties for one account, as last queued for PostHog (JSON object text).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupProps {
    pub account_id: i64,
    pub props: String,
}

const ENTRY_COLUMNS: &str =
    "o.id, o.channel, o.key, a.key, o.kind, o.state, o.attempts, o.created_at, o.sent_at,
     o.done_at, o.error, o.as_of, o.owner, o.newest_event, o.digest, o.not_before, o.body";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        channel: r.get(1)?,
        key: r.get(2)?,
        account: r.get(3)?,
        kind: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        created_at: r.get(7)?,
        sent_at: r.get(8)?,
        done_at: r.get(9)?,
        error: r.get(10)?,
        as_of: r.get(11)?,
        owner: r.get(12)?,
        newest_event: r.get(13)?,
        digest: r.get(14)?,
        not_before: r.get(15)?,
        body: r.get(16)?,
    })
}

/// Inserts alert rows (a key already queued for a channel is left alone) and moves the rolled
/// alerts a digest takes in to `digested`. Runs inside the caller's transaction.
pub(super) fn insert_alert_rows(
    conn: &rusqlite::Connection,
    rows: &[AlertRow],
    now: i64,
) -> Result<usize> {
    let mut n = 0;
    let mut ins = conn.prepare_cached(
        "INSERT INTO outbox(channel, key, account_id, kind, method, path, body, marker, state, created_at,
                            run_id, as_of, owner, newest_event)
         VALUES (?1, ?2, ?3, ?4, 'POST', '', ?5, '', ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(channel, key) DO NOTHING",
    )?;
    let mut take = conn.prepare_cached(
        "UPDATE outbox SET state = 'digested', digest = ?3
         WHERE channel = ?1 AND key = ?2 AND state = 'rolled'",
    )?;
    for r in rows {
        let state = if r.rolled { "rolled" } else { "pending" };
        let added = ins.execute(params![
            r.channel,
            r.key,
            r.account_id,
            r.kind,
            r.body,
            state,
            now,
            r.run_id,
            r.as_of,
            r.owner,
            r.newest_event
        ])?;
        n += added;
        if added > 0 {
            for k in &r.takes_in {
                take.execute(params![r.channel, k, r.key])?;
            }
        }
    }
    Ok(n)
}

impl Store {
    /// Queues alert rows in a transaction of their own (see [`insert_alert_rows`]).
    pub fn queue_alerts(&self, rows: &[AlertRow]) -> Result<usize> {
        let tx = self.conn().unchecked_transaction()?;
        let n = insert_alert_rows(&tx, rows, crate::time::now())?;
        tx.commit()?;
        Ok(n)
    }

    /// Alerts counted by the throttle: distinct keys of `owner` planned to be sent (not rolled)
    /// for runs with T in `[from, to]`.
    pub fn alerts_for_owner(&self, owner: &str, from: i64, to: i64) -> Result<usize> {
        let n: i64 = self.conn().query_row(
            "SELECT count(DISTINCT key) FROM outbox
             WHERE kind = 'alert' AND owner = ?1 AND as_of BETWEEN ?2 AND ?3
               AND state NOT IN ('rolled', 'digested')",
            params![owner, from, to],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Rolled alert keys waiting for a digest, oldest first.
    pub fn rolled_alerts(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(
            "SELECT key FROM outbox WHERE kind = 'alert' AND state = 'rolled'
             GROUP BY key ORDER BY min(id)",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// True when a row with `key` exists on any alert channel.
    pub fn alert_key_exists(&self, key: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM outbox WHERE channel IN ('webhook', 'slack') AND key = ?1 LIMIT 1",
                [key],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Alert and digest rows not delivered yet (pending or sent), oldest first.
    pub fn alerts_open(&self) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id
             WHERE o.channel IN ('webhook', 'slack') AND o.state IN ('pending', 'sent') ORDER BY o.id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every outbox row (all channels), newest first; of one account when given; at most `limit`.
    pub fn outbox_entries(
        &self,
        account_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id
             WHERE ?1 IS NULL OR o.account_id = ?1 ORDER BY o.id DESC LIMIT ?2"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(params![account_id, limit as i64], entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Alert rows of a run (for its report), in queue order.
    pub fn run_alerts(&self, run_id: i64) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id
             WHERE o.channel IN ('webhook', 'slack') AND o.run_id = ?1 ORDER BY o.id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([run_id], entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A delivery did not go through: the row is open again with the reason, and not tried
    /// before `not_before` (wall clock) when given.
    pub fn alert_retry(&self, id: i64, error: &str, not_before: Option<i64>) -> Result<()> {
        self.conn().execute(
            "UPDATE outbox SET state = 'pending', error = ?2, not_before = ?3 WHERE id = ?1",
            params![id, error, not_before],
        )?;
        Ok(())
    }

    /// Replaces the body of a row not sent yet (an alert that gained its Attio link).
    pub fn outbox_set_body(&self, id: i64, body: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE outbox SET body = ?2 WHERE id = ?1 AND state = 'pending'",
            params![id, body],
        )?;
        Ok(())
    }

    /// A delivery was confirmed.
    pub fn alert_done(&self, id: i64, t: i64, result: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE outbox SET state = 'done', done_at = ?2, result = ?3, error = NULL, not_before = NULL
             WHERE id = ?1",
            params![id, t, result],
        )?;
        Ok(())
    }

    /// Alert and digest rows by channel and state, for reports and tests.
    pub fn alert_counts(&self) -> Result<HashMap<(String, String), i64>> {
        let mut stmt = self.conn().prepare(
            "SELECT channel, state, count(*) FROM outbox WHERE channel IN ('webhook', 'slack')
             GROUP BY channel, state",
        )?;
        let rows = stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every stored holdout assignment, by account.
    pub fn holdout_rows(&self) -> Result<Vec<HoldoutRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT h.account_id, a.key, h.held_out, h.routed_at FROM holdout h
             JOIN accounts a ON a.id = h.account_id ORDER BY a.key",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(HoldoutRow {
                account_id: r.get(0)?,
                account: r.get(1)?,
                held_out: r.get(2)?,
                routed_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Accounts held out.
    pub fn held_out(&self) -> Result<HashSet<i64>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT account_id FROM holdout WHERE held_out")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The group properties last queued for each account.
    pub fn group_props(&self) -> Result<HashMap<i64, String>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT account_id, props FROM group_props")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Queues `$groupidentify` capture events and records the properties they set, in one
    /// transaction (a failed send stays queued in the capture outbox for the next run).
    pub fn queue_group_props(&self, changed: &[(GroupProps, serde_json::Value)]) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        {
            let now = crate::time::now();
            let mut ins = tx.prepare(
                "INSERT OR IGNORE INTO capture_outbox(uuid, payload, queued_at) VALUES (?1, ?2, ?3)",
            )?;
            let mut set = tx.prepare(
                "INSERT INTO group_props(account_id, props, queued_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(account_id) DO UPDATE SET props = excluded.props, queued_at = excluded.queued_at",
            )?;
            for (g, event) in changed {
                if let Some(uuid) = event.get("uuid").and_then(serde_json::Value::as_str) {
                    ins.execute(params![uuid, event.to_string(), now])?;
                }
                set.execute(params![g.account_id, g.props, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store {
    /// The keys of the accounts with these ids.
    pub fn account_keys_of(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT key FROM accounts WHERE id = ?1")?;
        let mut out = HashMap::new();
        for id in ids {
            if let Some(k) = stmt.query_row([id], |r| r.get(0)).optional()? {
                out.insert(*id, k);
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Changes whenever events, accounts or deals are imported (for `beton watch`).
    pub fn data_fingerprint(&self) -> Result<String> {
        Ok(self.conn().query_row(
            "SELECT (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(sum(n), 0) FROM event_blocks)
                    || '/' || (SELECT count(*) FROM accounts) || '/' || (SELECT count(*) FROM deals)
                    || '/' || (SELECT count(*) FROM prop_history)",
            [],
            |r| r.get(0),
        )?)
    }
}
