//! `beton diff` end to end (SPEC §13): the components of every listed account add up to the
//! change, the listed accounts are exactly those whose score, tier or routing differ between two
//! `--run-daily --json` reports, and a settings-only change lists only settings components.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const T1: &str = "2026-05-25T09:30:00Z";
const T2: &str = "2026-06-01T09:30:00Z";

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let w = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        // Settings named explicitly must exist: start from the template, as `beton init` writes it.
        std::fs::write(w.dir.path().join("config.toml"), beton::config::TEMPLATE).unwrap();
        let out = w.run(&["demo", "--accounts", "200", "--days", "100", "--as-of", T2]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        w
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_beton"))
            .args(args)
            .env("BETON_DATA", self.dir.path().join("data"))
            .env("BETON_CONFIG", self.dir.path().join("config.toml"))
            .env_remove("BETON_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn daily(&self, t: &str) -> Value {
        self.json(&["--run-daily", "--as-of", t, "--json"])
    }

    fn settings(&self, toml: &str) {
        std::fs::write(self.dir.path().join("config.toml"), toml).unwrap();
    }
}

/// (score, tier, routed) of every account of a `--run-daily --json` report.
fn states(report: &Value) -> BTreeMap<String, (u64, Value, bool)> {
    report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_string(),
                (
                    a["score"].as_u64().unwrap(),
                    a["tier"].clone(),
                    a["routed"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

/// The accounts whose score, tier or routing differ between two reports.
fn changed(a: &Value, b: &Value) -> Vec<String> {
    let (sa, sb) = (states(a), states(b));
    let none = (0, Value::Null, false);
    let mut keys: Vec<&String> = sa.keys().chain(sb.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| sa.get(*k).unwrap_or(&none) != sb.get(*k).unwrap_or(&none))
        .cloned()
        .collect()
}

/// Checks every listed account against the reports and returns the listed keys, sorted.
fn check(diff: &Value, a: &Value, b: &Value) -> Vec<String> {
    let (sa, sb) = (states(a), states(b));
    let mut listed = Vec::new();
    for acc in diff["accounts"].as_array().unwrap() {
        let key = acc["account"].as_str().unwrap();
        let before = acc["before"]["score"].as_i64().unwrap();
        let after = acc["after"]["score"].as_i64().unwrap();
        assert_eq!(
            before,
            sa.get(key).map_or(0, |s| s.0 as i64),
            "{key} before"
        );
        assert_eq!(after, sb.get(key).map_or(0, |s| s.0 as i64), "{key} after");
        assert_eq!(
            acc["before"]["tier"],
            sa.get(key).map_or(Value::Null, |s| s.1.clone())
        );
        assert_eq!(
            acc["after"]["tier"],
            sb.get(key).map_or(Value::Null, |s| s.1.clone())
        );
        assert_eq!(
            acc["before"]["routed"].as_bool(),
            Some(sa.get(key).is_some_and(|s| s.2)),
            "{key} routed before"
        );
        assert_eq!(
            acc["after"]["routed"].as_bool(),
            Some(sb.get(key).is_some_and(|s| s.2)),
            "{key} routed after"
        );
        let sum: i64 = acc["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["points"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, after - before, "{key}: {acc}");
        assert!(!acc["components"].as_array().unwrap().is_empty(), "{key}");
        listed.push(key.to_string());
    }
    listed.sort();
    listed
}

#[test]
fn diff_lists_exactly_the_changed_accounts_and_components_add_up() {
    let w = Workspace::new();
    let a = w.daily(T1);
    let b = w.daily(T2);
    let want = changed(&a, &b);
    assert!(
        want.len() > 10,
        "the fixture should move accounts: {}",
        want.len()
    );

    let runs = w.json(&[
        "diff",
        "--runs",
        &a["run_id"].to_string(),
        &b["run_id"].to_string(),
        "--json",
    ]);
    assert_eq!(runs["settings_changed"], serde_json::json!([]));
    assert_eq!(check(&runs, &a, &b), want);

    let times = w.json(&["diff", "--from", T1, "--to", T2, "--json"]);
    assert_eq!(check(&times, &a, &b), want);
    assert!(
        times["accounts"] == runs["accounts"],
        "the same two dates as times and as runs give the same accounts and components"
    );
    // Kinds seen: signals come and go, and the cap and bonus move with them.
    let kinds: std::collections::BTreeSet<&str> = times["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["components"].as_array().unwrap())
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    for k in ["signal_added", "signal_removed", "bonus"] {
        assert!(kinds.contains(k), "{k} in {kinds:?}");
    }

    // One account: the same entry, alone.
    let one = &want[0];
    let single = w.json(&["diff", one, "--from", T1, "--to", T2, "--json"]);
    let entry: Vec<&Value> = times["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["account"] == one.as_str())
        .collect();
    assert_eq!(
        single["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        entry
    );

    // Nothing was recorded: the latest run is still the second one.
    let scores = w.json(&["scores", "--json"]);
    assert_eq!(scores["run_id"], b["run_id"]);
}

/// A rep's `not_ready` answer between the two times un-routes the account at T2 as the daily run
/// does (SPEC §10): `diff --from --to` routes like `--run-daily`, so it lists that account with
/// routed true → false.
#[test]
fn a_reps_answer_between_the_two_times_moves_routing_as_the_daily_runs_do() {
    let w = Workspace::new();
    let (a, b) = (w.daily(T1), w.daily(T2));
    let (sa, sb) = (states(&a), states(&b));
    let key = sa
        .iter()
        .find(|(k, s)| s.2 && sb.get(*k).is_some_and(|t| t.2))
        .map(|(k, _)| k.clone())
        .expect("an account routed at both times");
    let out = w.run(&[
        "feedback",
        &key,
        "not_ready",
        "--at",
        "2026-05-26T00:00:00Z",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (w.daily(T1), w.daily(T2));
    assert!(
        !states(&b)[&key].2,
        "the daily run at T2 does not route {key}"
    );
    let want = changed(&a, &b);
    assert!(want.contains(&key), "{want:?}");
    let times = w.json(&["diff", "--from", T1, "--to", T2, "--json"]);
    assert_eq!(check(&times, &a, &b), want);
    let entry = times["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["account"] == key.as_str())
        .unwrap();
    assert_eq!(
        (&entry["before"]["routed"], &entry["after"]["routed"]),
        (&Value::Bool(true), &Value::Bool(false)),
        "{entry}"
    );
    let runs = w.json(&[
        "diff",
        "--runs",
        &a["run_id"].to_string(),
        &b["run_id"].to_string(),
        "--json",
    ]);
    assert_eq!(check(&runs, &a, &b), want);
}

#[test]
fn a_settings_only_change_lists_only_settings_components() {
    let w = Workspace::new();
    let a = w.daily(T2);
    w.settings("route_threshold = 45\n");
    let b = w.daily(T2);
    let want = changed(&a, &b);
    assert!(!want.is_empty());
    let d = w.json(&[
        "diff",
        "--runs",
        &a["run_id"].to_string(),
        &b["run_id"].to_string(),
        "--json",
    ]);
    assert_eq!(
        d["settings_changed"],
        serde_json::json!([{"key": "route_threshold", "before": 60, "after": 45}])
    );
    assert_eq!(check(&d, &a, &b), want);
    for acc in d["accounts"].as_array().unwrap() {
        assert_eq!(
            acc["components"],
            serde_json::json!([{"kind": "settings", "points": 0, "keys": ["route_threshold"]}]),
            "{acc}"
        );
    }

    // A changed base: the accounts with that type move by settings components naming the key
    // (and the cap or bonus where the sum crosses them), and nothing else.
    w.settings("route_threshold = 45\n[signals.pricing_intent]\nbase = 40\n");
    let c = w.daily(T2);
    let d = w.json(&[
        "diff",
        "--runs",
        &b["run_id"].to_string(),
        &c["run_id"].to_string(),
        "--json",
    ]);
    assert_eq!(check(&d, &b, &c), changed(&b, &c));
    for acc in d["accounts"].as_array().unwrap() {
        for comp in acc["components"].as_array().unwrap() {
            match comp["kind"].as_str().unwrap() {
                "settings" => assert_eq!(
                    comp["keys"],
                    serde_json::json!(["signals.pricing_intent.base"])
                ),
                "cap" => {}
                other => panic!("{other} in a settings-only diff: {acc}"),
            }
        }
    }
}

#[test]
fn diff_needs_two_sides() {
    let w = Workspace::new();
    let out = w.run(&["diff"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from T1 --to T2 or --runs A B"));
    let out = w.run(&["diff", "--runs", "7", "8"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run 7"));
}
