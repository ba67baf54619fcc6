//! The backtest on real workspaces: a fixture with a known answer through detection and scoring,
//! the no-lookahead rule, saved runs, what-if and sweep.

mod common;

use beton::backtest::{self, BacktestOptions, Source};
use beton::config::Config;
use beton::progress::Silent;
use beton::signals::SignalType;
use beton::store::{DealRow, EventIn, Ingest, Store};
use beton::time::DAY;
use common::*;
use serde_json::json;

/// T mid-day, so window edges fall mid-day and the store reads those days event by event.
const T: &str = "2026-06-01T10:00:00Z";

fn opts(t: i64) -> BacktestOptions {
    BacktestOptions {
        as_of: t,
        range_days: 70,
        step_days: 7,
        horizon_days: 30,
    }
}

fn cfg() -> Config {
    // Pricing intent alone (30 + 5) routes.
    Config {
        route_threshold: 35,
        ..Config::default()
    }
}

fn won(id: &str, key: &str, closed: i64, value: f64) -> DealRow {
    DealRow {
        deal_id: id.into(),
        account_key: key.into(),
        name: None,
        lead_source: "pql".into(),
        stage: "closed_won".into(),
        value: Some(value),
        created_at: closed - 20 * DAY,
        sql_at: None,
        closed_at: Some(closed),
        owner_email: None,
    }
}

fn at(key: &str, e: EventIn) -> EventIn {
    EventIn {
        account: Some(key.into()),
        ..e
    }
}

fn add(store: &Store, cfg: &Config, events: &[EventIn], deals: &[DealRow]) {
    let mut ingest = Ingest::begin(store, cfg).expect("begin");
    for e in events {
        ingest.event(e).expect("event");
    }
    for d in deals {
        ingest.deal(d).expect("deal");
    }
    ingest.commit().expect("commit");
}

/// acme.com views pricing twice a day before the replay date D_5 and is won 10 days later;
/// beta.io does the same before D_3 and is never won; gamma.dev is won without any signal.
fn fixture(t: i64) -> (Store, Vec<i64>) {
    let cfg = cfg();
    let dates = opts(t).dates();
    let store = Store::open_in_memory().expect("store");
    let mut events = Vec::new();
    for (key, d) in [("acme.com", dates[5]), ("beta.io", dates[3])] {
        events.push(at(
            key,
            pageview("https://app.example.com/pricing", d - 2 * DAYS),
        ));
        events.push(at(
            key,
            pageview("https://app.example.com/Pricing?x", d - DAYS),
        ));
    }
    events.push(at(
        "gamma.dev",
        ev("report_exported", "g1", dates[0] - 3 * DAYS),
    ));
    add(
        &store,
        &cfg,
        &events,
        &[
            won("D1", "acme.com", dates[5] + 10 * DAYS, 1200.0),
            won("D2", "gamma.dev", dates[6], 800.0),
        ],
    );
    (store, dates)
}

