//! Helpers shared by the integration tests: a workspace built event by event.
#![allow(dead_code)]

use beton::config::Config;
use beton::signals::facts::Facts;
use beton::signals::{AccountScore, Fired, SignalType, detect, score};
use beton::store::{EventIn, Ingest, Store};
use beton::time::{DAY, SECOND, parse_ts};
use serde_json::{Map, Value};

pub const H: i64 = 3600 * SECOND;

pub fn ts(s: &str) -> i64 {
    parse_ts(s).expect("test timestamp")
}

/// One event for `acme.com` unless told otherwise.
pub fn ev(name: &str, user: &str, at: i64) -> EventIn {
    EventIn {
        uuid: None,
        event: name.into(),
        distinct_id: user.into(),
        ts: at,
        account: Some("acme.com".into()),
        url: None,
        feature: None,
        group_set: None,
    }
}

pub fn pageview(url: &str, at: i64) -> EventIn {
    EventIn {
        url: Some(url.into()),
        ..ev("$pageview", "u1", at)
    }
}

pub fn feature(name: &str, at: i64) -> EventIn {
    EventIn {
        feature: Some(name.into()),
        ..ev("feature_used", "u1", at)
    }
}

pub fn identify(set: Value, at: i64) -> EventIn {
    EventIn {
        group_set: set.as_object().cloned(),
        ..ev("$groupidentify", "u1", at)
    }
}

/// `n` activity events by `user`, one minute apart, starting at `from`.
pub fn burst(n: usize, user: &str, from: i64) -> Vec<EventIn> {
    (0..n)
        .map(|i| ev("report_exported", user, from + i as i64 * 60 * SECOND))
        .collect()
}

/// A workspace holding `events` and, optionally, a snapshot for acme.com.
pub fn store_with(cfg: &Config, events: &[EventIn], snapshot: Option<Value>) -> Store {
    let store = Store::open_in_memory().expect("in-memory store");
    let mut ingest = Ingest::begin(&store, cfg).expect("begin");
    if let Some(Value::Object(props)) = snapshot {
        ingest
            .account_snapshot("acme.com", None, &props)
            .expect("snapshot");
    }
    for e in events {
        ingest.event(e).expect("event");
    }
    ingest.commit().expect("commit");
    store
}

/// The signals acme.com fires at `t`.
pub fn fired_at(store: &Store, cfg: &Config, t: i64) -> Vec<Fired> {
    let facts = Facts::load(store, cfg, &[t], None).expect("facts");
    facts
        .accounts
        .iter()
        .find(|a| a.key == "acme.com")
        .map(|a| detect(a, cfg, t, &facts.features))
        .unwrap_or_default()
}

pub fn fires(store: &Store, cfg: &Config, t: i64, signal: SignalType) -> bool {
    fired_at(store, cfg, t).iter().any(|f| f.signal == signal)
}

pub fn score_at(store: &Store, cfg: &Config, t: i64) -> AccountScore {
    let facts = Facts::load(store, cfg, &[t], None).expect("facts");
    let a = facts
        .accounts
        .iter()
        .find(|a| a.key == "acme.com")
        .expect("acme.com");
    score(a, detect(a, cfg, t, &facts.features), cfg)
}

pub fn props(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

pub const DAYS: i64 = DAY;

/// Settings named explicitly must exist (`beton` refuses a missing `--config`/`BETON_CONFIG`):
/// the command-line tests start from the template, as `beton init` writes it.
pub fn ensure_config(dir: &std::path::Path) {
    let p = dir.join("config.toml");
    if !p.exists() {
        std::fs::create_dir_all(dir).expect("the test dir");
        std::fs::write(p, beton::config::TEMPLATE).expect("the test config");
    }
}
