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
use super::app::{App, JobKind, Overlay};
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
        route: None,
        workspaces: Vec::new(),
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
    let Some(Effect::WhatIf { t, .. }) = app.update(key('r')) else {
        panic!("r starts a what-if")
    };
    assert_eq!(t, Some(T), "on the latest run's T");
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
    next.run = synthetic(1).run;
    next.sandbox = Some(Default::default());
    app.update(Action::WhatIfFinished(Box::new(next)));
    assert_eq!(app.pane, 3);
    assert!(app.job.is_none());
    assert_eq!(
        app.latest.as_ref().and_then(|p| p.run).map(|r| r.id),
        Some(1),
        "the latest run is kept beside the what-if"
    );
    assert_eq!(
        accounts(&app, 0),
        ["zeta.io", "zulu.ai"],
        "the filter applies to the new rows"
    );
    app.update(key('1'));
    app.update(code(KeyCode::Esc));
    assert_eq!(
        accounts(&app, 0).len(),
        5,
        "the first Esc clears the filter"
    );
    app.update(code(KeyCode::Esc));
    assert!(app.snapshot.sandbox.is_none() && app.latest.is_none());
    assert_eq!(
        accounts(&app, 0).len(),
        4,
        "Esc again: back to the latest run"
    );
}

#[test]
fn a_failed_run_keeps_the_data_and_says_why() {
    let mut app = app_with(synthetic(1));
    assert!(matches!(app.update(key('r')), Some(Effect::WhatIf { .. })));
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
        matches!(app.update(key('r')), Some(Effect::WhatIf { .. })),
        "a new what-if can start"
    );
}

#[test]
fn the_crm_column_tells_routed_from_synced() {
    let mut snap = synthetic(1);
    snap.queue[1].crm = Some("Attio deal rec_1".into());
    let app = app_with(snap.clone());
    let crm: Vec<&str> = app.tables[0]
        .rows
        .iter()
        .map(|r| r[8].text.as_str())
        .collect();
    assert_eq!(crm, ["routed", "synced", "", ""]);
    // Routing next to the pipeline (SPEC §8): in pipeline, a customer, under the ARR floor.
    snap.queue[0].route = Some("in pipeline (inbound)".into());
    snap.queue[1].route = Some("expansion".into());
    snap.queue[2].route = Some("below ARR floor".into());
    let app = app_with(snap);
    let crm: Vec<&str> = app.tables[0]
        .rows
        .iter()
        .map(|r| r[8].text.as_str())
        .collect();
    assert_eq!(
        crm,
        ["in pipeline (inbound)", "synced", "below ARR floor", ""]
    );
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
    assert!(
        lines[1].contains(",billing_intent team_growth,") && lines[1].contains(",7500,"),
        "raw values: full signal names, ARR as a number: {}",
        lines[1]
    );
}

#[test]
fn export_writes_raw_values_never_display_strings() {
    let f = fixture();
    let mut app = demo_app();
    app.update(Action::FiguresLoaded(Box::new(f.snap.figures.clone())));
    for pane in 0..4 {
        app.update(key(char::from(b'1' + pane as u8)));
        let Some(Effect::Export { text, .. }) = app.update(key('e')) else {
            panic!("pane {pane} exports")
        };
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        for rec in r.records() {
            let rec = rec.unwrap();
            for (name, v) in header.iter().zip(rec.iter()) {
                if name == "top evidence" {
                    continue; // the evidence is text for people, exported as it reads
                }
                for glyph in ["%", "×", "–", "█", "▁", " pt", ","] {
                    assert!(!v.contains(glyph), "pane {pane}, {name}: {v:?}");
                }
            }
        }
    }
    app.update(key('3'));
    let Some(Effect::Export { text, .. }) = app.update(key('e')) else {
        panic!()
    };
    let pql = text.lines().find(|l| l.starts_with("pql,")).unwrap();
    let s = f.snap.figures.sources.as_ref().unwrap();
    let p = s.sources.iter().find(|x| x.lead_source == "pql").unwrap();
    assert!(
        pql.contains(&format!(",{},", p.win_rate.unwrap())),
        "win rate as a fraction: {pql}"
    );
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
    assert!(matches!(
        app.update(key('t')),
        Some(Effect::OpenTuning { then: None })
    ));
    app.update(Action::TuningOpened(TEMPLATE.to_string(), None));
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
    let Some(Effect::PreviewApply { draft, t, .. }) = app.update(key('w')) else {
        panic!("w first works out what applying would change")
    };
    assert_eq!((draft.route_threshold, t), (50, Some(T)));
    let mut sandbox = super::data::Sandbox {
        t: T,
        settings: beton::pipeline::sandbox::setting_changes(&Config::default(), &draft),
        ..Default::default()
    };
    sandbox.diff.newly_routed = vec!["beta.io".into()];
    app.update(Action::ApplyPreview(Box::new(sandbox)));
    assert_eq!(app.overlay, Overlay::Confirm);
    let screen = render_plain(&app, 120, 40);
    assert!(
        screen.contains("route_threshold 60 → 50")
            && screen.contains("+1 routed account would be routed (CRM candidates): beta.io"),
        "{screen}"
    );
    assert!(app.update(key('j')).is_none(), "other keys do nothing here");
    let Some(Effect::SaveConfig { text, model: None }) = app.update(key('y')) else {
        panic!("y applies")
    };
    assert!(text.contains("route_threshold = 50\n"), "{text}");
    assert!(
        text.contains("# Score at or above which an account becomes a CRM candidate."),
        "comments kept"
    );
    let cfg = Config::parse(&text, "t").unwrap();
    app.update(Action::ConfigSaved(Box::new(cfg)));
    assert_eq!(app.config.route_threshold, 50);
    assert!(app.tuning.is_none(), "the draft is the file now");
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn closing_the_tuner_keeps_the_draft_for_r_and_x_drops_it() {
    let mut app = app_with(synthetic(1));
    app.update(Action::TuningOpened(TEMPLATE.to_string(), None));
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Backspace));
    app.update(code(KeyCode::Backspace));
    app.update(key('9'));
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    assert!(
        app.tuning.as_ref().is_some_and(|t| t.dirty()),
        "the draft stays"
    );
    let Some(Effect::WhatIf { draft, .. }) = app.update(key('r')) else {
        panic!("r tries the draft")
    };
    assert_eq!(draft.route_threshold, 9);
    assert_eq!(app.config.route_threshold, 60, "nothing applied");
    app.update(Action::JobFailed("cancelled".into()));
    assert!(
        app.update(key('t')).is_none(),
        "t reopens the draft, no file read"
    );
    assert_eq!(app.overlay, Overlay::Tuning);
    app.update(key('x'));
    assert!(!app.tuning.as_ref().unwrap().dirty());
    let Some(Effect::WhatIf { draft, .. }) = app.update(key('r')) else {
        panic!("r in the tuner")
    };
    assert_eq!(
        draft.route_threshold, 60,
        "without a draft r tries the file's settings"
    );
}

