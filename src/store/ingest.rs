//! Writing events: one transaction per import, uuid dedupe, dictionary interning, and the rollups
//! detection reads, accumulated in memory and merged in key order.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, Statement, params};

use super::units::{self, DayCounts, UnitKey, Units};
use super::{Classifier, NameClass, Store};
use crate::config::Config;
use crate::error::Result;
use crate::time::day_of;

/// Rollup entries held in memory before they are merged into SQLite.
pub(super) const FLUSH_AT: usize = 1_000_000;

/// One event, already parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EventIn {
    pub uuid: Option<String>,
    pub event: String,
    pub distinct_id: String,
    pub ts: i64,
    /// The account: `$groups.<group type>`, or `$group_key` of a `$groupidentify`.
    pub account: Option<String>,
    /// `$current_url` of a `$pageview`.
    pub url: Option<String>,
    /// The `feature` property.
    pub feature: Option<String>,
    /// `$group_set` of a `$groupidentify` for the configured group type.
    pub group_set: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    pub inserted: u64,
    pub duplicates: u64,
    pub without_account: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    activity: i64,
    pricing: i64,
    support: i64,
    billing: i64,
    last_ts: Option<i64>,
}

/// In-memory rollup deltas, merged into `user_day` and `feature_day` by [`Rollup::flush`].
#[derive(Default)]
pub(super) struct Rollup {
    user_day: HashMap<(i64, i64, i64), Counts>,
    feature_day: HashSet<(i64, i64, i64)>,
}

impl Rollup {
    pub(super) fn len(&self) -> usize {
        self.user_day.len() + self.feature_day.len()
    }

    pub(super) fn add(
        &mut self,
        ts: i64,
        account: i64,
        user: i64,
        class: NameClass,
        pricing: bool,
        feature: Option<i64>,
    ) {
        let day = day_of(ts);
        let c = self.user_day.entry((day, account, user)).or_default();
        if class.activity {
            c.activity += 1;
            c.last_ts = Some(c.last_ts.map_or(ts, |l| l.max(ts)));
        }
        c.pricing += i64::from(pricing);
        c.support += i64::from(class.support);
        c.billing += i64::from(class.billing);
        if class.feature
            && let Some(f) = feature
        {
            self.feature_day.insert((day, account, f));
        }
    }

    /// Merges the deltas into SQLite in primary-key order and empties the buffers.
    pub(super) fn flush(&mut self, conn: &Connection) -> Result<()> {
        let mut rows: Vec<_> = self.user_day.drain().collect();
        rows.sort_unstable_by_key(|(k, _)| *k);
        let mut feats: Vec<_> = self.feature_day.drain().collect();
        feats.sort_unstable();
        let mut by_account: HashMap<i64, Units> = HashMap::new();
        for ((day, a, user), c) in &rows {
            let counts = DayCounts {
                activity: c.activity as u64,
                pricing: c.pricing as u64,
                support: c.support as u64,
                billing: c.billing as u64,
                last_ts: c.last_ts,
            };
            by_account.entry(*a).or_default().insert(
                UnitKey::User {
                    day: *day,
                    user: *user,
                },
                counts,
            );
        }
        for (day, a, feature) in &feats {
            by_account.entry(*a).or_default().insert(
                UnitKey::Feature {
                    day: *day,
                    feature: *feature,
                },
                DayCounts::default(),
            );
        }
        let mut accounts: Vec<_> = by_account.into_iter().collect();
        accounts.sort_unstable_by_key(|(a, _)| *a);
        for (account, deltas) in &accounts {
            units::merge(conn, *account, deltas)?;
        }
        let mut up = conn.prepare_cached(
            "INSERT INTO user_day(day, account_id, user_id, activity, pricing, support, billing, last_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(day, account_id, user_id) DO UPDATE SET
               activity = activity + excluded.activity,
               pricing = pricing + excluded.pricing,
               support = support + excluded.support,
               billing = billing + excluded.billing,
               last_ts = CASE WHEN last_ts IS NULL OR excluded.last_ts > last_ts
                              THEN excluded.last_ts ELSE last_ts END",
        )?;
        for ((day, a, u), c) in rows {
            up.execute(params![
                day, a, u, c.activity, c.pricing, c.support, c.billing, c.last_ts
            ])?;
        }
        let mut ins = conn.prepare_cached(
            "INSERT OR IGNORE INTO feature_day(day, account_id, feature_id) VALUES (?1, ?2, ?3)",
        )?;
        for (day, a, f) in feats {
            ins.execute(params![day, a, f])?;
        }
        Ok(())
    }
}

/// One import: everything it writes is committed together by [`Ingest::commit`], or not at all.
pub struct Ingest<'c> {
    conn: &'c Connection,
    insert: Statement<'c>,
    insert_props: Statement<'c>,
    accounts: HashMap<String, i64>,
    users: HashMap<String, i64>,
    names: HashMap<String, (i64, NameClass)>,
    features: HashMap<String, i64>,
    classifier: Classifier,
    rollup: Rollup,
    next_seq: i64,
    stats: IngestStats,
    done: bool,
}

fn load_dict(conn: &Connection, sql: &str) -> Result<HashMap<String, i64>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get(1)?, r.get(0)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn intern(
    conn: &Connection,
    map: &mut HashMap<String, i64>,
    table: &str,
    col: &str,
    key: &str,
) -> Result<i64> {
    if let Some(id) = map.get(key) {
        return Ok(*id);
    }
    conn.prepare_cached(&format!("INSERT INTO {table}({col}) VALUES (?1)"))?
        .execute([key])?;
    let id = conn.last_insert_rowid();
    map.insert(key.to_string(), id);
    Ok(id)
}

