//! The Attio sync against a fake Attio on 127.0.0.1 (tests/fake_attio): first sync creates,
//! second changes nothing, a new signal adds one note, a kill between "sent" and "done" leaves
//! exactly one of everything, 429 with an HTTP date, 5xx then success, unknown stage, unresolved
//! company, dry runs, setup, pull, and the run_daily step.

mod fake_attio;

use std::time::Duration;

use beton::attio::sync::{Outcome, SyncOptions, SyncReport};
use beton::attio::{ApiKey, Client};
use beton::config::{AttioSettings, Config};
use beton::signals::{AccountScore, Fired, ScoreParts, SignalType, Tier};
use beton::store::{EventIn, Ingest, Store};
use beton::time::{DAY, parse_ts};
use fake_attio::{Fake, Fault, KEY};
use serde_json::json;

const SLUG: &str = "beton_account_key";

fn t0() -> i64 {
    parse_ts("2026-11-18T06:00:00Z").unwrap()
}

fn settings(fake: &Fake) -> AttioSettings {
    AttioSettings {
        base_url: fake.url.clone(),
        default_owner: "ae2@example.com".into(),
        value_property: "arr".into(),
        list: "pql_accounts".into(),
        create_missing_companies: true,
        ..AttioSettings::default()
    }
}

fn config(s: AttioSettings) -> Config {
    Config {
        attio: Some(s),
        ..Config::default()
    }
}

fn client(cfg: &Config) -> Client {
    Client::new(cfg.attio.as_ref().unwrap(), ApiKey::new(KEY))
        .unwrap()
        .with_backoff(Duration::from_millis(5))
}

/// A workspace with two accounts: acme.com (its company is in Attio, its owner a member, end
/// users with email ids) and globex.io (no company in Attio).
fn workspace(fake: &Fake) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("workspace.sqlite")).unwrap();
    let cfg = Config::default();
    let mut ingest = Ingest::begin(&store, &cfg).unwrap();
    let acme = json!({"name": "Acme", "domain": "acme.com", "owner_email": "AE1@example.com", "arr": 24000,
                      "plan": "team", "trial_ends_at": "2026-11-25T00:00:00Z"});
    ingest
        .account_snapshot("acme.com", None, acme.as_object().unwrap())
        .unwrap();
    let globex = json!({"name": "Globex", "owner_email": "nobody@example.com"});
    ingest
        .account_snapshot("globex.io", None, globex.as_object().unwrap())
        .unwrap();
    for (i, user) in [
        "jane.doe@acme.com",
        "john.roe@acme.com",
        "jane.doe@acme.com",
    ]
    .iter()
    .enumerate()
    {
        ingest
            .event(&EventIn {
                uuid: None,
                event: "feature_used".into(),
                distinct_id: user.to_string(),
                ts: t0() - (i as i64 + 1) * DAY,
                account: Some("acme.com".into()),
                url: None,
                feature: Some("dashboards".into()),
                group_set: None,
            })
            .unwrap();
    }
    ingest.commit().unwrap();
    fake.add_company("acme.com", "Acme Inc");
    (dir, store)
}

fn fired(signal: SignalType, evidence: &str) -> Fired {
    Fired {
        signal,
        base: signal.base(&Config::default()),
        evidence: evidence.into(),
        numbers: Default::default(),
    }
}

fn score(store: &Store, key: &str, fired: Vec<Fired>) -> AccountScore {
    let cfg = Config::default();
    let bases: Vec<u32> = fired.iter().map(|f| f.base).collect();
    let parts = ScoreParts::of(&bases, &cfg);
    AccountScore {
        account_id: store.account_id(key).unwrap().unwrap(),
        account: key.into(),
        score: parts.score(),
        tier: Tier::of(parts.score(), &cfg),
        routed: parts.score() >= cfg.route_threshold,
        parts,
        fired,
    }
}

/// Records a daily run at `t` and returns its id.
fn run(store: &Store, t: i64, scores: &[AccountScore]) -> i64 {
    store
        .record_detection("daily", "local", t, scores, 7)
        .unwrap()
        .0
}

/// acme.com (pricing, team) and globex.io (limit, support): the first run's scores.
fn first_scores(store: &Store) -> Vec<AccountScore> {
    vec![
        score(
            store,
            "acme.com",
            vec![
                fired(SignalType::PricingIntent, "3 pricing page views in 7 days"),
                fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
            ],
        ),
        score(
            store,
            "globex.io",
            vec![
                fired(
                    SignalType::LimitApproaching,
                    "usage 900 of plan_limit 1000 (90 %)",
                ),
                fired(SignalType::SupportEngagement, "4 support events in 7 days"),
            ],
        ),
    ]
}

fn first_run(store: &Store) -> i64 {
    run(store, t0(), &first_scores(store))
}

/// A fake Attio set up for Beton, a workspace with acme.com and globex.io (keep the dir alive),
/// the settings (`edit` gets the defaults without a list and returns them changed), and the
/// workspace's first run.
fn ready(
    edit: impl FnOnce(AttioSettings) -> AttioSettings,
) -> (Fake, tempfile::TempDir, Store, Config, i64) {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    let (dir, store) = workspace(&fake);
    let cfg = config(edit(AttioSettings {
        list: String::new(),
        ..settings(&fake)
    }));
    let run_id = first_run(&store);
    (fake, dir, store, cfg, run_id)
}

fn sync(store: &Store, cfg: &Config, run_id: i64, opts: &SyncOptions) -> beton::Result<SyncReport> {
    beton::attio::sync(store, cfg, &client(cfg), run_id, opts)
}

fn detail<'a>(r: &'a SyncReport, key: &str) -> &'a str {
    &r.accounts.iter().find(|a| a.account == key).unwrap().detail
}

fn outcome(r: &SyncReport, key: &str) -> Outcome {
    r.accounts
        .iter()
        .find(|a| a.account == key)
        .unwrap()
        .outcome
}

fn no_schema_errors(fake: &Fake) {
    assert!(
        fake.schema_errors().is_empty(),
        "bodies that break Attio's OpenAPI schema: {:#?}",
        fake.schema_errors()
    );
}

#[test]
fn first_sync_creates_everything_and_second_sync_sends_nothing() {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    fake.with(|w| w.lists.push("pql_accounts".into()));
    let (_dir, store) = workspace(&fake);
    let cfg = config(settings(&fake));
    let run_id = first_run(&store);

    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Created, "{r:#?}");
    assert_eq!(outcome(&r, "globex.io"), Outcome::Created, "{r:#?}");
    assert_eq!(
        (
            r.deals_created,
            r.notes,
            r.tasks,
            r.list_entries,
            r.companies_created
        ),
        (2, 2, 2, 2, 1)
    );

    let deals = fake.deals();
    assert_eq!(deals.len(), 2);
    let acme = deals
        .iter()
        .find(|d| Fake::deal_text(d, SLUG).as_deref() == Some("acme.com"))
        .unwrap();
    assert_eq!(Fake::deal_text(acme, "name").as_deref(), Some("PQL – Acme"));
    // The deal's web address from Attio's answer is kept for the TUI's detail.
    let acme_id = store.account_id("acme.com").unwrap().unwrap();
    assert_eq!(
        store.attio_deal_link(acme_id).unwrap(),
        Some((
            acme.id.clone(),
            Some(format!("https://app.attio.com/x/deals/{}", acme.id))
        ))
    );
    assert_eq!(Fake::deal_text(acme, "stage").as_deref(), Some("Lead"));
    assert_eq!(Fake::deal_text(acme, "lead_source").as_deref(), Some("pql"));
    assert_eq!(
        Fake::deal_text(acme, "pql_signals").as_deref(),
        Some("pricing_intent, team_growth")
    );
    assert_eq!(acme.values["pql_score"][0]["value"], json!(65));
    assert_eq!(acme.values["value"][0]["currency_value"], json!(24000.0));
    assert_eq!(
        acme.values["owner"][0]["referenced_actor_id"],
        json!("11111111-1111-4111-8111-111111111111")
    );
    let acme_company = fake.with(|w| {
        w.companies
            .iter()
            .find(|c| c.values["domains"][0]["domain"] == "acme.com")
            .unwrap()
            .id
            .clone()
    });
    assert_eq!(
        acme.values["associated_company"][0]["target_record_id"],
        json!(acme_company)
    );
    let globex = deals
        .iter()
        .find(|d| Fake::deal_text(d, SLUG).as_deref() == Some("globex.io"))
        .unwrap();
    assert_eq!(
        globex.values["owner"][0]["referenced_actor_id"],
        json!(fake.member("ae2@example.com")),
        "nobody@example.com is not a member: the default owner owns the deal"
    );
    assert_eq!(fake.with(|w| w.companies.len()), 2, "globex.io was created");

    let notes = fake.notes();
    let note = notes
        .iter()
        .find(|n| n["parent_record_id"] == json!(acme.id))
        .unwrap();
    let text = note["content_markdown"].as_str().unwrap();
    for part in [
        "pricing_intent",
        "3 pricing page views",
        "Active users: 2",
        "dashboards",
        "Trial ends: 2026-11-25",
        "Recommended next step",
    ] {
        assert!(text.contains(part), "note lacks {part:?}:\n{text}");
    }
    assert!(
        !text.contains("jane") && !text.contains("@acme.com"),
        "end users must be hashed:\n{text}"
    );
    let task = fake
        .tasks()
        .into_iter()
        .find(|t| t["linked_records"][0]["target_record_id"] == json!(acme.id))
        .unwrap();
    let due = beton::attio::sync::next_business_day(beton::time::now())
        .format("%Y-%m-%dT09:00:00.000Z")
        .to_string();
    assert_eq!(task["deadline_at"], json!(due), "due the next business day");
    assert_eq!(
        task["assignees"][0]["referenced_actor_id"],
        json!("11111111-1111-4111-8111-111111111111")
    );
    assert!(
        task["content_plaintext"]
            .as_str()
            .unwrap()
            .contains("Follow up with Acme")
    );
    assert_eq!(fake.with(|w| w.entries.len()), 2);
    no_schema_errors(&fake);

    let writes_before = fake.writes().len();
    let again = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(
        outcome(&again, "acme.com"),
        Outcome::Unchanged,
        "{again:#?}"
    );
    assert_eq!(
        outcome(&again, "globex.io"),
        Outcome::Unchanged,
        "{again:#?}"
    );
    assert_eq!(
        fake.writes().len(),
        writes_before,
        "a second sync must send no write"
    );
    assert_eq!(
        (fake.deals().len(), fake.notes().len(), fake.tasks().len()),
        (2, 2, 2)
    );
}

