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

mod resolve;
mod rollup;

pub use resolve::{NewEntry, Prepared, Resolved, Resolver, Table, Uuid};
pub(crate) use rollup::Rollup;

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
        // Every import changes the data a replay rests on, as far as the cache is concerned.
        super::replays::bump_generation(conn)?;
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
