//! Every signal at its boundaries (just below, at, above each threshold), the window edges at
//! T − 7 d and T, the score formula, tiers and routing. Each case runs at a T at midnight and at
//! a T in mid-day, since the store reads mid-day window edges event by event.

mod common;

use beton::config::Config;
use beton::signals::{ScoreParts, SignalType as S, Tier};
use beton::time::SECOND;
use common::*;
use serde_json::json;

const TS: [&str; 2] = ["2026-05-10T00:00:00Z", "2026-05-10T13:37:11Z"];

fn each_t(mut case: impl FnMut(i64)) {
    for t in TS {
        case(ts(t));
    }
}

#[test]
fn usage_spike_needs_baseline_and_more_than_half_again() {
    let cfg = Config::default();
    each_t(|t| {
        // P = 10 events, W = w events: fires when w > 15.
        for (w, want) in [(15, false), (16, true)] {
            let mut events = burst(10, "u1", t - 10 * DAYS);
            events.extend(burst(w, "u1", t - 3 * DAYS));
            assert_eq!(
                fires(&store_with(&cfg, &events, None), &cfg, t, S::UsageSpike),
                want,
                "w={w}"
            );
        }
        // Baseline 9 is below min_baseline 10, however large W is.
        let mut events = burst(9, "u1", t - 10 * DAYS);
        events.extend(burst(100, "u1", t - 3 * DAYS));
        assert!(!fires(
            &store_with(&cfg, &events, None),
            &cfg,
            t,
            S::UsageSpike
        ));
    });
}

#[test]
fn window_edges_are_half_open_at_t_minus_7d_and_t() {
    let cfg = Config::default();
    each_t(|t| {
        // 10 in P; 15 in W plus one more placed at an edge.
        let base = |extra_at: i64| {
            let mut events = burst(10, "u1", t - 10 * DAYS);
            events.extend(burst(15, "u1", t - 3 * DAYS));
            events.push(ev("report_exported", "u2", extra_at));
            store_with(&cfg, &events, None)
        };
        assert!(
            fires(&base(t - 7 * DAYS), &cfg, t, S::UsageSpike),
            "T − 7 d is inside W"
        );
        assert!(
            !fires(&base(t), &cfg, t, S::UsageSpike),
            "T itself is outside W"
        );
        assert!(
            fires(&base(t - 1), &cfg, t, S::UsageSpike),
            "just before T is inside W"
        );
        // One microsecond before T − 7 d lands in P: P = 11, W = 15, 15 ≤ 16.5.
        assert!(!fires(&base(t - 7 * DAYS - 1), &cfg, t, S::UsageSpike));
    });
}

#[test]
fn excluded_events_are_not_activity() {
    let cfg = Config::default();
    each_t(|t| {
        let mut events = burst(10, "u1", t - 10 * DAYS);
        events.extend(burst(15, "u1", t - 3 * DAYS));
        events.extend((0..20).map(|i| ev("$pageleave", "u1", t - 2 * DAYS + i)));
        assert!(!fires(
            &store_with(&cfg, &events, None),
            &cfg,
            t,
            S::UsageSpike
        ));
    });
}

#[test]
fn pricing_intent_counts_pricing_pageviews_in_any_case() {
    let cfg = Config::default();
    each_t(|t| {
        let one = vec![pageview("https://app.x.com/pricing", t - DAYS)];
        assert!(!fires(
            &store_with(&cfg, &one, None),
            &cfg,
            t,
            S::PricingIntent
        ));
        let two = vec![
            pageview("https://app.x.com/pricing", t - DAYS),
            pageview("https://x.com/PRICING?p=1", t - 7 * DAYS),
        ];
        assert!(fires(
            &store_with(&cfg, &two, None),
            &cfg,
            t,
            S::PricingIntent
        ));
        // Outside W, not a page view, or not a pricing URL: none of these count.
        let noise = vec![
            pageview("https://app.x.com/pricing", t - DAYS),
            pageview("https://app.x.com/pricing", t),
            pageview("https://app.x.com/pricing", t - 7 * DAYS - 1),
            EventIn {
                url: Some("https://x.com/pricing".into()),
                ..ev("$pageleave", "u1", t - DAYS)
            },
            pageview("https://app.x.com/price", t - DAYS),
        ];
        assert!(!fires(
            &store_with(&cfg, &noise, None),
            &cfg,
            t,
            S::PricingIntent
        ));
    });
}

