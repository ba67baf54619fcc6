//! Alerts and the digest against a fake JSON webhook and a fake Slack on 127.0.0.1
//! (tests/fake_alerts): exactly once under a kill between send and done (the binary, with its
//! test hook), 5xx then success, 429
//! with Retry-After and re-runs; the throttle across hourly runs with --as-of; quiet hours; the
//! digest once a day and never empty; held-out accounts never alerted nor sent to the CRM.

mod fake_alerts;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use beton::config::{Config, Paths};
use beton::daily::{Context, Report, RunOptions, StepStatus, run_daily};
use beton::progress::Silent;
use beton::store::{EventIn, Ingest};
use beton::time::{DAY, SECOND, parse_ts};
use fake_alerts::{Fake, Fault};
use serde_json::{Value, json};

const H: i64 = 3600 * SECOND;

fn t(s: &str) -> i64 {
    parse_ts(s).unwrap()
}

fn ev(account: &str, name: &str, at: i64, url: Option<&str>) -> EventIn {
    EventIn {
        uuid: None,
        event: name.into(),
        distinct_id: format!("user@{account}"),
        ts: at,
        account: Some(account.into()),
        url: url.map(str::to_string),
        feature: None,
        group_set: None,
    }
}

/// Events that make `account` Hot at any T in (at, at + 7 d): a checkout (billing_intent, 40)
/// and two pricing page views (pricing_intent, 30): 70 + 10 bonus = 80.
fn hot_events(account: &str, at: i64) -> Vec<EventIn> {
    vec![
        ev(account, "checkout_started", at, None),
        ev(
            account,
            "$pageview",
            at + 1,
            Some("https://app.x.com/pricing"),
        ),
        ev(
            account,
            "$pageview",
            at + 2,
            Some("https://app.x.com/pricing"),
        ),
    ]
}

struct Ws {
    _dir: tempfile::TempDir,
    ctx: Context,
}

