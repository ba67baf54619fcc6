//! Test data: replays with planted log-odds per signal type, for the evidence and the learned
//! weights (SPEC §11). Each account becomes active at one observation date D (its first); its
//! types are drawn there (each with its own chance, independently) and fire at D and every date
//! after; it is won within the horizon after D with probability σ(β₀ + Σ βₜ·fired(t)). So a type
//! whose β is 0 is truly null: its lift is 1 and its weight 0, whatever the others do.

use super::figures::{Frame, Outcomes};
use super::replay::{Replay, Seen};
use crate::signals::SignalType;
use crate::time::DAY;

/// SplitMix64, as the demo's generator: a seed gives the same data everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    // A generator's own `next`, not an iterator's (it never ends).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A planted type: its chance to fire on an account and its log-odds.
#[derive(Debug, Clone, Copy)]
pub struct Plant {
    pub signal: SignalType,
    pub chance: f64,
    pub log_odds: f64,
}

/// billing +1.6, pricing +1.1, support 0 (the example), base log-odds −2.5.
pub const PLANTS: [Plant; 3] = [
    Plant {
        signal: SignalType::BillingIntent,
        chance: 0.2,
        log_odds: 1.6,
    },
    Plant {
        signal: SignalType::PricingIntent,
        chance: 0.3,
        log_odds: 1.1,
    },
    Plant {
        signal: SignalType::SupportEngagement,
        chance: 0.3,
        log_odds: 0.0,
    },
];
pub const BASE_LOG_ODDS: f64 = -2.5;

/// T = day `days`, one replay date a week over the whole range from day 0, horizon 28 days.
pub fn frame(days: i64) -> Frame {
    Frame {
        t: days * DAY,
        range_days: days as u32,
        step_days: 7,
        horizon_days: 28,
        threshold: 60,
        annual_cost: 1000.0,
        enabled: u8::MAX,
    }
}

/// `n` accounts over `days` days with `plants` and `base` log-odds.
pub fn planted(
    seed: u64,
    n: usize,
    days: i64,
    plants: &[Plant],
    base: f64,
) -> (Replay, Outcomes, Frame) {
    let f = frame(days);
    let dates: Vec<i64> = (0..)
        .map(|k| k * 7 * DAY)
        .take_while(|d| *d <= f.t)
        .collect();
    let h = i64::from(f.horizon_days) * DAY;
    let observable = dates.iter().filter(|d| **d + h <= f.t).count() as u64;
    let mut rng = Rng::new(seed);
    let mut seen = vec![vec![Seen::default(); n]; dates.len()];
    let mut first_win = vec![None; n];
    for i in 0..n {
        let start = rng.below(observable) as usize;
        let mut signals = 0u8;
        let mut eta = base;
        for p in plants {
            if rng.f() < p.chance {
                signals |= 1 << (p.signal as u8);
                eta += p.log_odds;
            }
        }
        for day in seen.iter_mut().skip(start) {
            day[i] = Seen {
                score: if signals != 0 { 50 } else { 0 },
                signals,
                active: true,
            };
        }
        if rng.f() < crate::stats::logistic::sigmoid(eta) {
            let after = 1 + rng.below(f.horizon_days as u64 - 1) as i64;
            first_win[i] = Some((dates[start] + after * DAY, 1000.0));
        }
    }
    let replay = Replay {
        dates,
        accounts: (0..n).map(|i| format!("p{i}.example")).collect(),
        seen,
    };
    let outcomes = Outcomes {
        first_win,
        won_without_close: 0,
    };
    (replay, outcomes, f)
}
