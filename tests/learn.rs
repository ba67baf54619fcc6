//! `beton learn` and the evidence per signal (SPEC §11) on a planted workspace: events and deals
//! generated with known log-odds per signal (billing +1.6, pricing +1.1, support 0), imported as
//! files, learned from with the real binary.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const AS_OF: &str = "2026-06-01T00:00:00Z";
const DAY: i64 = 86_400;

fn beton(dir: &Path, args: &[&str]) -> std::process::Output {
    beton_with(dir, args, &[])
}

fn beton_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_beton"))
        .args(args)
        .env("BETON_DATA", dir.join("data"))
        .env("BETON_CONFIG", dir.join("config.toml"))
        .envs(env.iter().copied())
        .env_remove("BETON_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run beton")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = beton(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).expect("JSON on stdout")
}

/// SplitMix64, so the planted workspace is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn rfc(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .expect("a time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

const CONFIG: &str = "# planted test settings: keep this comment\n[backtest]\n# a short horizon gives more observation dates\nhorizon_days = 28\n";

/// `n` accounts; each starts at a random observation date of the learn replay (T − 365 d, every
/// 7 d, horizon 28 d), draws billing (20 %), pricing (30 %) and support (30 %), shows them in the
/// signal window before every replay date from then on, and is won 1–27 days after its start
/// with probability σ(−2.5 + 1.6·billing + 1.1·pricing + 0·support).
fn planted(dir: &Path, n: usize, seed: u64) {
    let t = chrono::DateTime::parse_from_rfc3339(AS_OF)
        .expect("T")
        .timestamp();
    let dates: Vec<i64> = (0..=52).map(|k| t - 365 * DAY + k * 7 * DAY).collect();
    let observable = dates.iter().filter(|d| **d + 28 * DAY <= t).count() as u64;
    let mut rng = Rng(seed);
    let mut events = String::new();
    let mut deals = String::from(
        "deal_id,account_key,name,lead_source,stage,value,created_at,sql_at,closed_at,owner_email\n",
    );
    for i in 0..n {
        let key = format!("p{i}.example");
        let start = (rng.next() % observable) as usize;
        let (billing, pricing, support) = (rng.f() < 0.2, rng.f() < 0.3, rng.f() < 0.3);
        let eta = -2.5 + 1.6 * f64::from(u8::from(billing)) + 1.1 * f64::from(u8::from(pricing));
        let won = rng.f() < 1.0 / (1.0 + (-eta).exp());
        let after = 1 + (rng.next() % 27) as i64;
        for &d in &dates[start..] {
            let at = d - 2 * DAY;
            let mut push = |event: &str, extra: &str, k: i64| {
                let _ = writeln!(
                    events,
                    r#"{{"event":"{event}","distinct_id":"u{i}","timestamp":"{}","properties":{{"$groups":{{"company":"{key}"}}{extra}}}}}"#,
                    rfc(at + k * 60)
                );
            };
            for k in 0..3 {
                push("report_exported", "", k);
            }
            if billing {
                push("checkout_started", "", 10);
            }
            if pricing {
                for k in 0..2 {
                    push(
                        "$pageview",
                        r#","$current_url":"https://app.example.com/pricing""#,
                        20 + k,
                    );
                }
            }
            if support {
                for k in 0..3 {
                    push("support_ticket_created", "", 30 + k);
                }
            }
        }
        if won {
            let closed = dates[start] + after * DAY + 12 * 3600;
            let _ = writeln!(
                deals,
                "d{i},{key},Deal {i},pql,won,1000,{},,{},",
                rfc(dates[start]),
                rfc(closed)
            );
        }
    }
    std::fs::write(dir.join("events.jsonl"), events).expect("events file");
    std::fs::write(dir.join("deals.csv"), deals).expect("deals file");
    std::fs::write(dir.join("config.toml"), CONFIG).expect("config");
    let events = dir.join("events.jsonl");
    let deals = dir.join("deals.csv");
    ok(dir, &["import", "events", events.to_str().expect("path")]);
    ok(dir, &["import", "deals", deals.to_str().expect("path")]);
}

fn coefficient<'a>(l: &'a Value, signal: &str) -> &'a Value {
    l["model"]["coefficients"]
        .as_array()
        .expect("coefficients")
        .iter()
        .find(|c| c["signal"] == signal)
        .expect("the signal's coefficient")
}

fn pair(v: &Value) -> (f64, f64) {
    (v[0].as_f64().expect("lo"), v[1].as_f64().expect("hi"))
}