#[test]
fn letters_in_the_tuner_never_fire_global_actions() {
    let mut app = app_with(synthetic(1));
    app.update(Action::TuningOpened(TEMPLATE.to_string(), None));
    for c in ['3', 'e', 'y', 'D', 'R', 'f', 's', 'S', 'l', 'h', 'G', 'g'] {
        let effect = app.update(key(c));
        assert!(effect.is_none(), "{c} did {effect:?}");
        assert_eq!(app.overlay, Overlay::Tuning, "{c}");
        assert_eq!(app.pane, 0, "{c}");
        assert!(app.confirm.is_none() && app.tier.is_none(), "{c}");
    }
    app.update(key('/'));
    for c in "quit".chars() {
        assert!(app.update(key(c)).is_none());
    }
    assert!(!app.quit, "q goes to the search");
    let t = app.tuning.as_ref().unwrap();
    assert_eq!(t.search, "quit");
    app.update(code(KeyCode::Esc));
    app.update(key('/'));
    for c in "min_count".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    let t = app.tuning.as_ref().unwrap();
    assert!(
        t.visible()
            .iter()
            .all(|&i| t.fields[i].key.ends_with("min_count")),
        "the search narrows the list"
    );
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Backspace));
    app.update(key('0'));
    assert!(
        app.tuning
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .is_some_and(|e| e.ends_with("must be a whole number ≥ 1")),
        "{:?}",
        app.tuning.as_ref().unwrap().error
    );
}

#[test]
fn the_daily_run_asks_first_and_says_what_it_sends() {
    let mut app = app_with(synthetic(1));
    assert!(app.update(key('D')).is_none(), "D only asks");
    assert_eq!(app.overlay, Overlay::Confirm);
    let screen = render_plain(&app, 120, 40);
    assert!(
        screen.contains("Run the real daily pipeline?")
            && screen.contains("records run 2")
            && screen.contains("Attio is not configured"),
        "{screen}"
    );
    assert!(app.update(key('n')).is_none());
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.job.is_none());
    app.update(key('D'));
    assert!(matches!(app.update(key('y')), Some(Effect::Run(_))));
    assert!(app.job.is_some());
    app.update(Action::RunSeen { id: 2 });
    assert_eq!(app.newer_run, None, "our own run is not news");
    app.update(Action::RunFinished(Box::new(synthetic(2))));
    assert_eq!(app.snapshot.run.map(|r| r.id), Some(2));
}

#[test]
fn a_run_made_by_cron_is_noticed_and_r_loads_it() {
    let mut app = app_with(synthetic(1));
    app.update(Action::RunSeen { id: 1 });
    assert_eq!(app.newer_run, None, "the run shown");
    app.update(Action::RunSeen { id: 2 });
    assert_eq!(app.newer_run, Some(2));
    let n = app.notice.clone().unwrap();
    assert!(
        n.text.contains("new run 2") && n.text.contains("press R"),
        "{n:?}"
    );
    assert!(render_plain(&app, 120, 40).contains("new run 2: R loads it"));
    let Some(Effect::Reload(_)) = app.update(key('R')) else {
        panic!("R reloads")
    };
    app.update(Action::Reloaded(Box::new(synthetic(2))));
    assert_eq!(app.newer_run, None);
    assert_eq!(app.snapshot.run.map(|r| r.id), Some(2));
}

#[test]
fn an_external_config_edit_is_seen() {
    let mut app = app_with(synthetic(1));
    let text = TEMPLATE.replace("route_threshold = 60", "route_threshold = 55");
    app.update(Action::ConfigChanged(text.clone()));
    assert_eq!(app.config.route_threshold, 55);
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("route_threshold 60 → 55")),
        "{:?}",
        app.notice
    );
    app.update(Action::ConfigChanged("route_threshold = 500\n".into()));
    assert_eq!(
        app.config.route_threshold, 55,
        "an invalid file changes nothing"
    );
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("not valid"))
    );
    // With a draft open, the draft stays and the user is told.
    app.update(Action::TuningOpened(text.clone(), None));
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Backspace));
    app.update(code(KeyCode::Enter));
    assert!(app.tuning.as_ref().unwrap().dirty());
    app.update(Action::ConfigChanged(TEMPLATE.to_string()));
    assert_eq!(app.config.route_threshold, 60);
    assert!(app.tuning.as_ref().unwrap().dirty(), "the draft is kept");
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("your draft"))
    );
}

#[test]
fn the_tier_filter_narrows_the_queue_and_the_title_says_so() {
    let mut app = app_with(synthetic(1));
    assert!(render_plain(&app, 120, 40).contains("Hot queue · all tiers · 4 of 4"));
    app.update(key('f'));
    assert_eq!(accounts(&app, 0), ["acme.com", "zeta.io"]);
    assert!(render_plain(&app, 120, 40).contains("Hot queue · hot accounts only · 2 of 4"));
    app.update(key('f'));
    assert_eq!(accounts(&app, 0), ["beta.io"]);
    app.update(key('f'));
    assert_eq!(accounts(&app, 0), ["delta.dev"]);
    app.update(key('f'));
    assert_eq!(accounts(&app, 0).len(), 4);
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
        Some(Effect::WhatIf { .. })
    ));
    assert!(matches!(app.update(key('x')), Some(Effect::Quit)));
}

// ---- render snapshots over a small deterministic demo workspace ----

struct Fixture {
    _dir: tempfile::TempDir,
    ctx: Context,
    snap: Snapshot,
    /// A what-if of route_threshold = 45 on the first run (nothing recorded).
    whatif: Snapshot,
    /// The explanation of pricing_intent at T.
    explained: beton::backtest::SignalExplanation,
    /// A real daily run after the threshold was applied.
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
        let whatif = data::whatif(&ctx, &ctx2.config, T, &Silent).unwrap();
        let explained = data::explain(&ctx, SignalType::PricingIntent, T, &Silent).unwrap();
        let after = data::rerun(&ctx2, Some(T), &Silent).unwrap();
        assert!(
            after.figures.previous.is_some(),
            "the re-run's backtest is saved beside the first"
        );
        Fixture {
            _dir: dir,
            ctx,
            snap,
            whatif,
            explained,
            after,
        }
    })
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut out = render_plain(app, w, h);
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

fn render_plain(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| super::ui::render(f, app)).unwrap();
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The three sizes every screen is checked at.
const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 50)];

