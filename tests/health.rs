//! Account health (SPEC §4) on hand-built workspaces, at a T at midnight and in mid-day.

mod common;

use beton::config::Config;
use beton::health::{self, Status, status};
use beton::store::EventIn;
use common::*;

const TS: [&str; 2] = ["2026-05-10T00:00:00Z", "2026-05-10T13:37:11Z"];

fn at(key: &str, e: EventIn) -> EventIn {
    EventIn {
        account: Some(key.into()),
        ..e
    }
}

#[test]
fn status_follows_the_spec_table() {
    // (W, P, last 14 d, 44 d → 14 d, last 30 d)
    let cases = [
        ((0, 0, 0, 5, 0), Status::Inactive),
        ((4, 10, 14, 0, 14), Status::AtRisk),    // W < 0.5 × P
        ((5, 10, 15, 0, 15), Status::Stable),    // W = 0.5 × P is not below
        ((4, 9, 13, 0, 13), Status::Stable),     // P < 10: no week-over-week verdict
        ((0, 0, 0, 3, 3), Status::AtRisk),       // silent 14 days after activity before
        ((13, 10, 23, 0, 23), Status::Growing),  // W > 1.2 × P
        ((12, 10, 22, 0, 22), Status::Stable),   // W = 1.2 × P is not above
        ((100, 0, 100, 0, 100), Status::Stable), // P = 0: growth undefined
    ];
    for ((w, p, l14, mid, l30), want) in cases {
        assert_eq!(status(w, p, l14, mid, l30), want, "W={w} P={p}");
    }
}

#[test]
fn figures_per_account_from_windows_before_t() {
    let cfg = Config::default();
    for t in TS.map(ts) {
        let mut events = burst(10, "u1", t - 10 * DAYS); // P
        events.extend(burst(13, "u2", t - 3 * DAYS)); // W
        events.extend(burst(2, "u3", t - 20 * DAYS));
        events.push(ev("report_exported", "u4", t - 31 * DAYS)); // outside 30 d
        events.push(ev("report_exported", "u5", t)); // at T: not before it
        events.push(ev("$pageleave", "u6", t - DAYS)); // not activity
        events.push(feature("sso", t - 2 * DAYS));
        events.push(feature("sso", t - 29 * DAYS));
        events.push(feature("api", t - 5 * DAYS));
        events.push(feature("old", t - 40 * DAYS));
        events.extend(
            burst(5, "x1", t - 40 * DAYS)
                .into_iter()
                .map(|e| at("quiet.io", e)),
        );
        events.push(at("gone.io", ev("report_exported", "y1", t - 60 * DAYS)));
        let store = store_with(&cfg, &events, None);
        let h = health::compute(&store, &cfg, t).expect("health");
        let acme = h
            .accounts
            .iter()
            .find(|a| a.account == "acme.com")
            .expect("acme");
        assert_eq!(
            acme.events_7d,
            13 + 2,
            "13 in W plus sso and api feature_used"
        );
        assert_eq!(acme.events_prev_7d, 10);
        assert_eq!(acme.growth, Some(0.5));
        assert_eq!(acme.status, Status::Growing);
        assert_eq!(
            acme.active_users_30d, 3,
            "u1, u2, u3 (feature_used is by u1)"
        );
        assert_eq!(acme.features_30d, 2, "sso and api; old is 40 days back");
        assert_eq!(
            acme.last_seen.as_deref(),
            Some(beton::time::fmt_ts(t - 2 * DAYS)).as_deref()
        );
        assert_eq!(acme.daily.len(), 30);
        assert_eq!(
            acme.daily.iter().map(|d| u64::from(*d)).sum::<u64>(),
            10 + 15 + 2 + 1
        );

        let quiet = h
            .accounts
            .iter()
            .find(|a| a.account == "quiet.io")
            .expect("quiet");
        assert_eq!(quiet.status, Status::Inactive, "no activity in 30 days");
        let gone = h
            .accounts
            .iter()
            .find(|a| a.account == "gone.io")
            .expect("gone");
        assert_eq!((gone.status, gone.growth), (Status::Inactive, None));
        assert_eq!(gone.days_since_seen, Some(60.0));

        assert_eq!(h.growth_leaders.len(), 1);
        assert_eq!(h.growth_leaders[0].account, "acme.com");
        let adoption: Vec<(&str, u64)> = h
            .feature_adoption
            .iter()
            .map(|f| (f.feature.as_str(), f.accounts))
            .collect();
        assert_eq!(adoption, vec![("api", 1), ("sso", 1)]);
        assert_eq!(h.counts[&Status::Inactive], 2);
    }
}

#[test]
fn silent_for_two_weeks_after_activity_is_at_risk() {
    let cfg = Config::default();
    for t in TS.map(ts) {
        let store = store_with(&cfg, &burst(3, "u1", t - 20 * DAYS), None);
        let h = health::compute(&store, &cfg, t).expect("health");
        assert_eq!(h.accounts[0].status, Status::AtRisk);
        assert!(h.growth_leaders.is_empty());
    }
}

#[test]
fn an_empty_workspace_has_no_accounts_and_no_leaders() {
    let cfg = Config::default();
    let store = store_with(&cfg, &[], None);
    let h = health::compute(&store, &cfg, ts(TS[1])).expect("health");
    assert!(h.accounts.is_empty() && h.growth_leaders.is_empty() && h.feature_adoption.is_empty());
    assert!(h.counts.values().all(|n| *n == 0));
}
