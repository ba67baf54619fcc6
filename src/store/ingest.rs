//! Writing events: one transaction per import, uuid dedupe, dictionary interning, and the rollups
//! detection reads, accumulated in memory and merged in key order.

use std::borrow::Cow;
use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap, FxHashSet};

use rusqlite::{Connection, OptionalExtension, Statement, params};

use super::blocks::{self, Builder, Packed, UuidRef};
use super::dedupe::{DayUuids, Sight};
use super::units::{self, DayCounts, UnitKey};
use super::{Classifier, NameClass, Store};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::time::day_of;

/// SQLite's page cache during an import (negative: in KiB).
const IMPORT_CACHE_KIB: i64 = -32_768;

/// Rollup entries held in memory before they are merged into SQLite.
const FLUSH_AT: usize = 1_000_000;

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

/// A user-day's deltas, 24 bytes: counts of at most [`Rollup::MAX_EVENTS`] events fit in
/// `u32`, and the last activity is `i64::MIN` when there is none.
#[derive(Debug, Clone, Copy)]
struct Counts {
    activity: u32,
    pricing: u32,
    support: u32,
    billing: u32,
    last_ts: i64,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            activity: 0,
            pricing: 0,
            support: 0,
            billing: 0,
            last_ts: i64::MIN,
        }
    }
}

impl Counts {
    fn day_counts(&self) -> DayCounts {
        DayCounts {
            activity: u64::from(self.activity),
            pricing: u64::from(self.pricing),
            support: u64::from(self.support),
            billing: u64::from(self.billing),
            last_ts: (self.last_ts != i64::MIN).then_some(self.last_ts),
        }
    }
}

/// One delta of a flush: a user-day (`kind` 0, `id` the user) or a feature-day (1, the
/// feature), ordered as [`UnitKey`] orders them within an account and a day.
#[derive(Clone, Copy)]
struct Delta {
    account: i64,
    id: i64,
    kind: u8,
    counts: Counts,
}

/// In-memory rollup deltas, merged into `account_units` by [`Rollup::flush`]. They are kept
/// per UTC day: an import's events come mostly in time order, so the map an event lands in is
/// the small one of its day (cache-resident) rather than one map over every entry.
#[derive(Default)]
pub(super) struct Rollup {
    days: FxHashMap<i64, DayRollup>,
    len: usize,
    /// Events added since the last flush (a bound on every count).
    events: u64,
}

/// The deltas of one day: per (account, user) counts, and the (account, feature) pairs used.
#[derive(Default)]
struct DayRollup {
    users: FxHashMap<(i64, i64), Counts>,
    features: FxHashSet<(i64, i64)>,
}

impl Rollup {
    /// Events between two flushes at most, so that every count fits in a `u32`.
    const MAX_EVENTS: u64 = u32::MAX as u64;

