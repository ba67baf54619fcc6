//! What detection reads, loaded once for one or more dates: per account, a time-ordered list of
//! units (a whole-day rollup row, or one raw event on a day where a window edge falls mid-day).
//!
//! Every window edge is `T − k days`; a day holding an edge that is not at midnight is read event
//! by event, so every unit lies wholly inside or outside every window and counts are exact.
//! Distinct counts use `prev_*`: the start of the previous unit of the same user (or feature) of
//! the account; a unit opens a new distinct value in `[a, b)` exactly when its `prev_*` < a.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::Result;
use crate::store::units::{self, UnitKey};
use crate::store::{Classifier, Store, Window};
use crate::time::{DAY, day_of};

#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub start: i64,
    pub last: i64,
    pub user: i64,
    pub feature: i64,
    pub activity: u32,
    pub pricing: u32,
    pub support: u32,
    pub billing: u32,
    pub prev_user: i64,
    pub prev_feature: i64,
}

const NONE: i64 = i64::MIN;

/// `$group_set`s by time.
pub type History = Vec<(i64, Map<String, Value>)>;

#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub id: i64,
    pub key: String,
    pub snapshot: Map<String, Value>,
    pub history: History,
    pub units: Vec<Unit>,
    /// The account has activity on a day before the loaded range (rolled-up units there).
    pub earlier: bool,
}

impl AccountFacts {
    /// Moves the facts out, leaving empty ones with the same id (a scan's callback keeps the
    /// account without copying it; the scan fills every field again for the next one).
    pub fn take(&mut self) -> Self {
        Self {
            id: self.id,
            key: std::mem::take(&mut self.key),
            snapshot: std::mem::take(&mut self.snapshot),
            history: std::mem::take(&mut self.history),
            units: std::mem::take(&mut self.units),
            earlier: self.earlier,
        }
    }

    /// Units starting in `[a, b)`.
    pub fn slice(&self, a: i64, b: i64) -> &[Unit] {
        let lo = self.units.partition_point(|u| u.start < a);
        let hi = self.units.partition_point(|u| u.start < b);
        &self.units[lo..hi.max(lo)]
    }

    /// The properties named in `keys` as of `t` (see [`AccountFacts::props_at`]): the newest
    /// `$group_set` before `t` that has a key wins, else the snapshot.
    pub fn props_subset_at(&self, t: i64, keys: &[&str]) -> Map<String, Value> {
        let mut props = Map::new();
        let before = self.history.partition_point(|(ts, _)| *ts < t);
        for k in keys {
            let newest = self.history[..before]
                .iter()
                .rev()
                .find_map(|(_, set)| set.get(*k));
            if let Some(v) = newest.or_else(|| self.snapshot.get(*k)) {
                props.insert((*k).to_string(), v.clone());
            }
        }
        props
    }

    /// Properties as of `t`: the snapshot overlaid with every `$group_set` before `t`.
    pub fn props_at(&self, t: i64) -> Map<String, Value> {
        let mut props = self.snapshot.clone();
        for (ts, set) in &self.history {
            if *ts >= t {
                break;
            }
            for (k, v) in set {
                props.insert(k.clone(), v.clone());
            }
        }
        props
    }
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub accounts: Vec<AccountFacts>,
    pub features: HashMap<i64, String>,
    /// The range loaded: windows must start at or after `from`.
    pub from: i64,
    pub to: i64,
}

/// The start of every window detection and health use at `t`, earliest first.
pub fn window_starts(cfg: &Config, t: i64) -> Vec<i64> {
    let mut v = signal_window_starts(cfg, t);
    // Health (SPEC §4): fixed 7, 14, 30 and 44 days.
    v.extend([7, 14, 30, 44].map(|n| t - n * DAY));
    v.sort_unstable();
    v
}