fn snapshot_both(name: &str, app: &mut App) {
    for (w, h) in SIZES {
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
    app.update(key('D'));
    app.update(key('y'));
    app.update(Action::RunFinished(Box::new(fixture().after.clone())));
    app.notice = None;
    app.update(key('4'));
    snapshot_both("backtest_after_rerun", &mut app);
}

#[test]
fn render_a_whatif_the_confirmations_and_the_signal_view() {
    let f = fixture();
    let mut app = demo_app();
    app.update(Action::FiguresLoaded(Box::new(f.snap.figures.clone())));
    app.update(key('r'));
    app.update(Action::WhatIfFinished(Box::new(f.whatif.clone())));
    app.notice = None;
    snapshot_both("whatif_hot_queue", &mut app);
    app.update(key('4'));
    snapshot_both("whatif_backtest", &mut app);
    let text = render(&app, 120, 40);
    assert!(
        text.contains("file → draft: route_threshold 60 → 45") && text.contains("WHAT-IF"),
        "the before → after panel names the setting: {text}"
    );
    // Enter on a signal row: its explanation, with the suggested value.
    let row = app.grids[3]
        .view
        .iter()
        .position(|&i| app.tables[3].rows[i][0].text == "pricing_intent")
        .unwrap();
    app.grids[3].select(row, 10);
    let Some(Effect::ExplainSignal { signal, t, .. }) = app.update(code(KeyCode::Enter)) else {
        panic!("Enter explains the signal")
    };
    assert_eq!((signal, t), (SignalType::PricingIntent, T));
    app.update(Action::SignalExplained(Box::new(f.explained.clone())));
    snapshot_both("signal", &mut app);
    match f.explained.suggested.clone() {
        Some(v) => {
            let Some(Effect::OpenTuning { then }) = app.update(key('d')) else {
                panic!("d opens the tuner with the suggestion")
            };
            assert_eq!(
                then,
                Some(("signals.pricing_intent.min_count".to_string(), v.clone()))
            );
            app.update(Action::TuningOpened(TEMPLATE.to_string(), then));
            let t = app.tuning.as_ref().unwrap();
            assert!(t.dirty());
            assert_eq!(
                t.config()
                    .unwrap()
                    .signals
                    .pricing_intent
                    .min_count
                    .to_string(),
                v
            );
            assert_eq!(
                app.config.signals.pricing_intent.min_count, 2,
                "not applied"
            );
        }
        None => assert!(app.update(key('d')).is_none()),
    }
    app.overlay = super::app::Overlay::None;
    app.update(key('D'));
    app.notice = None;
    snapshot_both("confirm_daily", &mut app);
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
    app.update(Action::Resize(80, 24));
    let top = render(&app, 80, 24);
    for _ in 0..40 {
        app.update(key('j'));
    }
    let bottom = render(&app, 80, 24);
    assert_ne!(top, bottom, "the help scrolls on a small screen");
    assert!(
        bottom.contains("confirmations"),
        "its last line shows: {bottom}"
    );
    app.update(key('?'));

    app.update(Action::TuningOpened(TEMPLATE.to_string(), None));
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

/// A non-demo workspace with PostHog capture and Attio configured against closed ports, so a
/// run that tried to send would queue captures and outbox rows.
fn live_workspace(seed: u64) -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_file: dir.path().join("config.toml"),
        data_dir: dir.path().to_path_buf(),
    };
    let text = format!(
        "{TEMPLATE}\n[posthog]\nproject_id = 7\ncapture_host = \"http://127.0.0.1:9\"\nproject_api_key = \"phc_test\"\nprovision_on_run = false\n\n[attio]\nbase_url = \"http://127.0.0.1:9\"\n"
    );
    std::fs::write(&paths.config_file, &text).unwrap();
    let config = Config::load(&paths.config_file).unwrap();
    let ctx = Context { paths, config };
    let store = ctx.open_store().unwrap();
    let opts = beton::demo::DemoOptions {
        accounts: 40,
        days: 120,
        seed,
        as_of: T,
        ..Default::default()
    };
    beton::demo::create(&store, &ctx.config, &opts, &Silent).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("workspace.sqlite")).unwrap();
    db.execute("DELETE FROM meta WHERE key = 'demo'", [])
        .unwrap();
    (dir, ctx)
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    let db = rusqlite::Connection::open(dir.join("workspace.sqlite")).unwrap();
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// `r` with a draft writes no run, no outbox row and no capture, saves no backtest, and leaves
/// the latest run the one it was; a real run (the contrast) does record one.
#[test]
fn a_draft_rerun_writes_no_run_no_outbox_row_and_no_capture() {
    let (dir, ctx) = live_workspace(11);
    let d = dir.path();
    let first = beton::pipeline::run_daily(
        &ctx,
        &beton::pipeline::RunOptions { as_of: Some(T) },
        &Silent,
    )
    .unwrap();
    let runs = count(d, "SELECT count(*) FROM runs");
    let outbox = count(d, "SELECT count(*) FROM outbox");
    let captures = count(d, "SELECT count(*) FROM capture_outbox");
    let backtests = count(d, "SELECT count(*) FROM backtests");
    let draft = ctx
        .config
        .with_overrides(&[
            "route_threshold=30".into(),
            "pricing_intent.min_count=1".into(),
        ])
        .unwrap();
    let snap = data::whatif(&ctx, &draft, T, &Silent).unwrap();
    let sb = snap.sandbox.as_ref().unwrap();
    assert!(
        !sb.diff.newly_routed.is_empty(),
        "a lower threshold routes more: {:?}",
        sb.diff
    );
    assert_eq!(sb.settings.len(), 2);
    assert_eq!(
        snap.run.map(|r| r.id),
        Some(first.report.run_id),
        "before = the latest run"
    );
    assert!(
        snap.figures
            .backtest
            .as_ref()
            .is_some_and(|b| b.id == 0 && b.report.threshold == 30)
    );
    assert!(
        snap.figures
            .previous
            .as_ref()
            .is_some_and(|b| b.id == 0 && b.report.threshold == 60)
    );
    assert_eq!(count(d, "SELECT count(*) FROM runs"), runs, "no run");
    assert_eq!(
        count(d, "SELECT count(*) FROM outbox"),
        outbox,
        "no outbox row"
    );
    assert_eq!(
        count(d, "SELECT count(*) FROM capture_outbox"),
        captures,
        "no capture"
    );
    assert_eq!(
        count(d, "SELECT count(*) FROM backtests"),
        backtests,
        "no saved backtest"
    );
    let store = ctx.open_store().unwrap();
    assert_eq!(
        store.latest_run("daily").unwrap().map(|r| r.id),
        Some(first.report.run_id)
    );
    let preview = data::apply_preview(&ctx, &draft, T, &Silent).unwrap();
    assert_eq!(
        preview.diff, sb.diff,
        "w's preview is the what-if's difference"
    );
    assert_eq!(count(d, "SELECT count(*) FROM runs"), runs);
    // The contrast: the real pipeline records.
    beton::pipeline::run_daily(
        &ctx,
        &beton::pipeline::RunOptions { as_of: Some(T) },
        &Silent,
    )
    .unwrap();
    assert_eq!(count(d, "SELECT count(*) FROM runs"), runs + 1);
}