#[test]
fn a_new_signal_type_adds_one_note_and_task_and_never_moves_the_stage() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(fake.notes().len(), 2);
    let acme_id = fake
        .deals()
        .iter()
        .find(|d| Fake::deal_text(d, SLUG).as_deref() == Some("acme.com"))
        .unwrap()
        .id
        .clone();
    fake.with(|w| {
        fake_attio::move_stage(w, &acme_id, "In Progress", "2026-11-18T12:00:00.000000000Z")
    });

    // A day later: acme adds billing intent (new); its other types and globex's are in cooldown.
    let scores = vec![
        score(
            &store,
            "acme.com",
            vec![
                fired(SignalType::BillingIntent, "1 billing event in 7 days"),
                fired(SignalType::PricingIntent, "4 pricing page views in 7 days"),
                fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
            ],
        ),
        score(
            &store,
            "globex.io",
            vec![
                fired(
                    SignalType::LimitApproaching,
                    "usage 900 of plan_limit 1000 (90 %)",
                ),
                fired(SignalType::SupportEngagement, "4 support events in 7 days"),
            ],
        ),
    ];
    let second = run(&store, t0() + DAY, &scores);
    let r = sync(&store, &cfg, second, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Updated, "{r:#?}");
    assert_eq!(outcome(&r, "globex.io"), Outcome::Unchanged, "{r:#?}");
    let notes = fake.notes();
    assert_eq!(notes.len(), 3, "exactly one new note");
    let new_note = notes.last().unwrap();
    assert_eq!(new_note["parent_record_id"], json!(acme_id));
    assert!(
        new_note["title"]
            .as_str()
            .unwrap()
            .contains("new: billing_intent"),
        "{new_note}"
    );
    // The one-line "why now" against the previous run: 30 + 25 + 10 = 65, then 80 (95 capped) + 15.
    let content = new_note["content_markdown"].as_str().unwrap_or_default();
    assert!(
        content.contains("- Since the previous run: new: billing_intent +40; score 65 → 95\n"),
        "{content}"
    );
    assert_eq!(fake.tasks().len(), 3, "exactly one new task");
    let acme = fake.deals().into_iter().find(|d| d.id == acme_id).unwrap();
    assert_eq!(
        Fake::deal_text(&acme, "stage").as_deref(),
        Some("In Progress"),
        "the stage was moved back"
    );
    assert_eq!(
        Fake::deal_text(&acme, "pql_signals").as_deref(),
        Some("billing_intent, pricing_intent, team_growth")
    );
    assert_eq!(fake.deals().len(), 2);
    no_schema_errors(&fake);

    // Back to the first run's signals a day later: the score goes back down on the deal too,
    // although the same values were sent once before; no note, no task (nothing newly emitted).
    let third = run(
        &store,
        t0() + 2 * DAY,
        &[score(
            &store,
            "acme.com",
            vec![
                fired(SignalType::PricingIntent, "3 pricing page views in 7 days"),
                fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
            ],
        )],
    );
    let r = sync(&store, &cfg, third, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Updated, "{r:#?}");
    let acme = fake.deals().into_iter().find(|d| d.id == acme_id).unwrap();
    assert_eq!(acme.values["pql_score"][0]["value"], json!(65));
    assert_eq!((fake.notes().len(), fake.tasks().len()), (3, 3));
}

#[test]
fn a_kill_between_sent_and_done_then_a_rerun_leaves_exactly_one_of_each() {
    for kind in ["deal", "note", "task", "company"] {
        let (fake, _dir, store, cfg, run_id) = ready(|s| s);
        let crash = SyncOptions {
            crash_after_send: Some(kind.into()),
            ..Default::default()
        };
        let err = sync(&store, &cfg, run_id, &crash).unwrap_err().to_string();
        assert!(
            err.contains(&format!("stopped after sending {kind}")),
            "{err}"
        );
        assert_eq!(
            store.outbox_counts().unwrap().get("sent"),
            Some(&1),
            "{kind}: the step stays `sent`"
        );

        let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
        assert!(r.replayed >= 1, "{kind}: {r:#?}");
        assert_eq!(
            fake.deals().len(),
            2,
            "{kind}: exactly one deal per account"
        );
        assert_eq!(
            fake.notes().len(),
            2,
            "{kind}: exactly one note per account"
        );
        assert_eq!(
            fake.tasks().len(),
            2,
            "{kind}: exactly one task per account"
        );
        assert_eq!(
            fake.with(|w| w.companies.len()),
            2,
            "{kind}: exactly one company per domain"
        );
        let counts = store.outbox_counts().unwrap();
        assert_eq!(
            (counts.get("sent"), counts.get("pending")),
            (None, None),
            "{kind}: {counts:?}"
        );
        let third = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
        assert!(
            third
                .accounts
                .iter()
                .all(|a| a.outcome == Outcome::Unchanged),
            "{kind}: {third:#?}"
        );
        no_schema_errors(&fake);
    }
}

#[test]
fn a_429_waits_until_the_retry_after_date() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    fake.fail_next(
        "PUT",
        "/v2/objects/deals/records",
        Fault::RateLimit { seconds_ahead: 1 },
    );
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.count(Outcome::Failed), 0, "{r:#?}");
    let puts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path == "/v2/objects/deals/records")
        .collect();
    assert_eq!(
        puts.len(),
        3,
        "one 429, then the retry, then the other account"
    );
    let waited = puts[1].at.duration_since(puts[0].at).unwrap();
    assert!(
        waited >= Duration::from_millis(990),
        "retried after {waited:?}, before the Retry-After date"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(fake.deals().len(), 2);
    assert!(r.retries >= 1);
}

#[test]
fn server_errors_are_retried_then_the_account_fails_and_the_rest_go_on() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    // Two 503s on the first note: retried, then it goes through.
    fake.fail_next("POST", "/v2/notes", Fault::Status(503));
    fake.fail_next("POST", "/v2/notes", Fault::Status(502));
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.count(Outcome::Failed), 0, "{r:#?}");
    assert_eq!(fake.notes().len(), 2);

    // A second workspace where the first deal assert keeps failing (4 tries): that account is
    // failed, the other is created; a re-run creates the failed one, with no duplicates.
    let (fake, _dir2, store, cfg, run_id) = ready(|s| s);
    for _ in 0..4 {
        fake.fail_next("PUT", "/v2/objects/deals/records", Fault::Status(500));
    }
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.count(Outcome::Failed), 1, "{r:#?}");
    let failed = r
        .accounts
        .iter()
        .find(|a| a.outcome == Outcome::Failed)
        .unwrap();
    assert!(
        failed.detail.contains("500") && failed.detail.contains("4 tries"),
        "{failed:?}"
    );
    assert_eq!(fake.deals().len(), 1, "the other account went on");
    assert!(r.summary().contains("failed"), "{}", r.summary());
    let again = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(again.count(Outcome::Failed), 0, "{again:#?}");
    assert_eq!(
        (fake.deals().len(), fake.notes().len(), fake.tasks().len()),
        (2, 2, 2)
    );
}

#[test]
fn an_unknown_stage_or_option_is_named() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| AttioSettings {
        stage: "Product Qualified".into(),
        ..s
    });
    let err = sync(&store, &cfg, run_id, &SyncOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"Product Qualified\"") && err.contains("Lead, In Progress"),
        "{err}"
    );
    assert!(fake.writes().is_empty());

    // lead_source has no `pql` option: Attio's 400 is reported with the attribute and value.
    fake.with(|w| {
        w.options
            .insert("lead_source".into(), vec!["inbound".into()])
    });
    let cfg = config(AttioSettings {
        list: String::new(),
        ..settings(&fake)
    });
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.count(Outcome::Failed), 2, "{r:#?}");
    let detail = &r.accounts[0].detail;
    assert!(
        detail.contains("lead_source = \"pql\"") && detail.contains("value_not_found"),
        "{detail}"
    );
    assert_eq!(store.outbox_counts().unwrap().get("failed"), Some(&2));
    // Fixed in Attio: the next sync sends the rejected steps again.
    fake.with(|w| w.options.insert("lead_source".into(), vec!["pql".into()]));
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.count(Outcome::Created), 2, "{r:#?}");
    assert_eq!(fake.deals().len(), 2);
}