    /// Whether the deltas should be merged now: [`FLUSH_AT`] entries, or as many events as a
    /// count can hold.
    pub(super) fn full(&self) -> bool {
        self.len > FLUSH_AT || self.events >= Self::MAX_EVENTS
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
        self.events += 1;
        let d = self.days.entry(day).or_default();
        let c = match d.users.entry((account, user)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.len += 1;
                e.insert(Counts::default())
            }
        };
        if class.activity {
            c.activity += 1;
            c.last_ts = c.last_ts.max(ts);
        }
        c.pricing += u32::from(pricing);
        c.support += u32::from(class.support);
        c.billing += u32::from(class.billing);
        if class.feature
            && let Some(f) = feature
            && d.features.insert((account, f))
        {
            self.len += 1;
        }
    }

    /// Merges the deltas into each account's packed rollup and empties the buffers. Each day's
    /// map becomes a run sorted by (account, unit) and is freed at once; then each account
    /// takes its part of every run, in day order (which is [`UnitKey`] order), and is merged
    /// in one pass.
    pub(super) fn flush(&mut self, conn: &Connection) -> Result<()> {
        let mut runs: Vec<(i64, Vec<Delta>)> = Vec::with_capacity(self.days.len());
        for (day, d) in self.days.drain() {
            let mut run = Vec::with_capacity(d.users.len() + d.features.len());
            run.extend(d.users.into_iter().map(|((account, id), counts)| Delta {
                account,
                id,
                kind: 0,
                counts,
            }));
            run.extend(d.features.into_iter().map(|(account, id)| Delta {
                account,
                id,
                kind: 1,
                counts: Counts::default(),
            }));
            run.sort_unstable_by_key(|x| (x.account, x.kind, x.id));
            runs.push((day, run));
        }
        self.len = 0;
        self.events = 0;
        runs.sort_unstable_by_key(|r| r.0);
        let mut at = vec![0usize; runs.len()];
        let mut deltas = Vec::new();
        loop {
            let next = runs
                .iter()
                .zip(&at)
                .filter_map(|((_, run), &i)| run.get(i).map(|x| x.account))
                .min();
            let Some(account) = next else { break };
            deltas.clear();
            for ((day, run), i) in runs.iter().zip(at.iter_mut()) {
                while let Some(x) = run.get(*i).filter(|x| x.account == account) {
                    let key = match x.kind {
                        0 => UnitKey::User {
                            day: *day,
                            user: x.id,
                        },
                        _ => UnitKey::Feature {
                            day: *day,
                            feature: x.id,
                        },
                    };
                    let counts = match x.kind {
                        0 => x.counts.day_counts(),
                        _ => DayCounts::default(),
                    };
                    deltas.push((key, counts));
                    *i += 1;
                }
            }
            units::merge_sorted(conn, account, &deltas)?;
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

/// An event ready for [`Resolver::resolve_prepared`]: names as text, the rest worked out.
#[derive(Debug)]
pub struct Prepared<'a> {
    pub ts: i64,
    pub uuid: Option<Uuid>,
    pub account: &'a str,
    pub user: &'a str,
    pub event: &'a str,
    pub feature: Option<&'a str>,
    /// `$current_url` of a `$pageview`.
    pub url: Option<&'a str>,
    /// Whether `url` matches a pricing pattern ([`Classifier::is_pricing`]).
    pub pricing: bool,
    pub group_set: Option<Box<serde_json::Map<String, serde_json::Value>>>,
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
    /// A page view's URL: where it lies in the batch's URL text ([`Resolver::take_urls`]).
    url: Option<(u32, u32)>,
    pricing: bool,
    feature: Option<i64>,
    group_set: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// A PostHog uuid as its 16 bytes; anything else is kept as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uuid {
    Bytes([u8; 16]),
    Text(String),
}

impl Uuid {
    pub fn parse(s: &str) -> Self {
        match Self::canonical(s.as_bytes()) {
            Some(b) => Uuid::Bytes(b),
            None => Self::parse_any(s),
        }
    }

    /// Any text: 32 hex digits, dashes anywhere, is 16 bytes; anything else stays text.
    fn parse_any(s: &str) -> Self {
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

    /// The common `8-4-4-4-12` hex form, decoded without a pass per character; `None` for
    /// any other text (which [`Uuid::parse`] then reads the general way, to the same bytes).
    fn canonical(b: &[u8]) -> Option<[u8; 16]> {
        if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return None;
        }
        let hex = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut out = [0u8; 16];
        for (o, &i) in out.iter_mut().zip(&AT) {
            *o = hex(b[i])? << 4 | hex(b[i + 1])?;
        }
        Some(out)
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
    urls: String,
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
            urls: String::new(),
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
        let url = ev.url.as_deref();
        Some(self.resolve_prepared(Prepared {
            ts: ev.ts,
            uuid: ev.uuid.as_deref().map(Uuid::parse),
            account: ev.account.as_deref()?,
            user: &ev.distinct_id,
            event: &ev.event,
            feature: ev.feature.as_deref(),
            url,
            pricing: url.is_some_and(|u| self.classifier.is_pricing(u)),
            group_set: ev.group_set.map(Box::new),
        }))
    }

    /// Resolves an event whose uuid and pricing flag were worked out already (by a parser
    /// thread): only the dictionary lookups are left, and they run in file order.
    pub fn resolve_prepared(&mut self, ev: Prepared<'_>) -> Resolved {
        let account = self.accounts.id(ev.account, Table::Accounts, &mut self.new);
        let user = self.users.id(ev.user, Table::Users, &mut self.new);
        let name = self.names.id(ev.event, Table::EventNames, &mut self.new);
        let class = *self
            .classes
            .entry(name)
            .or_insert_with(|| self.classifier.class(ev.event));
        let feature = ev
            .feature
            .map(|f| self.features.id(f, Table::Features, &mut self.new));
        let url = if class.pageview { ev.url } else { None };
        Resolved {
            ts: ev.ts,
            uuid: ev.uuid,
            account,
            user,
            name,
            class,
            pricing: url.is_some() && ev.pricing,
            url: url.map(|u| {
                let at = self.urls.len() as u32;
                self.urls.push_str(u);
                (at, u.len() as u32)
            }),
            feature,
            group_set: ev.group_set,
        }
    }

    /// The settings that decide what an event counts as (for [`Prepared::pricing`]).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The names that got ids since the last call.
    pub fn take_new(&mut self) -> Vec<NewEntry> {
        std::mem::take(&mut self.new)
    }

    /// The URL text of the rows resolved since the last call (their `url` points into it).
    pub fn take_urls(&mut self) -> String {
        std::mem::take(&mut self.urls)
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
    /// the ones it wrote, as fingerprints until a day needs them exactly ([`DayUuids`]).
    seen: FxHashMap<i64, DayUuids>,
    /// The block being filled for each day.
    open: FxHashMap<i64, Builder>,
    /// Days whose uuids had to be read back exactly (a fingerprint met twice).
    exact_days: u64,
    /// The import runs with a rollback journal and turns WAL back on when it ends.
    journal: bool,
    /// The store's page cache size, put back when the import ends.
    cache: Option<i64>,
    done: bool,
}

/// The uuids stored for `day`, as fingerprints (what an import checks its uuids against).
fn stored_uuids(conn: &Connection, day: i64) -> Result<DayUuids> {
    let mut seen = DayUuids::default();
    for_stored_uuids(conn, day, |u| {
        seen.insert(u);
    })?;
    Ok(seen)
}

/// Calls `f` with the uuid of each event stored for `day` (this transaction's writes included).
fn for_stored_uuids(conn: &Connection, day: i64, mut f: impl FnMut(UuidRef<'_>)) -> Result<()> {
    let mut stmt = conn.prepare_cached("SELECT data FROM event_blocks WHERE day = ?1")?;
    let mut rows = stmt.query([day])?;
    while let Some(r) = rows.next()? {
        let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        blocks::decode(day, data, |e| {
            if let Some(u) = e.uuid {
                f(u);
            }
        })
        .map_err(|d| damaged(day, d))?;
    }
    Ok(())
}

/// Every 16-byte uuid of `day`: stored, and in the block being filled.
fn exact_uuids(conn: &Connection, day: i64, open: Option<&Builder>) -> Result<FxHashSet<u128>> {
    let mut all = FxHashSet::default();
    let mut add = |u: UuidRef<'_>| {
        if let UuidRef::Bytes(b) = u {
            all.insert(u128::from_be_bytes(b));
        }
    };
    for_stored_uuids(conn, day, &mut add)?;
    if let Some(b) = open {
        blocks::decode(day, &b.data, |e| {
            if let Some(u) = e.uuid {
                add(u);
            }
        })
        .map_err(|d| damaged(day, d))?;
    }
    Ok(all)
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
        // An import writes new pages and reads back few: a smaller page cache than the store's
        // (128 MiB, for reads) costs it nothing and keeps its memory down. Restored at the end.
        let cache: i64 = conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        conn.pragma_update(None, "cache_size", IMPORT_CACHE_KIB)?;
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
            exact_days: 0,
            journal,
            cache: Some(cache),
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
        let urls = r.take_urls();
        match row {
            Some(row) => self.write(&new, std::slice::from_ref(&row), &urls),
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
    /// `urls` is the URL text the rows point into.
    pub fn write(&mut self, new: &[NewEntry], rows: &[Resolved], urls: &str) -> Result<()> {
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
                url: ev.url.map(|(at, n)| &urls[at as usize..(at + n) as usize]),
                feature: ev.feature,
            });
            if block.is_full() {
                let full = std::mem::replace(block, Builder::new(day));
                full.write(self.conn)?;
            }
            self.stored(ev, seq)?;
            if self.rollup.events >= Rollup::MAX_EVENTS {
                self.rollup.flush(self.conn)?;
            }
        }
        self.maybe_flush()
    }

    /// True when `uuid` is not yet stored for `day` (and notes it).
    fn first_sight(&mut self, day: i64, uuid: UuidRef<'_>) -> Result<bool> {
        let seen = match self.seen.entry(day) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(if self.fresh {
                DayUuids::default()
            } else {
                stored_uuids(self.conn, day)?
            }),
        };
        let mut sight = seen.insert(uuid);
        if sight == Sight::Unsure {
            seen.make_exact(exact_uuids(self.conn, day, self.open.get(&day))?);
            self.exact_days += 1;
            sight = seen.insert(uuid);
        }
        Ok(sight == Sight::New)
    }

    /// Books a row that was written with `seq`.
    fn stored(&mut self, ev: &Resolved, seq: i64) -> Result<()> {
        self.next_seq = self.next_seq.max(seq + 1);
        self.stats.inserted += 1;
        if let Some(set) = &ev.group_set {
            let props = serde_json::Value::Object((**set).clone()).to_string();
            self.insert_props
                .execute(params![ev.account, ev.ts, seq, props])?;
        }
        self.rollup
            .add(ev.ts, ev.account, ev.user, ev.class, ev.pricing, ev.feature);
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.rollup.full() {
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
        // Dedupe is over: the uuid sets go before the last merge needs its memory.
        self.seen = FxHashMap::default();
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
            "import commit: last blocks written in {:.2} s, rollups merged in {:.2} s, commit {:.2} s; \
             {} day(s) deduped with their full uuids",
            written.as_secs_f64(),
            (flushed - written).as_secs_f64(),
            (started.elapsed() - flushed).as_secs_f64(),
            self.exact_days
        );
        Ok(self.stats)
    }
}

