//! Each account's rollup, packed: one BLOB per account in `account_units`, so detection reads one
//! row per account instead of one per (day, user). It holds a unit per (day, user) with events and
//! per (day, feature) used, and is merged on every rollup flush.
//!
//! Format: a stream of LEB128 varints, newest day first (so a reader can stop at its window). A
//! user-day is `0, day, user, activity, pricing, support, billing, last` (last = microseconds into the day of the last activity + 1, 0 for none); a
//! feature-day is `1, day, feature`. Days are zigzag-encoded.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::varint::{Reader, put, unzig, zig};
use crate::error::Result;
use crate::time::DAY;

/// One rollup row of an account, keyed for merging. Keys order by day first, so a blob is in
/// time order and decodes already sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKey {
    User { day: i64, user: i64 },
    Feature { day: i64, feature: i64 },
}

impl UnitKey {
    pub fn day(&self) -> i64 {
        match *self {
            UnitKey::User { day, .. } | UnitKey::Feature { day, .. } => day,
        }
    }

    fn order(&self) -> (i64, u8, i64) {
        match *self {
            UnitKey::User { day, user } => (day, 0, user),
            UnitKey::Feature { day, feature } => (day, 1, feature),
        }
    }
}

impl PartialOrd for UnitKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UnitKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

/// The counts of a user-day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub activity: u64,
    pub pricing: u64,
    pub support: u64,
    pub billing: u64,
    pub last_ts: Option<i64>,
}