use beton::store::EventIn;

#[test]
fn feature_adoption_needs_three_features_new_to_the_lookback() {
    let cfg = Config::default();
    each_t(|t| {
        let in_w = |names: &[&str]| {
            names
                .iter()
                .map(|n| feature(n, t - 2 * DAYS))
                .collect::<Vec<_>>()
        };
        assert!(!fires(
            &store_with(&cfg, &in_w(&["a", "b"]), None),
            &cfg,
            t,
            S::FeatureAdoption
        ));
        assert!(fires(
            &store_with(&cfg, &in_w(&["a", "b", "c"]), None),
            &cfg,
            t,
            S::FeatureAdoption
        ));
        // "c" used at the last instant of L is not new.
        let mut used = in_w(&["a", "b", "c"]);
        used.push(feature("c", t - 7 * DAYS - 1));
        assert!(!fires(
            &store_with(&cfg, &used, None),
            &cfg,
            t,
            S::FeatureAdoption
        ));
        // "c" used just before L began (T − 97 d − 1 µs) is new again.
        let mut old = in_w(&["a", "b", "c"]);
        old.push(feature("c", t - 97 * DAYS - 1));
        assert!(fires(
            &store_with(&cfg, &old, None),
            &cfg,
            t,
            S::FeatureAdoption
        ));
        // Other events carrying a `feature` property do not count.
        let mut other = in_w(&["a", "b"]);
        other.push(EventIn {
            feature: Some("c".into()),
            ..ev("report_exported", "u1", t - DAYS)
        });
        assert!(!fires(
            &store_with(&cfg, &other, None),
            &cfg,
            t,
            S::FeatureAdoption
        ));
    });
}

#[test]
fn limit_approaching_is_strictly_above_the_ratio_as_of_t() {
    let cfg = Config::default();
    each_t(|t| {
        let at = |usage: serde_json::Value| {
            store_with(&cfg, &[], Some(json!({"usage": usage, "plan_limit": 1000})))
        };
        assert!(
            !fires(&at(json!(800)), &cfg, t, S::LimitApproaching),
            "0.8 is not above 0.8"
        );
        assert!(fires(&at(json!(801)), &cfg, t, S::LimitApproaching));
        assert!(
            fires(&at(json!("950")), &cfg, t, S::LimitApproaching),
            "numeric strings count"
        );
        assert!(!fires(&at(json!("lots")), &cfg, t, S::LimitApproaching));
        let zero = store_with(&cfg, &[], Some(json!({"usage": 5, "plan_limit": 0})));
        assert!(
            !fires(&zero, &cfg, t, S::LimitApproaching),
            "a zero limit never fires"
        );
        // Seats via $groupidentify: the set before T counts, the one at T does not.
        let seats = store_with(
            &cfg,
            &[
                identify(json!({"seats_used": 9, "seat_limit": 10}), t - DAYS),
                identify(json!({"seats_used": 2}), t),
            ],
            None,
        );
        assert!(fires(&seats, &cfg, t, S::LimitApproaching));
        let later = store_with(
            &cfg,
            &[identify(json!({"seats_used": 9, "seat_limit": 10}), t)],
            None,
        );
        assert!(!fires(&later, &cfg, t, S::LimitApproaching));
    });
}

#[test]
fn group_set_overlays_the_snapshot_in_time_order() {
    let cfg = Config::default();
    let t = ts(TS[1]);
    let store = store_with(
        &cfg,
        &[
            identify(json!({"usage": 990}), t - 5 * DAYS),
            identify(json!({"usage": 100}), t - 2 * DAYS),
        ],
        Some(json!({"usage": 950, "plan_limit": 1000})),
    );
    assert!(
        !fires(&store, &cfg, t, S::LimitApproaching),
        "the latest set before T wins"
    );
    assert!(
        fires(&store, &cfg, t - 3 * DAYS, S::LimitApproaching),
        "as of an earlier T"
    );
}