/// A workspace whose credentials file points the alerts at `fake` (`channels`: webhook, slack).
fn workspace(fake: &Fake, channels: &[&str], cfg: Config) -> Ws {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_file: dir.path().join("config.toml"),
        data_dir: dir.path().join("data"),
    };
    let mut creds = String::from("[alerts]\n");
    if channels.contains(&"webhook") {
        creds.push_str(&format!("webhook_url = {:?}\n", fake.webhook_url()));
    }
    if channels.contains(&"slack") {
        creds.push_str(&format!("slack_webhook_url = {:?}\n", fake.slack_url()));
    }
    write_private(&dir.path().join("credentials.toml"), &creds);
    Ws {
        _dir: dir,
        ctx: Context { paths, config: cfg },
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Adds accounts (key, owner) with snapshots and `events`.
fn add(ws: &Ws, accounts: &[(&str, &str)], events: &[EventIn]) {
    let store = ws.ctx.open_store().unwrap();
    let mut ingest = Ingest::begin(&store, &ws.ctx.config).unwrap();
    for (key, owner) in accounts {
        let props = json!({"name": key.split('.').next().unwrap().to_uppercase(), "owner_email": owner,
                           "arr": 24000, "domain": key});
        ingest
            .account_snapshot(key, None, props.as_object().unwrap())
            .unwrap();
    }
    for e in events {
        ingest.event(e).unwrap();
    }
    ingest.commit().unwrap();
}

fn cfg() -> Config {
    let mut c = Config::default();
    c.alerts.tries = 3;
    c.alerts.retry_pause_seconds = 0.005;
    c
}

fn run(ws: &Ws, at: i64) -> Report {
    run_daily(&ws.ctx, &RunOptions { as_of: Some(at) }, &Silent)
        .unwrap()
        .report
}

fn step(r: &Report) -> &beton::daily::Step {
    r.steps
        .iter()
        .find(|s| s.name == "alerts")
        .expect("an alerts step")
}

fn slack_texts(fake: &Fake) -> Vec<String> {
    fake.with(|w| {
        w.slack
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    })
}

fn count<T: Eq + std::hash::Hash + Clone>(items: &[T]) -> HashMap<T, usize> {
    let mut m = HashMap::new();
    for i in items {
        *m.entry(i.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn each_alert_and_the_digest_go_out_once_and_a_rerun_sends_nothing() {
    let fake = Fake::start();
    let ws = workspace(&fake, &["webhook", "slack"], cfg());
    let day = t("2026-05-04T00:00:00Z");
    let mut events = Vec::new();
    for a in ["acme.com", "globex.io", "initech.com"] {
        events.extend(hot_events(a, day - DAY));
    }
    add(
        &ws,
        &[
            ("acme.com", "ae1@example.com"),
            ("globex.io", "ae2@example.com"),
            ("initech.com", "ae1@example.com"),
        ],
        &events,
    );
    let r = run(&ws, day + 10 * H);
    assert_eq!(step(&r).status, StepStatus::Ok, "{:?}", step(&r));
    assert_eq!(r.exit_code(), 0);
    let keys = fake.webhook_keys();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.contains(&"alert:acme.com:2026-05-04:billing_intent,pricing_intent".to_string()));
    assert!(keys.contains(&"digest:2026-05-04".to_string()));
    assert_eq!(fake.with(|w| w.slack.len()), 4);
    assert_eq!(fake.with(|w| w.warnings.clone()), Vec::<String>::new());
    assert_eq!(fake.with(|w| w.rejected.clone()), vec![]);
    // The webhook body of an alert carries what SPEC §9 names.
    let alert = fake.with(|w| w.webhook[0].clone());
    assert_eq!(alert["kind"], "alert");
    assert_eq!(alert["tier"], "hot");
    assert_eq!(alert["score"], 80);
    assert!(alert["evidence"].as_array().unwrap().len() == 2, "{alert}");
    // The Slack card: header, fields, why now, next step, and a fallback text.
    let card = fake.with(|w| w.slack[0].clone());
    assert_eq!(card["blocks"][0]["type"], "header");
    assert!(card["text"].as_str().unwrap().contains("Hot PQL"), "{card}");
    // The digest counts and lists the routed accounts.
    let digest = fake.with(|w| {
        w.webhook
            .iter()
            .find(|b| b["kind"] == "digest")
            .cloned()
            .unwrap()
    });
    assert_eq!(
        (digest["hot"].clone(), digest["warm"].clone()),
        (json!(3), json!(0))
    );
    assert_eq!(digest["top"].as_array().unwrap().len(), 3);
    // Every alert in the report has the time from its newest event to the delivery.
    let delivered: Vec<_> = r.alerts.iter().filter(|a| a.kind == "alert").collect();
    assert_eq!(delivered.len(), 6);
    for a in delivered {
        assert_eq!(a.state, "done");
        let s = a.event_to_alert_seconds.expect("event_to_alert_seconds");
        assert!(s > 0.0, "{a:?}");
    }
    // Again at the same T: the ledger emits nothing new and no key is sent twice.
    let r = run(&ws, day + 10 * H);
    assert_eq!(r.exit_code(), 0, "{:?}", r.steps);
    assert_eq!(fake.webhook_keys().len(), 4);
    assert_eq!(fake.with(|w| (w.slack.len(), w.duplicates)), (4, 0));
}

#[test]
fn a_5xx_is_retried_within_the_run_and_then_by_the_next_run() {
    let fake = Fake::start();
    let ws = workspace(&fake, &["webhook", "slack"], cfg());
    let day = t("2026-05-04T00:00:00Z");
    add(
        &ws,
        &[("acme.com", "ae1@example.com")],
        &hot_events("acme.com", day - DAY),
    );
    // One 500 then success: delivered in the same run.
    fake.fail_next("slack", Fault::Status(500));
    let r = run(&ws, day + 6 * H);
    assert_eq!(r.exit_code(), 0, "{:?}", r.steps);
    assert_eq!(slack_texts(&fake).len(), 1);
    assert_eq!(
        fake.with(|w| w.rejected.clone()),
        vec![(500, "rollup_error".into())]
    );

    // Three 503s exhaust the run's tries: the run exits 2, the next run delivers, once.
    add(
        &ws,
        &[("globex.io", "ae1@example.com")],
        &hot_events("globex.io", day + 6 * H),
    );
    for _ in 0..3 {
        fake.fail_next("webhook", Fault::Status(503));
    }
    let r = run(&ws, day + 7 * H);
    assert_eq!(r.exit_code(), 2);
    let s = step(&r);
    assert!(s.detail.contains("left for the next run"), "{s:?}");
    assert!(!s.detail.contains(&fake.url), "the address leaked: {s:?}");
    let r = run(&ws, day + 8 * H);
    assert_eq!(r.exit_code(), 0, "{:?}", r.steps);
    let keys = fake.webhook_keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(count(&keys).values().all(|n| *n == 1));
    assert_eq!(slack_texts(&fake).len(), 2);
}

#[test]
fn a_429_is_retried_after_its_retry_after() {
    let fake = Fake::start();
    let mut c = cfg();
    c.alerts.max_wait_seconds = 2;
    let ws = workspace(&fake, &["slack"], c);
    let day = t("2026-05-04T00:00:00Z");
    add(
        &ws,
        &[("acme.com", "ae1@example.com")],
        &hot_events("acme.com", day - DAY),
    );
    fake.fail_next("slack", Fault::RateLimit(1));
    let started = std::time::Instant::now();
    let r = run(&ws, day + 6 * H);
    assert_eq!(r.exit_code(), 0, "{:?}", r.steps);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(slack_texts(&fake).len(), 1);

    // A Retry-After beyond what a run waits: left for a later run, which honours it.
    add(
        &ws,
        &[("globex.io", "ae1@example.com")],
        &hot_events("globex.io", day + 6 * H),
    );
    fake.fail_next("slack", Fault::RateLimit(3));
    let r = run(&ws, day + 7 * H);
    assert_eq!(r.exit_code(), 2);
    assert!(step(&r).detail.contains("rate limited"), "{:?}", step(&r));
    let r = run(&ws, day + 8 * H);
    assert_eq!(r.exit_code(), 2, "still inside the Retry-After");
    assert!(step(&r).detail.contains("asked to wait"), "{:?}", step(&r));
    std::thread::sleep(Duration::from_millis(3100));
    let r = run(&ws, day + 9 * H);
    assert_eq!(r.exit_code(), 0, "{:?}", r.steps);
    let texts = slack_texts(&fake);
    assert_eq!(
        texts.iter().filter(|t| t.starts_with("Hot PQL")).count(),
        2,
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("Beton digest"))
            .count(),
        1
    );
}

/// `n` accounts of one owner that turn Hot at `at`.
fn batch(ws: &Ws, prefix: &str, n: usize, at: i64) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}{i}.com")).collect();
    let accounts: Vec<(&str, &str)> = keys
        .iter()
        .map(|k| (k.as_str(), "ae1@example.com"))
        .collect();
    let events: Vec<EventIn> = keys.iter().flat_map(|k| hot_events(k, at)).collect();
    add(ws, &accounts, &events);
    keys
}