#[test]
fn an_account_without_a_company_is_unresolved_unless_creation_is_allowed() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| AttioSettings {
        create_missing_companies: false,
        ..s
    });
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Created);
    assert_eq!(outcome(&r, "globex.io"), Outcome::Unresolved);
    let detail = &r
        .accounts
        .iter()
        .find(|a| a.account == "globex.io")
        .unwrap()
        .detail;
    assert!(
        detail.contains("globex.io") && detail.contains("create_missing_companies"),
        "{detail}"
    );
    assert_eq!(fake.deals().len(), 1);
    assert_eq!(
        fake.with(|w| w.companies.len()),
        1,
        "no company was created"
    );
    let id = store.account_id("globex.io").unwrap().unwrap();
    assert_eq!(
        store.attio_company(id).unwrap(),
        Some(("globex.io".into(), None))
    );
    assert!(r.summary().contains("1 unresolved"), "{}", r.summary());
}

#[test]
fn dry_run_sends_nothing_and_stores_nothing() {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    fake.with(|w| w.lists.push("pql_accounts".into()));
    let (_dir, store) = workspace(&fake);
    let cfg = config(settings(&fake));
    let run_id = first_run(&store);
    let r = sync(
        &store,
        &cfg,
        run_id,
        &SyncOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        fake.writes().is_empty(),
        "dry run wrote: {:?}",
        fake.writes()
    );
    assert!(store.outbox_counts().unwrap().is_empty());
    let globex = r
        .accounts
        .iter()
        .find(|a| a.account == "globex.io")
        .unwrap();
    assert!(
        globex.detail.contains("would create company globex.io"),
        "{globex:?}"
    );
    assert!(
        globex.detail.contains("create deal") && globex.detail.contains("add a note"),
        "{globex:?}"
    );
    let real = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(real.deals_created, 2);
    let r = sync(
        &store,
        &cfg,
        run_id,
        &SyncOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        r.accounts.iter().all(|a| a.outcome == Outcome::Unchanged),
        "{r:#?}"
    );
}

/// (account key, owner_email) of the test workspace's accounts, as `beton attio setup` reads them.
fn owners() -> Vec<(String, Option<String>)> {
    vec![
        ("acme.com".into(), Some("AE1@example.com".into())),
        ("globex.io".into(), Some("nobody@example.com".into())),
    ]
}

#[test]
fn setup_creates_only_what_is_missing() {
    let fake = Fake::start();
    fake.with(|w| w.lists.push("pql_accounts".into()));
    // More attributes than one page holds: a client that does not page would miss what follows.
    fake.with(|w| {
        for i in 0..12 {
            w.deal_attributes
                .push(fake_attio::Attr::new(&format!("custom_{i}"), "text", false));
        }
    });
    let s = AttioSettings {
        stage: "Product Qualified".into(),
        ..settings(&fake)
    };
    let c = client(&config(s.clone()));
    let dry = beton::attio::setup::setup(&c, &s, true, &owners()).unwrap();
    assert!(fake.writes().is_empty());
    assert_eq!(
        dry.iter().filter(|l| l.outcome == "would create").count(),
        13,
        "{dry:#?}"
    );
    let done = beton::attio::setup::setup(&c, &s, false, &owners()).unwrap();
    assert_eq!(
        done.iter().filter(|l| l.outcome == "created").count(),
        13,
        "{done:#?}"
    );
    let attrs = fake.with(|w| w.deal_attributes.clone());
    assert!(attrs.contains(&fake_attio::Attr::new(SLUG, "text", true)));
    assert!(attrs.contains(&fake_attio::Attr::new("pql_score", "number", false)));
    // SPEC §10: the reps' answer, a single select with the three dispositions.
    assert!(attrs.contains(&fake_attio::Attr::new("pql_disposition", "select", false)));
    assert_eq!(
        fake.with(|w| w.options["pql_disposition"].clone()),
        ["legit", "not_ready", "already_working"]
    );
    assert!(fake.with(|w| w.statuses.contains(&"Product Qualified".to_string())));
    no_schema_errors(&fake);
    let writes = fake.writes().len();
    let again = beton::attio::setup::setup(&c, &s, false, &owners()).unwrap();
    assert!(
        again
            .iter()
            .all(|l| l.outcome == "exists" || l.outcome == "ok"),
        "{again:#?}"
    );
    assert!(
        again
            .iter()
            .any(|l| l.what.starts_with("required deal attribute `owner`")),
        "{again:#?}"
    );
    assert_eq!(fake.writes().len(), writes);
    // Beton's attributes are on the second page of the list by now: setup found them there.
    assert!(fake.with(|w| w.deal_attributes.len()) > fake_attio::ATTRIBUTE_PAGE * 2);

    // An attribute with Beton's slug that is not unique is a problem Beton names, not papers over.
    let fake = Fake::start();
    fake.with(|w| {
        w.deal_attributes
            .push(fake_attio::Attr::new(SLUG, "text", false))
    });
    let s = settings(&fake);
    let err =
        beton::attio::setup::setup(&client(&config(s.clone())), &s, false, &owners()).unwrap_err();
    assert!(err.contains(SLUG) && err.contains("unique"), "{err}");
    // An archived attribute with one of Beton's slugs blocks creating it again (Attio: 409):
    // setup says to unarchive it, and creates nothing.
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    fake.with(|w| {
        let a = w
            .deal_attributes
            .iter_mut()
            .find(|a| a.slug == "pql_score")
            .unwrap();
        a.archived = true;
    });
    let s = settings(&fake);
    let err =
        beton::attio::setup::setup(&client(&config(s.clone())), &s, false, &owners()).unwrap_err();
    assert!(
        err.contains("`pql_score` is archived") && err.contains("unarchive"),
        "{err}"
    );
    assert!(fake.writes().is_empty());
}

#[test]
fn setup_refuses_required_attributes_and_owners_it_cannot_fill() {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    // A required custom attribute past the first page of the list.
    fake.with(|w| {
        for i in 0..12 {
            w.deal_attributes
                .push(fake_attio::Attr::new(&format!("custom_{i}"), "text", false));
        }
    });
    fake.require("region");
    let s = settings(&fake);
    let c = client(&config(s.clone()));
    let err = beton::attio::setup::setup(&c, &s, false, &owners()).unwrap_err();
    assert!(
        err.contains("`region`") && err.contains("required") && err.contains("default"),
        "{err}"
    );
    assert!(
        fake.writes().is_empty(),
        "nothing is created before a refusal"
    );
    // With a default value in Attio the attribute is filled in there.
    fake.with(|w| {
        let a = w
            .deal_attributes
            .iter_mut()
            .find(|a| a.slug == "region")
            .unwrap();
        a.default = Some(json!({"value": "EMEA", "attribute_type": "text"}));
    });
    beton::attio::setup::setup(&c, &s, false, &owners()).unwrap();

    // A required deal value needs attio.value_property.
    fake.require("value");
    let no_value = AttioSettings {
        value_property: String::new(),
        ..s.clone()
    };
    let err = beton::attio::setup::setup(&c, &no_value, false, &owners()).unwrap_err();
    assert!(err.contains("attio.value_property"), "{err}");

    // An owner for every deal: globex.io's owner_email is no member, so a default owner is needed,
    // and it must be a member.
    let no_owner = AttioSettings {
        default_owner: String::new(),
        ..s.clone()
    };
    let err = beton::attio::setup::setup(&c, &no_owner, false, &owners()).unwrap_err();
    assert!(
        err.contains("--default-owner")
            && err.contains("globex.io: nobody@example.com")
            && err.contains("ae1@example.com"),
        "{err}"
    );
    let stranger = AttioSettings {
        default_owner: "ceo@elsewhere.com".into(),
        ..s.clone()
    };
    let err = beton::attio::setup::setup(&c, &stranger, false, &owners()).unwrap_err();
    assert!(
        err.contains("ceo@elsewhere.com") && err.contains("not a member"),
        "{err}"
    );
    beton::attio::setup::setup(&c, &s, false, &owners()).unwrap();
}

#[test]
fn setup_asks_for_the_configuration_scope_only_when_it_creates_something() {
    let fake = Fake::start();
    fake.with(|w| w.scopes = fake_attio::SYNC_SCOPES.into());
    let s = AttioSettings {
        list: String::new(),
        ..settings(&fake)
    };
    let c = client(&config(s.clone()));
    // The dry run only reads, which the sync's scopes allow.
    let dry = beton::attio::setup::setup(&c, &s, true, &owners()).unwrap();
    assert!(dry.iter().any(|l| l.outcome == "would create"), "{dry:#?}");
    let err = beton::attio::setup::setup(&c, &s, false, &owners()).unwrap_err();
    assert!(
        err.contains("object_configuration:read-write") && err.contains("pql_score"),
        "{err}"
    );
    assert!(fake.writes().is_empty());
    // Once everything exists, a key with the sync's scopes runs setup and the sync.
    fake.set_up_for_beton(SLUG);
    let lines = beton::attio::setup::setup(&c, &s, false, &owners()).unwrap();
    assert!(lines.iter().all(|l| l.outcome != "created"), "{lines:#?}");
    let (_dir, store) = workspace(&fake);
    let run_id = first_run(&store);
    let r = sync(&store, &config(s), run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.count(Outcome::Created), 2, "{r:#?}");
    // And the fake does refuse what the key may not do.
    let create = json!({"data": {"title": "X", "description": null, "api_slug": "x", "type": "text",
        "is_required": false, "is_unique": false, "is_multiselect": false, "config": {}}});
    let e = c
        .send(
            beton::attio::client::Method::Post,
            "/v2/objects/deals/attributes",
            &[],
            Some(&create),
        )
        .unwrap_err();
    assert!(
        matches!(e, beton::attio::client::ApiError::Auth { status: 403, .. }),
        "{e}"
    );
}

