//! The replay: every account scored at every replay date, under one or more settings, in one
//! streaming pass over the workspace. Each date sees only what lies before it
//! (`AccountFacts::slice`, `props_at`), so there is no lookahead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use super::cache;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::signals::facts::{AccountFacts, Facts, signal_window_starts};
use crate::signals::{ScoreParts, SignalType, detect, metrics_with, rule_properties, rules};
use crate::store::{Store, id_range};

/// One account at one replay date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// 0 when no signal fired.
    pub score: u32,
    /// Bit `t as usize` is set when signal type `t` fired.
    pub signals: u8,
    /// The account had any event before the date.
    pub active: bool,
}

/// What every replay date saw: `seen[k][i]` is account `accounts[i]` at `dates[k]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    pub dates: Vec<i64>,
    pub accounts: Vec<String>,
    pub seen: Vec<Vec<Seen>>,
}

/// What decides the facts a config needs: its event classes and its window lengths. Settings
/// with the same fingerprint are replayed over one scan.
pub fn fingerprint(cfg: &Config) -> String {
    format!(
        "{}|{:?}|{:?}",
        cfg.rollup_fingerprint(),
        signal_window_starts(cfg, 0),
        cfg.accounts.parent()
    )
}

/// Accounts handed to a worker at once.
const BATCH: usize = 64;

/// One account's [`Seen`] for every (config, date), config-major.
type Row = (usize, Vec<Seen>);