impl DayCounts {
    pub fn merge(&mut self, other: &DayCounts) {
        self.activity += other.activity;
        self.pricing += other.pricing;
        self.support += other.support;
        self.billing += other.billing;
        self.last_ts = match (self.last_ts, other.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

pub type Units = BTreeMap<UnitKey, DayCounts>;

pub fn encode(units: &Units) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len() * 8);
    for (k, c) in units.iter().rev() {
        put_unit(&mut out, k, c);
    }
    out
}

/// Appends one unit.
fn put_unit(out: &mut Vec<u8>, k: &UnitKey, c: &DayCounts) {
    match *k {
        UnitKey::User { day, user } => {
            put(out, 0);
            put(out, zig(day));
            put(out, zig(user));
            for n in [c.activity, c.pricing, c.support, c.billing] {
                put(out, n);
            }
            put(out, c.last_ts.map_or(0, |l| (l - day * DAY) as u64 + 1));
        }
        UnitKey::Feature { day, feature } => {
            put(out, 1);
            put(out, zig(day));
            put(out, zig(feature));
        }
    }
}

/// Calls `f` for each unit of a day ≥ `min_day`, newest first; stops quietly at a damaged tail.
pub fn decode(data: &[u8], min_day: i64, f: impl FnMut(UnitKey, DayCounts)) {
    decode_until(data, min_day, f);
}

/// [`decode`], also saying whether the blob holds a unit of a day before `min_day` (the units
/// run newest first: decoding stops there).
pub fn decode_saying_older(data: &[u8], min_day: i64, f: impl FnMut(UnitKey, DayCounts)) -> bool {
    let at = decode_until(data, min_day, f);
    let mut r = Reader::new(&data[at..]);
    // A damaged tail is no unit.
    let (tag, day, id) = (r.next(), r.next().map(unzig), r.next());
    tag.is_some() && id.is_some() && day.is_some_and(|day| day < min_day)
}

/// [`decode`], returning where it stopped: the offset of the first unit older than `min_day`
/// (or of a damaged tail, or the end).
fn decode_until(data: &[u8], min_day: i64, mut f: impl FnMut(UnitKey, DayCounts)) -> usize {
    let mut r = Reader::new(data);
    loop {
        let start = r.pos;
        let Some(tag) = r.next() else {
            return start;
        };
        let (Some(day), Some(id)) = (r.next().map(unzig), r.next().map(unzig)) else {
            return start;
        };
        if day < min_day {
            return start;
        }
        if tag == 1 {
            f(UnitKey::Feature { day, feature: id }, DayCounts::default());
            continue;
        }
        let mut n = [0u64; 5];
        for slot in &mut n {
            match r.next() {
                Some(v) => *slot = v,
                None => return start,
            }
        }
        let last_ts = (n[4] > 0).then(|| day * DAY + n[4] as i64 - 1);
        f(
            UnitKey::User { day, user: id },
            DayCounts {
                activity: n[0],
                pricing: n[1],
                support: n[2],
                billing: n[3],
                last_ts,
            },
        );
    }
}

/// Merges `deltas` into a packed blob. Only the units of the days the deltas reach are decoded;
/// the older ones are copied as they are, so adding a new day to a long history costs little.
pub fn merge_into(old: &[u8], deltas: &Units) -> Vec<u8> {
    let Some(min_day) = deltas.keys().next().map(UnitKey::day) else {
        return old.to_vec();
    };
    let mut units = Units::new();
    let tail = decode_until(old, min_day, |k, c| {
        units.insert(k, c);
    });
    for (k, c) in deltas {
        units.entry(*k).or_default().merge(c);
    }
    let mut out = encode(&units);
    out.extend_from_slice(&old[tail..]);
    out
}

/// [`merge_into`] for deltas given as a slice in ascending key order, each key once: the
/// stored units of the days they reach and the deltas are merged in one pass, with no map.
/// The bytes are the same as [`merge_into`]'s.
pub fn merge_sorted_into(old: &[u8], deltas: &[(UnitKey, DayCounts)]) -> Vec<u8> {
    let Some(min_day) = deltas.first().map(|(k, _)| k.day()) else {
        return old.to_vec();
    };
    let mut stored = Vec::new();
    let tail = decode_until(old, min_day, |k, c| stored.push((k, c)));
    stored.reverse();
    if stored.windows(2).any(|w| w[0].0 >= w[1].0) {
        // Not in the order `encode` writes: let the map sort it out.
        let units: Units = deltas.iter().copied().collect();
        return merge_into(old, &units);
    }
    let mut merged = Vec::with_capacity(stored.len() + deltas.len());
    let (mut a, mut b) = (stored.into_iter().peekable(), deltas.iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                let (k, mut c) = a.next().expect("peeked");
                c.merge(&b.next().expect("peeked").1);
                (k, c)
            }
            (Some(x), Some(y)) if x.0 < y.0 => a.next().expect("peeked"),
            (_, Some(_)) => *b.next().expect("peeked"),
            (Some(_), None) => a.next().expect("peeked"),
            (None, None) => break,
        };
        merged.push(next);
    }
    let mut out = Vec::with_capacity(merged.len() * 8 + old.len() - tail);
    for (k, c) in merged.iter().rev() {
        put_unit(&mut out, k, c);
    }
    out.extend_from_slice(&old[tail..]);
    out
}

