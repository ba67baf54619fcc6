//! Update-logic tests (actions in, state out) and render snapshots (TestBackend + insta).

use std::path::PathBuf;
use std::sync::OnceLock;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use beton::config::{Config, Paths, TEMPLATE};
use beton::pipeline::Context;
use beton::progress::Silent;
use beton::signals::{AccountScore, Fired, ScoreParts, SignalType, Tier};

use super::action::{Action, Effect};
use super::app::{App, Overlay};
use super::data::{self, QueueEntry, RunInfo, Snapshot};
use super::theme::Theme;

const T: i64 = 1_780_272_000_000_000; // 2026-06-01T00:00:00Z

fn key(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn entry(account: &str, score: u32, signals: &[SignalType]) -> QueueEntry {
    let cfg = Config::default();
    let fired: Vec<Fired> = signals
        .iter()
        .map(|s| Fired {
            signal: *s,
            base: s.base(&cfg),
            evidence: format!("{} evidence", s.as_str()),
            numbers: Default::default(),
        })
        .collect();
    let bases: Vec<u32> = fired.iter().map(|f| f.base).collect();
    QueueEntry {
        score: AccountScore {
            account_id: i64::from(score),
            account: account.into(),
            score,
            tier: Tier::of(score, &cfg),
            routed: score >= cfg.route_threshold,
            parts: ScoreParts::of(&bases, &cfg),
            fired,
        },
        last_seen: Some(T - 3_600_000_000),
        arr: Some(f64::from(score) * 100.0),
        owner: Some("ae@example.com".into()),
        crm: None,
    }
}

fn synthetic(run_id: i64) -> Snapshot {
    let queue = vec![
        entry(
            "acme.com",
            95,
            &[
                SignalType::BillingIntent,
                SignalType::PricingIntent,
                SignalType::UsageSpike,
            ],
        ),
        entry(
            "zeta.io",
            75,
            &[SignalType::BillingIntent, SignalType::TeamGrowth],
        ),
        entry("beta.io", 45, &[SignalType::BillingIntent]),
        entry("delta.dev", 35, &[SignalType::PricingIntent]),
    ];
    Snapshot {
        run: Some(RunInfo {
            id: run_id,
            as_of: T,
            started_at: T,
        }),
        source: "local workspace".into(),
        queue,
        ..Default::default()
    }
}

fn app_with(snap: Snapshot) -> App {
    let mut app = App::new(
        Config::default(),
        PathBuf::from("config.toml"),
        PathBuf::from("data"),
        Theme { color: false },
        T,
    );
    app.size = (120, 40);
    let _ = app.start();
    app.update(Action::Loaded(Box::new(snap)));
    assert!(app.job.is_some(), "the startup job waits for the figures");
    app.update(Action::FiguresLoaded(Box::default()));
    assert!(app.job.is_none());
    app
}

fn accounts(app: &App, pane: usize) -> Vec<String> {
    app.grids[pane]
        .view
        .iter()
        .map(|&i| app.tables[pane].rows[i][0].text.clone())
        .collect()
}

#[test]
fn panes_switch_with_digits_tab_and_backtab() {
    let mut app = app_with(synthetic(1));
    assert_eq!(app.pane, 0);
    app.update(key('3'));
    assert_eq!(app.pane, 2);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.pane, 3);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.pane, 0);
    app.update(code(KeyCode::BackTab));
    assert_eq!(app.pane, 3);
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Tab,
        KeyModifiers::SHIFT,
    )));
    assert_eq!(app.pane, 2);
}