#[test]
fn trial_expiring_needs_an_end_inside_the_next_days_and_activity() {
    let cfg = Config::default();
    each_t(|t| {
        let with = |ends: String, n: usize| {
            store_with(
                &cfg,
                &burst(n, "u1", t - 2 * DAYS),
                Some(json!({ "trial_ends_at": ends })),
            )
        };
        let at = |x: i64| beton::time::fmt_ts(x);
        assert!(fires(
            &with(at(t + 7 * DAYS - SECOND), 3),
            &cfg,
            t,
            S::TrialExpiring
        ));
        assert!(
            !fires(&with(at(t + 7 * DAYS), 3), &cfg, t, S::TrialExpiring),
            "T + 7 d is outside"
        );
        assert!(
            !fires(&with(at(t), 3), &cfg, t, S::TrialExpiring),
            "ending at T is not expiring"
        );
        assert!(fires(&with(at(t + SECOND), 3), &cfg, t, S::TrialExpiring));
        assert!(
            !fires(&with(at(t + DAYS), 2), &cfg, t, S::TrialExpiring),
            "needs 3 events in W"
        );
    });
    // A plain date means 00:00 UTC.
    let t = ts("2026-05-10T00:00:00Z");
    let s = store_with(
        &cfg,
        &burst(3, "u1", t - DAYS),
        Some(json!({"trial_ends_at": "2026-05-16"})),
    );
    assert!(fires(&s, &cfg, t, S::TrialExpiring));
    let s = store_with(
        &cfg,
        &burst(3, "u1", t - DAYS),
        Some(json!({"trial_ends_at": "2026-05-17"})),
    );
    assert!(!fires(&s, &cfg, t, S::TrialExpiring));
}

#[test]
fn team_growth_counts_users_first_active_in_w() {
    let cfg = Config::default();
    each_t(|t| {
        let one = [ev("x", "new1", t - DAYS)];
        assert!(!fires(
            &store_with(&cfg, &one, None),
            &cfg,
            t,
            S::TeamGrowth
        ));
        let two = [
            ev("x", "new1", t - DAYS),
            ev("x", "new2", t - 7 * DAYS),
            ev("x", "new2", t - DAYS),
        ];
        assert!(fires(&store_with(&cfg, &two, None), &cfg, t, S::TeamGrowth));
        // new2 was active at the last instant of L: not new.
        let seen = [
            ev("x", "new1", t - DAYS),
            ev("x", "new2", t - DAYS),
            ev("x", "new2", t - 7 * DAYS - 1),
        ];
        assert!(!fires(
            &store_with(&cfg, &seen, None),
            &cfg,
            t,
            S::TeamGrowth
        ));
        // new2 was active only before L began: new again.
        let back = [
            ev("x", "new1", t - DAYS),
            ev("x", "new2", t - DAYS),
            ev("x", "new2", t - 97 * DAYS - 1),
        ];
        assert!(fires(
            &store_with(&cfg, &back, None),
            &cfg,
            t,
            S::TeamGrowth
        ));
        // Excluded events do not make a user active.
        let quiet = [
            ev("x", "new1", t - DAYS),
            ev("$pageleave", "new2", t - DAYS),
        ];
        assert!(!fires(
            &store_with(&cfg, &quiet, None),
            &cfg,
            t,
            S::TeamGrowth
        ));
    });
}

