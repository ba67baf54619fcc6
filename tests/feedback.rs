//! Rep dispositions end to end (SPEC §10): `beton feedback`, suppression in the daily run (still
//! scored and listed, not routed, not alerted), in `scores`, `explain` and the alert dry run, the
//! suppression's end, and what-ifs that record nothing.

mod fake_alerts;

use std::process::{Command, Output};

use beton::config::Config;
use beton::time::{DAY, fmt_ts, parse_ts};
use fake_alerts::Fake;
use serde_json::{Value, json};

fn t(s: &str) -> i64 {
    parse_ts(s).unwrap()
}

/// Events that make an account Hot at any T in (at, at + 7 d): a checkout (billing_intent, 40)
/// and two pricing views (pricing_intent, 30): 70 + 10 bonus = 80.
const HOT: [(&str, Option<&str>); 3] = [
    ("checkout_started", None),
    ("$pageview", Some("https://app.x.com/pricing")),
    ("$pageview", Some("https://app.x.com/pricing")),
];

/// [`HOT`] as JSON Lines for `account`, one microsecond apart from `at`.
fn hot_lines(account: &str, at: i64) -> String {
    let mut out = String::new();
    for (i, (event, url)) in HOT.into_iter().enumerate() {
        let mut props = json!({"$groups": {"company": account}});
        if let Some(u) = url {
            props["$current_url"] = json!(u);
        }
        let line = json!({"event": event, "distinct_id": format!("u@{account}"),
                          "timestamp": fmt_ts(at + i as i64), "properties": props});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

struct Ws {
    dir: tempfile::TempDir,
    fake: Fake,
}

impl Ws {
    /// A workspace with acme.com and globex.io Hot at 2026-05-04, alerts to a fake webhook.
    fn new() -> Self {
        let fake = Fake::start();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), beton::config::TEMPLATE).unwrap();
        let ws = Self { dir, fake };
        let day = t("2026-05-03T00:00:00Z");
        let events = ws.dir.path().join("events.jsonl");
        std::fs::write(
            &events,
            hot_lines("acme.com", day) + &hot_lines("globex.io", day),
        )
        .unwrap();
        let out = ws.cmd(&["import", "events", events.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        ws
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_beton"))
            .args(args)
            .env("BETON_DATA", self.dir.path().join("data"))
            .env("BETON_CONFIG", self.dir.path().join("config.toml"))
            .env("BETON_ALERT_WEBHOOK_URL", self.fake.webhook_url())
            .env_remove("BETON_SLACK_WEBHOOK_URL")
            .env_remove("BETON_TEST_CRASH_AFTER_SEND")
            .env_remove("BETON_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"))
    }
}

fn account<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == key)
        .unwrap_or_else(|| panic!("{key} not listed: {report}"))
}

