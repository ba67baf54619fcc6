//! The rollups plus event-by-event window edges give exactly what a brute-force pass over every
//! raw event gives, at midnight and mid-day T, after a rollup rebuild, and for one account alone.

use std::collections::{HashMap, HashSet};

use beton::config::Config;
use beton::demo::{DemoOptions, create};
use beton::progress::Silent;
use beton::signals::facts::Facts;
use beton::signals::{Metrics, metrics};
use beton::store::{Classifier, RawEvent, Store};
use beton::time::{DAY, parse_ts};

/// An owned copy of a raw event.
struct Ev {
    ts: i64,
    account: i64,
    user: i64,
    name: i64,
    url: Option<String>,
    feature: Option<i64>,
}

/// SPEC §2 computed the slow, obvious way from raw events.
fn brute_force(store: &Store, cfg: &Config, t: i64) -> HashMap<i64, Metrics> {
    let names = store.names().unwrap();
    let features = store.feature_names().unwrap();
    let classifier = Classifier::new(cfg);
    let mut events: Vec<Ev> = Vec::new();
    store
        .for_raw_events(i64::MIN, t, None, |e: RawEvent| {
            events.push(Ev {
                ts: e.ts,
                account: e.account,
                user: e.user,
                name: e.name,
                url: e.url.map(str::to_string),
                feature: e.feature,
            })
        })
        .unwrap();
    let s = &cfg.signals;
    let d = |n: u32| i64::from(n) * DAY;
    let in_w = |ts: i64, days: u32| ts >= t - d(days) && ts < t;
    let facts = Facts::load(store, cfg, &[t], None).unwrap();
    let mut out = HashMap::new();
    for a in &facts.accounts {
        let mine: Vec<&Ev> = events.iter().filter(|e| e.account == a.id).collect();
        let class = |e: &Ev| classifier.class(&names[&e.name]);
        let count = |days: u32, pred: &dyn Fn(&Ev) -> bool| {
            mine.iter().filter(|e| in_w(e.ts, days) && pred(e)).count() as u64
        };
        let activity = |e: &Ev| class(e).activity;
        let us = s.usage_spike.window_days;
        let before = mine
            .iter()
            .filter(|e| e.ts >= t - 2 * d(us) && e.ts < t - d(us) && activity(e))
            .count() as u64;
        let fa = &s.feature_adoption;
        let is_feature = |e: &Ev| class(e).feature && e.feature.is_some();
        let old: HashSet<i64> = mine
            .iter()
            .filter(|e| {
                is_feature(e)
                    && e.ts >= t - d(fa.window_days) - d(fa.lookback_days)
                    && e.ts < t - d(fa.window_days)
            })
            .filter_map(|e| e.feature)
            .collect();
        let mut new_features: Vec<String> = mine
            .iter()
            .filter(|e| is_feature(e) && in_w(e.ts, fa.window_days))
            .filter_map(|e| e.feature)
            .filter(|f| !old.contains(f))
            .map(|f| features[&f].clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        new_features.sort();
        let tg = &s.team_growth;
        let mut first: HashMap<i64, i64> = HashMap::new();
        for e in mine
            .iter()
            .filter(|e| activity(e) && e.ts >= t - d(tg.window_days) - d(tg.lookback_days))
        {
            let f = first.entry(e.user).or_insert(e.ts);
            *f = (*f).min(e.ts);
        }
        let pricing = |e: &Ev| {
            class(e).pageview && e.url.as_deref().is_some_and(|u| classifier.is_pricing(u))
        };
        out.insert(
            a.id,
            Metrics {
                activity: count(us, &activity),
                activity_before: before,
                pricing_views: count(s.pricing_intent.window_days, &pricing),
                new_features,
                trial_activity: count(s.trial_expiring.window_days, &activity),
                new_users: first.values().filter(|f| in_w(**f, tg.window_days)).count() as u64,
                support_events: count(s.support_engagement.window_days, &|e| class(e).support),
                billing_events: count(s.billing_intent.window_days, &|e| class(e).billing),
                props: a
                    .props_at(t)
                    .into_iter()
                    .filter(|(k, _)| beton::signals::rule_properties(cfg).contains(&k.as_str()))
                    .collect(),
            },
        );
    }
    out
}

fn demo_store(cfg: &Config, end: i64) -> Store {
    let store = Store::open_in_memory().unwrap();
    let opts = DemoOptions {
        accounts: 40,
        days: 130,
        seed: 11,
        as_of: end,
        activity_scale: 1.0,
    };
    create(&store, cfg, &opts, &Silent).unwrap();
    store
}

fn assert_exact(store: &Store, cfg: &Config, t: i64) {
    let want = brute_force(store, cfg, t);
    let facts = Facts::load(store, cfg, &[t], None).unwrap();
    let mut nonzero = 0;
    for a in &facts.accounts {
        let got = metrics(a, cfg, t, &facts.features);
        assert_eq!(
            got,
            want[&a.id],
            "account {} at {}",
            a.key,
            beton::time::fmt_ts(t)
        );
        nonzero += usize::from(got.activity > 0);
    }
    assert!(
        nonzero > 10,
        "the demo should be active at {}",
        beton::time::fmt_ts(t)
    );
}

#[test]
fn rollups_and_edges_match_brute_force() {
    let cfg = Config::default();
    let end = parse_ts("2026-06-01T00:00:00Z").unwrap();
    let store = demo_store(&cfg, end);
    for t in [
        end,
        end - 3 * DAY,
        end - DAY / 3,
        end - 5 * DAY - 7_777_777,
        end - 20 * DAY + 1,
    ] {
        assert_exact(&store, &cfg, t);
    }
}

#[test]
fn changed_lists_rebuild_the_rollups_and_still_match() {
    let cfg = Config::default();
    let end = parse_ts("2026-06-01T00:00:00Z").unwrap();
    let store = demo_store(&cfg, end);
    let other = cfg
        .with_overrides(&[
            r#"pricing_intent.url_patterns=["/team", "/PRICING"]"#.into(),
            r#"activity_exclude=["$pageview"]"#.into(),
            r#"support_engagement.events=["report_*"]"#.into(),
        ])
        .unwrap();
    assert!(store.ensure_rollups(&other).unwrap(), "a rebuild runs");
    assert!(!store.ensure_rollups(&other).unwrap(), "and only once");
    assert_exact(&store, &other, end - DAY / 2);
}

#[test]
fn one_account_loads_the_same_as_all() {
    let cfg = Config::default();
    let end = parse_ts("2026-06-01T06:00:00Z").unwrap();
    let store = demo_store(&cfg, end);
    let all = Facts::load(&store, &cfg, &[end], None).unwrap();
    for a in all.accounts.iter().take(5) {
        let one = Facts::load(&store, &cfg, &[end], Some(a.id)).unwrap();
        assert_eq!(one.accounts.len(), 1);
        assert_eq!(
            metrics(&one.accounts[0], &cfg, end, &one.features),
            metrics(a, &cfg, end, &all.features)
        );
    }
}

#[test]
fn the_two_thread_scan_scores_like_the_one_thread_load() {
    let cfg = Config::default();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.sqlite")).unwrap();
    let end = parse_ts("2026-06-01T10:00:00Z").unwrap();
    // Enough accounts that score_scan splits them over two connections.
    let opts = DemoOptions {
        accounts: 2300,
        days: 21,
        seed: 5,
        as_of: end,
        activity_scale: 0.5,
    };
    create(&store, &cfg, &opts, &Silent).unwrap();
    let (scanned, seen) = beton::signals::score_scan(&store, &cfg, end).unwrap();
    let facts = Facts::load(&store, &cfg, &[end], None).unwrap();
    assert_eq!(seen, 2300);
    assert_eq!(scanned, beton::signals::score_all(&facts, &cfg, end));
    assert!(scanned.len() > 100, "{} accounts fired", scanned.len());
}