/// The start of every window the eight signals use at `t`, earliest first (no health windows:
/// the backtest reads fewer days event by event).
pub fn signal_window_starts(cfg: &Config, t: i64) -> Vec<i64> {
    let s = &cfg.signals;
    let d = |n: u32| i64::from(n) * DAY;
    let mut v = vec![
        t - d(s.usage_spike.window_days),
        t - 2 * d(s.usage_spike.window_days),
        t - d(s.pricing_intent.window_days),
        t - d(s.feature_adoption.window_days),
        t - d(s.feature_adoption.window_days) - d(s.feature_adoption.lookback_days),
        t - d(s.trial_expiring.window_days),
        t - d(s.team_growth.window_days),
        t - d(s.team_growth.window_days) - d(s.team_growth.lookback_days),
        t - d(s.support_engagement.window_days),
        t - d(s.billing_intent.window_days),
    ];
    v.sort_unstable();
    v
}

impl Facts {
    /// [`Facts::load`] of every account, read in two halves at once ([`in_halves`]), the
    /// accounts in id order all the same. Parent mode needs every account in memory.
    pub fn load_all(store: &Store, cfg: &Config, dates: &[i64]) -> Result<Self> {
        let mut halves = in_halves(store, |store, ids| Self::load_in(store, cfg, dates, ids))?;
        let mut facts = halves.remove(0);
        for rest in halves {
            facts.accounts.extend(rest.accounts);
        }
        Ok(facts)
    }

    /// Loads everything detection at each of `dates` needs; `only` limits it to one account.
    /// Holds every account in memory: bulk work should use [`Facts::scan`].
    pub fn load(store: &Store, cfg: &Config, dates: &[i64], only: Option<i64>) -> Result<Self> {
        Self::load_in(store, cfg, dates, crate::store::id_range(only))
    }

    /// [`Facts::load`] of the accounts with ids in `ids.0..=ids.1`.
    fn load_in(store: &Store, cfg: &Config, dates: &[i64], ids: (i64, i64)) -> Result<Self> {
        let mut accounts = Vec::new();
        let (from, to, features) = Self::scan_in(store, cfg, dates, ids, None, |a, _| {
            accounts.push(a.clone());
            Ok(())
        })?;
        Ok(Self {
            accounts,
            features,
            from,
            to,
        })
    }

    /// Streams each account's facts for `dates` to `f`, one account at a time, reusing one
    /// buffer; `f` also gets the feature names. `keep` limits the `$group_set` history to those
    /// properties (the snapshot is always whole). Returns the loaded range and feature names.
    pub fn scan(
        store: &Store,
        cfg: &Config,
        dates: &[i64],
        only: Option<i64>,
        keep: Option<&[&str]>,
        f: impl FnMut(&AccountFacts, &HashMap<i64, String>) -> Result<()>,
    ) -> Result<(i64, i64, HashMap<i64, String>)> {
        let (lo, hi) = crate::store::id_range(only);
        Self::scan_in(store, cfg, dates, (lo, hi), keep, f)
    }

    /// [`Facts::scan`] for the accounts with ids in `ids.0..=ids.1`: two ranges can be scanned
    /// at once on two connections.
    pub fn scan_in(
        store: &Store,
        cfg: &Config,
        dates: &[i64],
        ids: (i64, i64),
        keep: Option<&[&str]>,
        mut f: impl FnMut(&AccountFacts, &HashMap<i64, String>) -> Result<()>,
    ) -> Result<(i64, i64, HashMap<i64, String>)> {
        Self::scan_in_with(store, cfg, dates, ids, keep, window_starts, |a, n| f(a, n))
    }

