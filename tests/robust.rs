//! The real binary when things go wrong around it (issue 12): a server that echoes the key, a
//! read-only or full disk, a data dir that is a file, a config that is not UTF-8, a reader while
//! a first import runs, a BOM on standard input.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const AS_OF: &str = "2026-11-18";

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

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_beton"));
        c.args(args)
            .env("BETON_DATA", self.data())
            .env("BETON_CONFIG", self.config())
            .env_remove("BETON_LOG")
            .env_remove("ATTIO_API_KEY")
            .env_remove("POSTHOG_API_KEY")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// The demo generator's files imported as the user's own data (a DEMO workspace is never
    /// sent to Attio), then a run.
    fn with_data(&self) {
        let export = self.dir.path().join("export");
        let export = export.to_str().unwrap();
        let o = self.run(
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
        assert!(o.status.success(), "{}", all(&o));
        for (kind, file) in [("accounts", "accounts.jsonl"), ("events", "events.jsonl")] {
            let o = self.run(&["import", kind, &format!("{export}/{file}")], &[]);
            assert!(o.status.success(), "{}", all(&o));
        }
    }
}

fn all(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A server on 127.0.0.1 that answers every request with `status` and a JSON body quoting the
/// whole request back, headers (the bearer key) included, in the fields PostHog and Attio put
/// their error text in. It stops when dropped.
struct Echo {
    url: String,
    stop: Arc<AtomicBool>,
}

impl Echo {
    fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then as much body as Content-Length says.
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let echoed = String::from_utf8_lossy(&req).to_string();
                let body = serde_json::json!({
                    "code": "echo", "message": echoed, "detail": echoed, "type": "echo",
                })
                .to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} Echo\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, stop }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Every file under `dir`, read as bytes, that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if std::fs::read(&p)
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            hits.push(p);
        }
    }
    hits
}

const CANARY_ATTIO: &str = "attio_canary_7f3a9c2e5b1d4f60";
const CANARY_POSTHOG: &str = "phx_canary_0d9e8f7a6b5c4d3e2f1a";