#[test]
fn learn_finds_the_planted_weights_applies_them_and_rolls_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // One seeded workspace (the unit tests of src/learn repeat this over 20 seeds).
    planted(d, 900, 1);

    let l = json(d, &["--as-of", AS_OF, "--json", "learn"]);
    assert!(l["model"].is_object(), "{}", l["reason"]);
    let (b, p, s) = (
        coefficient(&l, "billing_intent"),
        coefficient(&l, "pricing_intent"),
        coefficient(&l, "support_engagement"),
    );
    let w = |c: &Value| c["coefficient"].as_f64().expect("a weight");
    assert!(w(b) > w(p) && w(p) > w(s), "{b} {p} {s}");
    let (lo, hi) = pair(&s["ci95"]);
    assert!(
        lo < 0.0 && 0.0 < hi,
        "the null signal's interval holds 0: {s}"
    );
    assert!(
        pair(&b["ci95"]).0 > 0.0 && pair(&p["ci95"]).0 > 0.0,
        "{b} {p}"
    );
    for key in [
        "auc",
        "pr_auc",
        "brier",
        "top_decile_lift",
        "calibration",
        "from",
        "to",
        "observations",
        "wins",
        "won_accounts",
    ] {
        assert!(l["test"].get(key).is_some(), "test.{key}");
    }
    assert!(l["train"]["won_accounts"].as_u64().expect("won") >= 30);
    assert_eq!(l["test"]["calibration"].as_array().map(Vec::len), Some(10));
    assert!(l["backtest"]["before"].is_object() && l["backtest"]["after"].is_object());
    let bases = &l["proposed_bases"];
    assert_eq!(
        bases["billing_intent"], 40,
        "the strongest keeps the top base"
    );
    assert!(bases["pricing_intent"].as_u64() > bases["support_engagement"].as_u64());
    assert_eq!(l["applied"], false);

    // Identical run to run.
    let again = json(d, &["--as-of", AS_OF, "--json", "learn"]);
    assert_eq!(l, again);

    // The backtest's evidence: intervals exclude 1 for the planted types, hold it for support.
    let bt = json(
        d,
        &[
            "--as-of",
            AS_OF,
            "--json",
            "backtest",
            "--range-days",
            "365",
        ],
    );
    let per = |name: &str| {
        bt["per_signal"]
            .as_array()
            .expect("per_signal")
            .iter()
            .find(|x| x["signal"] == name)
            .expect("the signal")
            .clone()
    };
    for name in ["billing_intent", "pricing_intent"] {
        let e = per(name);
        assert!(pair(&e["lift_ci95"]).0 > 1.0, "{e}");
        assert!(
            e["p_value"].as_f64() < Some(0.05) && e["q_value"].as_f64().is_some(),
            "{e}"
        );
    }
    let e = per("support_engagement");
    let (lo, hi) = pair(&e["lift_ci95"]);
    assert!(lo <= 1.0 && 1.0 <= hi, "{e}");
    let never = per("team_growth");
    assert!(never["lift"].is_null() && never["p_value"].is_null());
    assert!(
        never["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("not enough data"))
    );
    let table = ok(d, &["--as-of", AS_OF, "backtest", "--range-days", "365"]);
    assert!(
        table.contains("lift [95 % CI]") && table.contains("not enough data"),
        "{table}"
    );

    // --apply writes the bases, keeps the comments, records the model; explain uses it.
    let applied = json(d, &["--as-of", AS_OF, "--json", "learn", "--apply"]);
    assert_eq!(applied["applied"], true);
    let after = std::fs::read_to_string(d.join("config.toml")).expect("config");
    assert!(after.contains("# planted test settings: keep this comment"));
    assert!(after.contains("# a short horizon gives more observation dates"));
    let cfg: toml::Value = toml::from_str(&after).expect("TOML");
    assert_eq!(
        cfg["signals"]["pricing_intent"]["base"].as_integer(),
        bases["pricing_intent"].as_i64()
    );
    ok(d, &["--as-of", AS_OF, "--run-daily"]);
    let queue = json(d, &["--json", "scores"]);
    let top = queue["accounts"][0]["account"]
        .as_str()
        .expect("an account")
        .to_string();
    let ex = json(d, &["--as-of", AS_OF, "--json", "explain", &top]);
    let chance = &ex["learned"];
    let p_win = chance["win_probability"].as_f64().expect("a probability");
    assert!(p_win > 0.0 && p_win < 1.0, "{chance}");
    let sum: f64 = chance["intercept"].as_f64().expect("intercept")
        + chance["contributions"]
            .as_array()
            .expect("contributions")
            .iter()
            .map(|c| c["log_odds"].as_f64().expect("log-odds"))
            .sum::<f64>();
    assert!((1.0 / (1.0 + (-sum).exp()) - p_win).abs() < 1e-12);
    let text = ok(d, &["--as-of", AS_OF, "explain", &top]);
    assert!(text.contains("win probability within 28 days"), "{text}");

    // --rollback puts the file back as it was and retires the model.
    ok(d, &["learn", "--rollback"]);
    let rolled = std::fs::read_to_string(d.join("config.toml")).expect("config");
    let base_lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("base"))
            .map(String::from)
            .collect()
    };
    let written: Vec<String> = base_lines(&rolled);
    assert_eq!(written.len(), 8, "{rolled}");
    assert!(rolled.starts_with(CONFIG), "{rolled}");
    let restored: toml::Value = toml::from_str(&rolled).expect("TOML");
    assert_eq!(
        restored["signals"]["billing_intent"]["base"].as_integer(),
        Some(40)
    );
    assert_eq!(
        restored["signals"]["pricing_intent"]["base"].as_integer(),
        Some(30)
    );
    let ex = json(d, &["--as-of", AS_OF, "--json", "explain", &top]);
    assert!(
        ex.get("learned").is_none(),
        "no model in force after the rollback"
    );
    let out = beton(d, &["learn", "--rollback"]);
    assert!(!out.status.success(), "nothing left to roll back");
}