#[test]
fn support_and_billing_count_listed_events_with_prefixes() {
    let cfg = Config::default();
    each_t(|t| {
        let support = |n: usize| {
            (0..n)
                .map(|i| {
                    ev(
                        if i % 2 == 0 {
                            "intercom_message"
                        } else {
                            "support_ticket_created"
                        },
                        "u1",
                        t - DAYS + i as i64,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert!(!fires(
            &store_with(&cfg, &support(2), None),
            &cfg,
            t,
            S::SupportEngagement
        ));
        assert!(fires(
            &store_with(&cfg, &support(3), None),
            &cfg,
            t,
            S::SupportEngagement
        ));
        assert!(!fires(
            &store_with(&cfg, &[], None),
            &cfg,
            t,
            S::BillingIntent
        ));
        let billing = [ev("stripe_checkout_session_created", "u1", t - 7 * DAYS)];
        assert!(fires(
            &store_with(&cfg, &billing, None),
            &cfg,
            t,
            S::BillingIntent
        ));
        let late = [ev("checkout_started", "u1", t)];
        assert!(!fires(
            &store_with(&cfg, &late, None),
            &cfg,
            t,
            S::BillingIntent
        ));
    });
}

#[test]
fn settings_move_the_thresholds() {
    let t = ts(TS[1]);
    let events = [
        pageview("/pricing", t - DAYS),
        pageview("/pricing", t - DAYS),
    ];
    let strict = Config::default()
        .with_overrides(&["pricing_intent.min_count=3".into()])
        .unwrap();
    assert!(!fires(
        &store_with(&strict, &events, None),
        &strict,
        t,
        S::PricingIntent
    ));
    let off = Config::default()
        .with_overrides(&["pricing_intent.enabled=false".into()])
        .unwrap();
    assert!(!fires(
        &store_with(&off, &events, None),
        &off,
        t,
        S::PricingIntent
    ));
    let plans = Config::default()
        .with_overrides(&[r#"pricing_intent.url_patterns=["/plans"]"#.into()])
        .unwrap();
    let events = [
        pageview("/Plans", t - DAYS),
        pageview("/plans/team", t - 2 * DAYS),
    ];
    assert!(fires(
        &store_with(&plans, &events, None),
        &plans,
        t,
        S::PricingIntent
    ));
}

#[test]
fn score_caps_bases_and_bonus() {
    let cfg = Config::default();
    assert_eq!(ScoreParts::of(&[30, 40], &cfg).score(), 80);
    // All eight: Σ 220 capped at 80, bonus 40 capped at 20.
    let all = ScoreParts::of(&[25, 30, 20, 35, 30, 25, 15, 40], &cfg);
    assert_eq!(
        (all.base_sum, all.capped, all.bonus, all.score()),
        (220, 80, 20, 100)
    );
    // Cap exactly reached: 35 + 30 + 15 = 80, bonus 15.
    assert_eq!(ScoreParts::of(&[35, 30, 15], &cfg).score(), 95);
    assert_eq!(ScoreParts::of(&[15], &cfg).score(), 20);
}

#[test]
fn tiers_and_routing_follow_the_bounds() {
    let cfg = Config::default();
    for (score, tier) in [
        (100, Tier::Hot),
        (70, Tier::Hot),
        (69, Tier::Warm),
        (40, Tier::Warm),
        (39, Tier::Cool),
        (0, Tier::Cool),
    ] {
        assert_eq!(Tier::of(score, &cfg), tier, "score {score}");
    }
    let t = ts(TS[1]);
    // pricing (30) + billing (40) = 70 + 10 → 80, hot and routed.
    let events = [
        pageview("/pricing", t - DAYS),
        pageview("/pricing", t - DAYS),
        ev("checkout_started", "u1", t - DAYS),
    ];
    let s = score_at(&store_with(&cfg, &events, None), &cfg, t);
    assert_eq!((s.score, s.tier, s.routed), (80, Tier::Hot, true));
    // pricing alone: 30 + 5 = 35, cool, not routed.
    let s = score_at(&store_with(&cfg, &events[..2], None), &cfg, t);
    assert_eq!((s.score, s.tier, s.routed), (35, Tier::Cool, false));
    // limit (35) + support (15) = 50 + 10 = 60: routed at exactly the threshold, warm.
    let mut events: Vec<_> = (0..3)
        .map(|i| ev("intercom_chat", "u1", t - DAYS + i))
        .collect();
    events.push(identify(
        json!({"usage": 900, "plan_limit": 1000}),
        t - DAYS,
    ));
    let s = score_at(&store_with(&cfg, &events, None), &cfg, t);
    assert_eq!((s.score, s.tier, s.routed), (60, Tier::Warm, true));
}

#[test]
fn evidence_names_the_numbers() {
    let cfg = Config::default();
    let t = ts(TS[1]);
    let mut events = burst(10, "u1", t - 10 * DAYS);
    events.extend(burst(18, "u1", t - 3 * DAYS));
    let fired = fired_at(&store_with(&cfg, &events, None), &cfg, t);
    let spike = fired
        .iter()
        .find(|f| f.signal == S::UsageSpike)
        .expect("spike");
    assert_eq!(
        spike.evidence,
        "activity up 80 % week over week: 18 vs 10 events"
    );
    assert_eq!(spike.numbers["events"], 18);
}