/// The app's loop, to carry out effects on `ctx`'s workspace at T, and its channel.
fn looper_at_t(ctx: &Context) -> (super::Looper, tokio::sync::mpsc::UnboundedReceiver<Action>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let looper = super::Looper {
        paths: ctx.paths.clone(),
        as_of: Some(T),
        tx,
        started: std::time::Instant::now(),
        first_data: false,
    };
    (looper, rx)
}

/// `w` writes the file atomically; only then does the next daily run (which reads the file,
/// like cron) change.
#[test]
fn applying_writes_the_config_and_only_then_the_next_daily_run_changes() {
    let (dir, ctx) = live_workspace(12);
    let file = ctx.paths.config_file.clone();
    let original = std::fs::read(&file).unwrap();
    let daily = |_: ()| {
        let cfg = Config::load(&file).unwrap();
        let c = Context {
            paths: ctx.paths.clone(),
            config: cfg,
        };
        beton::pipeline::run_daily(&c, &beton::pipeline::RunOptions { as_of: Some(T) }, &Silent)
            .unwrap()
            .report
            .routed
    };
    let before = daily(());
    let mut app = App::new(
        ctx.config.clone(),
        file.clone(),
        dir.path().to_path_buf(),
        Theme { color: false },
        T,
    );
    let (mut looper, mut rx) = looper_at_t(&ctx);
    let Some(Action::TuningOpened(text, None)) =
        looper.perform(&app, Effect::OpenTuning { then: None })
    else {
        panic!("the tuner reads the file")
    };
    app.update(Action::TuningOpened(text, None));
    app.tuning
        .as_mut()
        .unwrap()
        .set("route_threshold", "30")
        .unwrap();
    let Some(Effect::WhatIf { draft, .. }) = app.update(key('r')) else {
        panic!()
    };
    data::whatif(&ctx, &draft, T, &Silent).unwrap();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        original,
        "a what-if leaves the file"
    );
    assert_eq!(daily(()), before, "and the next daily run the same");
    app.update(Action::JobFailed("done".into()));
    app.update(key('t'));
    let Some(Effect::PreviewApply { draft, .. }) = app.update(key('w')) else {
        panic!("w")
    };
    let sb = data::apply_preview(&ctx, &draft, T, &Silent).unwrap();
    app.update(Action::ApplyPreview(Box::new(sb)));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        original,
        "asking writes nothing"
    );
    let Some(effect @ Effect::SaveConfig { .. }) = app.update(key('y')) else {
        panic!("y")
    };
    let Some(saved @ Action::ConfigSaved(_)) = looper.perform(&app, effect) else {
        panic!("saved")
    };
    app.update(saved);
    let now = std::fs::read_to_string(&file).unwrap();
    assert!(now.contains("route_threshold = 30\n"), "{now}");
    assert!(now.contains("# Score at or above which"), "comments kept");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "written by rename: {leftovers:?}");
    assert!(daily(()) > before, "the next daily run routes more");
    drop(looper);
    while rx.try_recv().is_ok() {}
}

/// The watcher sees an edit of the config file and a run made by another process.
#[test]
fn the_watcher_sees_an_external_edit_and_a_new_run() {
    let (_dir, ctx) = live_workspace(13);
    beton::pipeline::run_daily(
        &ctx,
        &beton::pipeline::RunOptions { as_of: Some(T) },
        &Silent,
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    super::worker::watch(ctx.paths.clone(), tx, std::time::Duration::from_millis(50));
    let next = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<Action>, what: &str| {
        let start = std::time::Instant::now();
        loop {
            if let Ok(a) = rx.try_recv() {
                return a;
            }
            assert!(start.elapsed().as_secs() < 10, "no {what}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let Action::RunSeen { id: first } = next(&mut rx, "first run") else {
        panic!()
    };
    let text = std::fs::read_to_string(&ctx.paths.config_file)
        .unwrap()
        .replace("route_threshold = 60", "route_threshold = 50");
    beton::config::write_atomic(&ctx.paths.config_file, &text).unwrap();
    let Action::ConfigChanged(seen) = next(&mut rx, "config change") else {
        panic!()
    };
    assert_eq!(seen, text);
    let r = beton::pipeline::run_daily(
        &ctx,
        &beton::pipeline::RunOptions { as_of: Some(T) },
        &Silent,
    )
    .unwrap();
    let Action::RunSeen { id } = next(&mut rx, "second run") else {
        panic!()
    };
    assert_eq!((first + 1, id), (r.report.run_id, r.report.run_id));
}

/// The README's pictures: each pane of the demo fixture drawn by the real app (colours on) at
/// 120×40 and written as SVG under docs/images/. A picture that no longer matches the render
/// fails here; `BETON_UPDATE_IMAGES=1 cargo test readme_images` rewrites them.
#[test]
fn readme_images_are_the_real_render() {
    let f = fixture();
    let mut app = demo_app();
    app.theme = Theme { color: true };
    app.update(Action::FiguresLoaded(Box::new(f.snap.figures.clone())));
    app.notice = None;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images");
    let update = std::env::var_os("BETON_UPDATE_IMAGES").is_some();
    let mut stale = Vec::new();
    let mut shot = |name: &str, app: &mut App| {
        app.update(Action::Resize(120, 40));
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        term.draw(|fr| super::ui::render(fr, app)).unwrap();
        let mut svg = super::svg::of(term.backend().buffer());
        for s in [&f.snap, &f.after] {
            if let Some(r) = s.run {
                let ts = beton::time::fmt_ts(
                    r.started_at - r.started_at.rem_euclid(beton::time::SECOND),
                );
                svg = svg.replace(&ts, "2026-06-01T00:05:00Z");
            }
        }
        assert!(svg.starts_with("<svg") && svg.contains("Beton"), "{name}");
        let path = dir.join(format!("{name}.svg"));
        match std::fs::read_to_string(&path) {
            Ok(old) if old == svg => {}
            Ok(_) if !update => stale.push(path.display().to_string()),
            _ => {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &svg).unwrap();
            }
        }
    };
    shot("hot-queue", &mut app);
    app.update(key('2'));
    shot("health", &mut app);
    app.update(key('3'));
    shot("sources", &mut app);
    app.update(key('4'));
    shot("backtest", &mut app);
    app.update(key('1'));
    app.update(Action::WhatIfFinished(Box::new(f.whatif.clone())));
    app.notice = None;
    app.update(key('4'));
    shot("whatif-backtest", &mut app);
    app.update(code(KeyCode::Esc));
    app.notice = None;
    app.update(key('1'));
    let Some(Effect::LoadDetail {
        key: k,
        entry,
        as_of,
    }) = app.update(code(KeyCode::Enter))
    else {
        panic!()
    };
    app.update(Action::DetailLoaded(Box::new(
        data::detail(&f.ctx, &k, entry, as_of).unwrap(),
    )));
    shot("detail", &mut app);
    app.update(code(KeyCode::Esc));
    app.update(Action::TuningOpened(TEMPLATE.to_string(), None));
    app.update(key('/'));
    for c in "pricing".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    app.update(key('j'));
    app.update(key('j'));
    app.update(key('j'));
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Backspace));
    app.update(key('4'));
    shot("tuning", &mut app);
    app.update(code(KeyCode::Enter));
    app.update(Action::ApplyPreview(Box::new(
        data::apply_preview(&f.ctx, &app.draft().unwrap(), T, &Silent).unwrap(),
    )));
    shot("apply", &mut app);
    app.update(code(KeyCode::Esc));
    app.update(code(KeyCode::Esc));
    app.signal = Some(super::app::SignalView {
        signal: SignalType::PricingIntent,
        data: Some(f.explained.clone()),
        error: None,
        scroll: 0,
    });
    app.overlay = Overlay::Signal;
    shot("signal", &mut app);
    assert!(
        stale.is_empty(),
        "these pictures no longer match the app's render; run BETON_UPDATE_IMAGES=1 cargo test readme_images: {stale:?}"
    );
}

