//! `beton backtest`, `health`, `sources` and `explain-signal` on a demo workspace: the JSON is
//! the same on every run and its fields are those SPEC §7 names; the what-if and sweep shapes.

mod common;

use std::process::{Command, Stdio};

use serde_json::Value;

const AS_OF: &str = "2026-06-01T09:30:00Z";

fn beton(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    common::ensure_config(dir);
    Command::new(env!("CARGO_BIN_EXE_beton"))
        .args(args)
        .env("BETON_DATA", dir.join("data"))
        .env("BETON_CONFIG", dir.join("config.toml"))
        .env_remove("BETON_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run beton")
}

fn json(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = beton(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = beton(
        dir.path(),
        &[
            "--as-of",
            AS_OF,
            "demo",
            "--accounts",
            "120",
            "--days",
            "200",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn has(v: &Value, keys: &[&str]) {
    for k in keys {
        assert!(v.get(k).is_some(), "missing `{k}` in {}", v);
    }
}

#[test]
fn json_of_the_three_figure_commands_is_stable_and_named_as_the_spec_says() {
    let dir = demo();
    let d = dir.path();
    for cmd in ["backtest", "health", "sources"] {
        let args = ["--as-of", AS_OF, "--json", cmd];
        let first = json(d, &args);
        assert_eq!(
            first,
            json(d, &args),
            "`beton {cmd} --json` changed between runs"
        );
        match cmd {
            "backtest" => {
                has(
                    &first,
                    &[
                        "precision",
                        "recall",
                        "f1",
                        "flagged",
                        "won_accounts",
                        "per_signal",
                        "buckets",
                        "lift",
                        "median_days_to_close",
                        "value_won",
                        "roi_multiple",
                    ],
                );
                assert_eq!(first["replay_dates"], 26);
                assert_eq!(first["per_signal"].as_array().map(Vec::len), Some(8));
                assert_eq!(first["buckets"].as_array().map(Vec::len), Some(5));
                assert!(
                    first["flagged"].as_u64() > Some(0),
                    "the demo should flag someone: {first}"
                );
            }
            "health" => {
                has(
                    &first,
                    &["as_of", "accounts", "growth_leaders", "feature_adoption"],
                );
                let a = &first["accounts"][0];
                has(
                    a,
                    &[
                        "account",
                        "status",
                        "active_users_30d",
                        "events_7d",
                        "events_prev_7d",
                        "growth",
                        "last_seen",
                        "features_30d",
                    ],
                );
                assert_eq!(first["accounts"].as_array().map(Vec::len), Some(120));
            }
            _ => {
                let s = &first["sources"][0];
                assert_eq!(s["lead_source"], "pql");
                has(
                    s,
                    &[
                        "leads",
                        "sqls",
                        "won",
                        "lost",
                        "open",
                        "win_rate",
                        "close_rate",
                        "avg_won_value",
                        "median_sales_cycle_days",
                        "open_pipeline",
                        "quarters",
                    ],
                );
            }
        }
    }
    // Both backtests were saved; the text output compares with the previous one.
    let out = beton(d, &["--as-of", AS_OF, "backtest"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("same figures as the previous backtest"),
        "{text}"
    );
    assert!(text.contains("saved as backtest #3"), "{text}");
}

#[test]
fn what_if_sweep_explain_and_filters() {
    let dir = demo();
    let d = dir.path();
    let w = json(
        d,
        &[
            "--as-of",
            AS_OF,
            "--json",
            "backtest",
            "--set",
            "pricing_intent.min_count=4",
            "--set",
            "route_threshold=65",
        ],
    );
    has(&w, &["sets", "before", "after", "changes"]);
    assert_eq!(w["after"]["threshold"], 65);
    assert_eq!(w["before"]["threshold"], 60);
    assert_eq!(
        std::fs::read_to_string(d.join("config.toml")).unwrap(),
        beton::config::TEMPLATE,
        "a what-if must not write the settings"
    );

    let s = json(
        d,
        &[
            "--as-of",
            AS_OF,
            "--json",
            "backtest",
            "--sweep",
            "pricing_intent.min_count=1..3",
        ],
    );
    assert_eq!(s["points"].as_array().map(Vec::len), Some(3));
    let flagged: Vec<u64> = s["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["flagged"].as_u64())
        .collect();
    assert!(
        flagged.windows(2).all(|w| w[0] >= w[1]),
        "a stricter pricing rule cannot flag more: {flagged:?}"
    );

    let out = beton(d, &["--as-of", AS_OF, "explain-signal", "pricing_intent"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("advice: "), "{text}");
    let out = beton(d, &["explain-signal", "nonsense"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown signal"));

    let h = json(
        d,
        &["--as-of", AS_OF, "--json", "health", "--status", "at_risk"],
    );
    assert!(
        h["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|a| a["status"] == "at_risk")
    );
}

#[test]
fn an_empty_workspace_says_how_to_get_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    for cmd in ["backtest", "health", "sources"] {
        let out = beton(dir.path(), &[cmd]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("beton demo"),
            "{cmd}"
        );
    }
}
