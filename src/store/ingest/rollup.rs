//! The rollups detection reads, accumulated per UTC day in memory and merged in key order.

use super::*;

/// A user-day's deltas, 24 bytes: counts of at most [`Rollup::MAX_EVENTS`] events fit in
/// `u32`, and the last activity is `i64::MIN` when there is none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) activity: u32,
    pub(crate) pricing: u32,
    pub(crate) support: u32,
    pub(crate) billing: u32,
    pub(crate) last_ts: i64,
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
    pub(crate) fn day_counts(&self) -> DayCounts {
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
pub(crate) struct Delta {
    pub(crate) account: i64,
    pub(crate) id: i64,
    pub(crate) kind: u8,
    pub(crate) counts: Counts,
}

/// In-memory rollup deltas, merged into `account_units` by [`Rollup::flush`]. They are kept
/// per UTC day: an import's events come mostly in time order, so the map an event lands in is
/// the small one of its day (cache-resident) rather than one map over every entry.
#[derive(Default)]
pub(crate) struct Rollup {
    pub(crate) days: FxHashMap<i64, DayRollup>,
    pub(crate) len: usize,
    /// Events added since the last flush (a bound on every count).
    pub(crate) events: u64,
}

/// The deltas of one day: per (account, user) counts, and the (account, feature) pairs used.
#[derive(Default)]
pub(crate) struct DayRollup {
    pub(crate) users: FxHashMap<(i64, i64), Counts>,
    pub(crate) features: FxHashSet<(i64, i64)>,
}

impl Rollup {
    /// Events between two flushes at most, so that every count fits in a `u32`.
    pub(crate) const MAX_EVENTS: u64 = u32::MAX as u64;

    /// Whether the deltas should be merged now: [`FLUSH_AT`] entries, or as many events as a
    /// count can hold.
    pub(crate) fn full(&self) -> bool {
        self.len > FLUSH_AT || self.events >= Self::MAX_EVENTS
    }

    pub(crate) fn add(
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
    pub(crate) fn flush(&mut self, conn: &Connection) -> Result<()> {
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