/// Enter on the selected row: the detail it asks for (key, queue entry, T).
fn enter_detail(app: &mut App) -> (String, Option<QueueEntry>, i64) {
    let Some(Effect::LoadDetail { key, entry, as_of }) = app.update(code(KeyCode::Enter)) else {
        panic!("Enter opens the detail")
    };
    (key, entry, as_of)
}

/// A real daily run at T (what cron does).
fn daily_at_t(ctx: &Context) -> beton::pipeline::RunResult {
    beton::pipeline::run_daily(
        ctx,
        &beton::pipeline::RunOptions { as_of: Some(T) },
        &Silent,
    )
    .unwrap()
}

/// The first backtest the app runs is saved under the workspace lock, like `beton backtest`:
/// while another command holds it (a run, an import), the app waits a few seconds, saves
/// nothing and says why; once it is free the backtest is saved.
#[test]
fn the_backtest_save_takes_the_workspace_lock() {
    let (dir, ctx) = live_workspace(14);
    daily_at_t(&ctx);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM backtests"), 0);
    let held = beton::store::RunLock::acquire(dir.path(), std::time::Duration::ZERO).unwrap();
    let started = std::time::Instant::now();
    let f = data::figures(&ctx, Some(T), &Silent).unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "it does not wait forever"
    );
    assert!(f.backtest.is_none(), "nothing saved, nothing shown");
    assert!(
        f.errors
            .iter()
            .any(|e| e.starts_with("backtest: ") && e.contains("another beton run")),
        "{:?}",
        f.errors
    );
    assert!(f.health.is_some(), "the other figures still come");
    assert_eq!(count(dir.path(), "SELECT count(*) FROM backtests"), 0);
    drop(held);
    let f = data::figures(&ctx, Some(T), &Silent).unwrap();
    assert!(f.backtest.is_some_and(|b| b.id > 0), "{:?}", f.errors);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM backtests"), 1);
}

/// Characters a terminal acts on instead of showing (what `beton::safe` escapes).
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Every cell of a render, as one string per screen.
fn screen(app: &App, w: u16, h: u16) -> (String, Vec<String>) {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| super::ui::render(f, app)).unwrap();
    let buf = term.backend().buffer();
    let bad: Vec<String> = buf
        .content
        .iter()
        .filter(|c| c.symbol().chars().any(acts_on_terminal))
        .map(|c| format!("{:?}", c.symbol()))
        .collect();
    let text = (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
        .collect();
    (text, bad)
}

/// Account keys, properties, evidence, deal fields and errors come from client-side PostHog
/// calls and imported files: an account key with ESC sequences, a carriage return and a
/// right-to-left override, rendered through every pane, the detail, the dialogs and the status
/// line, leaves no control character in the buffer, and shows as escapes the way the CLI does.
#[test]
fn workspace_text_with_control_characters_renders_escaped_everywhere() {
    let (dir, ctx) = live_workspace(15);
    let db = rusqlite::Connection::open(dir.path().join("workspace.sqlite")).unwrap();
    db.execute_batch(
        "UPDATE accounts SET key = key || char(27) || '[31m' || char(13) || char(8238) || 'x';
         UPDATE accounts SET snapshot = json_set(snapshot, '$.owner_email',
             'ae' || char(27) || ']0;pwned' || char(7) || '@x.com') WHERE snapshot IS NOT NULL;
         UPDATE prop_history SET props = json_set(props, '$.plan', 'pro' || char(27) || '[2J');
         UPDATE deals SET lead_source = lead_source || char(27) || '[5m' || char(8238),
                          deal_id = deal_id || char(27) || '[1m';",
    )
    .unwrap();
    drop(db);
    let mut snap = data::startup(&ctx, Some(T), &Silent).unwrap();
    snap.figures = data::figures(&ctx, Some(T), &Silent).unwrap();
    snap.fill_last_seen();
    assert!(!snap.queue.is_empty(), "the renamed accounts are scored");
    let mut app = App::new(
        ctx.config.clone(),
        ctx.paths.config_file.clone(),
        dir.path().to_path_buf(),
        Theme { color: false },
        T,
    );
    app.update(Action::Loaded(Box::new(snap.clone())));
    app.update(Action::FiguresLoaded(Box::new(snap.figures.clone())));
    app.notice = None;
    let check = |app: &mut App, what: &str, escapes: &[&str]| {
        for (w, h) in [(120, 40), (200, 50)] {
            app.update(Action::Resize(w, h));
            let (text, bad) = screen(app, w, h);
            assert!(bad.is_empty(), "{what} at {w}×{h}: {bad:?}\n{text}");
            for e in escapes {
                assert!(text.contains(e), "{what} at {w}×{h} shows {e}:\n{text}");
            }
        }
    };
    // The account column is 22 cells wide: the escapes show, cut where the column ends.
    let key_escapes = ["\\u001b[31m\\u000d\\u202ex"];
    check(&mut app, "hot queue", &["\\u001b["]);
    app.update(key('2'));
    check(&mut app, "health", &["\\u001b["]);
    app.update(key('3'));
    check(&mut app, "sources", &["\\u001b[5m\\u202e"]);
    app.update(key('4'));
    check(&mut app, "backtest", &[]);
    // The detail: title, evidence, properties, deals.
    app.update(key('1'));
    let (k, entry, as_of) = enter_detail(&mut app);
    assert!(
        k.contains('\u{202e}'),
        "the key itself is kept for the lookup"
    );
    let d = data::detail(&ctx, &k, entry, as_of).unwrap();
    app.update(Action::DetailLoaded(Box::new(d)));
    check(&mut app, "detail", &key_escapes);
    check(&mut app, "detail", &["pro\\u001b[2J"]);
    app.update(code(KeyCode::Esc));
    // The status line: a copied key, a failed job.
    app.update(key('y'));
    check(&mut app, "copy notice", &key_escapes);
    app.update(Action::JobFailed(format!("no account `{k}`")));
    check(&mut app, "error notice", &key_escapes);
    app.update(Action::DetailFailed(k.clone()));
    // The apply confirmation lists the accounts a draft would route.
    let draft = ctx
        .config
        .with_overrides(&["route_threshold=10".into()])
        .unwrap();
    let sb = data::apply_preview(&ctx, &draft, T, &Silent).unwrap();
    assert!(!sb.diff.newly_routed.is_empty(), "{:?}", sb.diff);
    app.update(Action::TuningOpened(TEMPLATE.to_string(), None));
    app.tuning
        .as_mut()
        .unwrap()
        .set("route_threshold", "10")
        .unwrap();
    app.update(Action::ApplyPreview(Box::new(sb)));
    assert_eq!(app.overlay, Overlay::Confirm);
    check(&mut app, "apply confirmation", &["\\u202e"]);
}