#[test]
fn a_not_ready_answer_keeps_the_account_listed_but_unrouted_and_unalerted_until_it_ends() {
    let ws = Ws::new();
    // An unknown account is refused, nothing recorded.
    let out = ws.cmd(&["feedback", "nope.io", "not_ready"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no account `nope.io`"),
        "{out:?}"
    );
    let out = ws.cmd(&["feedback", "acme.com", "not_ready", "--at", "May 1st"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--at"),
        "{out:?}"
    );

    let rec = ws.json(&[
        "feedback",
        "acme.com",
        "not_ready",
        "--at",
        "2026-05-01",
        "--note",
        "budget in Q3",
        "--by",
        "ae@example.com",
        "--json",
    ]);
    assert_eq!(rec["disposition"], "not_ready");
    assert_eq!(rec["at"], "2026-05-01T00:00:00Z");
    assert_eq!(rec["suppressed_until"], "2026-05-31T00:00:00Z");
    assert_eq!(rec["by"], "ae@example.com");

    // The alert dry run already leaves acme out.
    let dry = ws.cmd(&["alerts", "--dry-run", "--as-of", "2026-05-04T10:00:00Z"]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("globex.io") && !text.contains("alert:acme.com"),
        "{text}"
    );

    let r = ws.json(&["--run-daily", "--json", "--as-of", "2026-05-04T10:00:00Z"]);
    let acme = account(&r, "acme.com");
    assert_eq!(acme["score"], 80, "still scored: {acme}");
    assert_eq!(acme["routed"], false);
    assert_eq!(acme["suppressed"], "not_ready");
    assert_eq!(acme["suppressed_until"], "2026-05-31T00:00:00Z");
    assert!(
        acme["crm_reason"].as_str().unwrap().contains("suppressed"),
        "{acme}"
    );
    let globex = account(&r, "globex.io");
    assert_eq!(
        (globex["routed"].clone(), globex["suppressed"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(r["routed"], 1);
    let keys = ws.fake.webhook_keys();
    assert!(
        keys.iter().any(|k| k.starts_with("alert:globex.io:")),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.starts_with("alert:acme.com:")),
        "{keys:?}"
    );
    // The digest's top list leaves the suppressed account out; its counts keep it (scored).
    let d = ws
        .fake
        .with(|w| w.webhook.iter().find(|b| b["kind"] == "digest").cloned())
        .expect("the day's digest (T is after digest_hour_utc)");
    assert!(
        !d["top"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["account"] == "acme.com"),
        "{d}"
    );
    assert_eq!(d["hot"], 2);

    let scores = ws.json(&["scores", "--json"]);
    let acme = account(&scores, "acme.com");
    assert_eq!(acme["suppressed"], "not_ready");
    assert_eq!(acme["suppressed_until"], "2026-05-31T00:00:00Z");
    assert_eq!(account(&scores, "globex.io")["suppressed"], Value::Null);

    let ex = ws.json(&[
        "explain",
        "acme.com",
        "--as-of",
        "2026-05-04T10:00:00Z",
        "--json",
    ]);
    assert_eq!(ex["suppressed"], "not_ready");
    assert_eq!(ex["suppressed_until"], "2026-05-31T00:00:00Z");
    assert_eq!(ex["routed"], false);
    let text = ws.cmd(&["explain", "acme.com", "--as-of", "2026-05-04T10:00:00Z"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("suppressed: a rep answered not_ready on 2026-05-01"),
        "{text}"
    );
    assert!(
        !text.contains("ARR floor"),
        "the reason is the answer: {text}"
    );

    // On the last day it still holds; from the end (t + 30 d) on, explain routes it again.
    let day_before = ws.json(&[
        "explain",
        "acme.com",
        "--as-of",
        "2026-05-30T12:00:00Z",
        "--json",
    ]);
    assert_eq!(day_before["suppressed"], "not_ready");
    let on_end = ws.json(&[
        "explain",
        "acme.com",
        "--as-of",
        "2026-05-31T00:00:00Z",
        "--json",
    ]);
    assert_eq!(on_end["suppressed"], Value::Null);
    let list = ws.json(&["feedback", "acme.com", "--json", "--as-of", "2026-06-01"]);
    assert_eq!(list["dispositions"].as_array().unwrap().len(), 1);
    assert_eq!(list["suppressed"], Value::Null);
}

#[test]
fn a_later_legit_answer_ends_the_suppression_and_routing_comes_back() {
    let ws = Ws::new();
    for (kind, at) in [
        ("already_working", "2026-05-01"),
        ("legit", "2026-05-03T12:00:00Z"),
    ] {
        let out = ws.cmd(&["feedback", "acme.com", kind, "--at", at]);
        assert!(out.status.success(), "{out:?}");
    }
    // Before the legit answer, already_working (90 days) holds; after it, nothing does.
    let ex = ws.json(&[
        "explain",
        "acme.com",
        "--as-of",
        "2026-05-03T11:00:00Z",
        "--json",
    ]);
    assert_eq!(ex["suppressed"], "already_working");
    assert_eq!(ex["suppressed_until"], "2026-07-30T00:00:00Z");
    let r = ws.json(&["--run-daily", "--json", "--as-of", "2026-05-04T10:00:00Z"]);
    let acme = account(&r, "acme.com");
    assert_eq!(
        (acme["routed"].clone(), acme["suppressed"].clone()),
        (json!(true), Value::Null)
    );
}

#[test]
fn what_ifs_apply_suppression_and_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let paths = beton::config::Paths {
        config_file: dir.path().join("config.toml"),
        data_dir: dir.path().join("data"),
    };
    let ctx = beton::pipeline::Context {
        paths,
        config: Config::default(),
    };
    let store = ctx.open_store().unwrap();
    let mut ingest = beton::store::Ingest::begin(&store, &ctx.config).unwrap();
    let at = t("2026-05-03T00:00:00Z");
    for account in ["acme.com", "globex.io"] {
        for (i, (name, url)) in HOT.into_iter().enumerate() {
            ingest
                .event(&beton::store::EventIn {
                    uuid: None,
                    event: name.into(),
                    distinct_id: "u".into(),
                    ts: at + i as i64,
                    account: Some(account.into()),
                    url: url.map(str::to_string),
                    feature: None,
                    group_set: None,
                })
                .unwrap();
        }
    }
    ingest.commit().unwrap();
    beton::feedback::record(
        &store,
        &beton::feedback::Disposition {
            account: "acme.com".into(),
            kind: beton::feedback::Kind::NotReady,
            at: at - DAY,
            note: None,
            by: None,
            source: "cli".into(),
        },
    )
    .unwrap();
    let before = store.dispositions().unwrap();
    let mut candidate = ctx.config.clone();
    candidate.feedback.not_ready_days = 1;
    let cmp =
        beton::pipeline::sandbox::compare(&ctx, &candidate, at + DAY, &beton::progress::Silent)
            .unwrap();
    let routed = |s: &[beton::signals::AccountScore], k: &str| {
        s.iter().find(|a| a.account == k).unwrap().routed
    };
    // In force: suppressed; with not_ready_days = 1 the answer has run out by T.
    assert!(!routed(&cmp.before.scores, "acme.com"));
    assert!(routed(&cmp.after.scores, "acme.com"));
    assert_eq!(cmp.diff.newly_routed, vec!["acme.com".to_string()]);
    assert!(
        store.latest_run("daily").unwrap().is_none(),
        "a what-if recorded a run"
    );
    assert_eq!(store.dispositions().unwrap(), before);
}

#[test]
fn import_feedback_names_bad_rows_with_line_and_field_and_stores_the_good_ones() {
    let ws = Ws::new();
    let file = ws.dir.path().join("answers.csv");
    std::fs::write(
        &file,
        "\u{feff}account_key,disposition,at,note,by\n\
         acme.com,not_ready,2026-05-01,\"budget, Q3\",ae@example.com\n\
         nope.io,legit,2026-05-01,,\n\
         globex.io,already_working,yesterday,,\n",
    )
    .unwrap();
    let out = ws.cmd(&["import", "feedback", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("answers.csv:3: unknown `account_key` \"nope.io\""),
        "{err}"
    );
    assert!(
        err.contains("answers.csv:4: bad `at` \"yesterday\""),
        "{err}"
    );
    let list = ws.json(&["feedback", "acme.com", "--json", "--as-of", "2026-05-04"]);
    assert_eq!(list["dispositions"][0]["note"], "budget, Q3");
    assert_eq!(list["dispositions"][0]["source"], "import");
    assert_eq!(list["suppressed"], "not_ready");
    // The same file again: nothing new.
    let out = ws.cmd(&["import", "feedback", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2), "the same two bad rows: {out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["imported"].clone(), r["duplicates"].clone()),
        (json!(0), json!(1))
    );
}

#[test]
fn backtest_reports_the_answers_in_its_range_and_an_answer_after_t_changes_nothing() {
    let ws = Ws::new();
    let bt = |ws: &Ws| {
        ws.json(&[
            "backtest",
            "--json",
            "--as-of",
            "2026-05-04",
            "--range-days",
            "60",
        ])
    };
    let before = bt(&ws);
    assert_eq!(
        before["feedback"]["counts"],
        json!({"legit": 0, "not_ready": 0, "already_working": 0})
    );
    assert_eq!(before["feedback"]["false_positive_rate"], Value::Null);
    // Four answers in (T − 60 d, T], one on T − 60 d itself (outside), one after T.
    for (account, kind, at) in [
        ("acme.com", "not_ready", "2026-04-01"),
        ("globex.io", "legit", "2026-04-20"),
        ("acme.com", "legit", "2026-05-01"),
        ("globex.io", "already_working", "2026-05-04T00:00:00Z"),
        ("acme.com", "not_ready", "2026-03-05T00:00:00Z"),
    ] {
        let out = ws.cmd(&["feedback", account, kind, "--at", at]);
        assert!(out.status.success(), "{out:?}");
    }
    let with = bt(&ws);
    let fb = &with["feedback"];
    assert_eq!(
        fb["counts"],
        json!({"legit": 2, "not_ready": 1, "already_working": 1})
    );
    let months: Vec<(String, u64, Value)> = fb["by_month"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["month"].as_str().unwrap().to_string(),
                m["dispositions"].as_u64().unwrap(),
                m["false_positive_rate"].clone(),
            )
        })
        .collect();
    // Fewer than 5 answers a month: the count, no rate.
    assert_eq!(
        months,
        [
            ("2026-04".to_string(), 2, Value::Null),
            ("2026-05".to_string(), 2, Value::Null)
        ]
    );
    // The §5 figures judge the score: answers do not move them.
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("feedback");
        v
    };
    assert_eq!(strip(with.clone()), strip(before.clone()));
    // No lookahead: an answer dated after T changes nothing at all.
    let out = ws.cmd(&[
        "feedback",
        "acme.com",
        "not_ready",
        "--at",
        "2026-05-04T00:00:01Z",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(bt(&ws), with);
    // The table says the same in words.
    let text = ws.cmd(&["backtest", "--as-of", "2026-05-04", "--range-days", "60"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("reps' answers: 4 (legit 2, not_ready 1, already_working 1); false positives not enough data (n = 4 < 5)"),
        "{text}"
    );
    assert!(
        text.contains("2026-04") && text.contains("not enough data"),
        "{text}"
    );
}
