//! Writing events: one transaction per import, uuid dedupe, dictionary interning, and the rollups
//! detection reads, accumulated in memory and merged in key order.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap, FxHashSet};

use rusqlite::{Connection, OptionalExtension, Statement, params};

use super::blocks::{self, Builder, Packed, UuidRef};
use super::units::{self, DayCounts, UnitKey, Units};
use super::{Classifier, NameClass, Store};
use crate::config::Config;
use crate::error::{Error, Result};
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

/// An [`EventIn`] whose text borrows from where it was read (the import's line buffer).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRef<'a> {
    pub uuid: Option<Cow<'a, str>>,
    pub event: Cow<'a, str>,
    pub distinct_id: Cow<'a, str>,
    pub ts: i64,
    pub account: Option<Cow<'a, str>>,
    pub url: Option<Cow<'a, str>>,
    pub feature: Option<Cow<'a, str>>,
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

/// In-memory rollup deltas, merged into `account_units` by [`Rollup::flush`].
#[derive(Default)]
pub(super) struct Rollup {
    user_day: FxHashMap<(i64, i64, i64), Counts>,
    feature_day: FxHashSet<(i64, i64, i64)>,
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

    /// Merges the deltas into each account's packed rollup and empties the buffers.
    pub(super) fn flush(&mut self, conn: &Connection) -> Result<()> {
        let mut by_account: HashMap<i64, Units> = HashMap::new();
        for ((day, a, user), c) in self.user_day.drain() {
            let counts = DayCounts {
                activity: c.activity as u64,
                pricing: c.pricing as u64,
                support: c.support as u64,
                billing: c.billing as u64,
                last_ts: c.last_ts,
            };
            by_account
                .entry(a)
                .or_default()
                .insert(UnitKey::User { day, user }, counts);
        }
        for (day, a, feature) in self.feature_day.drain() {
            by_account
                .entry(a)
                .or_default()
                .insert(UnitKey::Feature { day, feature }, DayCounts::default());
        }
        let mut accounts: Vec<_> = by_account.into_iter().collect();
        accounts.sort_unstable_by_key(|(a, _)| *a);
        for (account, deltas) in &accounts {
            units::merge(conn, *account, deltas)?;
        }
        Ok(())
    }
}

/// A dictionary of names to ids, assigned in memory; new entries are written by the ingest.
#[derive(Debug, Clone, Default)]
struct Dict {
    ids: FxHashMap<String, i64>,
    next: i64,
}

impl Dict {
    fn load(conn: &Connection, sql: &str) -> Result<Self> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?)))?;
        let ids: FxHashMap<String, i64> = rows.collect::<rusqlite::Result<_>>()?;
        let next = ids.values().max().copied().unwrap_or(0) + 1;
        Ok(Self { ids, next })
    }

    fn id(&mut self, key: &str, table: Table, new: &mut Vec<NewEntry>) -> i64 {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = self.next;
        self.next += 1;
        self.ids.insert(key.to_string(), id);
        new.push(NewEntry {
            table,
            id,
            key: key.to_string(),
        });
        id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Accounts,
    Users,
    EventNames,
    Features,
}

/// A name that got an id and still has to be written.
#[derive(Debug, Clone)]
pub struct NewEntry {
    table: Table,
    id: i64,
    key: String,
}

/// An event with its names resolved to ids and its classes decided, ready to write.
#[derive(Debug, Clone)]
pub struct Resolved {
    ts: i64,
    uuid: Option<Uuid>,
    account: i64,
    user: i64,
    name: i64,
    class: NameClass,
    url: Option<String>,
    pricing: bool,
    feature: Option<i64>,
    group_set: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A PostHog uuid as its 16 bytes; anything else is kept as its text.
#[derive(Debug, Clone)]
enum Uuid {
    Bytes([u8; 16]),
    Text(String),
}

impl Uuid {
    fn parse(s: &str) -> Self {
        let mut out = [0u8; 16];
        let mut n = 0;
        for b in s.bytes().filter(|b| *b != b'-') {
            let Some(v) = (b as char).to_digit(16) else {
                return Uuid::Text(s.to_string());
            };
            if n == 32 {
                return Uuid::Text(s.to_string());
            }
            out[n / 2] |= (v as u8) << if n % 2 == 0 { 4 } else { 0 };
            n += 1;
        }
        if n == 32 {
            Uuid::Bytes(out)
        } else {
            Uuid::Text(s.to_string())
        }
    }