/// The app's CSV export neutralises cells a spreadsheet would run, like `beton scores --csv`.
#[test]
fn the_export_neutralises_formula_cells() {
    let mut snap = synthetic(1);
    snap.queue[0].score.account = "=HYPERLINK(\"http://x\")".into();
    snap.queue[1].owner = Some("@SUM(A1)\u{1b}[2J".into());
    let mut app = app_with(snap);
    let Some(Effect::Export { text, .. }) = app.update(key('e')) else {
        panic!("the hot queue exports")
    };
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(&rows[0][0], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&rows[1][7], "'@SUM(A1)\\u001b[2J");
    assert_eq!(&rows[2][0], "beta.io", "plain keys as they are");
}

/// A fit with a model: the planted workspace (billing +1.6, pricing +1.1, support 0).
fn planted_learned() -> beton::learn::Learned {
    use beton::backtest::planted::{BASE_LOG_ODDS, PLANTS, planted};
    let (r, o, f) = planted(1, 2000, 365, &PLANTS, BASE_LOG_ODDS);
    let l = beton::learn::learn(&r, &o, &Config::default(), &f);
    assert!(l.model.is_some() && l.validates, "{:?}", l.reason);
    l
}

/// `L` opens the learn view on the Backtest pane and starts the fit on the worker (with the
/// latest run's T and the settings in force); the app keeps answering while it runs.
#[test]
fn the_learn_view_fits_in_the_background_and_toggles() {
    let mut app = demo_app();
    app.update(Action::FiguresLoaded(Box::new(
        fixture().snap.figures.clone(),
    )));
    app.update(key('4'));
    let Some(Effect::Learn { t, config, .. }) = app.update(key('L')) else {
        panic!("L starts the fit")
    };
    assert_eq!(t, fixture().snap.run.unwrap().as_of);
    assert_eq!(*config, app.config);
    assert!(app.learn_shown);
    assert_eq!(app.job.as_ref().map(|j| j.kind), Some(JobKind::Learn));
    app.update(Action::JobStage("replay".into()));
    app.update(Action::JobProgress(12, 52));
    app.update(Action::Resize(120, 40));
    let text = render(&app, 120, 40);
    assert!(text.contains("replay 12/52"), "progress shows: {text}");
    // Input is answered while the fit runs: scrolling, another pane and back.
    app.update(key('j'));
    assert_eq!(app.learn.as_ref().unwrap().scroll, 1);
    app.update(key('1'));
    assert_eq!(app.pane, 0);
    app.update(key('4'));
    assert!(app.learn_shown, "the view is kept while the pane is away");
    app.update(Action::LearnFinished(Box::new(planted_learned())));
    assert!(app.job.is_none());
    app.learn.as_mut().unwrap().scroll = 0;
    snapshot_both("learn", &mut app);
    // L again: the table; L once more: the same fit, not a new one.
    app.update(key('L'));
    assert!(!app.learn_shown);
    assert!(render(&app, 120, 40).contains("lift [95 % CI]"));
    assert!(app.update(key('L')).is_none(), "the fit is still fresh");
    assert!(app.learn_shown);
    app.update(code(KeyCode::Esc));
    assert!(!app.learn_shown, "Esc goes back to the table");
    // A failed fit says why in the view.
    app.config.route_threshold = 55;
    let Some(Effect::Learn { .. }) = app.update(key('L')) else {
        panic!("changed settings fit again")
    };
    app.update(Action::JobFailed("cancelled".into()));
    assert!(render(&app, 120, 40).contains("no fit: cancelled"));
}

/// Below 30 training wins the real fit on the demo refuses, and the view says why.
#[test]
fn the_learn_view_says_not_enough_data_with_the_reason() {
    let f = fixture();
    let l = data::learn(&f.ctx, T, &Silent).unwrap();
    assert!(l.model.is_none());
    let why = l.reason.clone().unwrap();
    assert!(
        why.starts_with("not enough data: ") && why.contains("30 needed"),
        "{why}"
    );
    let mut app = demo_app();
    app.update(key('4'));
    app.update(key('L'));
    app.update(Action::LearnFinished(Box::new(l)));
    snapshot_both("learn_not_enough_data", &mut app);
    assert!(render(&app, 120, 40).contains("no model: not enough data"));
    assert!(app.update(key('d')).is_none(), "nothing to draft");
    assert!(app.tuning.is_none());
    assert!(
        app.notice
            .as_ref()
            .unwrap()
            .text
            .contains("not enough data")
    );
}