#[test]
fn sort_cycles_columns_and_reverses() {
    let mut app = app_with(synthetic(1));
    assert_eq!(
        accounts(&app, 0),
        ["acme.com", "zeta.io", "beta.io", "delta.dev"]
    );
    app.update(key('s'));
    assert_eq!(app.grids[0].sort, Some((0, false)));
    assert_eq!(
        accounts(&app, 0),
        ["acme.com", "beta.io", "delta.dev", "zeta.io"]
    );
    app.update(key('S'));
    assert_eq!(
        accounts(&app, 0),
        ["zeta.io", "delta.dev", "beta.io", "acme.com"]
    );
    app.update(key('s'));
    app.update(key('s'));
    assert_eq!(app.grids[0].sort, Some((2, false)), "score column");
    assert_eq!(
        accounts(&app, 0),
        ["acme.com", "zeta.io", "beta.io", "delta.dev"]
    );
    app.update(key('S'));
    assert_eq!(
        accounts(&app, 0),
        ["delta.dev", "beta.io", "zeta.io", "acme.com"]
    );
}

#[test]
fn filter_narrows_as_typed_and_esc_clears() {
    let mut app = app_with(synthetic(1));
    app.update(key('j'));
    assert_eq!(app.grids[0].selected, 1);
    app.update(key('/'));
    assert!(app.filtering);
    for c in ".io".chars() {
        app.update(key(c));
    }
    assert_eq!(accounts(&app, 0), ["zeta.io", "beta.io"]);
    assert_eq!(app.grids[0].selected, 0, "the selected row stays selected");
    app.update(code(KeyCode::Enter));
    assert!(!app.filtering);
    app.update(key('q'));
    assert!(app.quit, "q quits once the filter is no longer typed into");

    let mut app = app_with(synthetic(1));
    app.update(key('/'));
    app.update(key('b'));
    app.update(key('i'));
    app.update(key('l'));
    app.update(key('l'));
    assert_eq!(
        accounts(&app, 0),
        ["acme.com", "zeta.io", "beta.io"],
        "evidence text is searched too"
    );
    app.update(code(KeyCode::Backspace));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.grids[0].filter, "");
    assert_eq!(accounts(&app, 0).len(), 4);
}

#[test]
fn a_result_arriving_on_another_pane_swaps_data_and_keeps_the_pane() {
    let mut app = app_with(synthetic(1));
    app.update(key('/'));
    app.update(key('z'));
    app.update(code(KeyCode::Enter));
    let Some(Effect::Run(_)) = app.update(key('r')) else {
        panic!("r starts a run")
    };
    assert!(app.job.is_some());
    app.update(key('4'));
    app.update(key('?'));
    assert_eq!(app.overlay, Overlay::Help, "help opens while the job runs");
    app.update(code(KeyCode::Esc));
    app.update(Action::JobStage("detect".into()));
    app.update(Action::JobProgress(5, 10));
    assert_eq!(
        app.job
            .as_ref()
            .map(|j| (j.stage.as_str(), j.done, j.total)),
        Some(("detect", 5, 10))
    );
    let mut next = synthetic(2);
    next.queue.push(entry(
        "zulu.ai",
        80,
        &[SignalType::BillingIntent, SignalType::LimitApproaching],
    ));
    app.update(Action::RunFinished(Box::new(next)));
    assert_eq!(app.pane, 3);
    assert!(app.job.is_none());
    assert_eq!(app.snapshot.run.map(|r| r.id), Some(2));
    assert_eq!(
        app.previous.as_ref().and_then(|p| p.run).map(|r| r.id),
        Some(1)
    );
    assert_eq!(
        accounts(&app, 0),
        ["zeta.io", "zulu.ai"],
        "the filter applies to the new rows"
    );
}

#[test]
fn a_failed_run_keeps_the_data_and_says_why() {
    let mut app = app_with(synthetic(1));
    assert!(matches!(app.update(key('r')), Some(Effect::Run(_))));
    assert!(
        app.update(key('r')).is_none(),
        "no second run while one is in flight"
    );
    let cancel = app.job.as_ref().map(|j| j.cancel.clone()).unwrap();
    app.update(key('c'));
    assert!(cancel.is_set());
    app.update(Action::JobFailed("cancelled".into()));
    assert!(app.job.is_none());
    let n = app.notice.clone().unwrap();
    assert!(n.error && n.text.contains("cancelled"), "{n:?}");
    assert_eq!(app.snapshot.queue.len(), 4);
    assert!(
        matches!(app.update(key('r')), Some(Effect::Run(_))),
        "a new run can start"
    );
}