    fn as_ref(&self) -> UuidRef<'_> {
        match self {
            Uuid::Bytes(b) => UuidRef::Bytes(*b),
            Uuid::Text(t) => UuidRef::Text(t),
        }
    }
}

/// Turns parsed events into [`Resolved`] rows. It can run on another thread than the writer
/// (the import's parser thread), which takes the hashing off the writer's hot path.
#[derive(Debug, Clone)]
pub struct Resolver {
    accounts: Dict,
    users: Dict,
    names: Dict,
    classes: FxHashMap<i64, NameClass>,
    features: Dict,
    classifier: Classifier,
    new: Vec<NewEntry>,
}

impl Resolver {
    fn load(conn: &Connection, cfg: &Config) -> Result<Self> {
        let classifier = Classifier::new(cfg);
        let names = Dict::load(conn, "SELECT id, name FROM event_names")?;
        let classes = names
            .ids
            .iter()
            .map(|(n, id)| (*id, classifier.class(n)))
            .collect();
        Ok(Self {
            accounts: Dict::load(conn, "SELECT id, key FROM accounts")?,
            users: Dict::load(conn, "SELECT id, key FROM users")?,
            names,
            classes,
            features: Dict::load(conn, "SELECT id, name FROM features")?,
            classifier,
            new: Vec::new(),
        })
    }

    /// Resolves one event; `None` when it has no account.
    pub fn resolve(&mut self, ev: EventIn) -> Option<Resolved> {
        self.resolve_ref(EventRef {
            uuid: ev.uuid.as_deref().map(Cow::Borrowed),
            event: Cow::Borrowed(&ev.event),
            distinct_id: Cow::Borrowed(&ev.distinct_id),
            ts: ev.ts,
            account: ev.account.as_deref().map(Cow::Borrowed),
            url: ev.url.as_deref().map(Cow::Borrowed),
            feature: ev.feature.as_deref().map(Cow::Borrowed),
            group_set: ev.group_set,
        })
    }

    /// [`Resolver::resolve`] for borrowed text: nothing is copied but a page view's URL.
    pub fn resolve_ref(&mut self, ev: EventRef<'_>) -> Option<Resolved> {
        let account = self
            .accounts
            .id(ev.account.as_deref()?, Table::Accounts, &mut self.new);
        let user = self.users.id(&ev.distinct_id, Table::Users, &mut self.new);
        let name = self.names.id(&ev.event, Table::EventNames, &mut self.new);
        let class = *self
            .classes
            .entry(name)
            .or_insert_with(|| self.classifier.class(&ev.event));
        let feature = ev
            .feature
            .as_deref()
            .map(|f| self.features.id(f, Table::Features, &mut self.new));
        let url = if class.pageview { ev.url } else { None };
        Some(Resolved {
            ts: ev.ts,
            uuid: ev.uuid.as_deref().map(Uuid::parse),
            account,
            user,
            name,
            class,
            pricing: url
                .as_deref()
                .is_some_and(|u| self.classifier.is_pricing(u)),
            url: url.map(Cow::into_owned),
            feature,
            group_set: ev.group_set,
        })
    }

    /// The names that got ids since the last call.
    pub fn take_new(&mut self) -> Vec<NewEntry> {
        std::mem::take(&mut self.new)
    }
}

/// One import: everything it writes is committed together by [`Ingest::commit`], or not at all.
pub struct Ingest<'c> {
    conn: &'c Connection,
    insert_props: Statement<'c>,
    resolver: Option<Resolver>,
    rollup: Rollup,
    next_seq: i64,
    stats: IngestStats,
    /// The workspace had no events when the import began: no stored day to check uuids against.
    fresh: bool,
    /// The uuids of each day this import touched: the stored ones (loaded on first touch) and
    /// the ones it wrote.
    seen: FxHashMap<i64, SeenUuids>,
    /// The block being filled for each day.
    open: FxHashMap<i64, Builder>,
    /// The import runs with a rollback journal and turns WAL back on when it ends.
    journal: bool,
    done: bool,
}

/// The uuids of one day.
#[derive(Default)]
struct SeenUuids {
    bytes: FxHashSet<u128>,
    text: FxHashSet<String>,
}