/// A PostHog uuid as its 16 bytes; anything else is kept as its text bytes.
fn uuid_bytes(s: &str) -> Vec<u8> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    if hex.len() == 32 && hex.iter().all(u8::is_ascii_hexdigit) {
        let val = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
        hex.chunks(2).map(|p| val(p[0]) << 4 | val(p[1])).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

impl<'c> Ingest<'c> {
    /// Starts an import transaction. Brings the rollups up to date with `cfg` first.
    pub fn begin(store: &'c Store, cfg: &Config) -> Result<Self> {
        store.ensure_rollups(cfg)?;
        let conn = store.conn();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let classifier = Classifier::new(cfg);
        let names = load_dict(conn, "SELECT id, name FROM event_names")?
            .into_iter()
            .map(|(n, id)| {
                let class = classifier.class(&n);
                (n, (id, class))
            })
            .collect();
        let next_seq: i64 =
            conn.query_row("SELECT coalesce(max(seq), 0) + 1 FROM events", [], |r| {
                r.get(0)
            })?;
        Ok(Self {
            conn,
            insert: conn.prepare(
                "INSERT OR IGNORE INTO events(ts, seq, uuid, account_id, user_id, name_id, url, feature_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
            insert_props: conn.prepare("INSERT INTO prop_history(account_id, ts, seq, props) VALUES (?1, ?2, ?3, ?4)")?,
            accounts: load_dict(conn, "SELECT id, key FROM accounts")?,
            users: load_dict(conn, "SELECT id, key FROM users")?,
            names,
            features: load_dict(conn, "SELECT id, name FROM features")?,
            classifier,
            rollup: Rollup::default(),
            next_seq,
            stats: IngestStats::default(),
            done: false,
        })
    }

    /// The id of an account, created on first sight.
    pub fn account_id(&mut self, key: &str) -> Result<i64> {
        intern(self.conn, &mut self.accounts, "accounts", "key", key)
    }

    /// Stores one event; a uuid seen before makes it a no-op.
    pub fn event(&mut self, ev: &EventIn) -> Result<()> {
        let Some(account_key) = ev.account.as_deref() else {
            self.stats.without_account += 1;
            return Ok(());
        };
        let account = self.account_id(account_key)?;
        let user = intern(self.conn, &mut self.users, "users", "key", &ev.distinct_id)?;
        let (name, class) = match self.names.get(&ev.event) {
            Some(v) => *v,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO event_names(name) VALUES (?1)")?
                    .execute([&ev.event])?;
                let v = (
                    self.conn.last_insert_rowid(),
                    self.classifier.class(&ev.event),
                );
                self.names.insert(ev.event.clone(), v);
                v
            }
        };
        let feature = match ev.feature.as_deref() {
            Some(f) => Some(intern(
                self.conn,
                &mut self.features,
                "features",
                "name",
                f,
            )?),
            None => None,
        };
        let url = if class.pageview {
            ev.url.as_deref()
        } else {
            None
        };
        let seq = self.next_seq;
        let added = self.insert.execute(params![
            ev.ts,
            seq,
            ev.uuid.as_deref().map(uuid_bytes),
            account,
            user,
            name,
            url,
            feature
        ])?;
        if added == 0 {
            self.stats.duplicates += 1;
            return Ok(());
        }
        self.next_seq += 1;
        self.stats.inserted += 1;
        if let Some(set) = &ev.group_set {
            let props = serde_json::Value::Object(set.clone()).to_string();
            self.insert_props
                .execute(params![account, ev.ts, seq, props])?;
        }
        let pricing = url.is_some_and(|u| self.classifier.is_pricing(u));
        self.rollup
            .add(ev.ts, account, user, class, pricing, feature);
        if self.rollup.len() > FLUSH_AT {
            self.rollup.flush(self.conn)?;
        }
        Ok(())
    }

    /// Sets an account's imported snapshot (the `groups` table shape).
    pub fn account_snapshot(
        &mut self,
        key: &str,
        created_at: Option<i64>,
        props: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let id = self.account_id(key)?;
        self.conn.prepare_cached("UPDATE accounts SET created_at = coalesce(?2, created_at), snapshot = ?3 WHERE id = ?1")?.execute(params![
            id,
            created_at,
            serde_json::Value::Object(props.clone()).to_string()
        ])?;
        Ok(())
    }

    /// Inserts or replaces a deal by its id.
    pub fn deal(&mut self, d: &super::DealRow) -> Result<()> {
        let account = self.account_id(&d.account_key)?;
        self.conn
            .prepare_cached(
                "INSERT INTO deals(deal_id, account_id, name, lead_source, stage, value, created_at, sql_at, closed_at, owner_email)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(deal_id) DO UPDATE SET account_id = excluded.account_id, name = excluded.name,
                   lead_source = excluded.lead_source, stage = excluded.stage, value = excluded.value,
                   created_at = excluded.created_at, sql_at = excluded.sql_at, closed_at = excluded.closed_at,
                   owner_email = excluded.owner_email",
            )?
            .execute(params![
                d.deal_id,
                account,
                d.name,
                d.lead_source,
                d.stage,
                d.value,
                d.created_at,
                d.sql_at,
                d.closed_at,
                d.owner_email
            ])?;
        Ok(())
    }

    pub fn stats(&self) -> IngestStats {
        self.stats
    }

    /// Merges the rollups and commits everything.
    pub fn commit(mut self) -> Result<IngestStats> {
        self.rollup.flush(self.conn)?;
        self.conn.execute_batch("COMMIT")?;
        self.done = true;
        Ok(self.stats)
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