#[test]
fn a_server_that_echoes_the_key_never_gets_it_into_stderr_the_log_or_the_workspace() {
    let w = Workspace::new();
    w.with_data();
    // Attio: `connect attio` relays the error; a whole run stores it in its report.
    let attio = Echo::start(400);
    let o = w.run(
        &["connect", "attio", "--base-url", &attio.url],
        &[("ATTIO_API_KEY", CANARY_ATTIO)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("<redacted>"),
        "the echo is relayed: {}",
        all(&o)
    );
    assert!(!all(&o).contains(CANARY_ATTIO), "{}", all(&o));
    let failing = Echo::start(503);
    std::fs::write(
        w.config(),
        format!(
            "[attio]\nbase_url = \"{}\"\nworkspace = \"echo\"\ncreate_missing_companies = true\ntries = 2\n",
            failing.url
        ),
    )
    .unwrap();
    let o = w.run(
        &["--run-daily", "--as-of", AS_OF],
        &[("ATTIO_API_KEY", CANARY_ATTIO), ("BETON_LOG", "info")],
    );
    assert!(
        all(&o).contains("<redacted>"),
        "the echo is relayed: {}",
        all(&o)
    );
    assert!(!all(&o).contains(CANARY_ATTIO), "{}", all(&o));
    // PostHog: `connect posthog` against a host that echoes.
    let posthog = Echo::start(403);
    let o = w.run(
        &["connect", "posthog", "--host", &posthog.url],
        &[("POSTHOG_API_KEY", CANARY_POSTHOG), ("BETON_LOG", "info")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("<redacted>"),
        "the echo is relayed: {}",
        all(&o)
    );
    assert!(!all(&o).contains(CANARY_POSTHOG), "{}", all(&o));
    // Nothing of either key in any file: beton.log, workspace.sqlite and its WAL.
    assert!(w.data().join("beton.log").exists());
    for canary in [CANARY_ATTIO, CANARY_POSTHOG] {
        let hits = files_containing(&w.data(), canary);
        assert!(hits.is_empty(), "{canary} in {hits:?}");
        let hits = files_containing(w.dir.path(), canary);
        assert!(hits.is_empty(), "{canary} in {hits:?}");
    }
}

#[test]
fn connect_posthog_refuses_plain_http_to_another_host() {
    let w = Workspace::new();
    let o = w.run(
        &["connect", "posthog", "--host", "http://ph.example.com"],
        &[("POSTHOG_API_KEY", CANARY_POSTHOG)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("plain http://") && all(&o).contains("use https://"),
        "{}",
        all(&o)
    );
}

#[cfg(unix)]
#[test]
fn the_log_and_the_workspace_are_private_and_a_loose_credentials_file_warns() {
    use std::os::unix::fs::PermissionsExt;
    let w = Workspace::new();
    let o = w.run(
        &["demo", "--accounts", "20", "--days", "30", "--as-of", AS_OF],
        &[],
    );
    assert!(o.status.success(), "{}", all(&o));
    for f in ["beton.log", "workspace.sqlite", "beton.lock"] {
        let mode = std::fs::metadata(w.data().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}: {mode:o}");
    }
    let creds = w.dir.path().join("credentials.toml");
    std::fs::write(&creds, "[attio]\napi_key = \"k\"\n").unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = w.run(
        &["connect", "attio", "--base-url", "http://127.0.0.1:9"],
        &[],
    );
    assert!(
        all(&o).contains("credentials.toml holds secrets but others can access it (mode 644)")
            && all(&o).contains("chmod 600"),
        "{}",
        all(&o)
    );
}

#[test]
fn a_data_dir_that_is_a_file_is_named_as_such() {
    let w = Workspace::new();
    std::fs::write(w.data(), "not a directory").unwrap();
    let o = w.run(&["scores"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&w.data().display().to_string()) && err.contains("is a file, not a directory"),
        "{err}"
    );
}

#[test]
fn a_config_that_is_not_utf8_names_the_file_and_the_cause() {
    let w = Workspace::new();
    std::fs::write(w.config(), b"[attio]\nworkspace = \"caf\xE9\"\n").unwrap();
    let o = w.run(&["scores"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&w.config().display().to_string()) && err.contains("not UTF-8"),
        "{err}"
    );
}

/// As root, permission bits do not stop a write: a read-only data dir is then not testable this
/// way, and the test says so.
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(unix)]
#[test]
fn a_read_only_workspace_names_the_file_and_the_cause() {
    use std::os::unix::fs::PermissionsExt;
    let w = Workspace::new();
    let o = w.run(
        &["demo", "--accounts", "20", "--days", "30", "--as-of", AS_OF],
        &[],
    );
    assert!(o.status.success(), "{}", all(&o));
    if running_as_root() {
        // Root writes through permission bits; the message itself is checked with a file
        // size limit below, and the read-only words in the unit tests of the error type.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the read-only data dir check: running as root"
        );
        return;
    }
    let db = w.data().join("workspace.sqlite");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
    let o = w.run(&["--run-daily", "--as-of", AS_OF], &[]);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("read-only") || err.contains("permission denied"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_full_disk_during_an_import_names_the_cause_and_keeps_nothing() {
    let w = Workspace::new();
    let export = w.dir.path().join("export");
    let o = w.run(
        &[
            "demo",
            "--out",
            export.to_str().unwrap(),
            "--accounts",
            "60",
            "--days",
            "90",
            "--seed",
            "3",
            "--as-of",
            AS_OF,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", all(&o));
    let events = export.join("events.jsonl");
    // The shell ignores SIGXFSZ (inherited), so a write past `ulimit -f` (in 512-byte blocks)
    // fails with EFBIG like a full disk, instead of killing the process.
    let script = format!(
        "trap '' XFSZ; ulimit -f 2048; exec \"$0\" import events {}",
        events.display()
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_beton"))
        .env("BETON_DATA", w.data())
        .env("BETON_CONFIG", w.config())
        .env("BETON_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("workspace.sqlite")
            && (err.contains("disk is full") || err.contains("size limit")),
        "{err}"
    );
    let o = w.run(&["scores", "--json"], &[]);
    assert!(
        !all(&o).contains("\"account\""),
        "the failed import left nothing: {}",
        all(&o)
    );
}

#[test]
fn a_reader_during_a_first_import_waits_then_says_an_import_is_running() {
    let w = Workspace::new();
    // A first import from a pipe that stays open: it holds the workspace while it waits.
    let mut import = w
        .cmd(&["import", "events", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = import.stdin.take().unwrap();
    let line = "{\"uuid\":\"e1\",\"event\":\"$pageview\",\"distinct_id\":\"u\",\"timestamp\":\"2026-05-01T00:00:00Z\",\"properties\":{\"$groups\":{\"company\":\"a.com\"}}}\n";
    pipe.write_all(line.as_bytes()).unwrap();
    pipe.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let o = w.run(&["scores"], &[]);
    // The import goes on and commits once its input ends.
    let waited = started.elapsed();
    drop(pipe);
    let done = import.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        err.contains("an import is running") && !err.contains("database is locked"),
        "{err}"
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(30),
        "waits briefly first: {waited:?}"
    );
    assert!(done.status.success(), "{}", all(&done));
}

#[test]
fn a_byte_order_mark_on_standard_input_is_skipped() {
    let w = Workspace::new();
    let mut child = w
        .cmd(&["import", "events", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(b"\xEF\xBB\xBF{\"uuid\":\"e1\",\"event\":\"$pageview\",\"distinct_id\":\"u\",\"timestamp\":\"2026-05-01T00:00:00Z\",\"properties\":{\"$groups\":{\"company\":\"a.com\"}}}\n").unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(
        all(&out).contains("1 imported, 0 duplicates, 0 skipped"),
        "{}",
        all(&out)
    );
}

/// An account key that a terminal would act on: set the title, clear the screen, move the
/// cursor, reverse the text; and a formula for a spreadsheet.
const EVIL: &str = "=cmd|'/C calc'!A0\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[H\u{9b}31m\u{202e}moc.emca";

fn evil_events() -> String {
    let mut lines = String::new();
    for (i, day) in (1..=14).enumerate() {
        for (u, event, url) in [
            ("u1", "$pageview", "https://app.example.com/pricing"),
            ("u2", "$pageview", "https://app.example.com/pricing"),
            ("u3", "feature_used", ""),
        ] {
            lines.push_str(
                &serde_json::json!({
                    "uuid": format!("e-{i}-{u}"),
                    "event": event,
                    "distinct_id": format!("{u}\u{1b}[31m"),
                    "timestamp": format!("2026-11-{day:02}T10:00:00Z"),
                    "properties": {"$current_url": url, "feature": "rep\u{1b}[5morts", "$groups": {"company": EVIL}},
                })
                .to_string(),
            );
            lines.push('\n');
        }
    }
    lines
}

fn no_escapes(what: &str, o: &Output) {
    for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(|c: char| c != '\n' && (c.is_control() || c == '\u{202e}')),
            "{what}: {stream} carries control characters: {text:?}"
        );
    }
}

#[test]
fn an_account_key_with_escape_sequences_is_shown_never_acted_on() {
    let w = Workspace::new();
    let file = w.dir.path().join("events.jsonl");
    std::fs::write(&file, evil_events()).unwrap();
    let o = w.run(&["import", "events", file.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", all(&o));
    let as_of = &["--as-of", "2026-11-15"];
    for args in [
        vec!["--run-daily"],
        vec!["--run-daily", "--json"],
        vec!["scores"],
        vec!["scores", "--format", "csv"],
        vec!["scores", "--json"],
        vec!["health"],
        vec!["explain", EVIL],
        vec!["explain", "nobody\u{1b}[2J"],
    ] {
        let args: Vec<&str> = args.iter().copied().chain(as_of.iter().copied()).collect();
        let o = w.run(&args, &[]);
        no_escapes(&args.join(" "), &o);
        if args.contains(&"explain") && args[1].starts_with("nobody") {
            assert_eq!(o.status.code(), Some(1), "{}", all(&o));
            assert!(
                all(&o).contains("nobody\\u001b[2J"),
                "the error shows the key: {}",
                all(&o)
            );
            continue;
        }
        assert!(o.status.success(), "{args:?}: {}", all(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("\\u001b]0;pwned"),
            "{args:?} shows the key escaped: {out}"
        );
        if args.contains(&"csv") {
            let cell = out.lines().nth(1).unwrap();
            assert!(
                cell.starts_with("\"'=cmd") || cell.starts_with("'=cmd"),
                "{cell}"
            );
        }
        if args.contains(&"--json") {
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(v.to_string().contains("pwned"), "JSON still decodes: {v}");
        }
    }
}

/// Log records carry account keys and paths: neither the log file nor the warnings on stderr
/// let a terminal act on what tracing's own formatter does not escape (C1 controls such as CSI,
/// carriage returns, bidirectional overrides).
#[cfg(unix)]
#[test]
fn log_records_and_warnings_show_control_characters_as_escapes() {
    use std::os::unix::fs::PermissionsExt;
    let controls = |t: &str| t.contains(|c: char| c != '\n' && (c.is_control() || c == '\u{202e}'));
    let w = Workspace::new();
    let key = "nobody\r\u{9b}2J\u{202e}moc.emca\u{1b}]0;pwned\u{7}";
    let o = w.run(&["explain", key], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let log = std::fs::read_to_string(w.data().join("beton.log")).unwrap();
    assert!(log.contains("nobody"), "the fatal error is logged: {log}");
    assert!(
        !controls(&log),
        "beton.log carries control characters: {log:?}"
    );
    // A warning printed on stderr by the log layer: a loose credentials file whose path has them.
    let dir = w.dir.path().join("cfg\r\u{9b}2J\u{202e}x");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), beton::config::TEMPLATE).unwrap();
    let creds = dir.join("credentials.toml");
    std::fs::write(&creds, "[attio]\napi_key = \"k\"\n").unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.join("config.toml");
    let o = w.run(
        &["connect", "attio", "--base-url", "http://127.0.0.1:9"],
        &[("BETON_CONFIG", config.to_str().unwrap())],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("holds secrets"),
        "the warning is printed: {err}"
    );
    assert!(
        err.contains("cfg\\u000d") && err.contains("2J\\u202ex"),
        "the path is shown escaped: {err}"
    );
    assert!(
        !controls(&err),
        "stderr carries control characters: {err:?}"
    );
}

#[test]
fn every_out_of_range_setting_is_refused_at_load_naming_the_key_and_the_range() {
    for (toml, key, range) in [
        (
            "cooldown_days = 100000",
            "cooldown_days",
            "between 0 and 3650",
        ),
        (
            "[backtest]\nrange_days = 0",
            "backtest.range_days",
            "between 1 and 3650",
        ),
        (
            "[backtest]\nrange_days = 4294967295",
            "backtest.range_days",
            "between 1 and 3650",
        ),
        ("[score]\ncap = 0", "score.cap", "between 1 and 100"),
        (
            "[score]\nbonus_per_type = 500",
            "score.bonus_per_type",
            "between 0 and 100",
        ),
        (
            "[signals.pricing_intent]\nbase = 4000000000",
            "signals.pricing_intent.base",
            "between 0 and 100",
        ),
        (
            "[signals.pricing_intent]\nmin_count = 0",
            "signals.pricing_intent.min_count",
            "between 1 and",
        ),
        (
            "[signals.support_engagement]\nmin_count = 0",
            "signals.support_engagement.min_count",
            "between 1 and",
        ),
        (
            "[signals.billing_intent]\nmin_count = 0",
            "signals.billing_intent.min_count",
            "between 1 and",
        ),
        (
            "[signals.team_growth]\nlookback_days = 0",
            "signals.team_growth.lookback_days",
            "between 1 and 3650",
        ),
        (
            "[signals.feature_adoption]\nlookback_days = 0",
            "signals.feature_adoption.lookback_days",
            "between 1 and 3650",
        ),
        (
            "[signals.feature_adoption]\nmin_new_features = 0",
            "signals.feature_adoption.min_new_features",
            "between 1 and",
        ),
        (
            "[signals.team_growth]\nmin_new_users = 0",
            "signals.team_growth.min_new_users",
            "between 1 and",
        ),
        (
            "[signals.usage_spike]\nmin_growth = 1e300",
            "signals.usage_spike.min_growth",
            "at most 1000",
        ),
        (
            "[signals.usage_spike]\nwindow_days = 0",
            "signals.usage_spike.window_days",
            "between 1 and 3650",
        ),
        (
            "[posthog]\nproperty_history_days = 0",
            "posthog.property_history_days",
            "between 1 and 3650",
        ),
        (
            "[posthog]\nquery_timeout_seconds = 0",
            "posthog.query_timeout_seconds",
            "between 1 and 3600",
        ),
        (
            "[posthog]\ndeals_table = \"deals; DROP TABLE x\"",
            "posthog.deals_table",
            "table name",
        ),
        (
            "[posthog]\ndeals_table = \"attio_deals) OR (1=1\"",
            "posthog.deals_table",
            "table name",
        ),
        (
            "[posthog]\nattio_table = \"attio_deals; DROP VIEW beton_deals\"",
            "posthog.attio_table",
            "table name",
        ),
    ] {
        let err = beton::config::Config::parse(toml, "config.toml")
            .map(|_| ())
            .expect_err(toml)
            .to_string();
        assert!(
            err.contains("config.toml") && err.contains(&format!("`{key}`")) && err.contains(range),
            "{toml}: {err}"
        );
    }
    // The defaults and the edges of each range load.
    for toml in [
        "",
        "cooldown_days = 0",
        "[backtest]\nrange_days = 3650",
        "[posthog]\ndeals_table = \"warehouse.attio_deals\"",
    ] {
        beton::config::Config::parse(toml, "config.toml").unwrap();
    }
}

/// The same check from the command line: a table name that would reach HogQL text is refused
/// when the settings load, by every command, before anything is read or sent.
#[test]
fn a_command_refuses_a_table_name_that_would_reach_hogql() {
    let w = Workspace::new();
    for (line, key) in [
        ("attio_table = \"x') OR 1=1 --\"", "posthog.attio_table"),
        ("deals_table = \"d; DROP TABLE x\"", "posthog.deals_table"),
    ] {
        std::fs::write(
            w.config(),
            format!("{}\n[posthog]\n{line}\n", beton::config::TEMPLATE),
        )
        .unwrap();
        for args in [vec!["scores"], vec!["doctor"], vec!["--run-daily"]] {
            let o = w.run(&args, &[]);
            assert_ne!(o.status.code(), Some(0), "{args:?}: {}", all(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(&format!("`{key}`")) && err.contains("config.toml"),
                "{args:?} names the key and the file: {err}"
            );
        }
    }
}

#[test]
fn a_kill_right_after_the_ledger_commit_leaves_the_capture_events_queued() {
    let w = Workspace::new();
    w.with_data();
    let dead = Echo::start(503);
    std::fs::write(
        w.config(),
        format!(
            "[posthog]\nhost = \"{0}\"\ncapture_host = \"{0}\"\nproject_id = 1\nproject_api_key = \"phc_public\"\nprovision_on_run = false\n",
            dead.url
        ),
    )
    .unwrap();
    let o = w.run(
        &["--run-daily", "--as-of", AS_OF],
        &[
            ("POSTHOG_API_KEY", CANARY_POSTHOG),
            ("BETON_TEST_CRASH_AFTER_RECORD", "1"),
        ],
    );
    assert_eq!(o.status.code(), Some(137), "{}", all(&o));
    let db = rusqlite::Connection::open(w.data().join("workspace.sqlite")).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let emitted = count("SELECT count(*) FROM emissions");
    assert!(emitted > 0, "the run emitted signals");
    assert_eq!(
        count("SELECT count(*) FROM capture_outbox WHERE sent_at IS NULL"),
        emitted,
        "every emission spent by the ledger has its capture event queued"
    );
}

#[test]
fn backtest_takes_the_workspace_lock_before_it_saves() {
    let w = Workspace::new();
    let o = w.run(
        &[
            "demo",
            "--accounts",
            "60",
            "--days",
            "200",
            "--as-of",
            AS_OF,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", all(&o));
    let held = beton::store::RunLock::acquire(&w.data(), Duration::ZERO).unwrap();
    let started = Instant::now();
    let o = w.run(&["backtest", "--as-of", AS_OF], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("another beton run is using this workspace"),
        "{}",
        all(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(held);
    let o = w.run(&["backtest", "--as-of", AS_OF], &[]);
    assert!(o.status.success(), "{}", all(&o));
}