impl SeenUuids {
    /// True when `uuid` is new.
    fn insert(&mut self, uuid: UuidRef<'_>) -> bool {
        match uuid {
            UuidRef::Bytes(b) => self.bytes.insert(u128::from_be_bytes(b)),
            UuidRef::Text(t) => !self.text.contains(t) && self.text.insert(t.to_string()),
        }
    }

    /// The uuids stored for `day`.
    fn load(conn: &Connection, day: i64) -> Result<Self> {
        let mut seen = Self::default();
        let mut stmt = conn.prepare_cached("SELECT data FROM event_blocks WHERE day = ?1")?;
        let mut rows = stmt.query([day])?;
        while let Some(r) = rows.next()? {
            let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            blocks::decode(day, data, |e| {
                if let Some(u) = e.uuid {
                    seen.insert(u);
                }
            })
            .map_err(|d| damaged(day, d))?;
        }
        Ok(seen)
    }
}

/// The error for a block of `day` that does not decode.
pub(super) fn damaged(day: i64, d: blocks::Damaged) -> Error {
    let date = crate::time::fmt_date(day * crate::time::DAY);
    Error::Damaged(format!("{d} (day {date})"))
}

impl<'c> Ingest<'c> {
    /// Starts an import transaction. Brings the rollups up to date with `cfg` first.
    pub fn begin(store: &'c Store, cfg: &Config) -> Result<Self> {
        store.ensure_rollups(cfg)?;
        let conn = store.conn();
        let empty: bool =
            conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM event_blocks)", [], |r| {
                r.get(0)
            })?;
        // A first import writes a whole database: with a rollback journal its pages go straight
        // to the file, instead of into the WAL and then once more into the file at checkpoint.
        // The journal still makes the import all-or-nothing. Back to WAL when it ends.
        let journal = empty && store.path().is_some() && {
            // Another open connection keeps WAL on (SQLite refuses or answers "wal"): fine.
            let mode: rusqlite::Result<String> =
                conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0));
            mode.is_ok_and(|m| m.eq_ignore_ascii_case("delete"))
        };
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let next_seq = match store.meta("next_seq")?.and_then(|v| v.parse().ok()) {
            Some(n) => n,
            None => store.max_seq()? + 1,
        };
        Ok(Self {
            conn,
            insert_props: conn.prepare(
                "INSERT INTO prop_history(account_id, ts, seq, props) VALUES (?1, ?2, ?3, ?4)",
            )?,
            resolver: Some(Resolver::load(conn, cfg)?),
            rollup: Rollup::default(),
            next_seq,
            stats: IngestStats::default(),
            fresh: empty,
            seen: FxHashMap::default(),
            open: FxHashMap::default(),
            journal,
            done: false,
        })
    }

    fn resolver(&mut self) -> &mut Resolver {
        self.resolver
            .as_mut()
            .expect("the resolver is handed back before the ingest is used again")
    }

    /// Lends the resolver to another thread; [`Ingest::write`] works meanwhile, and
    /// [`Ingest::put_resolver`] gives it back before any other call.
    pub fn take_resolver(&mut self) -> Resolver {
        self.resolver
            .take()
            .expect("the resolver is lent once at a time")
    }

    pub fn put_resolver(&mut self, r: Resolver) {
        self.resolver = Some(r);
    }

    /// The id of an account, created on first sight.
    pub fn account_id(&mut self, key: &str) -> Result<i64> {
        let r = self.resolver();
        let id = r.accounts.id(key, Table::Accounts, &mut r.new);
        let new = r.take_new();
        self.write_names(&new)?;
        Ok(id)
    }

    /// Stores one event; a uuid seen before makes it a no-op.
    pub fn event(&mut self, ev: &EventIn) -> Result<()> {
        let r = self.resolver();
        let row = r.resolve(ev.clone());
        let new = r.take_new();
        match row {
            Some(row) => self.write(&new, std::slice::from_ref(&row)),
            None => {
                self.stats.without_account += 1;
                Ok(())
            }
        }
    }

    /// Counts events that had no account (resolved elsewhere).
    pub fn without_account(&mut self, n: u64) {
        self.stats.without_account += n;
    }

    fn write_names(&self, new: &[NewEntry]) -> Result<()> {
        for e in new {
            let sql = match e.table {
                Table::Accounts => "INSERT INTO accounts(id, key) VALUES (?1, ?2)",
                Table::Users => "INSERT INTO users(id, key) VALUES (?1, ?2)",
                Table::EventNames => "INSERT INTO event_names(id, name) VALUES (?1, ?2)",
                Table::Features => "INSERT INTO features(id, name) VALUES (?1, ?2)",
            };
            self.conn
                .prepare_cached(sql)?
                .execute(params![e.id, e.key])?;
        }
        Ok(())
    }

    /// Writes resolved rows and the names they introduced. An event whose uuid is already
    /// stored for its UTC day (or came earlier in this import) is a duplicate and a no-op.
    pub fn write(&mut self, new: &[NewEntry], rows: &[Resolved]) -> Result<()> {
        self.write_names(new)?;
        for ev in rows {
            let day = day_of(ev.ts);
            let uuid = ev.uuid.as_ref().map(Uuid::as_ref);
            if let Some(u) = uuid
                && !self.first_sight(day, u)?
            {
                self.stats.duplicates += 1;
                continue;
            }
            let seq = self.next_seq;
            let block = self.open.entry(day).or_insert_with(|| Builder::new(day));
            block.push(&Packed {
                ts: ev.ts,
                seq,
                uuid,
                account: ev.account,
                user: ev.user,
                name: ev.name,
                url: ev.url.as_deref(),
                feature: ev.feature,
            });
            if block.is_full() {
                let full = std::mem::replace(block, Builder::new(day));
                full.write(self.conn)?;
            }
            self.stored(ev, seq)?;
        }
        self.maybe_flush()
    }

    /// True when `uuid` is not yet stored for `day` (and notes it).
    fn first_sight(&mut self, day: i64, uuid: UuidRef<'_>) -> Result<bool> {
        let seen = match self.seen.entry(day) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(if self.fresh {
                SeenUuids::default()
            } else {
                SeenUuids::load(self.conn, day)?
            }),
        };
        Ok(seen.insert(uuid))
    }

    /// Books a row that was written with `seq`.
    fn stored(&mut self, ev: &Resolved, seq: i64) -> Result<()> {
        self.next_seq = self.next_seq.max(seq + 1);
        self.stats.inserted += 1;
        if let Some(set) = &ev.group_set {
            let props = serde_json::Value::Object(set.clone()).to_string();
            self.insert_props
                .execute(params![ev.account, ev.ts, seq, props])?;
        }
        self.rollup
            .add(ev.ts, ev.account, ev.user, ev.class, ev.pricing, ev.feature);
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<()> {
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
    ) -> Result<bool> {
        let id = self.account_id(key)?;
        let had: bool = self
            .conn
            .prepare_cached("SELECT snapshot IS NOT NULL FROM accounts WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .unwrap_or(false);
        self.conn.prepare_cached("UPDATE accounts SET created_at = coalesce(?2, created_at), snapshot = ?3 WHERE id = ?1")?.execute(params![
            id,
            created_at,
            serde_json::Value::Object(props.clone()).to_string()
        ])?;
        Ok(had)
    }

    /// Inserts or replaces a deal by its id. Returns whether a deal with that id was stored
    /// already (an update).
    pub fn deal(&mut self, d: &super::DealRow) -> Result<bool> {
        let account = self.account_id(&d.account_key)?;
        let had: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM deals WHERE deal_id = ?1)")?
            .query_row([&d.deal_id], |r| r.get(0))?;
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
        Ok(had)
    }

    pub fn stats(&self) -> IngestStats {
        self.stats
    }

    /// Merges the rollups and commits everything.
    pub fn commit(mut self) -> Result<IngestStats> {
        let started = std::time::Instant::now();
        let mut open: Vec<_> = std::mem::take(&mut self.open).into_values().collect();
        open.sort_unstable_by_key(|b| b.day);
        for b in &open {
            b.write(self.conn)?;
        }
        let written = started.elapsed();
        self.rollup.flush(self.conn)?;
        let flushed = started.elapsed();
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES ('next_seq', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [self.next_seq.to_string()],
        )?;
        self.conn.execute_batch("COMMIT")?;
        self.done = true;
        self.restore_wal()?;
        tracing::info!(
            "import commit: last blocks written in {:.2} s, rollups merged in {:.2} s, commit {:.2} s",
            written.as_secs_f64(),
            (flushed - written).as_secs_f64(),
            (started.elapsed() - flushed).as_secs_f64()
        );
        Ok(self.stats)
    }
}

impl Ingest<'_> {
    fn restore_wal(&mut self) -> Result<()> {
        if std::mem::take(&mut self.journal) {
            self.conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        Ok(())
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let _ = self.restore_wal();
    }
}