/// Replays every config of `cfgs` at every date; they must share one [`fingerprint`]. A config
/// whose replay at these dates the workspace keeps for the current data ([`super::cache`]) is
/// read back; the others are replayed in one scan and kept.
pub fn replay(
    store: &Store,
    cfgs: &[&Config],
    dates: &[i64],
    progress: &dyn Progress,
) -> Result<Vec<Replay>> {
    let keys: Vec<Option<String>> = cfgs.iter().map(|c| cache::key(c, dates)).collect();
    // Read before the replay: an import that commits meanwhile changes it, and what the replay
    // saw is then not kept.
    let state = match keys.iter().any(Option::is_some) {
        true => Some(store.data_state()?),
        false => None,
    };
    let started = std::time::Instant::now();
    let mut out: Vec<Option<Replay>> = keys
        .iter()
        .zip(cfgs)
        .map(|(k, c)| k.as_deref().and_then(|k| cache::load(store, k, c, dates)))
        .collect();
    let missing: Vec<usize> = (0..cfgs.len()).filter(|&i| out[i].is_none()).collect();
    if missing.len() < cfgs.len() {
        tracing::info!(
            "replay: {} of {} settings read from the replay cache in {:.3} s",
            cfgs.len() - missing.len(),
            cfgs.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if !missing.is_empty() {
        let group: Vec<&Config> = missing.iter().map(|&i| cfgs[i]).collect();
        let fresh = scan(store, &group, dates, progress)?;
        for (&i, r) in missing.iter().zip(fresh) {
            if let (Some(key), Some(state)) = (&keys[i], &state) {
                cache::save(store, key, state, &r);
            }
            out[i] = Some(r);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// [`replay`] without the cache: the store is read on this thread while workers score.
fn scan(
    store: &Store,
    cfgs: &[&Config],
    dates: &[i64],
    progress: &dyn Progress,
) -> Result<Vec<Replay>> {
    let Some(first) = cfgs.first() else {
        return Ok(Vec::new());
    };
    debug_assert!(cfgs.iter().all(|c| fingerprint(c) == fingerprint(first)));
    store.ensure_rollups(first)?;
    if let Some(property) = first.accounts.parent() {
        return replay_parents(store, cfgs, property, dates, progress);
    }
    let total = store.account_count()?;
    let features = store.feature_names()?;
    let workers = crate::workers::count();

    let mut keys = Vec::new();
    let (tx, rx) = mpsc::sync_channel::<Vec<(usize, AccountFacts)>>(workers * 2);
    let rx = Mutex::new(rx);
    let rows: Vec<Row> = std::thread::scope(|s| -> Result<Vec<Row>> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (rx, features) = (&rx, &features);
                s.spawn(move || {
                    let mut out: Vec<Row> = Vec::new();
                    loop {
                        let batch = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = batch else { break };
                        for (i, a) in batch {
                            // Activity before the loaded range is before every date.
                            let active_from = if a.earlier { i64::MIN } else { first_start(&a) };
                            out.push((i, account(&a, cfgs, dates, active_from, features)));
                        }
                    }
                    out
                })
            })
            .collect();
        let mut batch = Vec::with_capacity(BATCH);
        let mut keep: Vec<&str> = cfgs.iter().flat_map(|c| rule_properties(c)).collect();
        keep.sort_unstable();
        keep.dedup();
        let scanned = Facts::scan_in_with(
            store,
            first,
            dates,
            id_range(None),
            Some(&keep),
            signal_window_starts,
            |a, _| {
                if progress.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                keys.push(a.key.clone());
                batch.push((keys.len() - 1, a.take()));
                if batch.len() == BATCH {
                    progress.advance(keys.len() as u64, total);
                    // A closed channel means a worker panicked; joining below re-raises it.
                    let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
                Ok(())
            },
        );
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        let rows = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        scanned.map(|_| rows)
    })?;
    progress.advance(keys.len() as u64, total);

    let n = keys.len();
    let mut out: Vec<Replay> = cfgs
        .iter()
        .map(|_| Replay {
            dates: dates.to_vec(),
            accounts: keys.clone(),
            seen: vec![vec![Seen::default(); n]; dates.len()],
        })
        .collect();
    for (i, row) in rows {
        for (j, r) in out.iter_mut().enumerate() {
            for k in 0..dates.len() {
                r.seen[k][i] = row[j * dates.len() + k];
            }
        }
    }
    Ok(out)
}

/// [`replay`] with parent accounts (SPEC §14): at each date the parents and standalone accounts
/// of that date are scored over the union of their workspaces' events (each user counted once),
/// and a parent is active when any of its workspaces had an event before the date. The accounts
/// are listed in the order their first workspace comes in the store, so that with no parent
/// named the replay is the standalone one. Holds every account's facts in memory.
fn replay_parents(
    store: &Store,
    cfgs: &[&Config],
    property: &str,
    dates: &[i64],
    progress: &dyn Progress,
) -> Result<Vec<Replay>> {
    let first = cfgs[0];
    let facts = Facts::load_all(store, first, dates)?;
    // Activity before the loaded range is before every date (the range starts at or before the
    // first date's first window).
    let active_from: Vec<i64> = facts
        .accounts
        .iter()
        .map(|a| if a.earlier { i64::MIN } else { first_start(a) })
        .collect();
    let per_date: Vec<_> = dates
        .iter()
        .map(|&d| crate::signals::parents::groups(&facts, property, d))
        .collect();
    // Keys in the order of their first workspace in the store, date by date.
    let mut keys: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut owner = vec![String::new(); facts.accounts.len()];
    for groups in &per_date {
        for (key, members) in groups {
            for &m in members {
                owner[m] = key.clone();
            }
        }
        for key in &owner {
            if !index.contains_key(key) {
                index.insert(key.clone(), keys.len());
                keys.push(key.clone());
            }
        }
    }
    // Each key's dates, with its workspaces there: a parent's union of units is built once for
    // a run of dates with the same workspaces, not once per date.
    let mut per_key: Vec<Vec<(usize, &[usize])>> = vec![Vec::new(); keys.len()];
    for (k, groups) in per_date.iter().enumerate() {
        for (key, idx) in groups {
            per_key[index[key]].push((k, idx));
        }
    }
    let total = keys.len() as u64;
    let done = AtomicU64::new(0);
    // One key at each of its dates: (date, key, its Seen under each config).
    type Cell = (usize, usize, Vec<Seen>);
    let key_cells = |i: usize, links: &mut crate::signals::facts::Links, out: &mut Vec<Cell>| {
        let key = &keys[i];
        let mut current: Option<(&[usize], Vec<&AccountFacts>, Option<AccountFacts>)> = None;
        for &(k, idx) in &per_key[i] {
            if current.as_ref().is_none_or(|c| c.0 != idx) {
                let members: Vec<&AccountFacts> = idx.iter().map(|&m| &facts.accounts[m]).collect();
                let union = match members.as_slice() {
                    [only] if only.key == *key => None,
                    _ => Some(crate::signals::parents::union_of(&members, links)),
                };
                current = Some((idx, members, union));
            }
            let (_, members, union) = current.as_ref().expect("set above");
            let d = dates[k];
            let active = idx.iter().any(|&m| active_from[m] < d);
            let row = cfgs
                .iter()
                .map(|cfg| {
                    let fired = match union {
                        None => detect(members[0], cfg, d, &facts.features),
                        Some(u) => rules(
                            &crate::signals::parents::union_metrics(
                                members,
                                u,
                                cfg,
                                d,
                                &facts.features,
                            ),
                            cfg,
                            d,
                        ),
                    };
                    seen(&fired, cfg, active)
                })
                .collect();
            out.push((k, i, row));
        }
    };
    // The keys are independent: each worker takes every n-th one.
    let per_worker: Vec<Vec<Cell>> = crate::workers::strided(keys.len(), |mine| {
        let mut links = crate::signals::facts::Links::default();
        let mut out = Vec::new();
        for i in mine {
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            key_cells(i, &mut links, &mut out);
            progress.advance(done.fetch_add(1, Ordering::Relaxed) + 1, total);
        }
        Ok(out)
    })
    .into_iter()
    .collect::<Result<_>>()?;
    let mut out: Vec<Replay> = cfgs
        .iter()
        .map(|_| Replay {
            dates: dates.to_vec(),
            accounts: keys.clone(),
            seen: vec![vec![Seen::default(); keys.len()]; dates.len()],
        })
        .collect();
    for (k, i, row) in per_worker.into_iter().flatten() {
        for (r, s) in out.iter_mut().zip(row) {
            r.seen[k][i] = s;
        }
    }
    Ok(out)
}

/// The score of a fired pattern under `cfg` (SPEC §3: only the fired types' bases matter, and
/// no base changes which types fire).
pub fn score_of(signals: u8, cfg: &Config) -> u32 {
    if signals == 0 {
        return 0;
    }
    let bases: Vec<u32> = SignalType::ALL
        .iter()
        .filter(|t| signals & (1 << (**t as u8)) != 0)
        .map(|t| t.base(cfg))
        .collect();
    ScoreParts::of(&bases, cfg).score()
}

/// [`score_of`] for every fired pattern, by pattern.
pub fn scores(cfg: &Config) -> Vec<u32> {
    (0..=u8::MAX).map(|m| score_of(m, cfg)).collect()
}

/// What a replay keeps of one account's fired signals at one date.
fn seen(fired: &[crate::signals::Fired], cfg: &Config, active: bool) -> Seen {
    let bases: Vec<u32> = fired.iter().map(|f| f.base).collect();
    Seen {
        score: if fired.is_empty() {
            0
        } else {
            ScoreParts::of(&bases, cfg).score()
        },
        signals: fired.iter().fold(0u8, |m, f| m | 1 << (f.signal as u8)),
        active,
    }
}

/// The start of an account's first loaded unit (they are sorted), or `i64::MAX` when none.
fn first_start(a: &AccountFacts) -> i64 {
    a.units.first().map_or(i64::MAX, |u| u.start)
}

/// One account under every config at every date. `active_from`: its first event (or earlier).
fn account(
    a: &AccountFacts,
    cfgs: &[&Config],
    dates: &[i64],
    active_from: i64,
    features: &HashMap<i64, String>,
) -> Vec<Seen> {
    let mut out = Vec::with_capacity(cfgs.len() * dates.len());
    for cfg in cfgs {
        let properties = rule_properties(cfg);
        for &d in dates {
            let m = metrics_with(a, cfg, d, features, &properties);
            out.push(seen(&rules(&m, cfg, d), cfg, active_from < d));
        }
    }
    out
}

/// What detection at the source gives at one replay date: every account's metrics, and each
/// workspace's parent then (empty without parent accounts).
pub type AtDate = (
    Vec<(String, crate::signals::Metrics)>,
    std::collections::BTreeMap<String, String>,
);

/// A replay from detection that ran at the source (see [`crate::source::Remote`]): `detect(d)` gives the metrics of every
/// account at replay date `d`, scored here with the same rules; an account is active at `d` when
/// its first event (`first_seen`; none for an account without events) lies before `d`. The
/// accounts are those of `first_seen`, of every answer, and `more` (the accounts of the deals,
/// as the local replay has them too).
pub fn replay_metrics(
    cfg: &Config,
    dates: &[i64],
    first_seen: &std::collections::BTreeMap<String, Option<i64>>,
    more: impl IntoIterator<Item = String>,
    mut detect: impl FnMut(i64) -> Result<AtDate>,
    progress: &dyn Progress,
) -> Result<Replay> {
    let mut per_date = Vec::with_capacity(dates.len());
    let mut parents_at = Vec::with_capacity(dates.len());
    for (k, &d) in dates.iter().enumerate() {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let (metrics, parents) = detect(d)?;
        parents_at.push(parents);
        let items: Vec<(i64, String, crate::signals::Metrics)> = metrics
            .into_iter()
            .enumerate()
            .map(|(i, (key, m))| (i as i64, key, m))
            .collect();
        let scored = crate::signals::score_metrics(&items, cfg, d);
        per_date.push((items, scored));
        progress.advance(k as u64 + 1, dates.len() as u64);
    }
    let mut keys: std::collections::BTreeSet<String> = first_seen.keys().cloned().collect();
    keys.extend(more);
    for (items, _) in &per_date {
        keys.extend(items.iter().map(|(_, key, _)| key.clone()));
    }
    // With parent accounts, each account is listed under its parent of each date, as the
    // local replay lists them.
    if parents_at.iter().any(|p| !p.is_empty()) {
        keys = parents_at
            .iter()
            .flat_map(|p| keys.iter().map(move |k| p.get(k).unwrap_or(k).clone()))
            .collect();
    }
    let accounts: Vec<String> = keys.into_iter().collect();
    let index: HashMap<&str, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut seen = Vec::with_capacity(dates.len());
    for ((&d, (_, scored)), parents) in dates.iter().zip(&per_date).zip(&parents_at) {
        // Active at d: any of its accounts (its workspaces then) had an event before d.
        let active: std::collections::HashSet<&str> = first_seen
            .iter()
            .filter(|(_, f)| f.is_some_and(|f| f < d))
            .map(|(k, _)| parents.get(k).map_or(k.as_str(), String::as_str))
            .collect();
        let mut row: Vec<Seen> = accounts
            .iter()
            .map(|a| Seen {
                active: active.contains(a.as_str()),
                ..Seen::default()
            })
            .collect();
        for s in scored {
            let slot = &mut row[index[s.account.as_str()]];
            slot.score = s.score;
            slot.signals = s.fired.iter().fold(0u8, |m, f| m | 1 << (f.signal as u8));
        }
        seen.push(row);
    }
    Ok(Replay {
        dates: dates.to_vec(),
        accounts,
        seen,
    })
}