    /// [`Facts::scan_in`] with the windows `starts` gives (e.g. [`signal_window_starts`]): only
    /// their edges are read event by event, so only windows from it are exact.
    pub fn scan_in_with(
        store: &Store,
        cfg: &Config,
        dates: &[i64],
        ids: (i64, i64),
        keep: Option<&[&str]>,
        starts: fn(&Config, i64) -> Vec<i64>,
        mut f: impl FnMut(&mut AccountFacts, &HashMap<i64, String>) -> Result<()>,
    ) -> Result<(i64, i64, HashMap<i64, String>)> {
        let (lo, hi) = ids;
        let features = store.feature_names()?;
        let Some(&to) = dates.iter().max() else {
            return Ok((0, 0, features));
        };
        let mut edges = BTreeSet::new();
        let mut from = to;
        for &t in dates {
            let starts = starts(cfg, t);
            from = from.min(starts[0]);
            edges.insert(t);
            edges.extend(starts);
        }
        let raw_days: BTreeSet<i64> = edges
            .iter()
            .filter(|e| e.rem_euclid(DAY) != 0)
            .map(|e| day_of(*e))
            .collect();
        let window = Window {
            from_day: day_of(from),
            to_day: day_of(to),
            raw_days,
        };

        let mut history: HashMap<i64, History> = HashMap::new();
        for (account, ts, props) in store.prop_history_in(lo, hi)? {
            let set = match keep {
                None => serde_json::from_str::<Map<String, Value>>(&props),
                Some(keys) => {
                    use serde::de::DeserializeSeed;
                    Subset(keys).deserialize(&mut serde_json::Deserializer::from_str(&props))
                }
            };
            if let Ok(set) =
                set.map_err(|e| tracing::warn!("account {account}: bad $group_set: {e}"))
                && !set.is_empty()
            {
                history.entry(account).or_default().push((ts, set));
            }
        }
        let classifier = Classifier::new(cfg);
        let classes = classifier.classes(&store.names()?);
        let mut raw: HashMap<i64, Vec<Unit>> = HashMap::new();
        for run in day_runs(&window.raw_days) {
            store.for_raw_events_in(run.0 * DAY, (run.1 + 1) * DAY, lo, hi, |e| {
                let class = classes.get(&e.name).copied().unwrap_or_default();
                let pricing = class.pageview && e.url.is_some_and(|u| classifier.is_pricing(u));
                raw.entry(e.account).or_default().push(Unit {
                    user: e.user,
                    feature: if class.feature {
                        e.feature.unwrap_or(NONE)
                    } else {
                        NONE
                    },
                    activity: u32::from(class.activity),
                    pricing: u32::from(pricing),
                    support: u32::from(class.support),
                    billing: u32::from(class.billing),
                    ..blank(e.ts)
                });
            })?;
        }

        let mut accounts = store
            .accounts()?
            .into_iter()
            .filter(|a| (lo..=hi).contains(&a.0))
            .peekable();
        let mut links = Links::default();
        let mut current = AccountFacts {
            id: 0,
            key: String::new(),
            snapshot: Map::new(),
            history: Vec::new(),
            units: Vec::new(),
            earlier: false,
        };
        // Accounts and blobs both come in id order: walk them together.
        let mut emit = |(id, key, snapshot): (i64, String, Option<String>),
                        blob: Option<&[u8]>|
         -> Result<()> {
            current.id = id;
            current.key = key;
            current.snapshot = snapshot
                .and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok())
                .unwrap_or_default();
            current.history = history.remove(&id).unwrap_or_default();
            current.units.clear();
            current.earlier =
                blob.is_some_and(|data| decode_units(data, &window, &mut current.units));
            if let Some(edge) = raw.get(&id) {
                current.units.extend_from_slice(edge);
            }
            links.link(&mut current.units);
            f(&mut current, &features)
        };
        store.for_account_units_in(lo, hi, |id, data| {
            while let Some(a) = accounts.next_if(|a| a.0 < id) {
                emit(a, None)?;
            }
            if let Some(a) = accounts.next_if(|a| a.0 == id) {
                emit(a, Some(data))?;
            }
            Ok(())
        })?;
        for a in accounts {
            emit(a, None)?;
        }
        Ok((from, to, features))
    }
}

/// Accounts (by id span) from which [`in_halves`] uses a second thread.
const PARALLEL_FROM: i64 = 2000;

/// Runs `part` over each half of the accounts' id span at once, the second half on a second
/// connection, for a file-backed workspace whose id span is at least [`PARALLEL_FROM`]; else once
/// over every id. The parts come back in id order.
pub fn in_halves<T: Send>(
    store: &Store,
    part: impl Fn(&Store, (i64, i64)) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    match (store.path(), store.account_id_span()?) {
        (Some(path), Some((lo, hi))) if hi - lo >= PARALLEL_FROM => {
            let mid = lo + (hi - lo) / 2;
            std::thread::scope(|s| {
                let other = s.spawn(|| part(&Store::open(&path)?, (mid + 1, hi)));
                let first = part(store, (lo, mid))?;
                let second = other.join().map_err(|_| {
                    crate::Error::Usage("the second detection thread failed".into())
                })??;
                Ok(vec![first, second])
            })
        }
        _ => Ok(vec![part(store, (i64::MIN, i64::MAX))?]),
    }
}