#[test]
fn a_disabled_deals_object_is_named_with_how_to_enable_it() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    fake.with(|w| w.deals_enabled = false);
    let s = cfg.attio.clone().unwrap();
    let err = beton::attio::setup::setup(&client(&cfg), &s, false, &owners()).unwrap_err();
    assert!(
        err.contains("Deals object is not enabled") && err.contains("settings/data/objects"),
        "{err}"
    );
    let err = sync(&store, &cfg, run_id, &SyncOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("Deals object is not enabled"), "{err}");
    assert!(fake.writes().is_empty());
}

#[test]
fn pull_reads_every_page_with_closed_dates_from_stage_history() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    let acme_company = fake.with(|w| w.companies[0].id.clone());
    // 600 more deals on acme's company (two pages), half won, plus one on an unknown company.
    fake.with(|w| {
        for i in 0..600 {
            let id = format!("deal-{i:04}");
            let mut values = serde_json::Map::new();
            values.insert(
                "name".into(),
                json!([{"value": format!("Deal {i}"), "attribute_type": "text"}]),
            );
            values.insert(
                "lead_source".into(),
                json!([{"option": {"title": "Inbound"}, "attribute_type": "select"}]),
            );
            values.insert(
                "value".into(),
                json!([{"currency_value": "1000.50", "currency_code": "USD"}]),
            );
            values.insert(
                "associated_company".into(),
                json!([{"target_object": "companies", "target_record_id": acme_company}]),
            );
            w.deals.push(fake_attio::Record {
                id: id.clone(),
                created_at: "2026-01-05T10:00:00.000000000Z".into(),
                values,
            });
            fake_attio::move_stage(w, &id, "Lead", "2026-01-05T10:00:00.000000000Z");
            match i % 4 {
                0 | 2 => fake_attio::move_stage(w, &id, "Won 🎉", "2026-03-01T10:00:00.000000000Z"),
                1 => {
                    fake_attio::move_stage(w, &id, "In Progress", "2026-02-01T10:00:00.000000000Z")
                }
                _ => fake_attio::move_stage(w, &id, "Lost", "2026-02-15T10:00:00.000000000Z"),
            }
        }
        let other = w.id_for_test();
        let mut values = serde_json::Map::new();
        values.insert(
            "associated_company".into(),
            json!([{"target_object": "companies", "target_record_id": other}]),
        );
        w.deals.push(fake_attio::Record {
            id: "deal-x".into(),
            created_at: "2026-01-05T10:00:00.000000000Z".into(),
            values,
        });
    });
    let r = beton::attio::pull::pull(&store, &cfg, &client(&cfg), false).unwrap();
    assert_eq!(r.deals, 603, "{r:?}");
    assert_eq!((r.won, r.unmapped, r.stored), (300, 1, 602), "{r:?}");
    let deals = store.deals().unwrap();
    assert_eq!(deals.len(), 602);
    let won = deals
        .iter()
        .find(|d| d.deal_id == "attio:deal-0000")
        .unwrap();
    assert_eq!(
        (won.lead_source.as_str(), won.stage.as_str(), won.value),
        ("inbound", "Won 🎉", Some(1000.5))
    );
    assert_eq!(won.created_at, parse_ts("2026-01-05T10:00:00Z").unwrap());
    assert_eq!(won.closed_at, parse_ts("2026-03-01T10:00:00Z"));
    assert_eq!(won.sql_at, won.closed_at, "won counts as qualified");
    let open = deals
        .iter()
        .find(|d| d.deal_id == "attio:deal-0001")
        .unwrap();
    assert_eq!(
        (open.closed_at, open.sql_at),
        (None, parse_ts("2026-02-01T10:00:00Z"))
    );
    let lost = deals
        .iter()
        .find(|d| d.deal_id == "attio:deal-0003")
        .unwrap();
    assert_eq!(
        (lost.closed_at, lost.sql_at),
        (parse_ts("2026-02-15T10:00:00Z"), None)
    );
    assert_eq!(r.lost, 150);
    let pql = deals.iter().find(|d| d.account_key == "globex.io").unwrap();
    assert_eq!(
        (pql.lead_source.as_str(), pql.stage.as_str()),
        ("pql", "Lead")
    );
    assert!(fake.writes().len() <= 10, "pull only reads");
}

/// A workspace scored by `run_daily`: the demo generator's files imported as the user's own data
/// (a DEMO workspace is never sent to Attio), the key in the credentials file beside the config.
fn daily_context(fake: &Fake, dir: &std::path::Path) -> beton::daily::Context {
    let paths = beton::config::Paths {
        config_file: dir.join("config.toml"),
        data_dir: dir.join("data"),
    };
    std::fs::write(
        dir.join("credentials.toml"),
        format!("[attio]\napi_key = \"{KEY}\"\n"),
    )
    .unwrap();
    let ctx = beton::daily::Context {
        paths,
        config: config(AttioSettings {
            list: String::new(),
            ..settings(fake)
        }),
    };
    let opts = beton::demo::DemoOptions {
        accounts: 40,
        days: 120,
        seed: 7,
        as_of: parse_ts("2026-11-18T00:00:00Z").unwrap(),
        ..Default::default()
    };
    let export = dir.join("export");
    let mut sink = beton::demo::FileSink::create(&export, "company").unwrap();
    beton::demo::generate(&opts, &mut sink, &beton::progress::Silent).unwrap();
    sink.finish().unwrap();
    let store = ctx.open_store().unwrap();
    let open =
        |name: &str| beton::import::Input::open(export.join(name).to_str().unwrap()).unwrap();
    beton::import::import_accounts(&store, &ctx.config, open("accounts.jsonl")).unwrap();
    beton::import::import_events(
        &store,
        &ctx.config,
        open("events.jsonl"),
        None,
        &beton::progress::Silent,
    )
    .unwrap();
    ctx
}

#[test]
fn run_daily_syncs_after_scoring_and_reports_the_step() {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    let dir = tempfile::tempdir().unwrap();
    let ctx = daily_context(&fake, dir.path());
    let t = parse_ts("2026-11-18T00:00:00Z").unwrap();
    let as_of = Some(t);
    let result = beton::daily::run_daily(
        &ctx,
        &beton::daily::RunOptions { as_of },
        &beton::progress::Silent,
    )
    .unwrap();
    let step = result
        .report
        .steps
        .iter()
        .find(|s| s.name == "attio")
        .expect("an attio step");
    let routed = result.report.routed;
    assert!(routed > 0, "the data should route someone");
    assert_eq!(step.status, beton::daily::StepStatus::Ok, "{step:?}");
    assert!(
        step.detail.contains(&format!("{routed} routed")),
        "{step:?}"
    );
    assert_eq!(fake.deals().len(), routed);
    assert_eq!(result.report.exit_code(), 0);
    no_schema_errors(&fake);

    // The same data as a DEMO workspace: the step is skipped, nothing reaches Attio.
    let demo_dir = tempfile::tempdir().unwrap();
    let mut demo = daily_context(&fake, demo_dir.path());
    demo.paths.data_dir = demo_dir.path().join("demo");
    let store = demo.open_store().unwrap();
    let opts = beton::demo::DemoOptions {
        accounts: 40,
        days: 120,
        seed: 7,
        as_of: t,
        ..Default::default()
    };
    beton::demo::create(&store, &demo.config, &opts, &beton::progress::Silent).unwrap();
    drop(store);
    let writes = fake.writes().len();
    let result = beton::daily::run_daily(
        &demo,
        &beton::daily::RunOptions { as_of },
        &beton::progress::Silent,
    )
    .unwrap();
    let step = result
        .report
        .steps
        .iter()
        .find(|s| s.name == "attio")
        .expect("an attio step");
    assert_eq!(step.status, beton::daily::StepStatus::Skipped, "{step:?}");
    assert!(step.detail.contains("DEMO"), "{step:?}");
    assert_eq!(fake.writes().len(), writes);
}

#[test]
fn the_fake_rejects_bodies_that_break_attios_spec() {
    if !fake_attio::shared_file(&fake_attio::spec_path(), "the spec's body checks") {
        return;
    }
    let task = json!({"data": {"content": "x", "format": "plaintext", "is_completed": false, "linked_records": [], "assignees": []}});
    let err = fake_attio::validate("POST", "/v2/tasks", &task).unwrap_err();
    assert!(err.contains("deadline_at"), "{err}");
    let note = json!({"data": {"parent_object": "deals", "parent_record_id": "00000000-0000-4000-8000-000000000001",
                               "title": "t", "format": "html", "content": "c"}});
    assert!(fake_attio::validate("POST", "/v2/notes", &note).is_err());
    let deal = json!({"data": {"values": {"name": "PQL – Acme"}}});
    let err = fake_attio::validate("PUT", "/v2/objects/deals/records", &deal).unwrap_err();
    assert!(
        err.contains("array") || err.contains("type"),
        "values must be arrays: {err}"
    );
    let ok = json!({"data": {"values": {"name": ["PQL – Acme"]}}});
    fake_attio::validate("PUT", "/v2/objects/deals/records", &ok).unwrap();
}

