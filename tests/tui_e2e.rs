//! The terminal app end to end: the real binary in a pseudo-terminal (a private tmux server),
//! driven by keys, read back as screen text. Skips with a reason when tmux is not installed.

mod fake_attio;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_attio::{Fake, KEY};

struct Tmux {
    socket: String,
    session: &'static str,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Starts `script` in a 120×40 terminal on a private tmux server.
    fn start(name: &str, script: &str, width: u16, height: u16) -> Self {
        let t = Tmux {
            socket: format!("beton-{name}-{}", std::process::id()),
            session: "app",
        };
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                t.session,
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(script)
            .status()
            .expect("tmux runs");
        assert!(ok.success(), "tmux new-session failed");
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", self.session])
    }

    /// Sends keys one at a time, pausing so that Esc followed by a key is not read as Alt-key.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", self.session, k]);
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until the screen shows every needle; panics with the screen after `secs`.
    fn wait_for(&self, needles: &[&str], secs: u64) -> String {
        self.wait_until(&format!("{needles:?}"), secs, |s| {
            needles.iter().all(|n| s.contains(n))
        })
    }

    fn wait_until(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "waited {secs} s for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Runs beton, then records its exit code and the terminal's modes once it has quit.
fn script(dir: &Path, extra: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_beton");
    let d = dir.display();
    format!(
        "sh -c '{bin} --data-dir {d} --config {d}/config.toml {extra} 2>{d}/stderr.txt; echo $? > {d}/exit.txt; \
         stty -a > {d}/stty.txt; sleep 120'"
    )
}

fn wait_file(p: &PathBuf, secs: u64) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(p)
            && !s.is_empty()
        {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{} never appeared",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The terminal is back to normal: main screen, cooked mode with echo, no mouse reporting.
fn assert_restored(t: &Tmux, dir: &Path) {
    let flags = t.tmux(&[
        "display-message",
        "-p",
        "-t",
        t.session,
        "#{alternate_on} #{mouse_any_flag} #{cursor_flag}",
    ]);
    assert_eq!(
        flags.trim(),
        "0 0 1",
        "alternate screen, mouse reporting, cursor shown"
    );
    let stty = wait_file(&dir.join("stty.txt"), 10);
    assert!(
        stty.contains(" icanon") && stty.contains(" echo"),
        "cooked mode with echo after quitting: {stty}"
    );
    assert!(
        !t.screen().contains("Hot queue"),
        "the app's screen is gone:\n{}",
        t.screen()
    );
}

#[test]
fn opens_on_a_fresh_workspace_tunes_reruns_and_quits_cleanly() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed, and this test drives the app through it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start("e2e", &script(dir.path(), ""), 120, 40);

    // First start: the demo workspace is created (and said so), then the hot queue shows.
    let s = t.wait_for(&["DEMO data", "Hot queue ·", "in queue"], 300);
    assert!(
        s.contains("tier") && s.contains("score") && s.contains("top evidence"),
        "{s}"
    );
    // The figures load after the queue; the job's gauge goes away when they are in.
    let s = t.wait_until("the startup job to finish", 300, |s| {
        !s.contains("loading:") && s.contains("in queue")
    });
    assert!(
        s.contains("created a DEMO workspace"),
        "the first start says it made demo data:\n{s}"
    );

    t.keys(&["2"]);
    t.wait_for(&["Health ·", "growth leaders", "feature adoption"], 10);
    t.keys(&["3"]);
    t.wait_for(&["Sources ·", "win rate by source"], 10);
    t.keys(&["4"]);
    let before = t.wait_for(&["Backtest ·", "threshold 60", "conversion by score"], 10);
    assert!(
        before.contains("usage_spike") && before.contains("precision"),
        "{before}"
    );

    // Tune: route_threshold is the first setting; type 45, keep it, save.
    t.keys(&["t"]);
    t.wait_for(&["Tune:", "route_threshold"], 10);
    t.keys(&["Enter", "BSpace", "BSpace", "4", "5"]);
    t.wait_for(&["valid"], 10);
    t.keys(&["Enter", "w"]);
    t.wait_for(
        &[
            "Apply the draft to",
            "route_threshold 60 → 45",
            "next daily run",
        ],
        60,
    );
    t.keys(&["y"]);
    t.wait_for(&["applied to"], 10);
    let file = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(file.contains("route_threshold = 45\n"), "{file}");
    assert!(
        file.contains("# Score at or above which an account becomes a CRM candidate."),
        "comments kept"
    );
    t.wait_for(&["Backtest ·"], 10);

    // The real daily run: asked first, then detection and the backtest in the background; the
    // UI answers meanwhile.
    t.keys(&["D"]);
    t.wait_for(&["Run the real daily pipeline?"], 10);
    t.keys(&["y"]);
    t.wait_for(&["daily run:"], 10);
    t.keys(&["?"]);
    t.wait_for(&["Keys (? or Esc closes"], 10);
    t.keys(&["Escape"]);
    let after = t.wait_for(
        &[
            "daily run 2 finished",
            "threshold 45",
            "previous",
            "latest",
            "change",
        ],
        300,
    );
    assert!(after.contains("flagged"), "{after}");
    let flagged = after
        .lines()
        .find(|l| l.contains("│flagged"))
        .unwrap_or_default()
        .to_string();
    let nums: Vec<&str> = flagged
        .split_whitespace()
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert!(
        nums.len() >= 2 && nums[0] != nums[1],
        "flagged changes with the threshold: {flagged:?}"
    );

    t.keys(&["q"]);
    assert_eq!(wait_file(&dir.path().join("exit.txt"), 20).trim(), "0");
    assert_restored(&t, dir.path());
}

#[test]
fn a_panic_restores_the_terminal_and_reports() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed, and this test drives the app through it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        "panic",
        &script(dir.path(), "").replacen("sh -c '", "sh -c 'BETON_TEST_PANIC=1 ", 1),
        100,
        30,
    );
    let code = wait_file(&dir.path().join("exit.txt"), 120);
    assert_eq!(code.trim(), "101", "a panic exits with Rust's panic code");
    assert_restored(&t, dir.path());
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert!(
        stderr.contains("BETON_TEST_PANIC: a panic while the terminal app is up"),
        "color-eyre's report: {stderr}"
    );
}