fn alert_keys(fake: &Fake) -> Vec<String> {
    fake.webhook_keys()
        .into_iter()
        .filter(|k| k.starts_with("alert:"))
        .collect()
}

#[test]
fn the_throttle_holds_alerts_per_owner_per_hour_and_the_digest_takes_them_in() {
    let fake = Fake::start();
    let mut c = cfg();
    c.alerts.digest_hour_utc = 12;
    let ws = workspace(&fake, &["webhook"], c);
    let day = t("2026-05-04T00:00:00Z");
    batch(&ws, "a", 7, day + 9 * H);
    // 10:00: five of seven alerts go out, two roll into the digest.
    let r = run(&ws, day + 10 * H);
    assert_eq!(r.exit_code(), 0, "{:?}", r.steps);
    assert_eq!(alert_keys(&fake).len(), 5);
    let rolled: Vec<_> = r.alerts.iter().filter(|a| a.state == "rolled").collect();
    assert_eq!(rolled.len(), 2);
    // 10:30: three more turn Hot, but the owner had five in [09:30, 10:30].
    batch(&ws, "b", 3, day + 10 * H + 10 * 60 * SECOND);
    let r = run(&ws, day + 10 * H + 30 * 60 * SECOND);
    assert_eq!(alert_keys(&fake).len(), 5);
    assert_eq!(r.alerts.iter().filter(|a| a.state == "rolled").count(), 3);
    // 11:01: the 10:00 alerts left the window; new ones may go out again.
    batch(&ws, "c", 2, day + 10 * H + 45 * 60 * SECOND);
    let r = run(&ws, day + 11 * H + 60 * SECOND);
    assert_eq!(alert_keys(&fake).len(), 7);
    assert_eq!(r.alerts.iter().filter(|a| a.state == "done").count(), 2);
    // 12:00: the digest takes in all five rolled alerts, once.
    let r = run(&ws, day + 12 * H);
    assert_eq!(r.exit_code(), 0, "{:?}", r.steps);
    let digests: Vec<Value> = fake.with(|w| {
        w.webhook
            .iter()
            .filter(|b| b["kind"] == "digest")
            .cloned()
            .collect()
    });
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0]["rolled_in"].as_array().unwrap().len(), 5);
    assert_eq!(digests[0]["hot"], 12);
    assert_eq!(digests[0]["top"].as_array().unwrap().len(), 12);
    // 13:00 the same day: no second digest.
    run(&ws, day + 13 * H);
    assert_eq!(
        fake.webhook_keys()
            .iter()
            .filter(|k| k.starts_with("digest:"))
            .count(),
        1
    );
    // A later day with nothing to report sends no digest at all.
    run(&ws, day + 40 * DAY + 12 * H);
    assert_eq!(
        fake.webhook_keys()
            .iter()
            .filter(|k| k.starts_with("digest:"))
            .count(),
        1
    );
}