/// Deserializes a JSON object keeping only some keys, skipping the other values unbuilt.
struct Subset<'k>(&'k [&'k str]);

impl<'de> serde::de::DeserializeSeed<'de> for Subset<'_> {
    type Value = Map<String, Value>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Subset<'_> {
    type Value = Map<String, Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut m: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(k)) = m.next_key::<Key>()? {
            if self.0.contains(&&*k) {
                out.insert(k.into_owned(), m.next_value()?);
            } else {
                m.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A JSON object key, borrowed from the input when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

fn blank(start: i64) -> Unit {
    Unit {
        start,
        last: start,
        user: NONE,
        feature: NONE,
        activity: 0,
        pricing: 0,
        support: 0,
        billing: 0,
        prev_user: NONE,
        prev_feature: NONE,
    }
}

/// Appends the units of a packed blob that fall in the window's days and are not read raw, in
/// time order; says whether the blob has units of an earlier day.
fn decode_units(data: &[u8], window: &Window, out: &mut Vec<Unit>) -> bool {
    let n32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let first = out.len();
    let earlier = units::decode_saying_older(data, window.from_day, |key, c| {
        let day = key.day();
        if day > window.to_day || window.raw_days.contains(&day) {
            return;
        }
        let start = day * DAY;
        out.push(match key {
            UnitKey::User { user, .. } => Unit {
                last: c.last_ts.unwrap_or(start),
                user,
                activity: n32(c.activity),
                pricing: n32(c.pricing),
                support: n32(c.support),
                billing: n32(c.billing),
                ..blank(start)
            },
            UnitKey::Feature { feature, .. } => Unit {
                feature,
                ..blank(start)
            },
        });
    });
    // Blobs are newest first; put this account's units in time order.
    out[first..].reverse();
    earlier
}

/// Contiguous runs of days, as (first, last).
fn day_runs(days: &BTreeSet<i64>) -> Vec<(i64, i64)> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &d in days {
        match runs.last_mut() {
            Some(r) if r.1 + 1 == d => r.1 = d,
            _ => runs.push((d, d)),
        }
    }
    runs
}

/// Reusable maps for [`Links::link`], so linking many accounts allocates once.
#[derive(Default)]
pub struct Links {
    users: rustc_hash::FxHashMap<i64, i64>,
    features: rustc_hash::FxHashMap<i64, i64>,
}

impl Links {
    /// Sorts units by start and sets each one's `prev_user` and `prev_feature`.
    pub fn link(&mut self, units: &mut [Unit]) {
        // Blob units come in time order and the raw edge events after them: nearly sorted, which
        // the sort handles fast and without a scratch buffer. Order within one instant changes
        // no count.
        units.sort_unstable_by_key(|u| u.start);
        self.users.clear();
        self.features.clear();
        for u in units.iter_mut() {
            if u.activity > 0 {
                u.prev_user = self.users.insert(u.user, u.start).unwrap_or(NONE);
            }
            if u.feature != NONE {
                u.prev_feature = self.features.insert(u.feature, u.start).unwrap_or(NONE);
            }
        }
    }
}

/// Distinct active users in units starting in `[a, b)` of `units`.
pub fn distinct_users(units: &[Unit], a: i64) -> u64 {
    units
        .iter()
        .filter(|u| u.activity > 0 && u.prev_user < a)
        .count() as u64
}

/// Distinct features used in units starting in `[a, ..)` whose previous use was before `since`.
pub fn new_features(units: &[Unit], since: i64) -> impl Iterator<Item = i64> + '_ {
    units
        .iter()
        .filter(move |u| u.feature != NONE && u.prev_feature < since)
        .map(|u| u.feature)
}
