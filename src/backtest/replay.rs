//! The replay: every account scored at every replay date from facts loaded once. Each date sees
//! only what lies before it (`AccountFacts::slice`, `props_at`), so there is no lookahead.

use std::collections::HashSet;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::signals::facts::{Facts, window_starts};
use crate::signals::{detect, score};
use crate::store::Store;
use crate::time::day_of;

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

/// Facts for every replay date, loaded once and reusable by candidate settings that read the
/// same windows and classify events the same way (what-if and sweep runs).
#[derive(Debug)]
pub struct Loaded {
    pub facts: Facts,
    dates: Vec<i64>,
    /// Accounts with an event on a day before the loaded range.
    seen_before: HashSet<i64>,
    fingerprint: String,
}

/// What decides the facts a config needs: its event classes and its window lengths.
fn fingerprint(cfg: &Config) -> String {
    format!("{}|{:?}", cfg.rollup_fingerprint(), window_starts(cfg, 0))
}

impl Loaded {
    pub fn load(store: &Store, cfg: &Config, dates: &[i64]) -> Result<Self> {
        store.ensure_rollups(cfg)?;
        let facts = Facts::load(store, cfg, dates, None)?;
        let seen_before = if dates.is_empty() {
            HashSet::new()
        } else {
            store.accounts_seen_before(day_of(facts.from))?
        };
        Ok(Self {
            facts,
            dates: dates.to_vec(),
            seen_before,
            fingerprint: fingerprint(cfg),
        })
    }

    /// True when `cfg` can be replayed on these facts.
    pub fn fits(&self, cfg: &Config, dates: &[i64]) -> bool {
        self.dates == dates && self.fingerprint == fingerprint(cfg)
    }

    /// Scores every account at every date under `cfg`, dates split over the available cores.
    pub fn replay(&self, cfg: &Config, progress: &dyn Progress) -> Result<Replay> {
        let n = self.dates.len();
        let threads = std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .clamp(1, 4)
            .min(n.max(1));
        let done = std::sync::atomic::AtomicU64::new(0);
        let mut seen: Vec<Option<Vec<Seen>>> = vec![None; n];
        let parts: Vec<Vec<(usize, Option<Vec<Seen>>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    let done = &done;
                    s.spawn(move || {
                        (w..n)
                            .step_by(threads)
                            .map(|k| {
                                if progress.is_cancelled() {
                                    return (k, None);
                                }
                                let day = self.at(cfg, self.dates[k]);
                                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                                progress.advance(d, n as u64);
                                (k, Some(day))
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for (k, day) in parts.into_iter().flatten() {
            seen[k] = day;
        }
        let seen: Option<Vec<Vec<Seen>>> = seen.into_iter().collect();
        let seen = seen.ok_or(Error::Cancelled)?;
        let accounts = self.facts.accounts.iter().map(|a| a.key.clone()).collect();
        Ok(Replay {
            dates: self.dates.clone(),
            accounts,
            seen,
        })
    }

    /// Every account at one date.
    fn at(&self, cfg: &Config, d: i64) -> Vec<Seen> {
        self.facts
            .accounts
            .iter()
            .map(|a| {
                let fired = detect(a, cfg, d, &self.facts.features);
                let signals = fired.iter().fold(0u8, |m, f| m | 1 << (f.signal as u8));
                let score = if fired.is_empty() {
                    0
                } else {
                    score(a, fired, cfg).score
                };
                let active = self.seen_before.contains(&a.id)
                    || a.units.first().is_some_and(|u| u.start < d);
                Seen {
                    score,
                    signals,
                    active,
                }
            })
            .collect()
    }
}