#[test]
fn quiet_hours_roll_alerts_into_the_next_digest() {
    let fake = Fake::start();
    let mut c = cfg();
    c.alerts.quiet_hours_utc = "22-7".into();
    let ws = workspace(&fake, &["webhook"], c);
    let day = t("2026-05-04T00:00:00Z");
    batch(&ws, "q", 2, day + 20 * H);
    let r = run(&ws, day + 23 * H);
    assert_eq!(r.exit_code(), 0);
    assert!(fake.webhook_keys().is_empty());
    assert_eq!(r.alerts.iter().filter(|a| a.state == "rolled").count(), 2);
    // 06:00 is quiet and before the digest hour: still nothing.
    run(&ws, day + DAY + 6 * H);
    assert!(fake.webhook_keys().is_empty());
    // 09:00: the digest, with both.
    run(&ws, day + DAY + 9 * H);
    let keys = fake.webhook_keys();
    assert_eq!(keys, ["digest:2026-05-05"]);
    let d = fake.with(|w| w.webhook[0].clone());
    assert_eq!(d["rolled_in"].as_array().unwrap().len(), 2);
}

#[test]
fn held_out_accounts_are_scored_but_never_alerted_and_stay_held_out() {
    let fake = Fake::start();
    let mut c = cfg();
    c.holdout.percent = 50.0;
    c.holdout.salt = "test-salt".into();
    let ws = workspace(&fake, &["webhook"], c);
    let day = t("2026-05-04T00:00:00Z");
    let keys = batch(&ws, "h", 20, day - DAY);
    let mut c = ws.ctx.config.clone();
    c.alerts.per_owner_per_hour = 100;
    let ws = Ws {
        ctx: Context {
            paths: ws.ctx.paths.clone(),
            config: c,
        },
        _dir: ws._dir,
    };
    let r = run(&ws, day + 6 * H);
    let held: Vec<&str> = r
        .accounts
        .iter()
        .filter(|a| a.holdout)
        .map(|a| a.account.as_str())
        .collect();
    assert!(
        !held.is_empty() && held.len() < keys.len(),
        "a 50 % holdout of 20 should hold some out: {held:?}"
    );
    for a in &r.accounts {
        assert_eq!(
            a.holdout,
            beton::holdout::draw(&ws.ctx.config.holdout, &a.account)
        );
    }
    let alerted = alert_keys(&fake);
    assert_eq!(alerted.len(), keys.len() - held.len());
    for h in &held {
        assert!(
            !alerted
                .iter()
                .any(|k| k.starts_with(&format!("alert:{h}:"))),
            "{h} was alerted"
        );
    }
    // Sticky: with the holdout switched off, the same accounts stay held out.
    let mut c = ws.ctx.config.clone();
    c.holdout.percent = 0.0;
    let ws2 = Ws {
        ctx: Context {
            paths: ws.ctx.paths.clone(),
            config: c,
        },
        _dir: tempfile::tempdir().unwrap(),
    };
    batch(&ws2, "h", 20, day + 7 * DAY);
    let r = run(&ws2, day + 8 * DAY);
    let again: Vec<&str> = r
        .accounts
        .iter()
        .filter(|a| a.holdout)
        .map(|a| a.account.as_str())
        .collect();
    assert_eq!(again, held);
    drop(ws);
}

