//! The real binary against the fake Attio: `beton connect attio`, `beton attio setup`,
//! `beton sync attio` (dry run, a kill after a send then a re-run, exit code 2, --pull) and
//! `--run-daily` with Attio configured.

mod common;
mod fake_attio;

use std::path::Path;
use std::process::{Command, Output};

use fake_attio::{Fake, Fault, KEY};

const AS_OF: &str = "2026-11-18";

fn beton(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    common::ensure_config(dir);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beton"));
    cmd.arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args);
    cmd.env_remove("ATTIO_API_KEY")
        .env_remove("BETON_TEST_CRASH_AFTER_SEND")
        .env("BETON_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run beton");
    if std::env::var_os("BETON_TEST_SHOW").is_some() {
        eprintln!("$ beton {}\n{}", args.join(" "), text(&out));
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const WITH_KEY: &[(&str, &str)] = &[("ATTIO_API_KEY", KEY)];

#[test]
fn connect_checks_the_key_and_saves_settings_keeping_comments() {
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let o = beton(
        dir.path(),
        &["connect", "attio", "--base-url", &fake.url],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no API key: set ATTIO_API_KEY"),
        "{}",
        text(&o)
    );

    fake.with(|w| w.scopes = fake_attio::ALL_SCOPES.replace("note:read-write ", ""));
    let o = beton(
        dir.path(),
        &["connect", "attio", "--base-url", &fake.url],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("note:read-write"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.toml")).unwrap(),
        beton::config::TEMPLATE,
        "nothing is saved for a key that cannot sync"
    );

    fake.with(|w| w.active = false);
    let o = beton(
        dir.path(),
        &["connect", "attio", "--base-url", &fake.url],
        WITH_KEY,
    );
    assert!(text(&o).contains("not active"), "{}", text(&o));

    fake.with(|w| {
        w.active = true;
        w.scopes = fake_attio::ALL_SCOPES.into();
    });
    let o = beton(
        dir.path(),
        &["connect", "attio", "--base-url", &fake.url],
        &[("ATTIO_API_KEY", "wrong")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("refused the API key (401)") && !text(&o).contains("wrong"),
        "{}",
        text(&o)
    );

    // A key with only the sync's scopes (no object_configuration:read-write, which only setup's
    // creations need) is accepted; a default owner must be a member and is saved as Attio has it.
    fake.with(|w| w.scopes = fake_attio::SYNC_SCOPES.into());
    let o = beton(
        dir.path(),
        &[
            "connect",
            "attio",
            "--base-url",
            &fake.url,
            "--default-owner",
            "cfo@acme.com",
        ],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a member"), "{}", text(&o));
    let o = beton(
        dir.path(),
        &[
            "connect",
            "attio",
            "--base-url",
            &fake.url,
            "--default-owner",
            "AE2@example.com",
        ],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Acme Test"), "{}", text(&o));
    let saved = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(
        saved.contains("[attio]") && saved.contains("workspace = \"acme-test\""),
        "{saved}"
    );
    assert!(
        saved.contains(&format!("base_url = \"{}\"", fake.url)),
        "{saved}"
    );
    assert!(
        saved.contains("default_owner = \"ae2@example.com\""),
        "{saved}"
    );
    assert!(saved.contains("# Score at or above which an account becomes a CRM candidate."));
    assert!(
        !saved.contains(KEY) && !text(&o).contains(KEY),
        "the key is never stored or printed"
    );
}

/// A demo workspace scored at AS_OF, connected to the fake and set up.
fn connected_workspace(fake: &Fake) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // The demo generator's files, imported as the user's own data (DEMO data is never sent).
    let export = dir.path().join("export");
    let export = export.to_str().unwrap();
    let o = beton(
        dir.path(),
        &[
            "demo",
            "--out",
            export,
            "--accounts",
            "40",
            "--days",
            "120",
            "--seed",
            "7",
            "--as-of",
            AS_OF,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    for (kind, file) in [("accounts", "accounts.jsonl"), ("events", "events.jsonl")] {
        let o = beton(
            dir.path(),
            &["import", kind, &format!("{export}/{file}")],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = beton(dir.path(), &["--run-daily", "--as-of", AS_OF], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = beton(
        dir.path(),
        &["connect", "attio", "--base-url", &fake.url],
        WITH_KEY,
    );
    assert!(o.status.success(), "{}", text(&o));
    let config = dir.path().join("config.toml");
    let saved = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        saved.replace(
            "create_missing_companies = false",
            "create_missing_companies = true",
        ),
    )
    .unwrap();
    // The demo's owners are not members of the fake workspace: setup says so and names the fix.
    let o = beton(dir.path(), &["attio", "setup", "--dry-run"], WITH_KEY);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("--default-owner") && text(&o).contains("ae1@example.com"),
        "{}",
        text(&o)
    );
    let o = beton(
        dir.path(),
        &[
            "attio",
            "setup",
            "--dry-run",
            "--default-owner",
            "AE1@example.com",
        ],
        WITH_KEY,
    );
    assert!(
        o.status.success() && text(&o).contains("would create"),
        "{}",
        text(&o)
    );
    assert!(fake.writes().is_empty(), "setup --dry-run wrote");
    assert!(!std::fs::read_to_string(&config).unwrap().contains("AE1@"));
    let o = beton(
        dir.path(),
        &["attio", "setup", "--default-owner", "nobody@elsewhere.com"],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a member"), "{}", text(&o));
    let o = beton(
        dir.path(),
        &["attio", "setup", "--default-owner", "AE1@example.com"],
        WITH_KEY,
    );
    assert!(
        o.status.success() && text(&o).contains("created"),
        "{}",
        text(&o)
    );
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(
        saved.contains("default_owner = \"ae1@example.com\""),
        "the member's email as Attio spells it is saved: {saved}"
    );
    dir
}

fn routed(dir: &Path) -> usize {
    let o = beton(dir, &["scores", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["routed"] == true)
        .count()
}

#[test]
fn sync_dry_run_then_a_kill_after_sending_then_a_rerun() {
    let fake = Fake::start();
    let dir = connected_workspace(&fake);
    let n = routed(dir.path());
    assert!(n >= 2, "the demo should route a few accounts, got {n}");
    let writes = fake.writes().len();

    let o = beton(dir.path(), &["sync", "attio", "--dry-run"], WITH_KEY);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("would create company") && text(&o).contains("create deal"),
        "{}",
        text(&o)
    );
    assert_eq!(fake.writes().len(), writes, "--dry-run sent a write");

    let o = beton(
        dir.path(),
        &["sync", "attio"],
        &[
            ("ATTIO_API_KEY", KEY),
            ("BETON_TEST_CRASH_AFTER_SEND", "deal"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        fake.deals().len(),
        1,
        "the first deal reached Attio before the kill"
    );

    let o = beton(dir.path(), &["sync", "attio"], WITH_KEY);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("interrupted sync completed"),
        "{}",
        text(&o)
    );
    assert_eq!(
        fake.deals().len(),
        n,
        "one deal per routed account, no duplicate"
    );
    assert_eq!(fake.notes().len(), n);
    assert_eq!(fake.tasks().len(), n);
    assert!(
        fake.schema_errors().is_empty(),
        "{:?}",
        fake.schema_errors()
    );

    let o = beton(dir.path(), &["sync", "attio", "--pull", "--json"], WITH_KEY);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pulled: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pulled["deals"], serde_json::json!(n));
    assert_eq!(pulled["stored"], serde_json::json!(n));
}

#[test]
fn run_daily_reports_the_attio_step_and_exits_2_when_an_account_fails() {
    let fake = Fake::start();
    let dir = connected_workspace(&fake);
    let n = routed(dir.path());
    for _ in 0..4 {
        fake.fail_next("PUT", "/v2/objects/deals/records", Fault::Status(503));
    }
    let o = beton(
        dir.path(),
        &["--run-daily", "--as-of", "2026-11-18T01:00:00Z", "--json"],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let step = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "attio")
        .unwrap()
        .clone();
    assert_eq!(step["status"], "failed", "{step}");
    assert!(
        step["detail"].as_str().unwrap().contains("1 failed"),
        "{step}"
    );
    assert_eq!(fake.deals().len(), n - 1, "the other accounts went on");

    let o = beton(
        dir.path(),
        &["--run-daily", "--as-of", "2026-11-18T02:00:00Z"],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "no key: the step fails, the run goes on"
    );
    assert!(
        text(&o).contains("no API key: set ATTIO_API_KEY"),
        "{}",
        text(&o)
    );
    let o = beton(dir.path(), &["sync", "attio"], WITH_KEY);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(fake.deals().len(), n);
}

#[test]
fn a_demo_workspace_is_not_sent_unless_asked() {
    let fake = Fake::start();
    fake.set_up_for_beton("beton_account_key");
    let dir = tempfile::tempdir().unwrap();
    let o = beton(
        dir.path(),
        &[
            "demo",
            "--accounts",
            "40",
            "--days",
            "120",
            "--seed",
            "7",
            "--as-of",
            AS_OF,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = beton(
        dir.path(),
        &["connect", "attio", "--base-url", &fake.url],
        WITH_KEY,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = beton(
        dir.path(),
        &["--run-daily", "--as-of", AS_OF, "--json"],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("DEMO data: no deals are sent to Attio"),
        "{}",
        text(&o)
    );
    let o = beton(dir.path(), &["sync", "attio"], WITH_KEY);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--allow-demo"), "{}", text(&o));
    assert!(fake.writes().is_empty());
    let o = beton(dir.path(), &["sync", "attio", "--allow-demo"], WITH_KEY);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("2 routed: 0 created, 0 updated, 0 unchanged, 2 unresolved"),
        "{}",
        text(&o)
    );
}

/// The item of the JSON list `list` whose `field` is `value`.
fn item(v: &serde_json::Value, list: &str, field: &str, value: &str) -> serde_json::Value {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a[field] == value)
        .cloned()
        .unwrap_or_else(|| panic!("no {field} = {value} in {list}: {v:#}"))
}

fn routed_keys(dir: &Path) -> Vec<String> {
    let o = beton(dir, &["scores", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["routed"] == true)
        .map(|a| a["account"].as_str().unwrap().to_string())
        .collect()
}

/// The end-to-end check: an imported workspace with open inbound deals on some routed
/// accounts; setup, two daily runs with a rep edit in between, then a re-run.
#[test]
fn routing_next_to_the_pipeline_end_to_end() {
    let fake = Fake::start();
    let dir = connected_workspace(&fake);
    // More routed accounts than the demo's two at 60; a run without the key scores them (its
    // Attio step fails: nothing is sent).
    let config = dir.path().join("config.toml");
    let text_now = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_now.replace("route_threshold = 60", "route_threshold = 40"),
    )
    .unwrap();
    let setup_writes = fake.writes().len();
    let o = beton(dir.path(), &["--run-daily", "--as-of", AS_OF], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(fake.writes().len(), setup_writes);
    let keys = routed_keys(dir.path());
    assert!(keys.len() >= 4, "{keys:?}");
    // Two routed accounts already have an open inbound deal: one pulled from Attio (its record
    // is known), one imported from elsewhere (no record).
    let (known, unknown) = (&keys[0], &keys[1]);
    let inbound = fake.add_rep_deal("Inbound – known", "inbound", "ae2@example.com");
    let csv = dir.path().join("deals.csv");
    std::fs::write(
        &csv,
        format!(
            "deal_id,account_key,name,lead_source,stage,value,created_at,sql_at,closed_at,owner_email\n\
             attio:{inbound},{known},Inbound – known,inbound,In Progress,12000,2026-10-01T00:00:00Z,,,ae2@example.com\n\
             crm-42,{unknown},Inbound – unknown,inbound,Discovery,8000,2026-10-02T00:00:00Z,,,ae2@example.com\n"
        ),
    )
    .unwrap();
    let o = beton(dir.path(), &["import", "deals", csv.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));

    let o = beton(
        dir.path(),
        &["--run-daily", "--as-of", AS_OF, "--json"],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let entry = |key: &str| item(&report, "accounts", "account", key);
    assert_eq!(entry(known)["crm_action"], "attach", "{report:#}");
    assert_eq!(entry(unknown)["crm_action"], "skip", "{report:#}");
    assert!(
        entry(unknown)["crm_reason"]
            .as_str()
            .unwrap()
            .contains("in pipeline (inbound)"),
        "{report:#}"
    );
    for k in &keys[2..] {
        assert_eq!(entry(k)["crm_action"], "create", "{k}: {report:#}");
        assert!(entry(k)["motion"] == "new" || entry(k)["motion"] == "expansion");
    }
    let pql = |fake: &Fake| -> Vec<fake_attio::Record> {
        fake.deals()
            .into_iter()
            .filter(|d| Fake::deal_text(d, "beton_account_key").is_some())
            .collect()
    };
    let deals = pql(&fake);
    assert_eq!(
        deals.len(),
        keys.len() - 2,
        "one deal per routed account not in pipeline"
    );
    for d in &deals {
        let key = Fake::deal_text(d, "beton_account_key").unwrap();
        assert!(key != *known && key != *unknown, "a second deal for {key}");
        assert!(d.values.contains_key("owner"), "{key} has no owner");
    }
    // The known inbound deal got the handoff note (and its owner a task); nothing else on it.
    let on = |id: &str| {
        fake.notes()
            .iter()
            .filter(|n| n["parent_record_id"] == id)
            .count()
    };
    assert_eq!(on(&inbound), 1);
    let inbound_deal = fake.deals().into_iter().find(|d| d.id == inbound).unwrap();
    assert_eq!(
        Fake::deal_text(&inbound_deal, "name").as_deref(),
        Some("Inbound – known")
    );
    assert!(!inbound_deal.values.contains_key("pql_score"));

    // A rep renames and reassigns one PQL deal, then the next day's run.
    let edited = Fake::deal_text(&deals[0], "beton_account_key").unwrap();
    fake.rep_edit(
        "beton_account_key",
        &edited,
        "Renamed by the rep",
        "ae2@example.com",
    );
    let o = beton(
        dir.path(),
        &["--run-daily", "--as-of", "2026-11-19", "--json"],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = pql(&fake);
    assert_eq!(after.len(), deals.len(), "no new deal on the second day");
    let d = after
        .iter()
        .find(|d| Fake::deal_text(d, "beton_account_key").as_deref() == Some(edited.as_str()))
        .unwrap();
    assert_eq!(
        Fake::deal_text(d, "name").as_deref(),
        Some("Renamed by the rep")
    );
    assert_eq!(
        d.values["owner"][0]["referenced_actor_id"],
        serde_json::json!(fake.member("ae2@example.com"))
    );
    assert_eq!(on(&inbound), 1, "no second note without new signals");

    // A re-run of the same day writes nothing.
    let writes = fake.writes().len();
    let o = beton(
        dir.path(),
        &["--run-daily", "--as-of", "2026-11-19", "--json"],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(fake.writes().len(), writes, "a re-run wrote");
    // `explain` says why the unknown one got no deal.
    let o = beton(dir.path(), &["explain", unknown, "--as-of", AS_OF], &[]);
    assert!(
        text(&o).contains("no new deal: in pipeline (inbound)"),
        "{}",
        text(&o)
    );

    // An ARR floor above every account: scored and shown, not routed, nothing sent.
    let text_now = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_now.replace("min_arr = 0.0", "min_arr = 1000000000.0"),
    )
    .unwrap();
    let o = beton(
        dir.path(),
        &["--run-daily", "--as-of", "2026-11-20", "--json"],
        WITH_KEY,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let floored = item(&report, "accounts", "account", &keys[2]);
    assert_eq!(floored["routed"], false, "{floored}");
    assert_eq!(floored["crm_action"], "none", "{floored}");
    assert!(
        floored["crm_reason"]
            .as_str()
            .unwrap()
            .starts_with("below the ARR floor"),
        "{floored}"
    );
    assert_eq!(
        fake.writes().len(),
        writes,
        "nothing is sent for accounts under the floor"
    );
    let o = beton(
        dir.path(),
        &["explain", &keys[2], "--as-of", "2026-11-20"],
        &[],
    );
    assert!(text(&o).contains("below the ARR floor"), "{}", text(&o));
}
