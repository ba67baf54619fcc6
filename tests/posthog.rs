//! PostHog end to end against a fake server on 127.0.0.1: the client's error handling, paged
//! detection, capture, provisioning, connect and the run_daily steps.

mod common;

mod fake_posthog;

use std::time::{Duration, Instant};

use beton::config::{Config, Paths, PosthogSettings, SourceKind};
use beton::daily::{Context, RunOptions, StepStatus, run_daily};
use beton::posthog::dashboards::{ActionKind, Definitions, provision};
use beton::posthog::hogql::{COUNTS, NEW, PROPS, detect, prop_keys};
use beton::posthog::{ApiKey, Client, HogQl, PosthogError, capture, connect};
use beton::progress::Silent;
use beton::store::Store;
use fake_posthog::{CAPTURE_KEY, Fake, Fault, KEY, PROJECT};
use serde_json::{Value, json};

fn client(fake: &Fake, budget: u32) -> Client {
    let mut c = Client::new(&fake.url, ApiKey::new(KEY).unwrap(), PROJECT, budget).unwrap();
    c.pacing.backoff = Duration::from_millis(10);
    c.pacing.poll = Duration::from_millis(10);
    c
}

fn probe() -> HogQl {
    let mut values = serde_json::Map::new();
    values.insert("x".into(), json!(1));
    HogQl {
        name: "probe".into(),
        sql: "SELECT {x} AS ok".into(),
        values,
    }
}

fn settings(fake: &Fake, page: u32) -> PosthogSettings {
    PosthogSettings {
        host: fake.url.clone(),
        project_id: PROJECT,
        group_type_index: 1,
        capture_host: fake.url.clone(),
        project_api_key: CAPTURE_KEY.into(),
        page_size: page,
        ..PosthogSettings::default()
    }
}

fn config(fake: &Fake, page: u32) -> Config {
    Config {
        source: SourceKind::Posthog,
        posthog: Some(settings(fake, page)),
        ..Config::default()
    }
}

const COUNT_COLS: [&str; 16] = [
    "account",
    "activity",
    "activity_before",
    "pricing_views",
    "trial_activity",
    "support_events",
    "billing_events",
    "events_7d",
    "events_prev_7d",
    "events_14d",
    "events_44_14d",
    "active_users_30d",
    "features_30d",
    "last_seen",
    "daily",
    "features",
];

/// Five accounts: a.com spikes and views pricing, c.com has a billing event, e.com three new
/// features and two new users, d.com is near its plan limit; b.com is quiet.
fn load_answers(fake: &Fake, cfg: &Config) {
    let row = |a: &str, act: u64, before: u64, pricing: u64, billing: u64, features: &[&str]| {
        // All of the last 7 days' activity on the day of T, for the sparkline.
        let daily: Vec<u64> = (0..30).map(|i| if i == 29 { act } else { 0 }).collect();
        json!([
            a,
            act,
            before,
            pricing,
            act,
            0,
            billing,
            act,
            before,
            act + before,
            0,
            2,
            features.len(),
            "2026-04-30T12:00:00Z",
            daily,
            features
        ])
        .as_array()
        .unwrap()
        .clone()
    };
    let counts = vec![
        row("a.com", 40, 20, 3, 0, &["reports"]),
        row("b.com", 5, 5, 0, 0, &[]),
        row("c.com", 12, 10, 0, 1, &["api", "reports"]),
        row("d.com", 1, 1, 0, 0, &["reports"]),
        row("e.com", 8, 9, 0, 0, &["api"]),
    ];
    let new = vec![
        json!(["e.com", ["reports", "api", "sso"], 2])
            .as_array()
            .unwrap()
            .clone(),
    ];
    let keys = prop_keys(cfg);
    let mut pcols = vec!["account".to_string()];
    let mut prow = vec![json!("d.com")];
    for (i, k) in keys.iter().enumerate() {
        pcols.push(format!("p{i}"));
        pcols.push(format!("has{i}"));
        let (v, h) = match k.as_str() {
            "seats_used" => ("9", 1),
            "seat_limit" => ("10", 1),
            _ => ("", 0),
        };
        prow.push(json!(v));
        prow.push(json!(h));
    }
    fake.with(|w| {
        w.answers.insert(
            COUNTS.into(),
            (COUNT_COLS.map(String::from).to_vec(), counts),
        );
        w.answers.insert(
            NEW.into(),
            (
                vec!["account".into(), "new_features".into(), "new_users".into()],
                new,
            ),
        );
        w.answers.insert(PROPS.into(), (pcols, vec![prow]));
    });
}

#[test]
fn query_sends_force_blocking_and_values_and_reads_rows() {
    let fake = Fake::start();
    let c = client(&fake, 5);
    let rows = c.query(&probe()).unwrap();
    assert_eq!(rows.columns, ["ok"]);
    assert_eq!(rows.rows, vec![vec![json!(1)]]);
    let sent = fake.with(|w| w.queries[0].clone());
    assert_eq!(sent["refresh"], "force_blocking");
    assert_eq!(sent["query"]["kind"], "HogQLQuery");
    assert_eq!(sent["query"]["values"]["x"], 1);
    assert_eq!(c.usage().queries, 1);
}

