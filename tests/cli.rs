//! The real binary, end to end, in a temporary data dir: demo, run-daily JSON, exit codes,
//! stdin import, explain, scores, the run lock and config errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const AS_OF: &str = "2026-06-01T09:30:00Z";

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Settings named explicitly must exist: start from the template, as `beton init` writes it.
        std::fs::write(dir.path().join("config.toml"), beton::config::TEMPLATE).unwrap();
        Self { dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_beton"));
        c.args(args)
            .env("BETON_DATA", self.dir.path().join("data"))
            .env("BETON_CONFIG", self.dir.path().join("config.toml"))
            .env_remove("BETON_LOG")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
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

    fn demo(&self) {
        let out = self.run(&[
            "demo",
            "--accounts",
            "120",
            "--days",
            "100",
            "--as-of",
            AS_OF,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_daily_json_has_the_spec_fields_and_is_stable() {
    let w = Workspace::new();
    w.demo();
    let first = w.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    for key in [
        "as_of",
        "accounts_scored",
        "hot",
        "warm",
        "cool",
        "routed",
        "accounts",
    ] {
        assert!(first.get(key).is_some(), "missing {key}: {first}");
    }
    assert_eq!(first["as_of"], "2026-06-01T09:30:00Z");
    assert_eq!(first["accounts_scored"], 120);
    let accounts = first["accounts"].as_array().unwrap();
    assert!(!accounts.is_empty());
    for a in accounts {
        let tier = a["tier"].as_str().unwrap();
        assert!(["hot", "warm", "cool"].contains(&tier));
        assert!(a["score"].as_u64().unwrap() <= 100);
        assert!(!a["signals"].as_array().unwrap().is_empty());
    }
    let hot = accounts.iter().filter(|a| a["tier"] == "hot").count() as u64;
    assert_eq!(first["hot"].as_u64(), Some(hot));
    let second = w.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    assert_eq!(first["accounts"], second["accounts"]);
    assert!(first["emitted"].as_u64().unwrap() > 0);
    assert_eq!(
        second["emitted"], 0,
        "the cooldown holds back what the first run emitted"
    );
    // Seven days later the same types may be emitted again.
    let later = w.json(&["--run-daily", "--as-of", "2026-06-08T09:30:00Z", "--json"]);
    assert!(later["emitted"].as_u64().unwrap() > 0);

    // `scores` lists the latest run; `explain` shows the parts of one account's score.
    let scores = w.json(&["scores", "--format", "json"]);
    assert_eq!(scores["as_of"], "2026-06-08T09:30:00Z");
    let top = accounts[0]["account"].as_str().unwrap();
    let out = w.run(&["explain", top, "--as-of", AS_OF]);
    let s = text(&out.stdout);
    assert!(
        out.status.success() && s.contains(&format!("score {}", accounts[0]["score"])),
        "{s}"
    );
    assert!(s.contains("bonus 5 ×"), "{s}");
    let csv = w.run(&["scores", "--tier", "hot", "--format", "csv"]);
    let csv = text(&csv.stdout);
    assert!(csv.starts_with("account,score,tier,routed,signals"));
    assert!(csv.lines().skip(1).all(|l| l.contains(",hot,")), "{csv}");
}

#[test]
fn run_daily_on_an_empty_workspace_says_how_to_get_data() {
    let w = Workspace::new();
    let out = w.run(&["--run-daily"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for way in ["beton import", "beton connect posthog", "beton demo"] {
        assert!(err.contains(way), "{err}");
    }
}

#[test]
fn import_from_stdin_reports_bad_lines_and_exits_2() {
    let w = Workspace::new();
    let mut child = w
        .cmd(&["import", "events", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"event\":\"x\",\"distinct_id\":\"u\",\"timestamp\":\"2026-05-01T00:00:00Z\",\"properties\":{\"$groups\":{\"company\":\"a.com\"}}}\n{oops\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 imported"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("<stdin>:2: bad JSON"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_second_writer_waits_then_gives_up_clearly() {
    let w = Workspace::new();
    w.demo();
    let _held =
        beton::store::RunLock::acquire(&w.dir.path().join("data"), std::time::Duration::ZERO)
            .unwrap();
    let out = w.run(&["--run-daily", "--as-of", AS_OF]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("another beton run is using this workspace"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn config_errors_name_the_file_line_and_key() {
    let w = Workspace::new();
    let path = w.dir.path().join("config.toml");
    std::fs::remove_file(&path).unwrap();
    assert!(w.run(&["init"]).status.success());
    let template = std::fs::read_to_string(&path).unwrap();
    assert_eq!(template, beton::config::TEMPLATE);
    assert_eq!(
        w.run(&["init"]).status.code(),
        Some(1),
        "init does not overwrite without --force"
    );
    std::fs::write(&path, "route_threshold = 60\nroute_treshold = 65\n").unwrap();
    let out = w.run(&["--run-daily"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("config.toml") && err.contains("line 2") && err.contains("route_treshold"),
        "{err}"
    );
}

#[test]
fn demo_replaces_an_untouched_demo_but_refuses_data_without_force() {
    let w = Workspace::new();
    w.demo();
    // A DEMO workspace nothing was imported into is replaced as asked (the README's
    // `beton demo --days 400` after the first run's demo).
    let out = w.run(&["demo", "--accounts", "7", "--days", "10", "--as-of", AS_OF]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = w.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    assert_eq!(r["accounts_scored"], 7);
    // Data of the user's own on top: refused without --force, and nothing is replaced.
    let file = w.dir.path().join("mine.jsonl");
    std::fs::write(
        &file,
        r#"{"uuid":"u-1","event":"$pageview","distinct_id":"me","timestamp":"2026-05-20T10:00:00Z","properties":{"$groups":{"company":"mine.io"}}}"#,
    )
    .unwrap();
    let out = w.run(&["import", "events", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = w.run(&["demo", "--accounts", "5", "--days", "10"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    let r = w.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    assert_eq!(
        r["accounts_scored"], 8,
        "the demo's 7 and mine.io: nothing was replaced"
    );
    let out = w.run(&[
        "demo",
        "--accounts",
        "5",
        "--days",
        "10",
        "--force",
        "--as-of",
        AS_OF,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = w.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    assert_eq!(r["accounts_scored"], 5);
}

#[test]
fn demo_files_import_to_the_same_answer() {
    let w = Workspace::new();
    w.demo();
    let direct = w.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    let other = Workspace::new();
    let files = other.dir.path().join("files");
    let out = other.run(&[
        "demo",
        "--accounts",
        "120",
        "--days",
        "100",
        "--as-of",
        AS_OF,
        "--out",
        files.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (kind, file) in [
        ("accounts", "accounts.jsonl"),
        ("events", "events.jsonl"),
        ("deals", "deals.csv"),
    ] {
        let out = other.run(&["import", kind, files.join(file).to_str().unwrap()]);
        assert!(out.status.success(), "{kind}: {}", text(&out.stderr));
    }
    let imported = other.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    assert_eq!(direct["accounts"], imported["accounts"]);
}

// ---- cron-safe command line ----

#[test]
fn an_explicit_config_that_does_not_exist_is_an_error() {
    let w = Workspace::new();
    w.demo();
    let missing = w.dir.path().join("typo.toml");
    let missing = missing.to_str().unwrap();
    let out = w.run(&["--run-daily", "--config", missing, "--as-of", AS_OF]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("--config") && err.contains("typo.toml") && err.contains("no such file"),
        "{err}"
    );
    let out = w
        .cmd(&["scores"])
        .env("BETON_CONFIG", w.dir.path().join("gone.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("BETON_CONFIG") && text(&out.stderr).contains("gone.toml"),
        "{}",
        text(&out.stderr)
    );
    // `init` creates it; then the same command runs.
    assert!(w.run(&["init", "--config", missing]).status.success());
    let out = w.run(&["--run-daily", "--config", missing, "--as-of", AS_OF]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn as_of_is_checked_by_every_command_and_out_of_range_warns() {
    let w = Workspace::new();
    w.demo();
    for args in [
        &["--run-daily"][..],
        &["scores"],
        &["explain", "acme.com"],
        &["health"],
        &["sources"],
        &["backtest"],
        &["explain-signal", "pricing_intent"],
        &["init", "--force"],
        &["demo", "--out", "x"],
        &["hogql", "--dump"],
    ] {
        let mut a = args.to_vec();
        a.extend(["--as-of", "2026-13-45"]);
        let out = w.run(&a);
        assert_eq!(out.status.code(), Some(1), "{a:?}");
        assert!(
            text(&out.stderr).contains("--as-of \"2026-13-45\""),
            "{a:?}: {}",
            text(&out.stderr)
        );
    }
    let out = w.run(&["--run-daily", "--as-of", "2020-01-01"]);
    assert!(
        text(&out.stderr)
            .contains("warning: --as-of 2020-01-01 is before the workspace's first event"),
        "{}",
        text(&out.stderr)
    );
    let out = w.run(&["health", "--as-of", "2027-06-01"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("days after the workspace's last event"),
        "{}",
        text(&out.stderr)
    );
    let out = w.run(&["health", "--as-of", AS_OF]);
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_failed_run_daily_json_still_prints_one_json_object() {
    let w = Workspace::new();
    let check = |out: &Output, as_of: Option<&str>, why: &str| {
        assert_eq!(out.status.code(), Some(1));
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
        assert!(v["error"].as_str().is_some_and(|e| e.contains(why)), "{v}");
        assert_eq!(v["as_of"].as_str(), as_of, "{v}");
        assert_eq!(v["steps"], serde_json::json!([]), "{v}");
    };
    // Nothing to run on.
    let out = w.run(&["--run-daily", "--json", "--as-of", AS_OF]);
    check(&out, Some("2026-06-01T09:30:00Z"), "no data yet");
    // A T that does not parse.
    let out = w.run(&["--run-daily", "--json", "--as-of", "yesterday"]);
    check(&out, None, "--as-of");
    // A settings file that is not there.
    let out = w.run(&[
        "--run-daily",
        "--json",
        "--as-of",
        AS_OF,
        "--config",
        "/nonexistent/beton.toml",
    ]);
    check(&out, Some("2026-06-01T09:30:00Z"), "no such file");
}

#[test]
fn run_daily_json_counts_accounts_per_enabled_signal_type() {
    let w = Workspace::new();
    w.demo();
    let cfg = w.dir.path().join("config.toml");
    let text_ = std::fs::read_to_string(&cfg).unwrap().replace(
        "[signals.support_engagement]\nenabled = true",
        "[signals.support_engagement]\nenabled = false",
    );
    std::fs::write(&cfg, text_).unwrap();
    let r = w.json(&["--run-daily", "--as-of", AS_OF, "--json"]);
    let by = r["signals_by_type"].as_object().unwrap();
    let names: Vec<&str> = by.keys().map(String::as_str).collect();
    assert!(
        !names.contains(&"support_engagement"),
        "a disabled type is left out: {names:?}"
    );
    assert_eq!(by.len(), 7, "every enabled type, 0 included: {names:?}");
    let accounts = r["accounts"].as_array().unwrap();
    for (t, n) in by {
        let want = accounts
            .iter()
            .filter(|a| a["signals"].as_array().unwrap().iter().any(|s| s == t))
            .count();
        assert_eq!(n.as_u64(), Some(want as u64), "{t}");
    }
    assert!(by.values().any(|n| n.as_u64() > Some(0)));
}

#[test]
fn completions_and_the_man_page() {
    let w = Workspace::new();
    for (shell, mark) in [
        ("bash", "complete"),
        ("zsh", "#compdef beton"),
        ("fish", "complete -c beton"),
    ] {
        let out = w.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let s = text(&out.stdout);
        assert!(
            s.contains(mark) && s.contains("backtest") && s.contains("--as-of"),
            "{shell}: {s}"
        );
    }
    let out = w.run(&["completions", "powershell"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects an unknown shell");
    let out = w.run(&["man"]);
    let s = text(&out.stdout);
    assert!(
        out.status.success() && s.contains(".TH beton") && s.contains("run\\-daily"),
        "{s}"
    );
}

#[test]
fn format_table_json_csv_on_health_sources_backtest_scores() {
    let w = Workspace::new();
    w.demo();
    assert!(w.run(&["--run-daily", "--as-of", AS_OF]).status.success());
    for cmd in ["health", "sources", "backtest", "scores"] {
        let j = w.json(&[cmd, "--as-of", AS_OF, "--format", "json"]);
        let j2 = w.json(&[cmd, "--as-of", AS_OF, "--json"]);
        if cmd != "backtest" {
            assert_eq!(j, j2, "{cmd}: --format json is --json");
        }
        let out = w.run(&[cmd, "--as-of", AS_OF, "--format", "csv"]);
        assert!(out.status.success(), "{cmd}: {}", text(&out.stderr));
        let csv = text(&out.stdout);
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert!(!rows.is_empty(), "{cmd}: {csv}");
        for row in &rows {
            assert_eq!(row.len(), header.len(), "{cmd}");
            for v in row {
                assert!(
                    !v.contains('%') && !v.contains('×') && !v.contains('–'),
                    "{cmd}: {v}"
                );
            }
        }
        let table = w.run(&[cmd, "--as-of", AS_OF]);
        assert!(text(&table.stdout) != csv, "{cmd}: the table is for people");
    }
    // Raw values: the pql win rate as a fraction, as in the JSON.
    let j = w.json(&["sources", "--as-of", AS_OF, "--json"]);
    let pql = j["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["lead_source"] == "pql")
        .unwrap();
    let out = text(
        &w.run(&["sources", "--as-of", AS_OF, "--format", "csv"])
            .stdout,
    );
    let line = out.lines().find(|l| l.starts_with("pql,")).unwrap();
    let win = pql["win_rate"].as_f64().unwrap();
    assert!(
        line.split(',').any(|c| c.parse::<f64>().ok() == Some(win)),
        "{line} vs {win}"
    );
}

#[test]
fn the_quarter_table_lines_up() {
    let w = Workspace::new();
    w.demo();
    let out = text(&w.run(&["sources", "--as-of", AS_OF]).stdout);
    let at = out
        .lines()
        .position(|l| l.contains("win rate by quarter"))
        .unwrap();
    let table: Vec<&str> = out
        .lines()
        .skip(at + 1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(table.len() >= 2, "{out}");
    let width = table[0].chars().count();
    assert!(
        table.iter().all(|l| l.chars().count() == width),
        "ragged:\n{}",
        table.join("\n")
    );
    assert!(
        table[0].contains("source") && table[0].contains("-Q"),
        "{}",
        table[0]
    );
}