#[test]
fn demo_data_is_never_alerted() {
    let fake = Fake::start();
    let ws = workspace(&fake, &["webhook", "slack"], cfg());
    let store = ws.ctx.open_store().unwrap();
    let at = t("2026-05-04T10:00:00Z");
    let opts = beton::demo::DemoOptions {
        accounts: 40,
        days: 60,
        seed: 7,
        as_of: at,
        ..Default::default()
    };
    beton::demo::create(&store, &ws.ctx.config, &opts, &Silent).unwrap();
    drop(store);
    let r = run(&ws, at);
    assert!(r.hot > 0, "the demo should have hot accounts");
    assert_eq!(step(&r).status, StepStatus::Skipped);
    assert!(fake.with(|w| w.log.is_empty()));
}

#[test]
fn the_fake_slack_enforces_block_kit_limits() {
    let too_many: Vec<Value> = (0..51)
        .map(|_| json!({"type": "section", "text": {"type": "mrkdwn", "text": "x"}}))
        .collect();
    assert!(fake_alerts::check_blocks(&json!(too_many)).is_err());
    let long = "x".repeat(3001);
    assert!(
        fake_alerts::check_blocks(
            &json!([{"type": "section", "text": {"type": "mrkdwn", "text": long}}])
        )
        .is_err()
    );
    assert!(
        fake_alerts::check_blocks(
            &json!([{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}])
        )
        .is_err()
    );
    // Beton's largest digest passes.
    let d = beton::alerts::Digest {
        key: "digest:2026-05-04".into(),
        date: "2026-05-04".into(),
        as_of: "2026-05-04T09:00:00Z".into(),
        hot: 900,
        warm: 2000,
        top: (0..20)
            .map(|i| beton::alerts::plan::TopEntry {
                account: format!("{}-{i}.com", "a".repeat(200)),
                score: 99,
                tier: beton::signals::Tier::Hot,
            })
            .collect(),
        rolled_in: (0..3000)
            .map(|i| format!("alert:acct{i}.com:2026-05-04:pricing_intent"))
            .collect(),
    };
    let m = beton::alerts::render::digest_slack(&d);
    fake_alerts::check_blocks(&m["blocks"]).unwrap();
    // An empty message is refused by the fake as by Slack.
    let fake = Fake::start();
    let resp = reqwest::blocking::Client::new()
        .post(fake.slack_url())
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.text().unwrap(), "no_text");
}

