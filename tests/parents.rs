//! Parent accounts on the local workspace (SPEC §14): detection at the parent over the union of
//! its workspaces' events, each user counted once; without `accounts.parent_property` nothing
//! changes.

mod common;

use beton::config::Config;
use beton::signals::{AccountScore, SignalType, score_scan};
use beton::store::{EventIn, Ingest, Store};
use common::{DAYS, ev, ts};
use serde_json::json;

const T: &str = "2026-06-01T12:00:00Z";

fn at(account: &str, user: &str, when: i64) -> EventIn {
    EventIn {
        account: Some(account.into()),
        ..ev("report_exported", user, when)
    }
}

/// Two workspaces of acme.com (`parent_domain`), with `events`.
fn workspaces(events: &[EventIn]) -> Store {
    let cfg = Config::default();
    let store = Store::open_in_memory().unwrap();
    let mut ingest = Ingest::begin(&store, &cfg).unwrap();
    for ws in ["eu.acme.com", "us.acme.com"] {
        ingest
            .account_snapshot(
                ws,
                None,
                json!({"parent_domain": "acme.com"}).as_object().unwrap(),
            )
            .unwrap();
    }
    for e in events {
        ingest.event(e).unwrap();
    }
    ingest.commit().unwrap();
    store
}

fn parents() -> Config {
    let mut cfg = Config::default();
    cfg.accounts.parent_property = Some("parent_domain".into());
    cfg
}

fn scores(store: &Store, cfg: &Config) -> Vec<AccountScore> {
    store.ensure_rollups(cfg).unwrap();
    score_scan(store, cfg, ts(T)).unwrap().0
}

fn team_growth(scores: &[AccountScore], key: &str) -> bool {
    scores
        .iter()
        .any(|s| s.account == key && s.fired.iter().any(|f| f.signal == SignalType::TeamGrowth))
}

#[test]
fn one_new_user_in_each_workspace_makes_team_growth_fire_for_the_parent_only() {
    let t = ts(T);
    let store = workspaces(&[
        at("eu.acme.com", "ann", t - 2 * DAYS),
        at("us.acme.com", "bob", t - DAYS),
    ]);
    let alone = scores(&store, &Config::default());
    assert!(!team_growth(&alone, "eu.acme.com") && !team_growth(&alone, "us.acme.com"));
    assert!(alone.iter().all(|s| s.account != "acme.com"));

    let (together, scanned) = {
        let cfg = parents();
        store.ensure_rollups(&cfg).unwrap();
        score_scan(&store, &cfg, t).unwrap()
    };
    assert!(team_growth(&together, "acme.com"), "{together:#?}");
    assert!(
        together.iter().all(|s| s.account == "acme.com"),
        "{together:#?}"
    );
    // The parent and no standalone account: the two workspaces fold into one.
    assert_eq!(scanned, 1);
}

#[test]
fn a_user_active_in_both_workspaces_counts_once() {
    let t = ts(T);
    let store = workspaces(&[
        at("eu.acme.com", "ann", t - 2 * DAYS),
        at("us.acme.com", "ann", t - DAYS),
    ]);
    assert!(!team_growth(&scores(&store, &parents()), "acme.com"));
}

#[test]
fn a_user_seen_in_one_workspaces_lookback_is_not_new_in_the_other() {
    let t = ts(T);
    let store = workspaces(&[
        at("eu.acme.com", "ann", t - 30 * DAYS),
        at("us.acme.com", "ann", t - DAYS),
        at("us.acme.com", "bob", t - DAYS),
    ]);
    // Alone, us.acme.com has two new users (ann is new there); at the parent only bob is.
    assert!(team_growth(
        &scores(&store, &Config::default()),
        "us.acme.com"
    ));
    assert!(!team_growth(&scores(&store, &parents()), "acme.com"));
}

#[test]
fn every_account_loaded_in_two_halves_is_every_account_loaded_in_one() {
    // Over 2,000 accounts in a file: the load reads two halves of the id span at once.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("workspace.sqlite")).unwrap();
    let cfg = parents();
    let t = ts(T);
    let events: Vec<EventIn> = (0..2300)
        .map(|i| {
            at(
                &format!("ws{i}.example"),
                &format!("u{}", i % 97),
                t - (i % 40) * DAYS - 3600,
            )
        })
        .collect();
    let mut ingest = Ingest::begin(&store, &cfg).unwrap();
    for e in &events {
        ingest.event(e).unwrap();
    }
    ingest.commit().unwrap();
    let dates = [t - 7 * DAYS, t];
    let halves = beton::signals::facts::Facts::load_all(&store, &cfg, &dates).unwrap();
    let one = beton::signals::facts::Facts::load(&store, &cfg, &dates, None).unwrap();
    assert_eq!(halves.accounts.len(), 2300);
    assert_eq!((halves.from, halves.to), (one.from, one.to));
    assert_eq!(halves.features, one.features);
    for (a, b) in halves.accounts.iter().zip(&one.accounts) {
        assert_eq!((a.id, &a.key, a.earlier), (b.id, &b.key, b.earlier));
        assert_eq!(
            format!("{:?}", a.units),
            format!("{:?}", b.units),
            "{}",
            a.key
        );
    }
}