#[test]
fn the_crm_column_tells_routed_from_synced() {
    let mut snap = synthetic(1);
    snap.queue[1].crm = Some("Attio deal rec_1".into());
    let app = app_with(snap);
    let crm: Vec<&str> = app.tables[0]
        .rows
        .iter()
        .map(|r| r[8].text.as_str())
        .collect();
    assert_eq!(crm, ["routed", "synced", "", ""]);
}

#[test]
fn enter_opens_the_selected_accounts_detail() {
    let mut app = app_with(synthetic(1));
    app.update(key('j'));
    let Some(Effect::LoadDetail {
        key: k,
        entry,
        as_of,
    }) = app.update(code(KeyCode::Enter))
    else {
        panic!()
    };
    assert_eq!(k, "zeta.io");
    assert_eq!(entry.map(|e| e.score.score), Some(75));
    assert_eq!(as_of, T);
    assert_eq!(app.overlay, Overlay::Detail);
    app.update(Action::DetailFailed("gone".into()));
    assert_eq!(
        app.detail.as_ref().and_then(|d| d.error.clone()).as_deref(),
        Some("gone")
    );
    app.update(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.detail.is_none());
}

#[test]
fn copy_and_export_act_on_the_current_table() {
    let mut app = app_with(synthetic(1));
    app.update(key('G'));
    assert!(matches!(app.update(key('y')), Some(Effect::Copy(k)) if k == "delta.dev"));
    app.update(key('/'));
    app.update(key('z'));
    app.update(key('e'));
    app.update(key('t'));
    app.update(code(KeyCode::Enter));
    let Some(Effect::Export { path, text }) = app.update(key('e')) else {
        panic!("e exports")
    };
    assert!(
        path.starts_with("data/exports") && path.extension().is_some_and(|e| e == "csv"),
        "{path:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("account,tier,score,signals,top evidence"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines.len(),
        2,
        "header and the one row the filter leaves: {text}"
    );
    assert!(lines[1].starts_with("zeta.io,hot,75"), "{}", lines[1]);
}