#[test]
fn a_fixture_through_detection_gives_the_known_answer() {
    let t = ts(T);
    let (store, dates) = fixture(t);
    let r = backtest::run(&store, &cfg(), &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(r.replay_dates, 11);
    assert_eq!(dates.len(), 11);
    // acme.com: true positive after 10 days; beta.io: false positive (its horizon ended by T).
    assert_eq!(
        (r.flagged, r.true_positives, r.false_positives, r.censored),
        (2, 1, 1, 0)
    );
    assert_eq!(r.precision, Some(0.5));
    // Won: acme.com (caught) and gamma.dev (no flag).
    assert_eq!((r.won_accounts, r.caught, r.recall), (2, 1, Some(0.5)));
    assert_eq!(r.median_days_to_close, Some(10.0));
    assert_eq!(r.value_won, 1200.0);
    let p = r
        .per_signal
        .iter()
        .find(|f| f.signal == SignalType::PricingIntent)
        .expect("pricing");
    assert_eq!((p.fires, p.flagged, p.precision), (2, 2, Some(0.5)));
}

#[test]
fn data_dated_after_a_replay_date_does_not_change_what_it_sees() {
    let t = ts(T);
    let cfg = cfg();
    let (store, dates) = fixture(t);
    let k = 6;
    let d = dates[k];
    let before = backtest::replay(&store, &[&cfg], &dates, &Silent)
        .expect("replay")
        .remove(0);
    let report_before =
        backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");

    // At D_k itself and later: pricing views, a new user, billing, a property change that makes
    // limit_approaching fire, and a won deal for beta.io.
    let mut later = vec![
        at("beta.io", pageview("/pricing", d)),
        at("beta.io", pageview("/pricing", d + 1)),
        at(
            "beta.io",
            ev("checkout_started", "b9", d + 3600 * 1_000_000),
        ),
        at(
            "acme.com",
            identify(json!({"usage": 990, "plan_limit": 1000}), d),
        ),
    ];
    later.extend(
        burst(30, "late", d + DAYS)
            .into_iter()
            .map(|e| at("beta.io", e)),
    );
    add(
        &store,
        &cfg,
        &later,
        &[won("D3", "beta.io", d + 2 * DAYS, 500.0)],
    );

    let after = backtest::replay(&store, &[&cfg], &dates, &Silent)
        .expect("replay")
        .remove(0);
    assert_eq!(
        before.seen[..=k],
        after.seen[..=k],
        "dates up to D_{k} saw data from after them"
    );
    assert_ne!(
        before.seen[k + 1..],
        after.seen[k + 1..],
        "the later data should be seen after D_{k}"
    );

    let report_after =
        backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(report_before.timeline[..=k], report_after.timeline[..=k]);
}

#[test]
fn saved_backtests_come_back_newest_first() {
    let t = ts(T);
    let (store, _) = fixture(t);
    assert!(
        store
            .latest_backtests::<beton::backtest::BacktestReport>(2)
            .expect("read")
            .is_empty()
    );
    let first = backtest::run(&store, &cfg(), &opts(t), &Silent, Source::Local).expect("backtest");
    let id1 = store.save_backtest(t, &first).expect("save");
    let strict = Config {
        route_threshold: 100,
        ..cfg()
    };
    let second =
        backtest::run(&store, &strict, &opts(t), &Silent, Source::Local).expect("backtest");
    let id2 = store.save_backtest(t, &second).expect("save");
    let saved = store.latest_backtests(2).expect("read");
    assert_eq!(
        saved.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![id2, id1]
    );
    assert_eq!(saved[1].report, first);
    let changes = backtest::compare(&saved[1].report, &saved[0].report);
    let precision = changes
        .iter()
        .find(|c| c.figure == "precision")
        .expect("precision");
    assert_eq!((precision.before, precision.after), (Some(0.5), None));
    assert_eq!(precision.text(), "precision 50.0 % → n/a");
}

#[test]
fn what_if_and_sweep_move_the_figures_without_touching_the_settings() {
    let t = ts(T);
    let (store, _) = fixture(t);
    let cfg = cfg();
    let w = backtest::what_if(
        &store,
        &cfg,
        &["pricing_intent.min_count=3".into()],
        &opts(t),
        &Silent,
        Source::Local,
    )
    .expect("what-if");
    assert_eq!((w.before.flagged, w.after.flagged), (2, 0));
    assert_eq!(w.after.sets, vec!["pricing_intent.min_count=3".to_string()]);
    let flagged = w
        .changes
        .iter()
        .find(|c| c.figure == "flagged")
        .expect("flagged");
    assert_eq!((flagged.before, flagged.after), (Some(2.0), Some(0.0)));
    assert_eq!(cfg.signals.pricing_intent.min_count, 2);

    let (key, values) = backtest::parse_sweep("pricing_intent.min_count=1..3").expect("parse");
    let s = backtest::sweep(
        &store,
        &cfg,
        &[],
        (&key, &values),
        &opts(t),
        &Silent,
        Source::Local,
    )
    .expect("sweep");
    let got: Vec<(&str, u64)> = s
        .points
        .iter()
        .map(|p| (p.value.as_str(), p.flagged))
        .collect();
    assert_eq!(got, vec![("1", 2), ("2", 2), ("3", 0)]);
    assert!(s.points[0].signal.is_some());

    // A what-if that changes which events count rebuilds the rollups, and puts them back.
    let w = backtest::what_if(
        &store,
        &cfg,
        &["pricing_intent.url_patterns=[\"/plans\"]".into()],
        &opts(t),
        &Silent,
        Source::Local,
    )
    .expect("what-if");
    assert_eq!(w.after.flagged, 0);
    assert_eq!(
        backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("again"),
        w.before
    );
}

#[test]
fn sweep_specs_parse_ranges_and_lists_and_refuse_junk() {
    let (k, v) = backtest::parse_sweep("limit_approaching.min_ratio=0.6, 0.8").expect("list");
    assert_eq!(
        (k.as_str(), v),
        (
            "limit_approaching.min_ratio",
            vec!["0.6".to_string(), "0.8".to_string()]
        )
    );
    assert_eq!(
        backtest::parse_sweep("x=2..4").expect("range").1,
        vec!["2", "3", "4"]
    );
    for bad in ["x", "x=", "x=5..1", "x=a..3"] {
        assert!(backtest::parse_sweep(bad).is_err(), "{bad}");
    }
}

#[test]
fn explain_signal_advises_from_the_sweep() {
    let t = ts(T);
    let (store, _) = fixture(t);
    let e = backtest::explain_signal(
        &store,
        &cfg(),
        SignalType::PricingIntent,
        &opts(t),
        &Silent,
        Source::Local,
    )
    .expect("explain");
    assert_eq!(e.tuning_key, "pricing_intent.min_count");
    assert_eq!(e.current, "2");
    assert_eq!(e.figures.fires, 2);
    assert!(
        e.definition.contains("at least 2 $pageview"),
        "{}",
        e.definition
    );
    // min_count 1 and 2 give F1 0.5 (one true, one false positive); 3+ give 0. The current wins ties.
    assert!(e.advice.starts_with("keep min_count at 2"), "{}", e.advice);
}

#[test]
fn each_replay_date_scores_as_detection_at_that_date_would() {
    let t = ts(T);
    let cfg = Config::default();
    let store = Store::open_in_memory().expect("store");
    let demo = beton::demo::DemoOptions {
        accounts: 80,
        days: 120,
        seed: 7,
        as_of: t,
        activity_scale: 1.0,
    };
    beton::demo::create(&store, &cfg, &demo, &Silent).expect("demo");
    let dates = opts(t).dates();
    let r = backtest::replay(&store, &[&cfg], &dates, &Silent)
        .expect("replay")
        .remove(0);
    let mut fired_somewhere = 0;
    for k in [0, 4, dates.len() - 1] {
        let facts =
            beton::signals::facts::Facts::load(&store, &cfg, &[dates[k]], None).expect("facts");
        let alone = beton::signals::score_all(&facts, &cfg, dates[k]);
        for (i, key) in r.accounts.iter().enumerate() {
            let want = alone.iter().find(|s| &s.account == key);
            let seen = r.seen[k][i];
            assert_eq!(seen.score, want.map_or(0, |s| s.score), "{key} at D_{k}");
            let types = want.map_or(0, |s| {
                s.fired.iter().fold(0u8, |m, f| m | 1 << (f.signal as u8))
            });
            assert_eq!(seen.signals, types, "{key} at D_{k}");
            fired_somewhere += usize::from(seen.signals != 0);
        }
    }
    assert!(
        fired_somewhere > 10,
        "the demo should fire signals: {fired_somewhere}"
    );
}

#[test]
fn a_cancelled_backtest_stops_with_cancelled() {
    struct Stop;
    impl beton::progress::Progress for Stop {
        fn is_cancelled(&self) -> bool {
            true
        }
    }
    let t = ts(T);
    let (store, _) = fixture(t);
    let err = backtest::run(&store, &cfg(), &opts(t), &Stop, Source::Local).expect_err("cancelled");
    assert!(matches!(err, beton::Error::Cancelled), "{err}");
}

// The replay cache (backtest/cache.rs): the next replay over the same data, settings and dates
// is read back, and nothing else is.

/// Replays `cfg` at the fixture's dates and returns its key in the cache.
fn cache_key(cfg: &Config, t: i64) -> String {
    backtest::cache::key(cfg, &opts(t).dates()).expect("the cache is on in tests")
}

#[test]
fn a_second_backtest_reads_the_first_ones_replay_and_an_import_retires_it() {
    let t = ts(T);
    let cfg = cfg();
    let (store, dates) = fixture(t);
    let cold = backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(store.replay_cache_size().expect("size").0, 1);
    let warm = backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(cold, warm, "a replay read back gives the same answer");

    // Proof that it is read: plant another replay under the same key; the backtest follows it.
    let key = cache_key(&cfg, t);
    let mut planted = backtest::replay(&store, &[&cfg], &dates, &Silent)
        .expect("replay")
        .remove(0);
    for row in &mut planted.seen {
        for s in row.iter_mut() {
            *s = backtest::Seen {
                active: s.active,
                ..Default::default()
            };
        }
    }
    let blob = backtest::cache::encode(&planted).expect("encodable");
    let state = store.data_state().expect("state");
    assert!(store.cache_replay(&key, &state, &blob).expect("kept"));
    let read = backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!((read.flagged, read.true_positives), (0, 0));
    assert_eq!(cold.flagged, 2);

    // An import (even one that adds nothing) changes the data state: the entry is never read
    // again, and the replay is computed afresh.
    Ingest::begin(&store, &cfg)
        .expect("begin")
        .commit()
        .expect("commit");
    assert_ne!(store.data_state().expect("state"), state);
    let fresh = backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(fresh, cold);
    // The stale entry went when the fresh one was kept.
    assert_eq!(store.replay_cache_size().expect("size").0, 1);
}

#[test]
fn other_settings_or_dates_are_replayed_not_read() {
    let t = ts(T);
    let cfg = cfg();
    let (store, _) = fixture(t);
    let base = backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    // A detection setting: pricing intent now needs three views, so nobody is flagged.
    let strict = cfg
        .with_overrides(&["pricing_intent.min_count=3".to_string()])
        .expect("setting");
    let r = backtest::run(&store, &strict, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!((base.flagged, r.flagged), (2, 0));
    // Another T: other dates, another entry.
    let later = opts(t + DAY);
    backtest::run(&store, &cfg, &later, &Silent, Source::Local).expect("backtest");
    assert_eq!(store.replay_cache_size().expect("size").0, 3);
    assert_ne!(cache_key(&cfg, t), cache_key(&strict, t));
    // A what-if sweep replays its candidates over one scan and keeps each.
    let (key, values) = backtest::parse_sweep("pricing_intent.min_count=1..4").expect("sweep");
    let cfgs: Vec<Config> = values
        .iter()
        .map(|v| {
            cfg.with_overrides(&[format!("{key}={v}")])
                .expect("setting")
        })
        .collect();
    let refs: Vec<&Config> = cfgs.iter().collect();
    let cold = backtest::reports(&store, &refs, &opts(t), &Silent, Source::Local).expect("sweep");
    let warm = backtest::reports(&store, &refs, &opts(t), &Silent, Source::Local).expect("sweep");
    assert_eq!(cold, warm);
    assert_eq!(
        cold[1].flagged, base.flagged,
        "min_count=2 is the fixture's setting"
    );
    let kept = store.replay_cache_size().expect("size").0;

    // Base points change no fired type: the replay is read back and scored under them, as a
    // fresh replay would be.
    let low = cfg
        .with_overrides(&["pricing_intent.base=10".to_string()])
        .expect("setting");
    let read = backtest::run(&store, &low, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(store.replay_cache_size().expect("size").0, kept);
    assert_eq!(read.flagged, 0, "10 + 5 is under the threshold of 35");
    store.clear_replay_cache().expect("clear");
    let fresh = backtest::run(&store, &low, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(read, fresh);
}

#[test]
fn a_replay_computed_before_an_import_committed_is_not_kept() {
    let t = ts(T);
    let cfg = cfg();
    let (store, dates) = fixture(t);
    let r = backtest::replay(&store, &[&cfg], &dates, &Silent)
        .expect("replay")
        .remove(0);
    let before = store.data_state().expect("state");
    store.clear_replay_cache().expect("clear");
    add(
        &store,
        &cfg,
        &[at("acme.com", pageview("/pricing", dates[0]))],
        &[],
    );
    let blob = backtest::cache::encode(&r).expect("encodable");
    assert!(
        !store
            .cache_replay(&cache_key(&cfg, t), &before, &blob)
            .expect("no error")
    );
    assert_eq!(store.replay_cache_size().expect("size"), (0, 0));
}

#[test]
fn the_cache_keeps_the_newest_eight_replays() {
    let t = ts(T);
    let (store, dates) = fixture(t);
    let r = backtest::replay(&store, &[&cfg()], &dates, &Silent)
        .expect("replay")
        .remove(0);
    let blob = backtest::cache::encode(&r).expect("encodable");
    let state = store.data_state().expect("state");
    for i in 0..12 {
        assert!(
            store
                .cache_replay(&format!("k{i}"), &state, &blob)
                .expect("kept")
        );
    }
    let (n, bytes) = store.replay_cache_size().expect("size");
    assert_eq!((n, bytes), (8, 8 * blob.len() as u64));
    // The newest are those kept.
    let key = cache_key(&cfg(), t);
    assert!(store.cache_replay(&key, &state, &blob).expect("kept"));
    let again = backtest::run(&store, &cfg(), &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(again.flagged, 2);
    assert_eq!(store.replay_cache_size().expect("size").0, 8);
}

#[test]
fn a_busy_workspace_keeps_no_replay_and_does_not_wait_for_the_writer() {
    let t = ts(T);
    let cfg = cfg();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("workspace.sqlite");
    let store = Store::open(&path).expect("store");
    let dates = opts(t).dates();
    let views = [
        at("acme.com", pageview("/pricing", dates[5] - 2 * DAYS)),
        at("acme.com", pageview("/pricing", dates[5] - DAYS)),
    ];
    add(&store, &cfg, &views, &[]);
    let r = backtest::replay(&store, &[&cfg], &dates, &Silent)
        .expect("replay")
        .remove(0);
    store.clear_replay_cache().expect("clear");
    let blob = backtest::cache::encode(&r).expect("encodable");
    let state = store.data_state().expect("state");

    // Another process's import holds the write lock.
    let other = Store::open(&path).expect("a second connection");
    let import = Ingest::begin(&other, &cfg).expect("begin");
    let started = std::time::Instant::now();
    assert!(!store.cache_replay("k", &state, &blob).expect("no error"));
    assert!(
        started.elapsed().as_millis() < (beton::store::BUSY_WAIT_MS / 2) as u128,
        "waited {:?} for the import",
        started.elapsed()
    );
    // The backtest itself still runs (it reads), and keeps nothing while the import is open.
    let report = backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(report.flagged, 1);
    drop(import); // rolled back
    assert_eq!(store.replay_cache_size().expect("size").0, 0);
    // Once the writer is gone the next backtest keeps its replay.
    backtest::run(&store, &cfg, &opts(t), &Silent, Source::Local).expect("backtest");
    assert_eq!(store.replay_cache_size().expect("size").0, 1);
}

#[test]
fn each_replay_date_scores_parents_as_detection_at_that_date_would() {
    let t = ts(T);
    let store = Store::open_in_memory().expect("store");
    let demo = beton::demo::DemoOptions {
        accounts: 90,
        days: 120,
        seed: 9,
        as_of: t,
        activity_scale: 1.0,
    };
    beton::demo::create(&store, &Config::default(), &demo, &Silent).expect("demo");
    let dates = opts(t).dates();
    // A third of the accounts are workspaces of seven parents from the start, a third join
    // them between D_4 and D_5 (so a parent's workspaces change during the replay), the rest
    // stand alone.
    let joins: Vec<EventIn> = store
        .accounts()
        .expect("accounts")
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 2)
        .map(|(i, (_, key, _))| {
            let when = if i % 3 == 0 {
                dates[0] - 30 * DAYS
            } else {
                dates[4] + DAYS
            };
            at(
                &key,
                identify(
                    json!({"parent_domain": format!("p{}.example", i % 7)}),
                    when,
                ),
            )
        })
        .collect();
    add(&store, &Config::default(), &joins, &[]);
    let mut cfg = Config::default();
    cfg.accounts.parent_property = Some("parent_domain".into());
    let r = backtest::replay(&store, &[&cfg], &dates, &Silent)
        .expect("replay")
        .remove(0);
    let mut parents_fired = 0;
    for (k, &d) in dates.iter().enumerate() {
        let (mut at_d, _) = beton::signals::score_scan_dates(&store, &cfg, &[d]).expect("scores");
        let at_d = at_d.remove(0);
        for (i, key) in r.accounts.iter().enumerate() {
            let want = at_d.iter().find(|s| &s.account == key);
            let seen = r.seen[k][i];
            assert_eq!(seen.score, want.map_or(0, |s| s.score), "{key} at D_{k}");
            let types = want.map_or(0, |s| {
                s.fired.iter().fold(0u8, |m, f| m | 1 << (f.signal as u8))
            });
            assert_eq!(seen.signals, types, "{key} at D_{k}");
            parents_fired += usize::from(key.ends_with(".example") && seen.signals != 0);
        }
    }
    assert!(
        r.accounts.iter().any(|a| a == "p3.example"),
        "{:?}",
        r.accounts
    );
    assert!(parents_fired > 10, "parents should fire: {parents_fired}");
}
