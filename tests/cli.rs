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
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
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
    assert!(w.run(&["init"]).status.success());
    let path = w.dir.path().join("config.toml");
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
fn demo_refuses_to_overwrite_data_without_force() {
    let w = Workspace::new();
    w.demo();
    let out = w.run(&["demo", "--accounts", "5", "--days", "10"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--force"));
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