/// Merges rollup deltas of one account, sorted by key, into its stored blob.
pub fn merge_sorted(
    conn: &Connection,
    account: i64,
    deltas: &[(UnitKey, DayCounts)],
) -> Result<()> {
    let old: Option<Vec<u8>> = conn
        .prepare_cached("SELECT data FROM account_units WHERE account_id = ?1")?
        .query_row([account], |r| r.get(0))
        .optional()?;
    let data = merge_sorted_into(old.as_deref().unwrap_or_default(), deltas);
    conn.prepare_cached(
        "INSERT INTO account_units(account_id, data) VALUES (?1, ?2)
         ON CONFLICT(account_id) DO UPDATE SET data = excluded.data",
    )?
    .execute(params![account, data])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_merges() {
        let mut u = Units::new();
        u.insert(
            UnitKey::User { day: -3, user: 7 },
            DayCounts {
                activity: 300,
                pricing: 1,
                support: 0,
                billing: 2,
                last_ts: Some(-3 * DAY + 5),
            },
        );
        u.insert(
            UnitKey::User {
                day: 20_000,
                user: 1 << 40,
            },
            DayCounts::default(),
        );
        u.insert(
            UnitKey::Feature {
                day: 20_000,
                feature: 3,
            },
            DayCounts::default(),
        );
        let mut back = Units::new();
        decode(&encode(&u), i64::MIN, |k, c| {
            back.insert(k, c);
        });
        assert_eq!(back, u);
        let mut c = DayCounts {
            activity: 1,
            last_ts: Some(10),
            ..Default::default()
        };
        c.merge(&DayCounts {
            activity: 2,
            pricing: 1,
            last_ts: Some(4),
            ..Default::default()
        });
        assert_eq!((c.activity, c.pricing, c.last_ts), (3, 1, Some(10)));
    }

    /// Merging decodes only the days the deltas reach, and gives what a full merge gives:
    /// deltas on a new day, on the newest stored day, and on an old day (a backfill).
    #[test]
    fn decoding_a_range_says_whether_older_days_follow() {
        let mut u = Units::new();
        for (day, user) in [(10, 1), (5, 2), (5, 3)] {
            u.insert(UnitKey::User { day, user }, DayCounts::default());
        }
        u.insert(
            UnitKey::Feature { day: 2, feature: 4 },
            DayCounts::default(),
        );
        let blob = encode(&u);
        let days = |min: i64| {
            let mut seen = Vec::new();
            let older = decode_saying_older(&blob, min, |k, _| seen.push(k.day()));
            (seen, older)
        };
        assert_eq!(days(11), (vec![], true));
        assert_eq!(days(6), (vec![10], true));
        assert_eq!(days(3), (vec![10, 5, 5], true), "a feature unit counts too");
        assert_eq!(days(2), (vec![10, 5, 5, 2], false));
        // A tail cut inside the older unit's key is no unit.
        let mut cut = encode(&[(UnitKey::User { day: 10, user: 1 }, DayCounts::default())].into());
        cut.extend_from_slice(&[0]);
        assert!(!decode_saying_older(&cut, 6, |_, _| ()));
    }

    #[test]
    fn merge_into_equals_a_full_merge() {
        let unit = |day: i64, user: i64, activity: u64| {
            (
                UnitKey::User { day, user },
                DayCounts {
                    activity,
                    last_ts: Some(day * DAY + 60),
                    ..Default::default()
                },
            )
        };
        let stored: Units = [
            unit(10, 1, 3),
            unit(10, 2, 1),
            unit(11, 1, 4),
            (
                UnitKey::Feature {
                    day: 11,
                    feature: 5,
                },
                DayCounts::default(),
            ),
            unit(12, 3, 2),
        ]
        .into_iter()
        .collect();
        let old = encode(&stored);
        for deltas in [
            vec![unit(13, 1, 1), unit(14, 2, 2)],
            vec![unit(12, 3, 5), unit(12, 4, 1), unit(13, 1, 1)],
            vec![
                unit(10, 2, 7),
                (
                    UnitKey::Feature {
                        day: 11,
                        feature: 6,
                    },
                    DayCounts::default(),
                ),
            ],
        ] {
            let deltas: Units = deltas.into_iter().collect();
            let mut full = stored.clone();
            for (k, c) in &deltas {
                full.entry(*k).or_default().merge(c);
            }
            assert_eq!(merge_into(&old, &deltas), encode(&full), "{deltas:?}");
            let sorted: Vec<_> = deltas.iter().map(|(k, c)| (*k, *c)).collect();
            assert_eq!(
                merge_sorted_into(&old, &sorted),
                encode(&full),
                "{deltas:?}"
            );
            assert_eq!(merge_sorted_into(&[], &sorted), encode(&deltas));
        }
        assert_eq!(merge_into(&old, &Units::new()), old);
    }
}