#[test]
fn wrong_key_is_401_and_the_message_never_shows_the_key() {
    let fake = Fake::start();
    let c = Client::new(
        &fake.url,
        ApiKey::new("phx_wrong_secret_999").unwrap(),
        PROJECT,
        5,
    )
    .unwrap();
    let e = c.query(&probe()).unwrap_err();
    assert!(matches!(e, PosthogError::Unauthorized { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("401") && msg.contains("region"), "{msg}");
    assert!(!msg.contains("wrong_secret"), "{msg}");
}

#[test]
fn missing_scope_is_403_with_the_scope_named() {
    let fake = Fake::start();
    fake.with(|w| w.faults.push_back(Fault::Status(403)));
    let e = client(&fake, 5).query(&probe()).unwrap_err();
    assert!(matches!(e, PosthogError::Forbidden { .. }), "{e}");
    assert!(e.to_string().contains("query:read"), "{e}");
}

#[test]
fn rate_limit_with_retry_after_waits_that_long_then_succeeds() {
    let fake = Fake::start();
    fake.with(|w| {
        w.faults.push_back(Fault::TooMany {
            retry_after: Some(1),
        })
    });
    let c = client(&fake, 5);
    let start = Instant::now();
    c.query(&probe()).unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let u = c.usage();
    assert_eq!((u.queries, u.retries), (2, 1));
}

#[test]
fn rate_limit_without_retry_after_backs_off_and_gives_up_eventually() {
    let fake = Fake::start();
    fake.with(|w| {
        w.faults.push_back(Fault::TooMany { retry_after: None });
        w.faults.push_back(Fault::TooMany { retry_after: None });
    });
    let c = client(&fake, 10);
    c.query(&probe()).unwrap();
    assert_eq!(c.usage().retries, 2);
    fake.with(|w| {
        for _ in 0..10 {
            w.faults.push_back(Fault::TooMany { retry_after: None });
        }
    });
    let e = client(&fake, 10).query(&probe()).unwrap_err();
    assert!(matches!(e, PosthogError::RateLimited { .. }), "{e}");
}

#[test]
fn accepted_202_is_polled_until_complete() {
    let fake = Fake::start();
    fake.with(|w| w.faults.push_back(Fault::Accepted { polls: 2 }));
    let c = client(&fake, 5);
    let rows = c.query(&probe()).unwrap();
    assert_eq!(rows.rows, vec![vec![json!(1)]]);
    assert_eq!(c.usage().polls, 3);
    assert_eq!(c.usage().queries, 1);
}

#[test]
fn server_errors_503_retry_and_500_fails_with_the_status() {
    let fake = Fake::start();
    fake.with(|w| w.faults.push_back(Fault::Status(503)));
    client(&fake, 5).query(&probe()).unwrap();
    fake.with(|w| w.faults.push_back(Fault::Status(500)));
    let e = client(&fake, 5).query(&probe()).unwrap_err();
    assert!(matches!(e, PosthogError::Http { status: 500, .. }), "{e}");
}

#[test]
fn malformed_json_is_a_clear_error() {
    let fake = Fake::start();
    fake.with(|w| w.faults.push_back(Fault::Malformed));
    let e = client(&fake, 5).query(&probe()).unwrap_err();
    assert!(matches!(e, PosthogError::BadResponse { .. }), "{e}");
    assert!(e.to_string().contains("malformed JSON"), "{e}");
}

#[test]
fn the_budget_stops_queries() {
    let fake = Fake::start();
    let c = client(&fake, 1);
    c.query(&probe()).unwrap();
    let e = c.query(&probe()).unwrap_err();
    assert!(
        matches!(e, PosthogError::Budget { used: 1, budget: 1 }),
        "{e}"
    );
    assert_eq!(fake.with(|w| w.queries.len()), 1);
}

#[test]
fn truncated_answers_are_paged_and_give_every_account() {
    let fake = Fake::start();
    let cfg = config(&fake, 2);
    load_answers(&fake, &cfg);
    let c = client(&fake, 20);
    let d = detect(&c, &cfg, beton::time::parse_ts("2026-05-01").unwrap()).unwrap();
    // 5 count rows in pages of 2: 2 + 2 + 1 → 3 pages; the others fit in one.
    assert_eq!(d.pages[COUNTS], 3);
    assert_eq!(d.pages[NEW], 1);
    assert_eq!(d.pages[PROPS], 1);
    let keys: Vec<&str> = d.metrics.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a.com", "b.com", "c.com", "d.com", "e.com"]);
    // Every page asked for page + 1 rows after the previous page's last account.
    let sent = fake.with(|w| w.queries.clone());
    let afters: Vec<&str> = sent
        .iter()
        .filter(|q| q["name"] == COUNTS)
        .map(|q| q["query"]["values"]["after"].as_str().unwrap())
        .collect();
    assert_eq!(afters, ["", "b.com", "d.com"]);
    assert!(sent.iter().all(|q| q["query"]["values"]["limit"] == 3));
    assert_eq!(c.usage().queries, 5);
}

#[test]
fn posthog_metrics_give_the_rules_signals() {
    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    let t = beton::time::parse_ts("2026-05-01").unwrap();
    let d = detect(&client(&fake, 20), &cfg, t).unwrap();
    let items: Vec<_> = d
        .metrics
        .into_iter()
        .enumerate()
        .map(|(i, (k, m))| (i as i64, k, m))
        .collect();
    let scores = beton::signals::score_metrics(&items, &cfg, t);
    let got: Vec<(String, u32, Vec<&str>)> = scores
        .iter()
        .map(|s| {
            (
                s.account.clone(),
                s.score,
                s.fired.iter().map(|f| f.signal.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "a.com".to_string(),
                65,
                vec!["usage_spike", "pricing_intent"]
            ),
            (
                "e.com".to_string(),
                55,
                vec!["feature_adoption", "team_growth"]
            ),
            ("c.com".to_string(), 45, vec!["billing_intent"]),
            ("d.com".to_string(), 40, vec!["limit_approaching"]),
        ]
    );
}

#[test]
fn capture_sends_each_emission_once_with_stable_uuids() {
    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    let t = beton::time::parse_ts("2026-05-01").unwrap();
    let d = detect(&client(&fake, 20), &cfg, t).unwrap();
    let items: Vec<_> = d
        .metrics
        .into_iter()
        .enumerate()
        .map(|(i, (k, m))| (i as i64, k, m))
        .collect();
    let scores = beton::signals::score_metrics(&items, &cfg, t);
    let emitted: Vec<beton::store::Emission> = scores
        .iter()
        .flat_map(|s| {
            s.fired.iter().map(|f| beton::store::Emission {
                account: s.account.clone(),
                signal: f.signal.as_str().into(),
            })
        })
        .collect();
    let events = capture::events(PROJECT, "company", t, &scores, &emitted);
    assert_eq!(events.len(), 6);
    capture::send(&fake.url, CAPTURE_KEY, &events, Duration::from_millis(5)).unwrap();
    // A retried batch carries the same uuids, so PostHog deduplicates it.
    let again = capture::events(PROJECT, "company", t, &scores, &emitted);
    capture::send(&fake.url, CAPTURE_KEY, &again, Duration::from_millis(5)).unwrap();
    let got = fake.with(|w| w.captured.clone());
    let mut uuids: Vec<&str> = got.iter().map(|e| e["uuid"].as_str().unwrap()).collect();
    uuids.sort_unstable();
    uuids.dedup();
    assert_eq!(uuids.len(), 6);
    let e = &got[0];
    assert_eq!(e["event"], "beton_signal_fired");
    assert_eq!(e["properties"]["$groups"]["company"], "a.com");
    assert_eq!(e["properties"]["signal_score"], 65);
    assert_eq!(e["properties"]["tier"], "warm");
    assert_eq!(e["properties"]["detected_at"], "2026-05-01T00:00:00Z");
    assert_eq!(
        e["properties"]["signal_types"],
        json!(["usage_spike", "pricing_intent"])
    );
    let bad = capture::send(&fake.url, "phc_wrong", &events, Duration::from_millis(5)).unwrap_err();
    assert!(bad.to_string().contains("401"), "{bad}");
}

fn provision_once(
    fake: &Fake,
    store: &Store,
    defs: &Definitions,
) -> beton::posthog::dashboards::Outcome {
    provision(
        &client(fake, 20),
        store,
        &config(fake, 100),
        defs,
        None,
        false,
    )
    .unwrap()
}

#[test]
fn provisioning_twice_leaves_four_dashboards_and_one_tile_per_definition() {
    let fake = Fake::start();
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    let first = provision_once(&fake, &store, &defs);
    assert_eq!(first.count(ActionKind::Create), 4 + defs.tiles.len());
    let writes = fake.with(|w| w.writes);
    let second = provision_once(&fake, &store, &defs);
    assert_eq!(
        second.count(ActionKind::Unchanged),
        4 + defs.tiles.len(),
        "{:#?}",
        second.actions
    );
    assert_eq!(
        fake.with(|w| w.writes),
        writes,
        "a second run must not write"
    );
    fake.with(|w| {
        assert_eq!(w.dashboards.len(), 4);
        assert_eq!(w.insights.len(), defs.tiles.len());
        assert!(w.dashboards.iter().all(|d| d["tags"] == json!(["beton"])));
        assert_eq!(w.folders, ["Beton Signals"]);
        for i in &w.insights {
            assert_eq!(i["dashboards"].as_array().unwrap().len(), 1);
            assert!(
                !i["query"]["source"]["query"]
                    .as_str()
                    .unwrap()
                    .contains("__GROUP__")
            );
        }
    });
    // A fresh registry (another machine) adopts what exists instead of duplicating it.
    let other = Store::open_in_memory().unwrap();
    let adopted = provision_once(&fake, &other, &defs);
    assert_eq!(
        adopted.count(ActionKind::Create),
        0,
        "{:#?}",
        adopted.actions
    );
    assert_eq!(adopted.count(ActionKind::Adopt), 4 + defs.tiles.len());
    assert_eq!(
        fake.with(|w| (w.dashboards.len(), w.insights.len())),
        (4, defs.tiles.len())
    );
}

#[test]
fn a_changed_definition_updates_exactly_that_tile_in_place() {
    let fake = Fake::start();
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    provision_once(&fake, &store, &defs);
    let mut changed = defs.clone();
    let tile = &mut changed.tiles[1];
    tile.version += 1;
    let version = tile.version;
    tile.query = tile.query.replace("LIMIT 20", "LIMIT 30");
    let key = tile.key.clone();
    let writes = fake.with(|w| w.writes);
    let out = provision_once(&fake, &store, &changed);
    let updated: Vec<&str> = out
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Update)
        .map(|a| a.key.as_str())
        .collect();
    assert_eq!(updated, [key.as_str()]);
    assert_eq!(fake.with(|w| w.writes), writes + 1);
    fake.with(|w| {
        assert_eq!(w.insights.len(), defs.tiles.len());
        assert!(w.insights.iter().any(|i| {
            i["query"]["source"]["query"]
                .as_str()
                .unwrap()
                .contains("LIMIT 30")
        }));
    });
    assert_eq!(
        store
            .provisioned_tiles(PROJECT)
            .unwrap()
            .iter()
            .find(|t| t.key == key)
            .unwrap()
            .version,
        version
    );
}

#[test]
fn a_dashboard_deleted_in_posthog_is_reported_not_recreated() {
    let fake = Fake::start();
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    provision_once(&fake, &store, &defs);
    fake.with(|w| w.dashboards[3]["deleted"] = json!(true));
    let out = provision_once(&fake, &store, &defs);
    assert_eq!(out.count(ActionKind::Deleted), 1, "{:#?}", out.actions);
    assert_eq!(out.count(ActionKind::Create), 0);
    let skipped = defs
        .tiles
        .iter()
        .filter(|t| t.dashboard == defs.dashboards[3].key)
        .count();
    assert_eq!(out.count(ActionKind::Skipped), skipped);
    assert_eq!(fake.with(|w| w.dashboards.len()), 4);
}

#[test]
fn tiles_needing_missing_data_get_a_note() {
    let fake = Fake::start();
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    let sources = beton::posthog::doctor::Sources {
        feature_used: 5,
        ..Default::default()
    };
    provision(
        &client(&fake, 20),
        &store,
        &config(&fake, 100),
        &defs,
        Some(&sources),
        false,
    )
    .unwrap();
    fake.with(|w| {
        let note = |name: &str| {
            w.insights
                .iter()
                .find(|i| i["name"].as_str().unwrap().starts_with(name))
                .unwrap()["description"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let deals = note("Win rate by lead source");
        assert!(
            deals.contains("beton_deals") && deals.contains("Sources → Attio"),
            "{deals}"
        );
        assert!(note("Support conversations").contains("Intercom"));
        assert!(!note("Feature adoption").contains("No data yet"));
        assert!(!note("Signals fired").contains("No data yet"));
    });
}

#[test]
fn connect_finds_project_group_index_and_capture_key() {
    let fake = Fake::start();
    let key = ApiKey::new(KEY).unwrap();
    let d = connect::discover(&fake.url, &[], true, &key, None, "company").unwrap();
    assert_eq!(d.project.id, PROJECT);
    assert_eq!(d.group_type_index, 1);
    assert_eq!(d.project_api_key, CAPTURE_KEY);
    let e = connect::discover(&fake.url, &[], true, &key, None, "workspace").unwrap_err();
    assert!(
        e.to_string().contains("no group type `workspace`") && e.to_string().contains("company"),
        "{e}"
    );
    let e = connect::discover(&fake.url, &[], true, &key, Some(99), "company").unwrap_err();
    assert!(e.to_string().contains("cannot reach project 99"), "{e}");
    let e = connect::discover(
        &fake.url,
        &[],
        true,
        &ApiKey::new("phx_nope").unwrap(),
        None,
        "company",
    )
    .unwrap_err();
    assert!(e.to_string().contains("rejected the API key"), "{e}");
    let e = connect::discover(
        &fake.url,
        &[],
        true,
        &ApiKey::new("phc_capture").unwrap(),
        None,
        "company",
    )
    .unwrap_err();
    assert!(e.to_string().contains("personal API key"), "{e}");
    let e = connect::discover("http://127.0.0.1:9", &[], true, &key, None, "company").unwrap_err();
    assert!(e.to_string().contains("cannot reach PostHog"), "{e}");
}

#[test]
fn connect_tells_a_wrong_region_from_a_wrong_key() {
    let us = Fake::start();
    let eu = Fake::start();
    us.with(|w| w.key = "phx_other".into());
    let key = ApiKey::new(KEY).unwrap();
    let e =
        connect::discover(&us.url, &[&us.url, &eu.url], true, &key, None, "company").unwrap_err();
    assert!(
        e.to_string().contains("wrong region") && e.to_string().contains(&eu.url),
        "{e}"
    );
    let d = connect::discover(&us.url, &[&eu.url], false, &key, None, "company").unwrap();
    assert_eq!(d.host, eu.url);
    assert!(d.note.is_some());
}

fn workspace(fake: &Fake, cfg: Config) -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_file: dir.path().join("config.toml"),
        data_dir: dir.path().join("data"),
    };
    beton::posthog::store_key(&paths, &ApiKey::new(KEY).unwrap()).unwrap();
    let _ = fake;
    (dir, Context { paths, config: cfg })
}

#[test]
fn run_daily_on_posthog_detects_captures_provisions_and_reports_the_budget() {
    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    if std::env::var(beton::posthog::KEY_ENV).is_ok() {
        eprintln!("skipped: POSTHOG_API_KEY is set in this environment");
        return;
    }
    let (_dir, ctx) = workspace(&fake, cfg);
    let t = beton::time::parse_ts("2026-05-01T06:00:00.5Z").unwrap();
    let r = run_daily(&ctx, &RunOptions { as_of: Some(t) }, &Silent)
        .unwrap()
        .report;
    let steps: Vec<(&str, StepStatus)> = r
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("detect", StepStatus::Ok),
            ("capture", StepStatus::Ok),
            ("provision", StepStatus::Ok)
        ],
        "{:#?}",
        r.steps
    );
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.source, "posthog");
    assert_eq!(r.as_of, "2026-05-01T06:00:00Z");
    assert_eq!(r.accounts.len(), 4);
    let q = r.queries.unwrap();
    assert!(q.queries >= 3 && q.queries <= q.budget, "{q:?}");
    let named = |name: &str| {
        fake.with(|w| {
            w.captured
                .iter()
                .filter(|e| e["event"] == name)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(named("beton_signal_fired").len(), 6);
    // The tier back in PostHog: one $groupidentify per scored account, with Beton's properties.
    let groups = named("$groupidentify");
    assert_eq!(groups.len(), r.accounts.len());
    for a in &r.accounts {
        let g = groups
            .iter()
            .find(|g| g["properties"]["$group_key"] == a.account.as_str())
            .expect("a $groupidentify per account");
        assert_eq!(g["properties"]["$group_type"], "company");
        let set = &g["properties"]["$group_set"];
        assert_eq!(set["beton_score"], a.score);
        assert_eq!(set["beton_tier"], a.tier.as_str());
        let mut signals = a.signals.clone();
        signals.sort();
        assert_eq!(set["beton_signals"], serde_json::json!(signals));
    }
    // The second run is inside every cooldown: nothing is emitted again, and the group
    // properties did not change, so none are sent again.
    let r2 = run_daily(
        &ctx,
        &RunOptions {
            as_of: Some(t + 3_600_000_000),
        },
        &Silent,
    )
    .unwrap()
    .report;
    assert_eq!(r2.emitted, 0);
    assert_eq!(named("beton_signal_fired").len(), 6);
    assert_eq!(named("$groupidentify").len(), r.accounts.len());
}

#[test]
fn health_on_posthog_comes_from_the_counts_query() {
    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    let t = beton::time::parse_ts("2026-05-01T06:00:00Z").unwrap();
    let h = beton::posthog::health(&client(&fake, 20), &cfg, t).unwrap();
    let a = h.accounts.iter().find(|a| a.account == "a.com").unwrap();
    assert_eq!(
        (
            a.events_7d,
            a.events_prev_7d,
            a.active_users_30d,
            a.features_30d
        ),
        (40, 20, 2, 1)
    );
    assert_eq!(a.status, beton::health::Status::Growing);
    assert_eq!(a.growth, Some(1.0));
    assert_eq!(a.last_seen.as_deref(), Some("2026-04-30T12:00:00Z"));
    // b.com: 5 vs 5 is below the baseline of 10, so stable.
    let b = h.accounts.iter().find(|a| a.account == "b.com").unwrap();
    assert_eq!(b.status, beton::health::Status::Stable);
    assert_eq!(h.accounts.len(), 5);
    assert_eq!(h.growth_leaders[0].account, "a.com");
    // The sparkline and feature adoption come from the same query (SPEC §4).
    assert_eq!(a.daily.len(), beton::health::SPARK_DAYS);
    assert_eq!((a.daily[29], a.daily[..29].iter().sum::<u32>()), (40, 0));
    let adoption: Vec<(&str, u64)> = h
        .feature_adoption
        .iter()
        .map(|f| (f.feature.as_str(), f.accounts))
        .collect();
    assert_eq!(adoption, [("reports", 3), ("api", 2)]);
}

#[test]
fn a_failed_capture_is_sent_by_the_next_run() {
    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    if std::env::var(beton::posthog::KEY_ENV).is_ok() {
        eprintln!("skipped: POSTHOG_API_KEY is set in this environment");
        return;
    }
    let (_dir, ctx) = workspace(&fake, cfg);
    let t = beton::time::parse_ts("2026-05-01T06:00:00Z").unwrap();
    fake.with(|w| w.capture_fails = Some(400));
    let r = run_daily(&ctx, &RunOptions { as_of: Some(t) }, &Silent)
        .unwrap()
        .report;
    let capture = r.steps.iter().find(|s| s.name == "capture").unwrap();
    assert_eq!(capture.status, StepStatus::Failed, "{capture:?}");
    assert!(
        capture.detail.contains("10 events stay queued"),
        "{capture:?}"
    );
    assert_eq!(r.exit_code(), 2);
    assert_eq!(r.emitted, 6);
    fake.with(|w| w.capture_fails = None);
    // Inside every cooldown the next run emits nothing new, but sends what the first could not.
    let r2 = run_daily(
        &ctx,
        &RunOptions {
            as_of: Some(t + 3_600_000_000),
        },
        &Silent,
    )
    .unwrap()
    .report;
    assert_eq!(r2.emitted, 0);
    let capture = r2.steps.iter().find(|s| s.name == "capture").unwrap();
    assert_eq!(capture.status, StepStatus::Ok, "{capture:?}");
    assert_eq!(fake.with(|w| w.captured.len()), 10);
    // And only once.
    run_daily(
        &ctx,
        &RunOptions {
            as_of: Some(t + 7_200_000_000),
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(fake.with(|w| w.captured.len()), 10);
}

#[test]
fn a_failing_provisioning_step_does_not_stop_detection_exit_2() {
    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    if std::env::var(beton::posthog::KEY_ENV).is_ok() {
        eprintln!("skipped: POSTHOG_API_KEY is set in this environment");
        return;
    }
    fake.with(|w| w.dashboards_fail = Some(500));
    let (_dir, ctx) = workspace(&fake, cfg);
    let r = run_daily(
        &ctx,
        &RunOptions {
            as_of: beton::time::parse_ts("2026-05-01"),
        },
        &Silent,
    )
    .unwrap()
    .report;
    let status = |n: &str| r.steps.iter().find(|s| s.name == n).map(|s| s.status);
    assert_eq!(status("detect"), Some(StepStatus::Ok));
    assert_eq!(status("capture"), Some(StepStatus::Ok));
    assert_eq!(status("provision"), Some(StepStatus::Failed));
    assert_eq!(r.exit_code(), 2);
    assert_eq!(r.accounts.len(), 4);
    let _: Value = serde_json::to_value(&r).unwrap();
}

fn beton_cmd(dir: &std::path::Path) -> std::process::Command {
    common::ensure_config(dir);
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_beton"));
    c.env("BETON_CONFIG", dir.join("config.toml"))
        .env("BETON_DATA", dir.join("data"))
        .env_remove("POSTHOG_API_KEY");
    c
}

#[test]
fn hogql_dump_prints_every_query_with_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = beton_cmd(dir.path())
        .args(["hogql", "--dump", "--as-of", "2026-05-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(names.starts_with(&[COUNTS, NEW, PROPS]), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.starts_with("tile_")).count(),
        Definitions::builtin().unwrap().tiles.len()
    );
    for l in &lines {
        let sql = l["query"].as_str().unwrap();
        for (k, _) in l["values"].as_object().unwrap() {
            assert!(sql.contains(&format!("{{{k}}}")), "{k} in {}", l["name"]);
        }
        assert!(
            !sql.contains("2026-"),
            "a time was spliced into {}",
            l["name"]
        );
    }
}

#[test]
fn doctor_reports_sources_signals_and_the_budget() {
    let fake = Fake::start();
    fake.with(|w| {
        w.answers.insert(
            beton::posthog::doctor::SOURCES.into(),
            (
                [
                    "events",
                    "events_with_account",
                    "accounts_active",
                    "pricing_views",
                    "feature_used",
                    "support_events",
                    "billing_events",
                    "group_identify",
                ]
                .map(String::from)
                .to_vec(),
                vec![vec![
                    json!(1000),
                    json!(900),
                    json!(40),
                    json!(12),
                    json!(30),
                    json!(0),
                    json!(4),
                    json!(40),
                ]],
            ),
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "source = \"posthog\"\n[posthog]\nhost = \"{0}\"\nproject_id = {PROJECT}\ngroup_type_index = 1\ncapture_host = \"{0}\"\nproject_api_key = \"{CAPTURE_KEY}\"\n",
        fake.url
    );
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    let out = beton_cmd(dir.path())
        .env("POSTHOG_API_KEY", KEY)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"]["pricing_views"], 12);
    // No Attio source in the warehouse: the deals table is absent, every tile column missing.
    let deals = &v["sources"]["deals"];
    assert_eq!(
        (&deals["exists"], &deals["attio_source"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(deals["missing"].as_array().unwrap().len(), 7);
    let can = |s: &str| {
        v["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["signal"] == s)
            .unwrap()["can_fire"]
            .clone()
    };
    assert_eq!(can("pricing_intent"), json!(true));
    assert_eq!(can("support_engagement"), json!(false));
    assert_eq!(v["query_budget"], 20);
    // The hourly limit and what a default backtest needs of it: 1 + 3 × 26 replay dates.
    assert_eq!(
        (&v["queries_per_hour"], &v["backtest_queries"]),
        (&json!(120), &json!(79))
    );
    assert!(v["queries_per_run"].as_u64().unwrap() >= 3);
    // Without a key, the doctor says how to give one.
    let out = beton_cmd(dir.path()).args(["doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("POSTHOG_API_KEY"));
}

#[test]
fn connect_through_the_binary_writes_settings_and_a_private_credentials_file() {
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "# my settings\nroute_threshold = 65\n",
    )
    .unwrap();
    let mut child = beton_cmd(dir.path())
        .args(["connect", "posthog", "--host", &fake.url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{KEY}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(
        text.contains("# my settings") && text.contains("route_threshold = 65"),
        "{text}"
    );
    let cfg = Config::parse(&text, "config.toml").unwrap();
    assert_eq!(cfg.source, SourceKind::Posthog);
    let p = cfg.posthog.unwrap();
    assert_eq!(
        (p.project_id, p.group_type_index, p.project_api_key.as_str()),
        (PROJECT, 1, CAPTURE_KEY)
    );
    assert!(
        !text.contains(KEY),
        "the personal key must not be in the config"
    );
    let cred = dir.path().join("credentials.toml");
    assert!(std::fs::read_to_string(&cred).unwrap().contains(KEY));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&cred).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A wrong key: exit 1 and a message that says so, without the key.
    let bad = beton_cmd(dir.path())
        .env("POSTHOG_API_KEY", "phx_not_the_key_42")
        .args(["connect", "posthog", "--host", &fake.url])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("rejected the API key") && !err.contains("not_the_key"),
        "{err}"
    );
}

#[test]
fn dry_run_plans_everything_and_writes_nothing() {
    let fake = Fake::start();
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    let out = provision(
        &client(&fake, 20),
        &store,
        &config(&fake, 100),
        &defs,
        None,
        true,
    )
    .unwrap();
    assert!(out.dry_run);
    assert_eq!(out.count(ActionKind::Create), 4 + defs.tiles.len());
    assert_eq!(fake.with(|w| (w.writes, w.folders.len())), (0, 0));
    assert!(store.provisioned_tiles(PROJECT).unwrap().is_empty());
}

#[test]
fn demo_signals_are_never_sent_to_a_connected_project() {
    let fake = Fake::start();
    if std::env::var(beton::posthog::KEY_ENV).is_ok() {
        eprintln!("skipped: POSTHOG_API_KEY is set in this environment");
        return;
    }
    let cfg = Config {
        posthog: Some(settings(&fake, 100)),
        ..Config::default()
    };
    let (_dir, ctx) = workspace(&fake, cfg);
    let t = beton::time::parse_ts("2026-05-01").unwrap();
    let opts = beton::demo::DemoOptions {
        accounts: 40,
        days: 40,
        as_of: t,
        ..Default::default()
    };
    beton::demo::create(&ctx.open_store().unwrap(), &ctx.config, &opts, &Silent).unwrap();
    let r = run_daily(&ctx, &RunOptions { as_of: Some(t) }, &Silent)
        .unwrap()
        .report;
    let status = |n: &str| r.steps.iter().find(|s| s.name == n).map(|s| s.status);
    assert_eq!(status("detect"), Some(StepStatus::Ok));
    assert_eq!(status("capture"), Some(StepStatus::Skipped));
    assert_eq!(status("provision"), Some(StepStatus::Ok));
    assert!(r.emitted > 0);
    assert!(fake.with(|w| w.captured.is_empty()));
    assert_eq!(r.exit_code(), 0);
}

/// The fake's answer to the backtest's first-seen query: (account, first event) rows.
fn load_first_seen(fake: &Fake, rows: Vec<Vec<Value>>) {
    fake.with(|w| {
        w.answers.insert(
            beton::posthog::hogql::FIRST_SEEN.into(),
            (vec!["account".into(), "first_seen".into()], rows),
        )
    });
}

/// With PostHog as the source the backtest runs detection in HogQL at every replay date (the
/// fake gives the same answers at each), plus one first-seen query; deals are the workspace's.
#[test]
fn the_backtest_replays_detection_in_hogql_at_every_date() {
    use beton::backtest::{self, BacktestOptions, Source};
    use beton::store::{DealRow, Ingest};
    use beton::time::{DAY, parse_ts};

    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    let t = parse_ts("2026-05-01T06:00:00Z").unwrap();
    load_first_seen(
        &fake,
        vec![
            vec![json!("a.com"), json!("2025-01-01T00:00:00Z")],
            vec![json!("b.com"), json!("2025-01-01 00:00:00")],
            vec![json!("quiet.io"), Value::Null],
        ],
    );
    let store = Store::open_in_memory().unwrap();
    let opts = BacktestOptions::from_config(&cfg, t);
    let dates = opts.dates();
    let mut ingest = Ingest::begin(&store, &cfg).unwrap();
    for (id, account, closed) in [
        ("d1", "a.com", dates[0] + 10 * DAY),
        ("d2", "won-only.com", dates[3] + DAY),
    ] {
        ingest
            .deal(&DealRow {
                deal_id: id.into(),
                account_key: account.into(),
                name: None,
                lead_source: "pql".into(),
                stage: "won".into(),
                value: Some(1000.0),
                created_at: dates[0],
                sql_at: None,
                closed_at: Some(closed),
                owner_email: None,
            })
            .unwrap();
    }
    ingest.commit().unwrap();

    let c = client(&fake, 1000);
    let r = backtest::run(&store, &cfg, &opts, &Silent, Source::Posthog(&c)).unwrap();
    let queries = 1 + 3 * dates.len() as u32;
    assert_eq!(c.usage().queries, queries);
    let sent: std::collections::BTreeSet<String> = fake.with(|w| {
        w.queries
            .iter()
            .filter_map(|q| q["query"]["values"]["t"].as_str().map(str::to_string))
            .collect()
    });
    assert_eq!(sent.len(), dates.len(), "detection at every replay date");
    // a..e.com from the answers, quiet.io from the groups table, won-only.com from the deals.
    assert_eq!(r.accounts, 7);
    // a.com fires from the first date and is won 10 days later; won-only.com is never caught.
    assert_eq!((r.true_positives, r.won_accounts, r.caught), (1, 2, 1));
    assert!(r.flagged >= 1, "{r:?}");

    // Too small a query budget stops the backtest with PostHog's budget error.
    let tight = client(&fake, 5);
    let err = backtest::run(&store, &cfg, &opts, &Silent, Source::Posthog(&tight)).unwrap_err();
    assert!(err.to_string().contains("budget"), "{err}");
}

/// A workspace with PostHog as the source (`extra` appended to its `[posthog]` section) and one
/// won deal, and `beton backtest --step-days 1` (181 replay dates) run in it.
fn backtest_181_dates(fake: &Fake, extra: &str) -> std::process::Output {
    let cfg = config(fake, 100);
    load_answers(fake, &cfg);
    load_first_seen(
        fake,
        vec![vec![json!("a.com"), json!("2025-01-01T00:00:00Z")]],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "source = \"posthog\"\n\n[posthog]\nhost = \"{url}\"\nproject_id = {PROJECT}\ngroup_type_index = 1\ncapture_host = \"{url}\"\nproject_api_key = \"{CAPTURE_KEY}\"\npage_size = 100\n{extra}",
            url = fake.url
        ),
    )
    .unwrap();
    let paths = Paths {
        config_file: dir.path().join("config.toml"),
        data_dir: dir.path().join("data"),
    };
    beton::posthog::store_key(&paths, &ApiKey::new(KEY).unwrap()).unwrap();
    // The backtest judges against the workspace's deals.
    std::fs::write(
        dir.path().join("deals.csv"),
        "deal_id,account_key,lead_source,stage,value,created_at,closed_at\nd1,a.com,pql,won,1000,2026-01-01T00:00:00Z,2026-03-01T00:00:00Z\n",
    )
    .unwrap();
    let import = beton_cmd(dir.path())
        .args(["import", "deals"])
        .arg(dir.path().join("deals.csv"))
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    beton_cmd(dir.path())
        .args([
            "backtest",
            "--json",
            "--step-days",
            "1",
            "--as-of",
            "2026-05-01T06:00:00Z",
        ])
        .output()
        .unwrap()
}

/// `beton backtest` on PostHog sizes its query budget to the replay dates it runs, command-line
/// range included: `--step-days 1` makes 181 replay dates, far more than the configured 26.
#[test]
fn beton_backtest_on_posthog_budgets_for_the_command_line_range() {
    let fake = Fake::start();
    let out = backtest_181_dates(&fake, "queries_per_hour = 2400\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["replay_dates"], 181);
    let queries = fake.with(|w| w.queries.len());
    assert_eq!(queries, 1 + 3 * 181, "every replay date ran in PostHog");
}

/// On a project with PostHog's legacy limit (120 queries an hour, the default), a backtest of
/// 544 queries would wait four hours: Beton says so before sending anything.
#[test]
fn a_backtest_past_the_hourly_limit_is_refused_before_any_query() {
    let fake = Fake::start();
    let out = backtest_181_dates(&fake, "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("544 PostHog queries")
            && err.contains("120 an hour")
            && err.contains("max_wait_seconds"),
        "{err}"
    );
    assert_eq!(fake.with(|w| w.queries.len()), 0);
}

/// PostHog's Attio source in the warehouse: the view, idempotent, updated with PostHog's
/// history id, read by the deal tiles.
#[test]
fn provisioning_makes_the_deals_view_once_and_the_deal_tiles_read_it() {
    use beton::posthog::warehouse::{TILE_COLUMNS, ViewKind, check_deals};
    let fake = Fake::start();
    fake.with(|w| w.with_attio_source(true));
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    let mut cfg = config(&fake, 100);
    let c = client(&fake, 20);
    let none = beton::posthog::doctor::Sources::default();
    let plan = provision(&c, &store, &cfg, &defs, Some(&none), true).unwrap();
    assert_eq!(plan.deals_view.as_ref().unwrap().kind, ViewKind::Create);
    assert_eq!(
        fake.with(|w| (w.views.len(), w.view_writes)),
        (0, 0),
        "a dry run writes nothing"
    );
    let out = provision(&c, &store, &cfg, &defs, Some(&none), false).unwrap();
    assert_eq!(out.deals_view.as_ref().unwrap().kind, ViewKind::Create);
    fake.with(|w| {
        assert_eq!(w.views.len(), 1);
        let v = &w.views[0];
        assert_eq!(v["name"], "beton_deals");
        let sql = v["query"]["query"].as_str().unwrap();
        assert!(
            sql.contains("FROM attio_deals") && sql.contains("FROM attio_companies"),
            "{sql}"
        );
        let cols: Vec<&str> = v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for c in TILE_COLUMNS {
            assert!(cols.contains(&c), "{c} not in {cols:?}");
        }
        let deal_tiles: Vec<&Value> = w
            .insights
            .iter()
            .filter(|i| {
                i["query"]["source"]["query"]
                    .as_str()
                    .unwrap()
                    .contains("beton_deals")
            })
            .collect();
        assert!(deal_tiles.len() >= 10, "{}", deal_tiles.len());
        for i in &deal_tiles {
            let desc = i["description"].as_str().unwrap();
            assert!(!desc.contains("No data yet"), "{desc}");
        }
        assert!(!w.insights.iter().any(|i| {
            i["query"]["source"]["query"]
                .as_str()
                .unwrap()
                .contains("attio_deals")
        }));
    });
    assert!(check_deals(&c, cfg.posthog.as_ref().unwrap()).unwrap().ok());

    // Again: nothing written. Another stage list: the view's query is updated in place.
    let writes = fake.with(|w| w.view_writes);
    let out = provision(&c, &store, &cfg, &defs, Some(&none), false).unwrap();
    assert_eq!(out.deals_view.as_ref().unwrap().kind, ViewKind::Unchanged);
    assert_eq!(fake.with(|w| w.view_writes), writes);
    cfg.deals.won_stages.push("Signed".into());
    let out = provision(&c, &store, &cfg, &defs, Some(&none), false).unwrap();
    assert_eq!(out.deals_view.as_ref().unwrap().kind, ViewKind::Update);
    fake.with(|w| {
        assert_eq!((w.views.len(), w.view_writes), (1, writes + 1));
        assert!(
            w.views[0]["query"]["query"]
                .as_str()
                .unwrap()
                .contains("'Signed'")
        );
    });
    // PostHog refuses a query change that does not name the view's latest history.
    let id = fake.with(|w| w.views[0]["id"].as_str().unwrap().to_string());
    let stale = c.patch(
        &c.project_path(&format!("warehouse_saved_queries/{id}/")),
        &json!({"query": {"kind": "HogQLQuery", "query": "SELECT record_id FROM attio_deals"}, "edited_history_id": "h0"}),
    );
    assert!(
        format!("{stale:?}").contains("modified by someone else"),
        "{stale:?}"
    );
}

/// The native table keeps Attio's raw shape: Beton's column names are not there.
#[test]
fn spec_column_names_do_not_resolve_on_the_native_attio_table() {
    use beton::posthog::warehouse::{ViewKind, check_deals};
    let fake = Fake::start();
    fake.with(|w| w.with_attio_source(false));
    let c = client(&fake, 20);
    let q = HogQl {
        name: "direct".into(),
        sql: "SELECT lead_source, count() AS n FROM attio_deals GROUP BY lead_source".into(),
        values: Default::default(),
    };
    let e = c.query(&q).unwrap_err();
    assert!(
        e.to_string()
            .contains("Unable to resolve field: lead_source"),
        "{e}"
    );
    // Pointing the tiles straight at the native table: the doctor names the missing columns.
    let mut p = settings(&fake, 100);
    p.deals_table = "attio_deals".into();
    p.attio_table = String::new();
    let d = check_deals(&c, &p).unwrap();
    assert!(d.exists && !d.ok(), "{d:?}");
    // `created_at` is the one SPEC name the raw records share.
    assert_eq!(d.missing.len(), 6, "{d:?}");
    assert!(!d.missing.contains(&"created_at".to_string()));
    assert!(d.advice().contains("lead_source"), "{}", d.advice());
    // Without the companies table the view still maps, and says what it cannot match.
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    let out = provision(&c, &store, &config(&fake, 100), &defs, None, false).unwrap();
    let view = out.deals_view.unwrap();
    assert_eq!(view.kind, ViewKind::Create);
    assert!(view.detail.contains("attio_companies"), "{}", view.detail);
}

/// No Attio source: no view, a message saying how to get deals in, the tiles with a note.
#[test]
fn without_an_attio_source_provisioning_says_how_to_get_deals_in() {
    use beton::posthog::warehouse::ViewKind;
    let fake = Fake::start();
    let store = Store::open_in_memory().unwrap();
    let defs = Definitions::builtin().unwrap();
    let c = client(&fake, 20);
    let cfg = config(&fake, 100);
    let sources = beton::posthog::doctor::check(&c, &cfg, beton::time::now()).unwrap();
    let out = provision(&c, &store, &cfg, &defs, Some(&sources), false).unwrap();
    let view = out.deals_view.as_ref().unwrap();
    assert_eq!(view.kind, ViewKind::NoSource);
    assert!(view.detail.contains("Sources → Attio"), "{}", view.detail);
    assert!(
        out.summary().contains("no Attio table"),
        "{}",
        out.summary()
    );
    fake.with(|w| {
        assert!(w.views.is_empty());
        assert_eq!(w.insights.len(), defs.tiles.len());
    });
    // A table of the user's own under the view's name: PostHog refuses the view, Beton says why.
    fake.with(|w| {
        w.with_attio_source(true);
        w.warehouse_tables
            .insert("beton_deals".into(), vec!["deal_id".into()]);
    });
    let e = provision(&c, &store, &cfg, &defs, None, false).unwrap_err();
    assert!(
        e.to_string()
            .contains("A table with this name already exists")
            && e.to_string().contains("posthog.deals_table"),
        "{e}"
    );
}

/// PostHog's SQL charts need their settings: the fake refuses a bar keyed by text without them.
#[test]
fn a_chart_without_chart_settings_is_refused() {
    let fake = Fake::start();
    let c = client(&fake, 20);
    let body = json!({"name": "x", "saved": true, "query": {"kind": "DataVisualizationNode",
        "source": {"kind": "HogQLQuery", "query": "SELECT source, count() AS n FROM events GROUP BY source"},
        "display": "ActionsBar"}});
    let e = c.post(&c.project_path("insights/"), &body).unwrap_err();
    assert!(e.to_string().contains("chartSettings"), "{e}");
    let mut wrong = body.clone();
    wrong["query"]["chartSettings"] =
        json!({"xAxis": {"column": "source"}, "yAxis": [{"column": "count"}]});
    let e = c.post(&c.project_path("insights/"), &wrong).unwrap_err();
    assert!(e.to_string().contains("`count`"), "{e}");
}

/// PostHog's hourly throttle answering with a Retry-After of most of an hour: Beton stops at
/// once, says until when, and sends nothing more.
#[test]
fn a_long_retry_after_stops_at_once_with_the_time_to_come_back() {
    let fake = Fake::start();
    fake.with(|w| w.queries_per_hour = Some(2));
    let c = client(&fake, 20);
    c.query(&probe()).unwrap();
    c.query(&probe()).unwrap();
    let started = Instant::now();
    let e = c.query(&probe()).unwrap_err();
    assert!(
        matches!(e, PosthogError::Throttled { wait_seconds, .. } if wait_seconds > 3500),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("until about") && msg.contains("max_wait_seconds"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        fake.with(|w| w.queries.len()),
        3,
        "no retry of a long Retry-After"
    );
}

/// `Retry-After: 0` (under a second left) waits a second before each retry instead of spinning.
#[test]
fn a_retry_after_of_zero_waits_a_second_instead_of_spinning() {
    let fake = Fake::start();
    fake.with(|w| {
        w.faults.push_back(Fault::TooMany {
            retry_after: Some(0),
        });
        w.faults.push_back(Fault::TooMany {
            retry_after: Some(0),
        });
    });
    let c = client(&fake, 20);
    let started = Instant::now();
    c.query(&probe()).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.with(|w| w.queries.len()), 3);
    assert_eq!(c.usage().retries, 2);
}

/// The client keeps within `queries_per_hour` by waiting, and refuses a wait past `max_wait`.
#[test]
fn queries_are_paced_within_the_hourly_limit() {
    let fake = Fake::start();
    let mut c = client(&fake, 20);
    c.pacing.per_hour = 2;
    c.pacing.hour = Duration::from_millis(400);
    let started = Instant::now();
    for _ in 0..5 {
        c.query(&probe()).unwrap();
    }
    // Queries 3 and 5 each waited for the window to free a slot.
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "{:?}",
        started.elapsed()
    );
    c.pacing.hour = Duration::from_secs(3600);
    c.pacing.max_wait = Duration::from_secs(1);
    let mut fresh = client(&fake, 20);
    fresh.pacing = c.pacing;
    fresh.query(&probe()).unwrap();
    fresh.query(&probe()).unwrap();
    let before = fake.with(|w| w.queries.len());
    let e = fresh.query(&probe()).unwrap_err();
    assert!(
        matches!(e, PosthogError::HourlyLimit { per_hour: 2, .. }),
        "{e:?}"
    );
    assert_eq!(
        fake.with(|w| w.queries.len()),
        before,
        "nothing sent past the limit"
    );
}

/// A project where scanning all history takes 15 s: PostHog stops such a query at 10 s (504),
/// Beton does not retry it, and the backtest's bounded first-seen scan stays inside the limit.
#[test]
fn queries_past_the_execution_limit_fail_once_and_the_backtest_stays_inside_it() {
    use beton::backtest::{self, BacktestOptions, Source};
    use beton::time::{DAY, parse_ts};
    let fake = Fake::start();
    fake.with(|w| {
        w.events_per_day = 27_400.0;
        w.history_days = 1500.0;
        w.scan_per_second = 2_740_000.0;
    });
    let c = client(&fake, 100);
    let unbounded = HogQl {
        name: "everything".into(),
        sql: "SELECT $group_1 AS account, min(timestamp) AS first FROM events GROUP BY account"
            .into(),
        values: Default::default(),
    };
    let e = c.query(&unbounded).unwrap_err();
    assert!(
        matches!(e, PosthogError::TooSlow { status: 504, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("10 s"), "{e}");
    assert_eq!(
        fake.with(|w| w.queries.len()),
        1,
        "a timed-out query is not retried"
    );

    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    load_first_seen(
        &fake,
        vec![vec![json!("a.com"), json!("2025-01-01T00:00:00Z")]],
    );
    let t = parse_ts("2026-05-01T06:00:00Z").unwrap();
    let opts = BacktestOptions::from_config(&cfg, t);
    let store = Store::open_in_memory().unwrap();
    let c = client(&fake, 1000);
    backtest::run(&store, &cfg, &opts, &Silent, Source::Posthog(&c)).unwrap();
    let first = fake.with(|w| {
        w.queries
            .iter()
            .find(|q| q["name"] == beton::posthog::hogql::FIRST_SEEN)
            .cloned()
            .unwrap()
    });
    let from = parse_ts(first["query"]["values"]["from"].as_str().unwrap()).unwrap();
    assert_eq!(from, opts.dates()[0] - 365 * DAY);
}

/// A what-if replays two settings: 1 + 2 × 3 × 26 = 157 queries, more than the 120 an hour of
/// the default limit, so it is refused before any query; equal settings replay once and fit.
#[test]
fn a_what_if_is_planned_against_the_hourly_limit_before_it_sends_anything() {
    use beton::backtest::{self, BacktestOptions, Source};
    use beton::time::parse_ts;
    let fake = Fake::start();
    let cfg = config(&fake, 100);
    load_answers(&fake, &cfg);
    load_first_seen(
        &fake,
        vec![vec![json!("a.com"), json!("2025-01-01T00:00:00Z")]],
    );
    let t = parse_ts("2026-05-01T06:00:00Z").unwrap();
    let opts = BacktestOptions::from_config(&cfg, t);
    let store = Store::open_in_memory().unwrap();
    let c = client(&fake, 1000);
    let mut other = cfg.clone();
    other.route_threshold += 5;
    let e = backtest::reports(&store, &[&cfg, &other], &opts, &Silent, Source::Posthog(&c))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("these 2 backtests")
            && e.contains("157 PostHog queries")
            && e.contains("120 an hour"),
        "{e}"
    );
    assert_eq!(fake.with(|w| w.queries.len()), 0);
    let same =
        backtest::reports(&store, &[&cfg, &cfg], &opts, &Silent, Source::Posthog(&c)).unwrap();
    assert_eq!(same.len(), 2);
    assert_eq!(fake.with(|w| w.queries.len()), 1 + 3 * opts.dates().len());
    // Allowing an hour's wait lets Beton pace it instead; a newer project's 2400 an hour fits.
    let mut patient = cfg.clone();
    patient.posthog.as_mut().unwrap().max_wait_seconds = 3600;
    assert!(beton::posthog::plan_backtests(&patient, 2, 26).is_ok());
    // 3 × 78 + 1 = 235 queries: 120 now, the rest in an hour; 4 × 78 + 1 = 313 wait two.
    assert!(beton::posthog::plan_backtests(&patient, 3, 26).is_ok());
    assert!(beton::posthog::plan_backtests(&patient, 4, 26).is_err());
    let mut newer = cfg.clone();
    newer.posthog.as_mut().unwrap().queries_per_hour = 2400;
    assert!(beton::posthog::plan_backtests(&newer, 8, 26).is_ok());
}