#[test]
fn mouse_wheel_scrolls_and_clicks_select_then_open() {
    let mut app = app_with(synthetic(1));
    let m = |kind, column, row| {
        Action::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.update(m(MouseEventKind::ScrollDown, 10, 10));
    assert_eq!(app.grids[0].selected, 3);
    app.update(m(MouseEventKind::ScrollUp, 10, 10));
    assert_eq!(app.grids[0].selected, 0);
    // Rows start below the tab line, the border and the header.
    app.update(m(MouseEventKind::Down(MouseButton::Left), 10, 4));
    assert_eq!(app.grids[0].selected, 1);
    assert!(matches!(
        app.update(m(MouseEventKind::Down(MouseButton::Left), 10, 4)),
        Some(Effect::LoadDetail { .. })
    ));
    app.update(code(KeyCode::Esc));
    let tab = (0..120).find(|&x| super::ui::tab_at(x) == Some(2)).unwrap();
    app.update(m(MouseEventKind::Down(MouseButton::Left), tab, 0));
    assert_eq!(app.pane, 2);
}

#[test]
fn tuning_validates_as_typed_and_saves_the_file_text() {
    let mut app = app_with(synthetic(1));
    assert!(matches!(app.update(key('t')), Some(Effect::OpenTuning)));
    app.update(Action::TuningOpened(TEMPLATE.to_string()));
    assert_eq!(app.overlay, Overlay::Tuning);
    let pos = app
        .tuning
        .as_ref()
        .unwrap()
        .fields
        .iter()
        .position(|f| f.key == "route_threshold")
        .unwrap();
    for _ in 0..pos {
        app.update(key('j'));
    }
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Backspace));
    app.update(code(KeyCode::Backspace));
    app.update(key('x'));
    assert!(
        app.tuning.as_ref().unwrap().error.is_some(),
        "x is not a number"
    );
    app.update(code(KeyCode::Backspace));
    app.update(key('5'));
    app.update(key('0'));
    assert_eq!(app.tuning.as_ref().unwrap().error, None);
    app.update(key('q'));
    assert!(!app.quit, "q is typed into the value while editing");
    app.update(code(KeyCode::Backspace));
    app.update(code(KeyCode::Enter));
    let Some(Effect::SaveConfig { text }) = app.update(key('w')) else {
        panic!("w saves")
    };
    assert!(text.contains("route_threshold = 50\n"), "{text}");
    assert!(
        text.contains("# Score at or above which an account becomes a CRM candidate."),
        "comments kept"
    );
    let cfg = Config::parse(&text, "t").unwrap();
    app.update(Action::ConfigSaved(Box::new(cfg)));
    assert_eq!(app.config.route_threshold, 50);
    assert!(!app.tuning.as_ref().unwrap().dirty());
    app.update(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn closing_tuning_with_unsaved_changes_asks_first() {
    let mut app = app_with(synthetic(1));
    app.update(Action::TuningOpened(TEMPLATE.to_string()));
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Backspace));
    app.update(code(KeyCode::Backspace));
    app.update(key('9'));
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::Tuning, "first Esc warns");
    app.update(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn ctrl_c_quits_from_anywhere_and_cancels_work() {
    let mut app = app_with(synthetic(1));
    app.update(key('r'));
    let cancel = app.job.as_ref().unwrap().cancel.clone();
    app.update(key('/'));
    let ctrl_c = Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(matches!(app.update(ctrl_c), Some(Effect::Quit)));
    assert!(app.quit && cancel.is_set());
}

#[test]
fn configured_keys_replace_the_defaults() {
    let cfg = Config::parse("[keys]\nquit = [\"x\"]\nrerun = [\"f5\"]\n", "t").unwrap();
    let mut app = App::new(
        cfg,
        PathBuf::from("c"),
        PathBuf::from("d"),
        Theme { color: false },
        T,
    );
    app.update(Action::Loaded(Box::new(synthetic(1))));
    assert!(app.update(key('q')).is_none());
    assert!(matches!(
        app.update(code(KeyCode::F(5))),
        Some(Effect::Run(_))
    ));
    assert!(matches!(app.update(key('x')), Some(Effect::Quit)));
}

// ---- render snapshots over a small deterministic demo workspace ----

struct Fixture {
    _dir: tempfile::TempDir,
    ctx: Context,
    snap: Snapshot,
    after: Snapshot,
}

/// A 60-account demo ending at T, loaded once; `after` is a re-run with a lower route threshold.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_file: dir.path().join("config.toml"),
            data_dir: dir.path().to_path_buf(),
        };
        let ctx = Context {
            paths,
            config: Config::default(),
        };
        let store = ctx.open_store().unwrap();
        let opts = beton::demo::DemoOptions {
            accounts: 60,
            days: 200,
            seed: 7,
            as_of: T,
            ..Default::default()
        };
        beton::demo::create(&store, &ctx.config, &opts, &Silent).unwrap();
        drop(store);
        let mut snap = data::startup(&ctx, Some(T), &Silent).unwrap();
        snap.figures = data::figures(&ctx, Some(T), &Silent).unwrap();
        snap.fill_last_seen();
        assert!(snap.figures.errors.is_empty(), "{:?}", snap.figures.errors);
        let mut ctx2 = ctx.clone();
        ctx2.config.route_threshold = 45;
        let after = data::rerun(&ctx2, Some(T), &Silent).unwrap();
        assert!(
            after.figures.previous.is_some(),
            "the re-run's backtest is saved beside the first"
        );
        Fixture {
            _dir: dir,
            ctx,
            snap,
            after,
        }
    })
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| super::ui::render(f, app)).unwrap();
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // Run start times are wall-clock: filter them.
    for s in [&fixture().snap, &fixture().after] {
        if let Some(r) = s.run {
            let ts =
                beton::time::fmt_ts(r.started_at - r.started_at.rem_euclid(beton::time::SECOND));
            out = out.replace(&ts, "[started]");
        }
    }
    out
}