#[test]
fn timeouts_are_retried_without_duplicating_notes() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| AttioSettings {
        timeout_seconds: 1,
        ..s
    });
    // Attio applies the note and the deal but the answers come too late: the client times out.
    fake.fail_next("POST", "/v2/notes", Fault::SlowAnswer(1500));
    fake.fail_next("PUT", "/v2/objects/deals/records", Fault::SlowAnswer(1500));
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.count(Outcome::Failed), 0, "{r:#?}");
    assert!(r.retries >= 2, "{r:#?}");
    assert_eq!(fake.deals().len(), 2, "the deal assert is idempotent");
    assert_eq!(
        fake.notes().len(),
        2,
        "the timed-out note was found by its marker, not sent twice"
    );
    assert_eq!(fake.tasks().len(), 2);
}

#[test]
fn writes_stay_under_the_rate_limit() {
    let fake = Fake::start();
    let s = AttioSettings {
        max_writes_per_second: 25,
        ..settings(&fake)
    };
    let c = client(&config(s));
    for i in 0..40 {
        let body = json!({"data": {"values": {"domains": [format!("c{i}.example.com")]}}});
        c.send(
            beton::attio::client::Method::Put,
            "/v2/objects/companies/records?matching_attribute=domains",
            &[],
            Some(&body),
        )
        .unwrap();
    }
    let times: Vec<_> = fake.writes().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), 40);
    for (i, t) in times.iter().enumerate() {
        let in_a_second = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t).unwrap() < Duration::from_secs(1))
            .count();
        assert!(
            in_a_second <= 25,
            "{in_a_second} writes within one second from write {i}"
        );
    }
    assert_eq!(c.counts().writes, 40);
    no_schema_errors(&fake);
}

#[test]
fn include_people_shows_user_ids_that_are_hashed_otherwise() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| AttioSettings {
        include_people: true,
        ..s
    });
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    let notes = fake.notes();
    let all: String = notes
        .iter()
        .map(|n| n["content_markdown"].as_str().unwrap().to_string())
        .collect();
    assert!(all.contains("jane.doe@acme.com (2 events)"), "{all}");
    let hashed = beton::attio::sync::user_hash(
        &store.meta("attio_user_salt").unwrap().unwrap(),
        "jane.doe@acme.com",
    );
    assert!(!all.contains(&hashed));
}

#[test]
fn a_replayed_deal_assert_does_not_move_the_stage_back() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    let crash = SyncOptions {
        crash_after_send: Some("deal".into()),
        ..Default::default()
    };
    sync(&store, &cfg, run_id, &crash).unwrap_err();
    let id = fake.deals()[0].id.clone();
    // A rep moves the new deal on before Beton runs again.
    fake.with(|w| fake_attio::move_stage(w, &id, "In Progress", "2026-11-18T12:00:00.000000000Z"));
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    let deal = fake.deals().into_iter().find(|d| d.id == id).unwrap();
    assert_eq!(
        Fake::deal_text(&deal, "stage").as_deref(),
        Some("In Progress")
    );
    assert_eq!(fake.deals().len(), 2);
}

#[test]
fn a_deal_deleted_in_attio_is_created_again_when_there_is_news() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    fake.with(|w| {
        w.deals
            .retain(|d| Fake::deal_text(d, SLUG).as_deref() != Some("acme.com"))
    });
    let scores = [score(
        &store,
        "acme.com",
        vec![
            fired(SignalType::PricingIntent, "5 pricing page views in 7 days"),
            fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
            fired(
                SignalType::UsageSpike,
                "activity up 80 % week over week: 180 vs 100 events",
            ),
        ],
    )];
    let r = sync(
        &store,
        &cfg,
        run(&store, t0() + DAY, &scores),
        &SyncOptions::default(),
    )
    .unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Created, "{r:#?}");
    assert!(r.accounts[0].detail.contains("deleted in Attio"), "{r:#?}");
    let acme = fake
        .deals()
        .into_iter()
        .find(|d| Fake::deal_text(d, SLUG).as_deref() == Some("acme.com"))
        .unwrap();
    assert_eq!(Fake::deal_text(&acme, "stage").as_deref(), Some("Lead"));
    assert_eq!(
        fake.notes()
            .iter()
            .filter(|n| n["parent_record_id"] == json!(acme.id))
            .count(),
        1
    );
}

#[test]
fn a_company_merged_away_in_attio_is_resolved_again() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| AttioSettings {
        create_missing_companies: false,
        ..s
    });
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    // acme's company is merged into a new record with the same domain, and its deal is deleted.
    fake.with(|w| {
        w.companies.clear();
        w.deals
            .retain(|d| Fake::deal_text(d, SLUG).as_deref() != Some("acme.com"));
    });
    let merged = fake.add_company("acme.com", "Acme (merged)");
    let scores = [score(
        &store,
        "acme.com",
        vec![
            fired(SignalType::PricingIntent, "6 pricing page views in 7 days"),
            fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
            fired(
                SignalType::UsageSpike,
                "activity up 80 % week over week: 180 vs 100 events",
            ),
        ],
    )];
    let second = run(&store, t0() + DAY, &scores);
    let r = sync(&store, &cfg, second, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Failed, "{r:#?}");
    assert!(
        r.accounts[0].detail.contains("associated_company"),
        "{r:#?}"
    );
    let r = sync(&store, &cfg, second, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Created, "{r:#?}");
    let acme = fake
        .deals()
        .into_iter()
        .find(|d| Fake::deal_text(d, SLUG).as_deref() == Some("acme.com"))
        .unwrap();
    assert_eq!(
        acme.values["associated_company"][0]["target_record_id"],
        json!(merged)
    );
    // One handoff note and one task on the new deal, though the first try was rejected.
    let on = |items: Vec<serde_json::Value>, ptr: &str| {
        items
            .iter()
            .filter(|n| n.pointer(ptr) == Some(&json!(acme.id)))
            .count()
    };
    assert_eq!(on(fake.notes(), "/parent_record_id"), 1);
    assert_eq!(on(fake.tasks(), "/linked_records/0/target_record_id"), 1);
}

/// The first run's scores, again at `t` (signals in cooldown: nothing newly emitted).
fn same_scores_at(store: &Store, t: i64) -> i64 {
    run(store, t, &first_scores(store))
}

fn deal_of(fake: &Fake, key: &str) -> Option<fake_attio::Record> {
    fake.deals()
        .into_iter()
        .find(|d| Fake::deal_text(d, SLUG).as_deref() == Some(key))
}

fn notes_on(fake: &Fake, deal: &str) -> usize {
    fake.notes()
        .iter()
        .filter(|n| n["parent_record_id"] == json!(deal))
        .count()
}

fn tasks_on(fake: &Fake, deal: &str) -> usize {
    fake.tasks()
        .iter()
        .filter(|t| t["linked_records"][0]["target_record_id"] == json!(deal))
        .count()
}

#[test]
fn a_rejected_deal_fails_its_account_alone_and_a_later_run_completes_it_once() {
    // The workspace makes the deal value required: globex.io has no `arr`, so Attio rejects its
    // deal (Attio's missing_value body names the attribute by id).
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    fake.require("value");
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Created, "{r:#?}");
    assert_eq!(outcome(&r, "globex.io"), Outcome::Failed, "{r:#?}");
    let why = detail(&r, "globex.io");
    assert!(
        why.contains("`value`") && why.contains("required") && why.contains("missing_value"),
        "{why}"
    );
    assert!(deal_of(&fake, "globex.io").is_none());
    let acme = deal_of(&fake, "acme.com").unwrap();
    assert_eq!(
        (notes_on(&fake, &acme.id), tasks_on(&fake, &acme.id)),
        (1, 1)
    );

    // The next day it is still required: globex's deal is sent again (its waiting note and task
    // do not stop it), rejected again, and acme is untouched.
    let deal_puts = |fake: &Fake| {
        fake.writes()
            .iter()
            .filter(|w| {
                w.path == "/v2/objects/deals/records"
                    && w.body.pointer(&format!("/data/values/{SLUG}/0"))
                        == Some(&json!("globex.io"))
            })
            .count()
    };
    let before = deal_puts(&fake);
    let second = same_scores_at(&store, t0() + DAY);
    let r = sync(&store, &cfg, second, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "globex.io"), Outcome::Failed, "{r:#?}");
    assert_eq!(outcome(&r, "acme.com"), Outcome::Unchanged, "{r:#?}");
    assert_eq!(deal_puts(&fake), before + 1, "the deal was tried again");

    // The admin makes it optional: the next run creates the deal with exactly one note and task.
    fake.with(|w| {
        w.deal_attributes
            .iter_mut()
            .find(|a| a.slug == "value")
            .unwrap()
            .required = false
    });
    let third = same_scores_at(&store, t0() + 2 * DAY);
    let r = sync(&store, &cfg, third, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "globex.io"), Outcome::Created, "{r:#?}");
    let globex = deal_of(&fake, "globex.io").unwrap();
    assert_eq!(
        (notes_on(&fake, &globex.id), tasks_on(&fake, &globex.id)),
        (1, 1)
    );
    assert_eq!(
        (notes_on(&fake, &acme.id), tasks_on(&fake, &acme.id)),
        (1, 1)
    );
    assert_eq!((fake.notes().len(), fake.tasks().len()), (2, 2));
    let open = store.outbox_open(None).unwrap();
    assert!(open.is_empty(), "nothing is left waiting: {open:#?}");
    let counts = store.outbox_counts().unwrap();
    assert!(
        counts.get("superseded").copied().unwrap_or(0) >= 2,
        "{counts:?}"
    );
    // And a re-run writes nothing.
    let writes = fake.writes().len();
    sync(&store, &cfg, third, &SyncOptions::default()).unwrap();
    assert_eq!(fake.writes().len(), writes);
    no_schema_errors(&fake);
}