#[test]
fn learn_refuses_below_30_training_wins_with_a_reason_and_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    planted(d, 120, 3);
    let l = json(d, &["--as-of", AS_OF, "--json", "learn", "--apply"]);
    assert!(l["model"].is_null(), "{l}");
    assert!(
        l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("30 needed")),
        "{l}"
    );
    assert!(l["train"]["won_accounts"].as_u64() < Some(30));
    assert_eq!(l["applied"], false);
    assert_eq!(
        std::fs::read_to_string(d.join("config.toml")).expect("config"),
        CONFIG
    );
    let text = ok(d, &["--as-of", AS_OF, "learn"]);
    assert!(text.contains("model: none — not enough data"), "{text}");
}

/// How many replays the runs so far read back from the replay cache (their log lines).
fn cache_reads(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("data").join("beton.log"))
        .unwrap_or_default()
        .matches("read from the replay cache")
        .count()
}

#[test]
fn learn_after_a_backtest_over_the_same_dates_reads_its_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    planted(d, 300, 5);
    // The cache off: the replay is computed, and nothing is kept or read.
    let off = |args: &[&str]| {
        let out = beton_with(d, args, &[("BETON_REPLAY_CACHE", "off")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON")
    };
    let cold = off(&["--as-of", AS_OF, "--json", "learn"]);
    assert_eq!(cache_reads(d), 0);

    // learn.range_days is 365: the backtest over the same dates keeps the replay learn reads.
    let b = json(
        d,
        &[
            "--as-of",
            AS_OF,
            "--json",
            "backtest",
            "--range-days",
            "365",
        ],
    );
    assert_eq!(b["replay_dates"], 53);
    assert_eq!(cache_reads(d), 0);
    let warm = json(d, &["--as-of", AS_OF, "--json", "learn"]);
    assert_eq!(cache_reads(d), 1, "learn read the backtest's replay");
    assert_eq!(warm, cold, "the same answer as the replay computed afresh");

    // The default backtest (180 days) replays other dates: nothing read.
    json(d, &["--as-of", AS_OF, "--json", "backtest"]);
    assert_eq!(cache_reads(d), 1);
    // An import retires every kept replay: learn replays again, and sees the new data.
    let events = d.join("late.jsonl");
    std::fs::write(
        &events,
        format!(
            "{{\"event\":\"$pageview\",\"distinct_id\":\"late-1\",\"timestamp\":\"{}\",\"properties\":{{\"$current_url\":\"/pricing\",\"$groups\":{{\"company\":\"late.example\"}}}}}}\n",
            rfc(chrono::DateTime::parse_from_rfc3339(AS_OF).expect("T").timestamp() - 30 * DAY)
        ),
    )
    .expect("write");
    ok(
        d,
        &["import", "events", events.to_str().expect("utf-8 path")],
    );
    let after = json(d, &["--as-of", AS_OF, "--json", "learn"]);
    assert_eq!(cache_reads(d), 1, "nothing stale was read");
    assert_eq!(after, off(&["--as-of", AS_OF, "--json", "learn"]));
}
