//! `beton incrementality` (SPEC §12): a planted effect is found, and with no effect the 95 %
//! interval covers 0 in at least 90 of 100 seeded experiments.

use beton::config::Config;
use beton::holdout::compare;
use beton::store::{DealRow, HoldoutRow};
use beton::time::{DAY, parse_ts};

/// A small deterministic generator (SplitMix64), so each seed gives the same experiment.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` treated and `n` held-out accounts routed at `r`; `won(i, held)` says who wins, 30 days
/// after routing, a deal of 10 000.
fn experiment(
    n: usize,
    r: i64,
    mut won: impl FnMut(usize, bool) -> bool,
) -> (Vec<HoldoutRow>, Vec<DealRow>) {
    let mut rows = Vec::new();
    let mut deals = Vec::new();
    for held in [false, true] {
        for i in 0..n {
            let account = format!("{}{i}.com", if held { "h" } else { "t" });
            rows.push(HoldoutRow {
                account_id: rows.len() as i64 + 1,
                account: account.clone(),
                held_out: held,
                routed_at: r,
            });
            if won(i, held) {
                deals.push(DealRow {
                    deal_id: format!("d-{account}"),
                    account_key: account,
                    name: None,
                    lead_source: "pql".into(),
                    stage: "won".into(),
                    value: Some(10_000.0),
                    created_at: r + DAY,
                    sql_at: None,
                    closed_at: Some(r + 30 * DAY),
                    owner_email: None,
                });
            }
        }
    }
    (rows, deals)
}

#[test]
fn a_planted_effect_of_ten_points_is_found() {
    let cfg = Config::default();
    let r = parse_ts("2026-01-01T00:00:00Z").unwrap();
    let t = r + 120 * DAY;
    // Treated win 20 % (80 of 400), held out 10 % (40 of 400).
    let (rows, deals) = experiment(
        400,
        r,
        |i, held| if held { i % 10 == 0 } else { i % 5 == 0 },
    );
    let x = compare(&rows, &deals, &cfg, t);
    assert_eq!((x.treated.accounts, x.treated.won), (400, 80));
    assert_eq!((x.held_out.accounts, x.held_out.won), (400, 40));
    assert_eq!(x.diff_pp, Some(10.0));
    let [lo, hi] = x.diff_ci95_pp.unwrap();
    assert!(
        lo > 0.0 && hi > lo,
        "the interval should exclude 0: [{lo}, {hi}]"
    );
    assert!(lo < 10.0 && hi > 10.0);
    assert!(x.p_value.unwrap() < 0.001, "{:?}", x.p_value);
    assert_eq!(x.incremental_wins, Some(40.0));
    assert_eq!(x.incremental_value, Some(400_000.0));
    // 400 + 400 at a pooled 15 %: about 7 points are detectable.
    let mdd = x.mdd_pp.unwrap();
    assert!((6.0..8.5).contains(&mdd), "{mdd}");
    // Accounts routed less than a horizon before T are not judged yet.
    let y = compare(&rows, &deals, &cfg, r + 60 * DAY);
    assert_eq!((y.treated.accounts, y.pending), (0, 800));
    assert!(y.reason.unwrap().contains("not enough data"));
}

#[test]
fn with_no_effect_the_interval_covers_zero_in_at_least_90_of_100_runs() {
    let cfg = Config::default();
    let r = parse_ts("2026-01-01T00:00:00Z").unwrap();
    let t = r + 120 * DAY;
    let mut covered = 0;
    for seed in 0..100 {
        let mut rng = Rng(seed);
        let (rows, deals) = experiment(400, r, |_, _| rng.next() < 0.15);
        let x = compare(&rows, &deals, &cfg, t);
        let [lo, hi] = x.diff_ci95_pp.unwrap();
        if lo <= 0.0 && 0.0 <= hi {
            covered += 1;
        }
    }
    assert!(covered >= 90, "covered 0 in {covered} of 100 runs");
}