/// `d` in the learn view only fills the tuner's draft: the file and the workspace are untouched
/// until the draft is applied (w, then y); then the bases are written and the model recorded,
/// both at once, as `beton learn --apply`. A model that validates worse than the rules needs F
/// (the CLI's --force) and is recorded as forced.
#[test]
fn the_learn_view_fills_a_draft_and_only_apply_writes() {
    for validates in [true, false] {
        let (dir, ctx) = live_workspace(16);
        let file = ctx.paths.config_file.clone();
        let original = std::fs::read(&file).unwrap();
        let mut learned = planted_learned();
        if !validates {
            learned.validates = false;
            learned.validation_reason = Some("validates worse than the rules in force".into());
        }
        let bases = learned.proposed_bases.clone().unwrap();
        let mut app = App::new(
            ctx.config.clone(),
            file.clone(),
            dir.path().to_path_buf(),
            Theme { color: false },
            T,
        );
        app.update(Action::Loaded(Box::new(synthetic(1))));
        app.update(Action::FiguresLoaded(Box::default()));
        let (mut looper, mut rx) = looper_at_t(&ctx);
        app.update(key('L'));
        assert_eq!(
            app.pane, 3,
            "L from any pane opens the Backtest pane's learn view"
        );
        app.update(Action::LearnFinished(Box::new(learned)));
        let Some(open @ Effect::OpenTuning { .. }) = app.update(key('d')) else {
            panic!("d opens the tuner on the proposed bases")
        };
        let Some(opened) = looper.perform(&app, open) else {
            panic!("the tuner reads the file")
        };
        app.update(opened);
        assert_eq!(app.overlay, Overlay::Tuning);
        let draft = app.draft().unwrap();
        for (name, b) in &bases {
            assert_eq!(SignalType::parse(name).unwrap().base(&draft), *b, "{name}");
        }
        assert!(app.tuning.as_ref().unwrap().dirty());
        assert_eq!(
            std::fs::read(&file).unwrap(),
            original,
            "drafting writes nothing"
        );
        assert_eq!(
            app.config.signals.billing_intent.base, 40,
            "nothing in force yet"
        );
        let store = ctx.open_store().unwrap();
        assert_eq!(
            beton::learn::current_model(&store).unwrap(),
            None,
            "no model recorded"
        );
        let Some(Effect::PreviewApply { draft, .. }) = app.update(key('w')) else {
            panic!("w asks what applying changes")
        };
        app.update(Action::ApplyPreview(Box::new(
            data::apply_preview(&ctx, &draft, T, &Silent).unwrap(),
        )));
        assert_eq!(app.overlay, Overlay::Confirm);
        app.update(Action::Resize(120, 40));
        let asked = render_plain(&app, 120, 40);
        assert!(asked.contains("records the model"), "{asked}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            original,
            "asking writes nothing"
        );
        let effect = if validates {
            app.update(key('y'))
        } else {
            assert!(asked.contains("does not validate"), "{asked}");
            assert!(app.update(key('y')).is_none(), "y does not apply it");
            assert_eq!(app.overlay, Overlay::Confirm, "the question stays");
            assert!(
                app.notice
                    .as_ref()
                    .unwrap()
                    .text
                    .contains("F applies it anyway")
            );
            app.update(key('F'))
        };
        let Some(effect @ Effect::SaveConfig { model: Some(_), .. }) = effect else {
            panic!("applying writes the draft with its model")
        };
        let Some(done @ Action::ModelApplied { .. }) = looper.perform(&app, effect) else {
            panic!("written and recorded")
        };
        app.update(done);
        let now = std::fs::read_to_string(&file).unwrap();
        let cfg = Config::parse(&now, "test").unwrap();
        for (name, b) in &bases {
            assert_eq!(SignalType::parse(name).unwrap().base(&cfg), *b, "{name}");
        }
        assert!(now.contains("# Score at or above which"), "comments kept");
        let m = beton::learn::current_model(&store)
            .unwrap()
            .expect("the model is recorded");
        assert_eq!(m.forced, !validates);
        assert_eq!(m.bases_after, bases);
        assert_eq!(app.config, cfg, "the settings in force are the file's");
        assert!(app.drafted.is_none() && app.tuning.is_none());
        assert!(
            app.notice
                .as_ref()
                .unwrap()
                .text
                .contains("learned model #")
        );
        drop(looper);
        while rx.try_recv().is_ok() {}
    }
}

/// A workspace where `parent_property` groups the standalone run's top five accounts under two
/// parents (three workspaces and two), and a run made in parent mode.
fn parent_workspace() -> (tempfile::TempDir, Context, Vec<String>, Vec<String>) {
    let (dir, ctx) = live_workspace(17);
    let standalone = daily_at_t(&ctx);
    let top: Vec<String> = standalone
        .scores
        .iter()
        .take(5)
        .map(|s| s.account.clone())
        .collect();
    assert_eq!(top.len(), 5);
    let db = rusqlite::Connection::open(dir.path().join("workspace.sqlite")).unwrap();
    for (i, key) in top.iter().enumerate() {
        let parent = if i < 3 {
            "group.example"
        } else {
            "pair.example"
        };
        db.execute(
            "UPDATE accounts SET snapshot = json_set(coalesce(snapshot, '{}'), '$.parent_domain', ?1) WHERE key = ?2",
            rusqlite::params![parent, key],
        )
        .unwrap();
    }
    drop(db);
    let mut ctx = ctx;
    ctx.config.accounts.parent_property = Some("parent_domain".into());
    daily_at_t(&ctx);
    (dir, ctx, top[..3].to_vec(), top[3..].to_vec())
}