fn demo_app() -> App {
    let f = fixture();
    let mut app = App::new(
        f.ctx.config.clone(),
        PathBuf::from("config.toml"),
        PathBuf::from("data"),
        Theme { color: false },
        T,
    );
    app.update(Action::Loaded(Box::new(f.snap.clone())));
    app.notice = None;
    if let Some(r) = f.snap.run {
        app.now = r.started_at + 5 * 60 * beton::time::SECOND;
    }
    app
}

fn snapshot_both(name: &str, app: &mut App) {
    for (w, h) in [(120u16, 40u16), (80, 24)] {
        app.update(Action::Resize(w, h));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
    }
}

#[test]
fn render_panes() {
    let mut app = demo_app();
    for (i, name) in ["hot_queue", "health", "sources", "backtest"]
        .iter()
        .enumerate()
    {
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char(char::from(b'1' + i as u8)),
            KeyModifiers::NONE,
        )));
        snapshot_both(name, &mut app);
    }
}

#[test]
fn render_backtest_before_and_after_a_rerun() {
    let mut app = demo_app();
    app.update(key('r'));
    app.update(Action::RunFinished(Box::new(fixture().after.clone())));
    app.notice = None;
    app.update(key('4'));
    snapshot_both("backtest_after_rerun", &mut app);
}

#[test]
fn render_detail_help_and_tuning() {
    let f = fixture();
    let mut app = demo_app();
    let entry = f.snap.queue.first().cloned().unwrap();
    let key_ = entry.score.account.clone();
    let Some(Effect::LoadDetail {
        key: k,
        entry: e,
        as_of,
    }) = app.update(code(KeyCode::Enter))
    else {
        panic!()
    };
    assert_eq!(k, key_);
    let d = data::detail(&f.ctx, &k, e, as_of).unwrap();
    assert_eq!(d.daily.len(), 30);
    assert!(d.props.iter().any(|(k, _)| k == "plan"), "{:?}", d.props);
    app.update(Action::DetailLoaded(Box::new(d)));
    snapshot_both("detail", &mut app);
    app.update(code(KeyCode::Esc));

    app.update(key('?'));
    snapshot_both("help", &mut app);
    app.update(key('?'));

    app.update(Action::TuningOpened(TEMPLATE.to_string()));
    app.update(key('j'));
    app.update(code(KeyCode::Enter));
    app.update(key('0'));
    snapshot_both("tuning", &mut app);
}

#[test]
fn the_rerun_changes_the_backtest_and_the_pane_shows_before_and_after() {
    let f = fixture();
    let before = f.snap.figures.backtest.as_ref().unwrap();
    let after = f.after.figures.backtest.as_ref().unwrap();
    assert_eq!(before.report.threshold, 60);
    assert_eq!(after.report.threshold, 45);
    assert!(after.report.flagged >= before.report.flagged);
    assert!(
        f.after.figures.changes.iter().any(|c| c.changed()),
        "a lower threshold changes some figure"
    );
    let mut app = demo_app();
    app.update(Action::RunFinished(Box::new(f.after.clone())));
    app.update(key('4'));
    app.update(Action::Resize(120, 40));
    let text = render(&app, 120, 40);
    assert!(
        text.contains("previous") && text.contains("change"),
        "{text}"
    );
    assert!(text.contains("threshold 45"), "{text}");
}

#[test]
fn render_small_terminal_message_and_no_color() {
    let app = demo_app();
    let text = render(&app, 70, 20);
    assert!(text.contains("70×20") && text.contains("80×24"), "{text}");
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    term.draw(|f| super::ui::render(f, &app)).unwrap();
    let colored = term
        .backend()
        .buffer()
        .content
        .iter()
        .any(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset);
    assert!(!colored, "NO_COLOR: no cell has a colour");
    let mut app = demo_app();
    app.theme = Theme { color: true };
    term.draw(|f| super::ui::render(f, &app)).unwrap();
    assert!(
        term.backend()
            .buffer()
            .content
            .iter()
            .any(|c| c.fg == ratatui::style::Color::Red),
        "hot rows are red"
    );
}