/// The binary end to end: `--run-daily --json` reports each alert with its latency, a kill
/// between send and done (the test hook) exits 2 and the next run completes it, `beton alerts`
/// lists the outbox, `--dry-run` sends nothing, `watch --runs 1` runs once, and the address never
/// appears in any output.
#[test]
fn the_binary_reports_lists_and_previews_alerts() {
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    // Settings named explicitly must exist: start from the template, as `beton init` writes it.
    std::fs::write(dir.path().join("config.toml"), beton::config::TEMPLATE).unwrap();
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_beton"));
        c.args(args)
            .env("BETON_DATA", dir.path().join("data"))
            .env("BETON_CONFIG", dir.path().join("config.toml"))
            .env("BETON_ALERT_WEBHOOK_URL", fake.webhook_url())
            .env_remove("BETON_SLACK_WEBHOOK_URL")
            .env_remove("BETON_TEST_CRASH_AFTER_SEND")
            .env_remove("BETON_LOG")
            .stdin(std::process::Stdio::null());
        c
    };
    let day = t("2026-05-04T00:00:00Z");
    let mut lines = String::new();
    for a in ["acme.com", "globex.io"] {
        for e in hot_events(a, day - DAY) {
            let mut props = json!({"$groups": {"company": a}});
            if let Some(u) = &e.url {
                props["$current_url"] = json!(u);
            }
            lines.push_str(
                &json!({"event": e.event, "distinct_id": e.distinct_id,
                        "timestamp": beton::time::fmt_ts(e.ts), "properties": props})
                .to_string(),
            );
            lines.push('\n');
        }
    }
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines).unwrap();
    let out = cmd(&["import", "events", events.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let dry = cmd(&["alerts", "--dry-run", "--as-of", "2026-05-04T08:00:00Z"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(text.contains("nothing is recorded or sent"), "{text}");
    assert!(text.contains("acme.com"), "{text}");
    assert!(fake.with(|w| w.log.is_empty()), "a dry run sent something");

    let out = cmd(&["--run-daily", "--json", "--as-of", "2026-05-04T08:00:00Z"])
        .env("BETON_TEST_CRASH_AFTER_SEND", "alert")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // The run died right after the first alert was answered, before it was marked done.
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "pending"]);
    assert_eq!(fake.webhook_keys().len(), 1);
    // The next run sends the one whose answer was lost again (same Idempotency-Key, dropped by
    // the receiver) and the one never sent: every key arrives once.
    let out = cmd(&["--run-daily", "--json", "--as-of", "2026-05-04T08:30:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let keys = fake.webhook_keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(count(&keys).values().all(|n| *n == 1));
    assert_eq!(fake.with(|w| w.duplicates), 1);
    // A third run has nothing left to send.
    let before = fake.with(|w| w.log.len());
    let out = cmd(&["--run-daily", "--as-of", "2026-05-04T08:45:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(fake.with(|w| w.log.len()), before);

    let list = cmd(&["alerts", "--json"]).output().unwrap();
    let rows: Value = serde_json::from_slice(&list.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r["state"] == "done" && r["channel"] == "webhook")
    );
    let acme = cmd(&["alerts", "--account", "acme.com"]).output().unwrap();
    let text = String::from_utf8_lossy(&acme.stdout);
    assert!(
        text.contains("alert:acme.com:2026-05-04") && !text.contains("globex"),
        "{text}"
    );

    let watch = cmd(&["watch", "--every", "1m", "--runs", "1", "--json"])
        .output()
        .unwrap();
    assert!(watch.status.success(), "{watch:?}");
    let inc = cmd(&["incrementality"]).output().unwrap();
    assert!(String::from_utf8_lossy(&inc.stdout).contains("not enough data"));
    for o in [&dry, &list, &acme, &watch, &inc] {
        for s in [&o.stdout, &o.stderr] {
            assert!(
                !String::from_utf8_lossy(s).contains(&fake.url),
                "the webhook address leaked"
            );
        }
    }
}

/// The run plans its alerts in the transaction that records it, before the Attio step creates a
/// new account's deal: an alert still waiting to be sent when the deal exists goes out with the
/// deal's link, on both channels.
#[test]
fn an_alert_planned_before_its_deal_existed_is_sent_with_the_deal_link() {
    use beton::store::{Completion, OutboxStep, StepState};
    let fake = Fake::start();
    let ws = workspace(&fake, &["webhook", "slack"], cfg());
    let day = t("2026-05-04T00:00:00Z");
    add(
        &ws,
        &[("acme.com", "ae1@example.com")],
        &hot_events("acme.com", day - DAY),
    );
    for ch in ["webhook", "slack"] {
        for _ in 0..3 {
            fake.fail_next(ch, Fault::Status(503));
        }
    }
    assert_eq!(run(&ws, day + 6 * H).exit_code(), 2);
    assert!(fake.webhook_keys().is_empty() && slack_texts(&fake).is_empty());
    // What the Attio step records when Attio confirms the new deal.
    let store = ws.ctx.open_store().unwrap();
    let id = store.account_id("acme.com").unwrap().unwrap();
    let url = "https://app.attio.com/beton/deals/record/rec-1";
    let deal = OutboxStep {
        id: 0,
        key: "deal:acme".into(),
        account_id: id,
        kind: "deal".into(),
        method: "PUT".into(),
        path: "/v2/objects/deals/records".into(),
        body: "{}".into(),
        marker: String::new(),
        state: StepState::Pending,
        attempts: 0,
    };
    store.outbox_add(&[deal], day).unwrap();
    let queued = store.outbox_open(Some(id)).unwrap().remove(0);
    let done = Completion::Deal {
        digest: "d",
        web_url: Some(url),
    };
    store.outbox_done(&queued, "rec-1", done, day).unwrap();

    let r = run(&ws, day + 6 * H + 60 * beton::time::SECOND);
    assert_eq!(step(&r).status, StepStatus::Ok, "{:?}", r.steps);
    let bodies = fake.with(|w| w.webhook.clone());
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["links"]["attio"], url, "{}", bodies[0]);
    let slack = fake.with(|w| w.slack.clone());
    assert_eq!(slack.len(), 1);
    assert!(
        slack[0]
            .to_string()
            .contains(&format!("<{url}|Deal in Attio>")),
        "{}",
        slack[0]
    );
}

#[test]
fn the_alert_carries_why_now_against_the_previous_run() {
    let fake = Fake::start();
    let ws = workspace(&fake, &["webhook", "slack"], cfg());
    let day = t("2026-05-04T00:00:00Z");
    add(
        &ws,
        &[("acme.com", "ae1@example.com")],
        &hot_events("acme.com", day - DAY),
    );
    run(&ws, day + 10 * H);
    let first = fake.with(|w| w.webhook[0].clone());
    assert_eq!(
        first["why_now"], "new: billing_intent +40, pricing_intent +30; score 0 → 80",
        "{first}"
    );
    // A day later three support events add a type: only it is new.
    let support: Vec<EventIn> = (0..3)
        .map(|i| ev("acme.com", "intercom_chat", day + 12 * H + i, None))
        .collect();
    add(&ws, &[], &support);
    run(&ws, day + DAY + 10 * H);
    let why = "new: support_engagement +15; score 80 → 95";
    let second = fake.with(|w| {
        w.webhook
            .iter()
            .rev()
            .find(|b| b["kind"] == "alert")
            .cloned()
            .unwrap()
    });
    assert_eq!(second["signals"], json!(["support_engagement"]));
    assert_eq!(second["why_now"], why, "{second}");
    // Slack: the line opens the "Why now" section, and the fallback text carries it.
    let card = fake.with(|w| {
        w.slack
            .iter()
            .rev()
            .find(|m| m["text"].as_str().is_some_and(|t| t.contains("PQL")))
            .cloned()
            .unwrap()
    });
    let section = card["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|b| {
            b["text"]["text"]
                .as_str()
                .filter(|t| t.starts_with("*Why now*"))
        })
        .expect("a why-now section");
    assert!(
        section.starts_with(&format!("*Why now*\n{why}\n• ")),
        "{section}"
    );
    assert!(
        card["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Why now: {why}."))
    );
    assert_eq!(fake.with(|w| w.rejected.clone()), vec![]);
}

#[test]
fn a_parents_alert_goes_to_its_biggest_workspaces_owner_with_the_summed_arr() {
    let fake = Fake::start();
    let mut c = cfg();
    c.accounts.parent_property = Some("parent_domain".into());
    let ws = workspace(&fake, &["webhook"], c);
    let day = t("2026-05-04T00:00:00Z");
    let store = ws.ctx.open_store().unwrap();
    let mut ingest = Ingest::begin(&store, &ws.ctx.config).unwrap();
    for (key, owner, arr) in [
        ("eu.acme.com", "eu@example.com", 10000),
        ("us.acme.com", "us@example.com", 30000),
    ] {
        let props = json!({"parent_domain": "acme.com", "owner_email": owner, "arr": arr});
        ingest
            .account_snapshot(key, None, props.as_object().unwrap())
            .unwrap();
    }
    // The checkout in one workspace, the pricing views in the other.
    let mut events = hot_events("eu.acme.com", day - DAY);
    events[0].account = Some("us.acme.com".into());
    for e in &events {
        ingest.event(e).unwrap();
    }
    ingest.commit().unwrap();
    drop(store);
    run(&ws, day + 10 * H);
    let alert = fake.with(|w| {
        w.webhook
            .iter()
            .find(|b| b["kind"] == "alert")
            .cloned()
            .unwrap()
    });
    assert_eq!(alert["account"], "acme.com");
    assert_eq!(alert["owner"], "us@example.com");
    assert_eq!(alert["arr"], 40000.0);
    assert_eq!(alert["score"], 80);
}