impl Ingest<'_> {
    fn restore_wal(&mut self) -> Result<()> {
        if let Some(cache) = self.cache.take() {
            self.conn.pragma_update(None, "cache_size", cache)?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid_text(u: u128) -> String {
        let h = format!("{u:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    /// Two different uuids with one fingerprint are two events; a real duplicate is one, also
    /// of an event in a block written before the fingerprint matched. Fresh and not.
    #[test]
    fn uuids_that_share_a_fingerprint_are_told_apart_exactly() {
        let store = Store::open_in_memory().unwrap();
        let cfg = Config::default();
        let day = crate::time::parse_ts("2026-05-01T00:00:00Z").unwrap();
        let ev = |u: u128, i: i64| EventIn {
            uuid: Some(uuid_text(u)),
            event: "e".into(),
            distinct_id: format!("u{}", i % 50),
            ts: day + i,
            account: Some("acme.com".into()),
            url: None,
            feature: None,
            group_set: None,
        };
        let base = 0x0190_a000_0000_7000_8000_0000_0000_0000u128;
        let first = base + 1;
        let twin = super::super::dedupe::twin(first);
        assert_ne!(twin, first);
        let mut ingest = Ingest::begin(&store, &cfg).unwrap();
        ingest.event(&ev(first, 0)).unwrap();
        // More than a block: `first` is in a written block when its twin comes.
        for i in 1..(blocks::BLOCK as u128 + 10) {
            ingest.event(&ev(base + 1000 + i, i as i64)).unwrap();
        }
        let n = blocks::BLOCK as i64 + 10;
        ingest.event(&ev(twin, n)).unwrap();
        ingest.event(&ev(first, n + 1)).unwrap();
        ingest.event(&ev(twin, n + 2)).unwrap();
        assert_eq!(ingest.exact_days, 1);
        let stats = ingest.commit().unwrap();
        assert_eq!((stats.inserted, stats.duplicates), (n as u64 + 1, 2));
        // Into the stored workspace: the fingerprints come from the stored blocks.
        let mut ingest = Ingest::begin(&store, &cfg).unwrap();
        let other = super::super::dedupe::twin(base + 1005);
        ingest.event(&ev(other, 1)).unwrap();
        ingest.event(&ev(twin, 2)).unwrap();
        ingest.event(&ev(base + 1005, 3)).unwrap();
        let stats = ingest.commit().unwrap();
        assert_eq!((stats.inserted, stats.duplicates), (1, 2));
    }

    #[test]
    fn a_canonical_uuid_decodes_as_the_general_reader_does() {
        for s in [
            "019ae74d-6380-7853-b5c5-038b601b35b6",
            "019AE74D-6380-7853-B5C5-038B601B35B6",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ] {
            let fast = Uuid::canonical(s.as_bytes()).expect(s);
            assert_eq!(Uuid::parse(s), Uuid::Bytes(fast));
            assert_eq!(Uuid::parse_any(s), Uuid::Bytes(fast), "{s}");
        }
        for s in [
            "019ae74d-6380-7853-b5c5-038b601b35bg",
            "019ae74d+6380-7853-b5c5-038b601b35b6",
            "019ae74d63807853b5c5038b601b35b6",
            "019ae74d-6380-7853-b5c5-038b601b35b",
            "not a uuid",
        ] {
            assert_eq!(Uuid::canonical(s.as_bytes()), None, "{s}");
            assert_eq!(Uuid::parse(s), Uuid::parse_any(s), "{s}");
        }
    }
}