#[test]
fn a_deal_is_never_sent_without_an_owner() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| AttioSettings {
        default_owner: String::new(),
        ..s
    });
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Created, "{r:#?}");
    assert_eq!(outcome(&r, "globex.io"), Outcome::Failed, "{r:#?}");
    let why = detail(&r, "globex.io");
    assert!(
        why.contains("no deal owner")
            && why.contains("nobody@example.com")
            && why.contains("--default-owner"),
        "{why}"
    );
    assert!(
        fake.writes()
            .iter()
            .all(|w| !w.body.to_string().contains("globex")),
        "nothing of globex.io was sent"
    );
    // With a default owner the next sync creates it, owned by that member.
    let cfg = config(AttioSettings {
        default_owner: "ae2@example.com".into(),
        ..cfg.attio.clone().unwrap()
    });
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "globex.io"), Outcome::Created, "{r:#?}");
    let globex = deal_of(&fake, "globex.io").unwrap();
    assert_eq!(
        globex.values["owner"][0]["referenced_actor_id"],
        json!(fake.member("ae2@example.com"))
    );
    // Every deal the fake holds has an owner: Attio requires one.
    assert!(fake.deals().iter().all(|d| d.values.contains_key("owner")));
}

#[test]
fn a_reps_rename_reassignment_and_stage_move_survive_later_runs() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    let acme = deal_of(&fake, "acme.com").unwrap();
    fake.rep_edit(
        SLUG,
        "acme.com",
        "Acme – enterprise expansion",
        "ae2@example.com",
    );
    fake.with(|w| {
        fake_attio::move_stage(w, &acme.id, "In Progress", "2026-11-18T12:00:00.000000000Z")
    });

    // A day later acme shows billing intent: a new score, new signals, a note and a task.
    let scores = vec![score(
        &store,
        "acme.com",
        vec![
            fired(SignalType::BillingIntent, "1 billing event in 7 days"),
            fired(SignalType::PricingIntent, "4 pricing page views in 7 days"),
            fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
        ],
    )];
    let second = run(&store, t0() + DAY, &scores);
    let writes_before = fake.writes().len();
    let r = sync(&store, &cfg, second, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Updated, "{r:#?}");
    let after = deal_of(&fake, "acme.com").unwrap();
    assert_eq!(
        Fake::deal_text(&after, "name").as_deref(),
        Some("Acme – enterprise expansion"),
        "the rep's rename was reverted"
    );
    let ae2 = fake.member("ae2@example.com");
    assert_eq!(
        after.values["owner"][0]["referenced_actor_id"],
        json!(ae2),
        "the rep's reassignment was reverted"
    );
    assert_eq!(
        Fake::deal_text(&after, "stage").as_deref(),
        Some("In Progress")
    );
    assert_eq!(
        Fake::deal_text(&after, "pql_signals").as_deref(),
        Some("billing_intent, pricing_intent, team_growth")
    );
    // The update carries only what Beton owns.
    let update = fake.writes()[writes_before..]
        .iter()
        .find(|w| w.path == "/v2/objects/deals/records")
        .cloned()
        .unwrap();
    let mut sent: Vec<&str> = update.body["data"]["values"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    sent.sort();
    assert_eq!(sent, vec![SLUG, "pql_score", "pql_signals"]);
    // The new task goes to the deal's owner now, the rep it was given to.
    let task = fake.tasks().last().cloned().unwrap();
    assert_eq!(task["assignees"][0]["referenced_actor_id"], json!(ae2));

    // More runs change nothing the rep set; a re-run writes nothing.
    let third = same_scores_at(&store, t0() + 2 * DAY);
    sync(&store, &cfg, third, &SyncOptions::default()).unwrap();
    let writes = fake.writes().len();
    sync(&store, &cfg, third, &SyncOptions::default()).unwrap();
    assert_eq!(fake.writes().len(), writes, "a re-run writes nothing");
    let last = deal_of(&fake, "acme.com").unwrap();
    assert_eq!(
        Fake::deal_text(&last, "name").as_deref(),
        Some("Acme – enterprise expansion")
    );
    assert_eq!(last.values["owner"][0]["referenced_actor_id"], json!(ae2));
    assert_eq!(
        Fake::deal_text(&last, "stage").as_deref(),
        Some("In Progress")
    );
    no_schema_errors(&fake);
}

/// An open inbound deal for `key` in the workspace, as `beton sync attio --pull` stores one whose
/// Attio record is `record` (or an import whose CRM record is unknown, with another id).
fn inbound_deal(store: &Store, key: &str, deal_id: &str) {
    let mut ingest = Ingest::begin(store, &Config::default()).unwrap();
    ingest
        .deal(&beton::store::DealRow {
            deal_id: deal_id.into(),
            account_key: key.into(),
            name: Some("Inbound".into()),
            lead_source: "inbound".into(),
            stage: "In Progress".into(),
            value: Some(12000.0),
            created_at: t0() - 30 * DAY,
            sql_at: None,
            closed_at: None,
            owner_email: Some("ae2@example.com".into()),
        })
        .unwrap();
    ingest.commit().unwrap();
}

#[test]
fn an_account_in_pipeline_gets_its_note_on_the_open_deal_exactly_once() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    let rep_deal = fake.add_rep_deal("Acme – inbound", "inbound", "ae2@example.com");
    inbound_deal(&store, "acme.com", &format!("attio:{rep_deal}"));
    inbound_deal(&store, "globex.io", "hubspot-77");
    // Killed right after the note to the rep's deal went out, before it was marked done.
    let crash = SyncOptions {
        crash_after_send: Some("note".into()),
        ..Default::default()
    };
    assert!(sync(&store, &cfg, run_id, &crash).is_err());
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "globex.io"), Outcome::InPipeline, "{r:#?}");
    assert!(
        detail(&r, "globex.io").contains("in pipeline (inbound)"),
        "{r:#?}"
    );
    // No PQL deal for either; the rep's deal has exactly one note and one task, for its owner.
    assert!(deal_of(&fake, "acme.com").is_none() && deal_of(&fake, "globex.io").is_none());
    assert_eq!(fake.deals().len(), 1);
    assert_eq!(
        (notes_on(&fake, &rep_deal), tasks_on(&fake, &rep_deal)),
        (1, 1)
    );
    let task = fake.tasks().pop().unwrap();
    assert_eq!(
        task["assignees"][0]["referenced_actor_id"],
        json!(fake.member("ae2@example.com"))
    );
    // Nothing Beton owns lands on a deal that is not Beton's.
    let d = fake.deals().pop().unwrap();
    assert_eq!(
        Fake::deal_text(&d, "name").as_deref(),
        Some("Acme – inbound")
    );
    assert!(!d.values.contains_key("pql_score") && !d.values.contains_key(SLUG));
    // The next day, with nothing newly emitted, nothing is written; globex never gets anything.
    let writes = fake.writes().len();
    let r = sync(
        &store,
        &cfg,
        same_scores_at(&store, t0() + DAY),
        &SyncOptions::default(),
    )
    .unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::InPipeline, "{r:#?}");
    assert_eq!(fake.writes().len(), writes);
    assert!(
        fake.writes()
            .iter()
            .all(|w| !w.body.to_string().contains("globex")),
        "nothing is written for an account whose open deal has no known record"
    );
    no_schema_errors(&fake);
}