/// A synced deal shows Attio's web address in the detail; one synced before Beton kept the
/// address shows its record id and workspace.
#[test]
fn a_synced_deal_links_to_attio() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.attio = Some(beton::config::AttioSettings {
        workspace: "acme".into(),
        ..Default::default()
    });
    let ctx = Context {
        paths: Paths {
            config_file: dir.path().join("config.toml"),
            data_dir: dir.path().to_path_buf(),
        },
        config,
    };
    let store = ctx.open_store().unwrap();
    let opts = beton::demo::DemoOptions {
        accounts: 40,
        days: 120,
        seed: 3,
        as_of: T,
        ..Default::default()
    };
    beton::demo::create(&store, &ctx.config, &opts, &Silent).unwrap();
    let snap = data::startup(&ctx, Some(T), &Silent).unwrap();
    let routed: Vec<i64> = snap
        .queue
        .iter()
        .filter(|e| e.score.routed)
        .map(|e| e.score.account_id)
        .take(3)
        .collect();
    assert_eq!(routed.len(), 3, "the demo routes some accounts");
    assert!(
        snap.queue.iter().all(|e| e.crm.is_none()),
        "nothing synced yet"
    );
    let db = rusqlite::Connection::open(dir.path().join("workspace.sqlite")).unwrap();
    db.execute(
        "INSERT INTO attio_deals(account_id, record_id, digest, synced_at, web_url)
         VALUES (?1, 'rec-a', 'd', 0, 'https://app.attio.com/acme/deals/record/rec-a'),
                (?2, 'rec-b', 'd', 0, NULL)",
        [routed[0], routed[1]],
    )
    .unwrap();
    let snap = data::from_store(&store, &ctx.config).unwrap();
    let crm = |id: i64| {
        snap.queue
            .iter()
            .find(|e| e.score.account_id == id)
            .unwrap()
            .crm
            .clone()
    };
    assert_eq!(
        crm(routed[0]).as_deref(),
        Some("Attio deal https://app.attio.com/acme/deals/record/rec-a")
    );
    assert_eq!(
        crm(routed[1]).as_deref(),
        Some("Attio deal rec-b in workspace acme")
    );
    assert_eq!(crm(routed[2]), None);
}

/// With PostHog as the source but unreachable (not connected), the panes that need it say why,
/// and sources and the saved backtests still show.
#[test]
fn an_unreachable_posthog_leaves_the_local_figures() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context {
        paths: Paths {
            config_file: dir.path().join("config.toml"),
            data_dir: dir.path().to_path_buf(),
        },
        config: Config::default(),
    };
    let store = ctx.open_store().unwrap();
    let opts = beton::demo::DemoOptions {
        accounts: 30,
        days: 120,
        seed: 5,
        as_of: T,
        ..Default::default()
    };
    beton::demo::create(&store, &ctx.config, &opts, &Silent).unwrap();
    drop(store);
    let local = data::figures(&ctx, Some(T), &Silent).unwrap();
    assert!(
        local.backtest.is_some() && local.errors.is_empty(),
        "{:?}",
        local.errors
    );

    let mut remote = ctx.clone();
    remote.config.source = beton::config::SourceKind::Posthog;
    let f = data::figures(&remote, Some(T), &Silent).unwrap();
    assert!(f.health.is_none());
    assert!(
        f.errors
            .iter()
            .any(|e| e.starts_with("health: ") && e.contains("PostHog")),
        "{:?}",
        f.errors
    );
    assert!(
        f.sources.is_some(),
        "sources come from the workspace's deals"
    );
    assert_eq!(
        f.backtest.map(|b| b.id),
        local.backtest.map(|b| b.id),
        "the saved backtest still shows"
    );
}