/// With `accounts.parent_property`, the hot queue lists parents with their workspaces folded
/// under them: space (or →) unfolds, ← goes back to the parent and folds, Enter on a parent
/// lists its workspaces and on a workspace opens it as part of its parent. Tab still switches
/// panes; without the setting the same workspace gives a flat queue.
#[test]
fn parents_fold_their_workspaces_in_the_hot_queue() {
    let (dir, ctx, group, pair) = parent_workspace();
    let store = ctx.open_store().unwrap();
    let flat = data::from_store(&store, &Config::default()).unwrap();
    assert!(flat.queue.iter().all(|e| e.workspaces.is_empty()));
    assert!(!super::panes::hot_queue::table(&flat, &Config::default()).is_tree());
    let snap = data::from_store(&store, &ctx.config).unwrap();
    let parent = snap
        .queue
        .iter()
        .find(|e| e.score.account == "group.example")
        .expect("the parent is scored and in the queue");
    let mut keys: Vec<&str> = parent.workspaces.iter().map(|w| w.key.as_str()).collect();
    keys.sort_unstable();
    let mut want: Vec<&str> = group.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(keys, want, "its workspaces");
    assert!(
        snap.queue.iter().all(|e| !group.contains(&e.score.account)),
        "the workspaces are not listed on their own"
    );
    assert!(
        parent.workspaces.iter().any(|w| !w.contributes.is_empty()),
        "{:?}",
        parent.workspaces
    );
    let mut app = App::new(
        ctx.config.clone(),
        ctx.paths.config_file.clone(),
        dir.path().to_path_buf(),
        Theme { color: false },
        T,
    );
    let mut shown = snap.clone();
    // The run's start is wall-clock time: fixed for the snapshots.
    shown.run = shown.run.map(|r| RunInfo { started_at: T, ..r });
    app.update(Action::Loaded(Box::new(shown)));
    app.notice = None;
    let listed = accounts(&app, 0);
    assert!(listed.contains(&"group.example".to_string()));
    assert!(
        group.iter().all(|k| !listed.contains(k)),
        "folded at first: {listed:?}"
    );
    let at = listed.iter().position(|k| k == "group.example").unwrap();
    app.grids[0].select(at, 10);
    app.update(key(' '));
    let open = accounts(&app, 0);
    assert_eq!(
        &open[at + 1..at + 4],
        &group[..],
        "unfolded under the parent"
    );
    app.update(Action::Resize(120, 40));
    let text = render(&app, 120, 40);
    assert!(
        text.contains("▾ group.example") && text.contains("└ "),
        "{text}"
    );
    assert!(text.contains("▸ pair.example"), "{text}");
    // Enter on a workspace: its detail, as part of its parent.
    app.update(key('j'));
    let (k, entry, _) = enter_detail(&mut app);
    assert_eq!((k.as_str(), entry.is_none()), (group[0].as_str(), true));
    assert_eq!(
        app.detail.as_ref().unwrap().workspace_of.as_deref(),
        Some("group.example")
    );
    app.update(code(KeyCode::Esc));
    // ← from a workspace goes to its parent, ← again folds it, → unfolds; Tab switches panes.
    app.update(code(KeyCode::Left));
    assert_eq!(app.grids[0].selected, at);
    assert_eq!(accounts(&app, 0), open, "still open");
    app.update(code(KeyCode::Left));
    assert_eq!(accounts(&app, 0), listed, "folded");
    assert_eq!(app.pane, 0, "← folds, it does not switch panes here");
    app.update(code(KeyCode::Right));
    assert_eq!(accounts(&app, 0), open);
    snapshot_both("hot_queue_parents", &mut app);
    app.update(Action::Resize(120, 40));
    // The filter finds a parent by a workspace's key.
    app.update(key('/'));
    for c in pair[1].chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    assert_eq!(accounts(&app, 0), ["pair.example"]);
    app.update(code(KeyCode::Esc));
    // Enter on the parent: the detail lists its workspaces.
    let at = accounts(&app, 0)
        .iter()
        .position(|k| k == "group.example")
        .unwrap();
    app.grids[0].select(at, 10);
    let (k, entry, as_of) = enter_detail(&mut app);
    assert_eq!(entry.as_ref().map(|e| e.workspaces.len()), Some(3));
    let d = data::detail(&ctx, &k, entry, as_of).unwrap();
    assert!(d.daily.iter().sum::<u32>() > 0, "the workspaces' activity");
    app.update(Action::DetailLoaded(Box::new(d)));
    let text = render(&app, 120, 40);
    assert!(text.contains("workspaces (3)"), "{text}");
    for w in &group {
        assert!(text.contains(w.as_str()), "{w}: {text}");
    }
    app.update(code(KeyCode::Esc));
    app.update(code(KeyCode::Tab));
    assert_eq!(app.pane, 1, "Tab still switches panes");
}

#[test]
fn the_answer_dialog_records_a_reps_disposition_and_the_detail_shows_it() {
    let f = fixture();
    let mut app = demo_app();
    let Some(Effect::LoadDetail {
        key: k,
        entry: e,
        as_of,
    }) = app.update(code(KeyCode::Enter))
    else {
        panic!()
    };
    let mut d = data::detail(&f.ctx, &k, e, as_of).unwrap();
    app.update(Action::DetailLoaded(Box::new(d.clone())));
    // `a` opens the dialog; ↓ picks not_ready; letters (even q and j) go into the note.
    assert!(app.update(key('a')).is_none());
    app.update(code(KeyCode::Down));
    for c in "q3 budget, jan".chars() {
        app.update(key(c));
    }
    assert_eq!(
        app.overlay,
        Overlay::Detail,
        "q typed into the note, not quit"
    );
    snapshot_both("detail_answer", &mut app);
    let Some(Effect::RecordAnswer {
        disposition,
        as_of: at_t,
        ..
    }) = app.update(code(KeyCode::Enter))
    else {
        panic!("Enter records the answer")
    };
    assert_eq!(disposition.account, k);
    assert_eq!(disposition.kind, beton::feedback::Kind::NotReady);
    assert_eq!(disposition.note.as_deref(), Some("q3 budget, jan"));
    assert_eq!((disposition.source.as_str(), at_t), ("tui", as_of));
    assert!(app.detail.as_ref().unwrap().answer.is_none());
    // Esc closes the dialog with nothing recorded.
    app.update(key('a'));
    assert!(app.update(code(KeyCode::Esc)).is_none());
    assert!(app.detail.as_ref().unwrap().answer.is_none());
    assert_eq!(app.overlay, Overlay::Detail);
    // The detail of a suppressed account says so, with the rep's last answer.
    let at = as_of - 2 * beton::time::DAY;
    d.dispositions = vec![beton::feedback::Disposition {
        note: Some("q3 budget".into()),
        at,
        ..*disposition
    }];
    d.suppressed =
        beton::feedback::suppression(&Config::default().feedback, &d.dispositions, as_of);
    assert!(d.suppressed.is_some());
    app.update(Action::DetailLoaded(Box::new(d)));
    let text = render(&app, 120, 40);
    assert!(
        text.contains("suppressed: a rep answered not_ready on")
            && text.contains("rep feedback: not_ready on"),
        "{text}"
    );
    snapshot_both("detail_suppressed", &mut app);
}

#[test]
fn the_backtest_pane_shows_the_reps_false_positive_trend() {
    let f = fixture();
    let mut app = demo_app();
    let mut figures = f.snap.figures.clone();
    let saved = figures
        .backtest
        .as_mut()
        .expect("the fixture has a backtest");
    let answers: Vec<beton::feedback::Disposition> = (0..7)
        .map(|i| beton::feedback::Disposition {
            account: "acme.com".into(),
            kind: if i < 3 {
                beton::feedback::Kind::NotReady
            } else {
                beton::feedback::Kind::Legit
            },
            at: T - (40 - i) * beton::time::DAY,
            note: None,
            by: None,
            source: "cli".into(),
        })
        .collect();
    saved.report.feedback = beton::feedback::trend(&answers, T - 180 * beton::time::DAY, T);
    app.update(Action::FiguresLoaded(Box::new(figures)));
    app.update(key('4'));
    let text = render(&app, 200, 50);
    assert!(
        text.contains("reps' answers 7 · false pos. 42.9 %"),
        "{text}"
    );
    assert!(text.contains("by month: 2026-04 42.9 % (7)"), "{text}");
    // Without answers the pane shows no trend line (the demo's snapshots stay as they are).
    app.update(Action::FiguresLoaded(Box::new(f.snap.figures.clone())));
    assert!(!render(&app, 200, 50).contains("reps' answers"));
}