/// SPEC §12: a held-out account is scored and listed but gets no CRM write; the others are synced.
#[test]
fn held_out_accounts_get_no_crm_write() {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = daily_context(&fake, dir.path());
    ctx.config.holdout.percent = 50.0;
    let t = parse_ts("2026-11-18T00:00:00Z").unwrap();
    // A salt that holds some but not all of the routed accounts out.
    let routed: Vec<String> = {
        let store = ctx.open_store().unwrap();
        store.ensure_rollups(&ctx.config).unwrap();
        let (scores, _) = beton::signals::score_scan(&store, &ctx.config, t).unwrap();
        scores
            .into_iter()
            .filter(|s| s.routed)
            .map(|s| s.account)
            .collect()
    };
    ctx.config.holdout.salt = (0..100)
        .map(|i| format!("salt-{i}"))
        .find(|salt| {
            let h = beton::config::HoldoutSettings {
                percent: 50.0,
                salt: salt.clone(),
            };
            let n = routed
                .iter()
                .filter(|a| beton::holdout::draw(&h, a))
                .count();
            n > 0 && n < routed.len()
        })
        .expect("a salt that splits the routed accounts");
    let r = beton::daily::run_daily(
        &ctx,
        &beton::daily::RunOptions { as_of: Some(t) },
        &beton::progress::Silent,
    )
    .unwrap()
    .report;
    let held: Vec<&str> = r
        .accounts
        .iter()
        .filter(|a| a.routed && a.holdout)
        .map(|a| a.account.as_str())
        .collect();
    let treated = r.accounts.iter().filter(|a| a.routed && !a.holdout).count();
    assert!(!held.is_empty() && treated > 0, "{:?}", r.accounts);
    let synced: Vec<String> = fake
        .deals()
        .iter()
        .filter_map(|d| {
            d.values
                .get(SLUG)?
                .as_array()?
                .first()?
                .get("value")?
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(synced.len(), treated, "{synced:?}");
    for h in held {
        assert!(!synced.iter().any(|s| s == h), "{h} was sent to Attio");
    }
}

#[test]
fn a_missing_shared_file_is_a_loud_skip_and_a_failure_when_required() {
    let missing = std::path::Path::new("/nonexistent/shared/reference/attio-openapi.json");
    assert!(!fake_attio::shared_file_or(missing, "a probe", false));
    let required =
        std::panic::catch_unwind(|| fake_attio::shared_file_or(missing, "a probe", true));
    let msg = required.expect_err("required and missing must fail");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("SKIPPED a probe") && msg.contains("BETON_REQUIRE_SHARED"),
        "{msg}"
    );
    assert!(
        fake_attio::shared_file_or(&fake_attio::spec_path(), "the spec", false)
            || !fake_attio::spec_path().exists()
    );
}

/// The scores of a day after the first run: acme adds billing intent (a new type); its other
/// types and globex's are in cooldown.
fn scores_with_billing(store: &Store) -> Vec<AccountScore> {
    vec![
        score(
            store,
            "acme.com",
            vec![
                fired(SignalType::BillingIntent, "1 billing event in 7 days"),
                fired(SignalType::PricingIntent, "4 pricing page views in 7 days"),
                fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
            ],
        ),
        score(
            store,
            "globex.io",
            vec![
                fired(
                    SignalType::LimitApproaching,
                    "usage 900 of plan_limit 1000 (90 %)",
                ),
                fired(SignalType::SupportEngagement, "4 support events in 7 days"),
            ],
        ),
    ]
}

fn billing_notes(fake: &Fake) -> usize {
    fake.notes()
        .iter()
        .filter(|n| {
            n["title"]
                .as_str()
                .unwrap_or("")
                .contains("new: billing_intent")
        })
        .count()
}

fn billing_tasks(fake: &Fake) -> usize {
    fake.tasks()
        .iter()
        .filter(|t| {
            t["content_plaintext"]
                .as_str()
                .unwrap_or("")
                .contains("billing_intent")
        })
        .count()
}

#[test]
fn a_kill_between_the_ledger_and_the_attio_plan_still_sends_the_note_and_task_once() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!((fake.notes().len(), fake.tasks().len()), (2, 2));
    // The next day's run records its emissions (billing intent for acme: the cooldown starts)
    // and is killed before the Attio step plans anything.
    let t = t0() + DAY;
    run(&store, t, &scores_with_billing(&store));
    // The re-run at the same T: billing intent is in cooldown now, but Attio never had it.
    let rerun = run(&store, t, &scores_with_billing(&store));
    let r = sync(&store, &cfg, rerun, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Updated, "{r:#?}");
    assert_eq!(outcome(&r, "globex.io"), Outcome::Unchanged, "{r:#?}");
    assert_eq!(
        (billing_notes(&fake), billing_tasks(&fake)),
        (1, 1),
        "{r:#?}"
    );
    let note = fake.notes().last().unwrap().clone();
    assert!(
        note["content_markdown"]
            .as_str()
            .unwrap()
            .contains("**billing_intent** (+"),
        "{note}"
    );
    // Once queued, it is spent: later runs inside the cooldown send nothing more.
    for _ in 0..2 {
        let again = run(
            &store,
            t + 3600 * beton::time::SECOND,
            &scores_with_billing(&store),
        );
        sync(&store, &cfg, again, &SyncOptions::default()).unwrap();
    }
    assert_eq!((billing_notes(&fake), billing_tasks(&fake)), (1, 1));
    assert_eq!((fake.notes().len(), fake.tasks().len()), (3, 3));
    no_schema_errors(&fake);
}

#[test]
fn an_attio_outage_for_a_whole_run_then_a_good_run_sends_the_note_and_task_once() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| AttioSettings { tries: 1, ..s });
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    let t = t0() + DAY;
    let outage = run(&store, t, &scores_with_billing(&store));
    for method in ["GET", "POST", "PUT", "PATCH"] {
        for _ in 0..40 {
            fake.fail_next(method, "/", Fault::Status(503));
        }
    }
    let failed = sync(&store, &cfg, outage, &SyncOptions::default());
    assert!(
        failed
            .as_ref()
            .is_err_and(|e| e.to_string().contains("503"))
            || failed
                .as_ref()
                .is_ok_and(|r| r.count(Outcome::Failed) == r.accounts.len()),
        "{failed:?}"
    );
    assert_eq!(billing_notes(&fake), 0);
    fake.with(|w| w.faults.clear());
    // The next good run (an hour later, billing intent still in cooldown).
    let good = run(
        &store,
        t + 3600 * beton::time::SECOND,
        &scores_with_billing(&store),
    );
    sync(&store, &cfg, good, &SyncOptions::default()).unwrap();
    assert_eq!((billing_notes(&fake), billing_tasks(&fake)), (1, 1));
    let after = run(
        &store,
        t + 7200 * beton::time::SECOND,
        &scores_with_billing(&store),
    );
    sync(&store, &cfg, after, &SyncOptions::default()).unwrap();
    assert_eq!((billing_notes(&fake), billing_tasks(&fake)), (1, 1));
    no_schema_errors(&fake);
}