#[test]
fn ctrl_c_and_a_small_terminal_leave_the_terminal_restored() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed, and this test drives the app through it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // A settings file named with --config must exist for the headless `demo`.
    std::fs::write(dir.path().join("config.toml"), beton::config::TEMPLATE).unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_beton"))
        .args([
            "--data-dir",
            &d,
            "--config",
            &format!("{d}/config.toml"),
            "demo",
            "--accounts",
            "40",
            "--days",
            "60",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let t = Tmux::start("ctrlc", &script(dir.path(), ""), 70, 20);
    t.wait_for(&["70×20", "80×24"], 60);
    t.tmux(&["resize-window", "-t", t.session, "-x", "100", "-y", "30"]);
    t.wait_for(&["Hot queue ·"], 120);
    t.keys(&["C-c"]);
    assert_eq!(wait_file(&dir.path().join("exit.txt"), 20).trim(), "0");
    assert_restored(&t, dir.path());
}

/// A workspace of real-looking (non-demo) data, connected to the fake Attio and set up, with one
/// daily run already made (which wrote to Attio).
fn attio_workspace(fake: &Fake, dir: &Path) {
    std::fs::write(dir.join("config.toml"), beton::config::TEMPLATE).unwrap();
    let bin = env!("CARGO_BIN_EXE_beton");
    let run = |args: &[&str]| {
        let o = Command::new(bin)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(args)
            .env("ATTIO_API_KEY", KEY)
            .env("BETON_LOG", "error")
            .output()
            .expect("beton runs");
        assert!(
            o.status.success(),
            "beton {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let export = dir.join("export");
    let export = export.to_str().unwrap();
    run(&[
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
    ]);
    for (kind, file) in [
        ("accounts", "accounts.jsonl"),
        ("events", "events.jsonl"),
        ("deals", "deals.csv"),
    ] {
        if Path::new(&format!("{export}/{file}")).exists() {
            run(&["import", kind, &format!("{export}/{file}")]);
        }
    }
    run(&["connect", "attio", "--base-url", &fake.url]);
    let config = dir.join("config.toml");
    let saved = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        saved.replace(
            "create_missing_companies = false",
            "create_missing_companies = true",
        ),
    )
    .unwrap();
    // The demo's owners are not members of the fake workspace: deals go to a default owner.
    run(&["attio", "setup", "--default-owner", "ae1@example.com"]);
    run(&["--run-daily", "--as-of", AS_OF]);
}

const AS_OF: &str = "2026-11-18";

fn latest_run(dir: &Path) -> (i64, i64) {
    let db = rusqlite::Connection::open(dir.join("data/workspace.sqlite")).unwrap();
    db.query_row(
        "SELECT max(id), count(*) FROM runs WHERE kind = 'daily'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The sandbox, end to end: with a fake Attio configured, tune route_threshold, re-run (a
/// what-if), quit: Attio saw no request, the config file is byte-identical, the latest run is
/// the one it was.
#[test]
fn tuning_and_rerunning_touch_neither_attio_nor_the_config_nor_the_latest_run() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed, and this test drives the app through it");
        return;
    }
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    attio_workspace(&fake, dir.path());
    let requests = fake.requests().len();
    assert!(
        !fake.deals().is_empty(),
        "the daily run before the app made deals: the fake is wired"
    );
    let config = std::fs::read(dir.path().join("config.toml")).unwrap();
    let before = latest_run(dir.path());

    let bin = env!("CARGO_BIN_EXE_beton");
    let d = dir.path().display();
    let script = format!(
        "sh -c 'ATTIO_API_KEY={KEY} {bin} --data-dir {d}/data --config {d}/config.toml --as-of {AS_OF} 2>{d}/stderr.txt; \
         echo $? > {d}/exit.txt; stty -a > {d}/stty.txt; sleep 120'"
    );
    let t = Tmux::start("sandbox", &script, 120, 40);
    t.wait_until("the app to load", 300, |s| {
        s.contains("Hot queue ·") && s.contains("in queue") && !s.contains("loading:")
    });
    t.keys(&["t"]);
    t.wait_for(&["Tune:", "route_threshold"], 10);
    t.keys(&["Enter", "BSpace", "BSpace", "3", "0"]);
    t.wait_for(&["valid"], 10);
    t.keys(&["Enter"]);
    t.wait_for(&["draft (not applied)"], 10);
    t.keys(&["r"]);
    let s = t.wait_for(&["what-if of the draft", "WHAT-IF"], 300);
    assert!(s.contains("nothing recorded or sent"), "{s}");
    t.keys(&["4"]);
    t.wait_for(&["file → draft: route_threshold 60 → 30"], 10);
    t.keys(&["q"]);
    assert_eq!(wait_file(&dir.path().join("exit.txt"), 20).trim(), "0");
    assert_restored(&t, dir.path());

    assert_eq!(
        fake.requests().len(),
        requests,
        "the app sent Attio requests: {:?}",
        &fake.requests()[requests..]
    );
    assert_eq!(
        std::fs::read(dir.path().join("config.toml")).unwrap(),
        config,
        "the config file changed"
    );
    assert_eq!(latest_run(dir.path()), before, "the latest run changed");
}
