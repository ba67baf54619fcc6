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

    let o = beton(
        dir.path(),
        &["connect", "attio", "--base-url", &fake.url],
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
    let o = beton(dir.path(), &["attio", "setup", "--dry-run"], WITH_KEY);
    assert!(
        o.status.success() && text(&o).contains("would create"),
        "{}",
        text(&o)
    );
    assert!(fake.writes().is_empty(), "setup --dry-run wrote");
    let o = beton(dir.path(), &["attio", "setup"], WITH_KEY);
    assert!(
        o.status.success() && text(&o).contains("created"),
        "{}",
        text(&o)
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