#[test]
fn a_note_sent_whose_sent_mark_was_lost_is_not_posted_again() {
    let (fake, dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!((fake.notes().len(), fake.tasks().len()), (2, 2));
    // A power loss rolled back the commits that marked acme's note and task sent and done
    // (SQLite in WAL mode with synchronous = NORMAL may lose the last commits, never half).
    let conn = rusqlite::Connection::open(dir.path().join("workspace.sqlite")).unwrap();
    let lost = conn
        .execute(
            "UPDATE outbox SET state = 'pending', done_at = NULL, sent_at = NULL, attempts = 0
             WHERE channel = 'attio' AND kind IN ('note', 'task') AND account_id = (SELECT id FROM accounts WHERE key = 'acme.com')",
            [],
        )
        .unwrap();
    assert_eq!(lost, 2);
    drop(conn);
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(r.replayed, 2, "{r:#?}");
    assert_eq!(
        (fake.notes().len(), fake.tasks().len()),
        (2, 2),
        "found in Attio by their markers, not posted again"
    );
}

/// An account name chosen by whoever holds the public project key reaches the note's title and
/// the task's text (both plain text in Attio) with its control characters shown as escapes, and
/// the note's Markdown with its syntax escaped.
#[test]
fn a_name_with_control_characters_is_escaped_in_note_titles_and_task_text() {
    let (fake, _dir, store, cfg, _) = ready(|s| s);
    let evil = "Glo\u{1b}]0;pwned\u{7}bex\r\u{9b}2J\u{202e}moc [x](https://evil)";
    let mut ingest = Ingest::begin(&store, &Config::default()).unwrap();
    ingest
        .account_snapshot(
            "globex.io",
            None,
            json!({"name": evil, "owner_email": "nobody@example.com"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
    ingest.commit().unwrap();
    let run_id = run(&store, t0() + DAY, &first_scores(&store));
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    let controls = |t: &str| t.contains(|c: char| c.is_control() && c != '\n' || c == '\u{202e}');
    let notes = fake.notes();
    let note = notes
        .iter()
        .find(|n| n["title"].as_str().unwrap_or_default().contains("Glo"))
        .expect("a note for globex.io");
    let title = note["title"].as_str().unwrap();
    assert!(!controls(title), "the title carries controls: {title:?}");
    assert!(title.contains("Glo\\u001b]0;pwned"), "{title}");
    let md = note["content_markdown"].as_str().unwrap();
    assert!(!controls(md), "the note carries controls: {md:?}");
    assert!(md.contains("\\[x\\](https://evil)"), "no link: {md}");
    let tasks = fake.tasks();
    let task = tasks
        .iter()
        .find(|t| {
            t["content_plaintext"]
                .as_str()
                .unwrap_or_default()
                .contains("Glo")
        })
        .expect("a task for globex.io");
    let text = task["content_plaintext"].as_str().unwrap();
    assert!(!controls(text), "the task carries controls: {text:?}");
    no_schema_errors(&fake);
}

#[test]
fn the_fake_enforces_select_attributes_like_attio() {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    let cfg = config(settings(&fake));
    let c = client(&cfg);
    let post = |attr: &str, title: &str| {
        c.send(
            beton::attio::client::Method::Post,
            &format!("/v2/objects/deals/attributes/{attr}/options"),
            &[],
            Some(&json!({"data": {"title": title}})),
        )
    };
    // Options only on a select; an unknown attribute is 404; a title twice is 409.
    match post("pql_score", "high").unwrap_err() {
        beton::attio::client::ApiError::Rejected {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code.as_str()), (400, "validation_type"));
            assert_eq!(message, "This attribute is not a select attribute.");
        }
        e => panic!("{e}"),
    }
    assert!(post("nope", "x").unwrap_err().is_not_found());
    assert!(post("pql_disposition", "legit").unwrap_err().is_conflict());
    let made = post("lead_source", "events").unwrap();
    assert_eq!(made.pointer("/data/title"), Some(&json!("events")));
    assert!(made.pointer("/data/id/option_id").is_some(), "{made}");
    // A rep can only pick an option that exists, and Attio's message names the title.
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    let err = fake
        .rep_select(
            SLUG,
            "acme.com",
            "pql_disposition",
            "maybe",
            "ae1@example.com",
        )
        .unwrap_err();
    assert!(err.contains("Cannot find select attribute with select option title \"maybe\""));
    // Values written through the API carry the token as their actor.
    let deal = deal_of(&fake, "acme.com").unwrap();
    assert_eq!(
        deal.values["lead_source"][0]["created_by_actor"]["type"],
        "api-token"
    );
    assert!(deal.values["lead_source"][0]["option"]["id"]["option_id"].is_string());
}

#[test]
fn pull_records_the_reps_pql_disposition_once_with_its_time_and_member() {
    let (fake, _dir, store, cfg, run_id) = ready(|s| s);
    sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    // Nothing answered yet: nothing recorded.
    let r = beton::attio::pull::pull(&store, &cfg, &client(&cfg), false).unwrap();
    assert_eq!(r.dispositions, 0);
    let at = fake
        .rep_select(
            SLUG,
            "acme.com",
            "pql_disposition",
            "not_ready",
            "ae1@example.com",
        )
        .unwrap();
    // A dry run says so and records nothing.
    let dry = beton::attio::pull::pull(&store, &cfg, &client(&cfg), true).unwrap();
    assert_eq!(dry.dispositions, 1);
    assert!(store.dispositions().unwrap().is_empty());
    let r = beton::attio::pull::pull(&store, &cfg, &client(&cfg), false).unwrap();
    assert_eq!((r.dispositions, r.dispositions_unknown), (1, 0), "{r:?}");
    let d = store.dispositions().unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (
            d[0].account.as_str(),
            d[0].kind.as_str(),
            d[0].source.as_str()
        ),
        ("acme.com", "not_ready", "attio")
    );
    assert_eq!(
        d[0].at,
        parse_ts(&at).unwrap(),
        "at = the value's active_from"
    );
    assert_eq!(d[0].by.as_deref(), Some("ae1@example.com"));
    // Idempotent: a re-pull records nothing and reads no value history.
    let history_reads = |fake: &Fake| {
        fake.requests()
            .iter()
            .filter(|r| r.path.ends_with("/attributes/pql_disposition/values"))
            .count()
    };
    let before = history_reads(&fake);
    let r = beton::attio::pull::pull(&store, &cfg, &client(&cfg), false).unwrap();
    assert_eq!(r.dispositions, 0);
    assert_eq!(store.dispositions().unwrap().len(), 1);
    assert_eq!(history_reads(&fake), before);
    // Two answers between pulls, the later by an API token (no member): both recorded, in order.
    fake.rep_select(
        SLUG,
        "acme.com",
        "pql_disposition",
        "legit",
        "ae2@example.com",
    )
    .unwrap();
    fake.rep_select(
        SLUG,
        "acme.com",
        "pql_disposition",
        "already_working",
        "ae1@example.com",
    )
    .unwrap();
    fake.with(|w| {
        let id = w
            .deals
            .iter()
            .find(|d| fake_attio::Fake::deal_text(d, SLUG).as_deref() == Some("acme.com"))
            .unwrap()
            .id
            .clone();
        let api = json!({"type": "api-token", "id": fake_attio::API_TOKEN_ACTOR});
        let hist = w
            .value_history
            .get_mut(&(id.clone(), "pql_disposition".into()))
            .unwrap();
        hist.last_mut().unwrap()["created_by_actor"] = api.clone();
        let deal = w.deals.iter_mut().find(|d| d.id == id).unwrap();
        deal.values.get_mut("pql_disposition").unwrap()[0]["created_by_actor"] = api;
    });
    let r = beton::attio::pull::pull(&store, &cfg, &client(&cfg), false).unwrap();
    assert_eq!(r.dispositions, 2, "{r:?}");
    let kinds: Vec<(String, Option<String>)> = store
        .dispositions()
        .unwrap()
        .into_iter()
        .map(|d| (d.kind, d.by))
        .collect();
    assert_eq!(
        kinds,
        [
            ("not_ready".to_string(), Some("ae1@example.com".to_string())),
            ("legit".to_string(), Some("ae2@example.com".to_string())),
            ("already_working".to_string(), None),
        ]
    );
    // The answer now in force suppresses the account (SPEC §10).
    let book = beton::feedback::Book::load(&store).unwrap();
    let last = store.dispositions().unwrap().last().unwrap().at;
    let sup = book
        .suppression(&cfg.feedback, "acme.com", last + DAY)
        .unwrap();
    assert_eq!(sup.kind, beton::feedback::Kind::AlreadyWorking);
    // An option Beton does not know (renamed in Attio) is counted, not recorded.
    fake.with(|w| {
        w.options
            .get_mut("pql_disposition")
            .unwrap()
            .push("Maybe later".into())
    });
    fake.rep_select(
        SLUG,
        "acme.com",
        "pql_disposition",
        "Maybe later",
        "ae1@example.com",
    )
    .unwrap();
    let r = beton::attio::pull::pull(&store, &cfg, &client(&cfg), false).unwrap();
    assert_eq!((r.dispositions, r.dispositions_unknown), (0, 1), "{r:?}");
    assert_eq!(store.dispositions().unwrap().len(), 3);
    no_schema_errors(&fake);
}

#[test]
fn a_parent_is_synced_as_one_deal_with_its_biggest_workspaces_owner_and_the_summed_arr() {
    let fake = Fake::start();
    fake.set_up_for_beton(SLUG);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("workspace.sqlite")).unwrap();
    let mut ingest = Ingest::begin(&store, &Config::default()).unwrap();
    for (key, owner, arr) in [
        ("eu.initech.com", "ae1@example.com", 9000),
        ("us.initech.com", "ae2@example.com", 30000),
    ] {
        let props = json!({"parent_domain": "initech.com", "owner_email": owner, "arr": arr});
        ingest
            .account_snapshot(key, None, props.as_object().unwrap())
            .unwrap();
    }
    ingest.commit().unwrap();
    store.ensure_accounts(["initech.com"]).unwrap();
    let mut cfg = config(AttioSettings {
        list: String::new(),
        default_owner: String::new(),
        ..settings(&fake)
    });
    cfg.accounts.parent_property = Some("parent_domain".into());
    let scores = [score(
        &store,
        "initech.com",
        vec![
            fired(SignalType::PricingIntent, "3 pricing page views in 7 days"),
            fired(SignalType::TeamGrowth, "2 new active users in 7 days"),
        ],
    )];
    let run_id = run(&store, t0(), &scores);
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "initech.com"), Outcome::Created, "{r:#?}");
    let deals = fake.deals();
    assert_eq!(deals.len(), 1, "one deal at the parent, none per workspace");
    let d = &deals[0];
    assert_eq!(Fake::deal_text(d, SLUG).as_deref(), Some("initech.com"));
    assert_eq!(d.values["value"][0]["currency_value"], json!(39000.0));
    // us.initech.com has the highest arr: its owner (ae2) owns the parent's deal.
    assert_eq!(
        d.values["owner"][0]["referenced_actor_id"],
        json!(fake.member("ae2@example.com"))
    );
    no_schema_errors(&fake);
}

/// The same on the open-deal path: a note and a task on a rep's deal carry the name escaped.
#[test]
fn a_name_with_control_characters_is_escaped_on_a_reps_open_deal_too() {
    let (fake, _dir, store, cfg, _) = ready(|s| s);
    let mut ingest = Ingest::begin(&store, &Config::default()).unwrap();
    let props = json!({"name": "Ac\u{1b}]0;pwned\u{7}me\r\u{9b}2J\u{202e}", "domain": "acme.com",
                       "owner_email": "AE1@example.com", "arr": 24000});
    ingest
        .account_snapshot("acme.com", None, props.as_object().unwrap())
        .unwrap();
    ingest.commit().unwrap();
    let rep_deal = fake.add_rep_deal("Acme – inbound", "inbound", "ae2@example.com");
    inbound_deal(&store, "acme.com", &format!("attio:{rep_deal}"));
    let run_id = run(&store, t0() + DAY, &first_scores(&store));
    let r = sync(&store, &cfg, run_id, &SyncOptions::default()).unwrap();
    assert_eq!(outcome(&r, "acme.com"), Outcome::Attached, "{r:#?}");
    assert_eq!(notes_on(&fake, &rep_deal), 1);
    let controls = |t: &str| t.contains(|c: char| c.is_control() && c != '\n' || c == '\u{202e}');
    for note in fake.notes() {
        let title = note["title"].as_str().unwrap_or_default();
        assert!(!controls(title), "the title carries controls: {title:?}");
        let md = note["content_markdown"].as_str().unwrap_or_default();
        assert!(!controls(md), "the note carries controls: {md:?}");
    }
    let titles: Vec<String> = fake
        .notes()
        .iter()
        .map(|n| n["title"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("Ac\\u001b]0;pwned")),
        "{titles:?}"
    );
    for task in fake.tasks() {
        let text = task["content_plaintext"].as_str().unwrap_or_default();
        assert!(!controls(text), "the task carries controls: {text:?}");
    }
    no_schema_errors(&fake);
}
