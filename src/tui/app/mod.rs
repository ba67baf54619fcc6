//! The app's state and `update`: actions in, state changed, maybe an effect out. No I/O here.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use beton::backtest::SignalExplanation;
use beton::config::Config;
use beton::learn::Learned;
use beton::progress::CancelFlag;
use beton::signals::{SignalType, Tier};

use super::action::{Action, Effect, ModelApply};
use super::data::{Detail, Sandbox, Snapshot};
use super::keymap::{Command, Keymap};
use super::table::{Grid, TableData};
use super::theme::Theme;
use super::tuning::Tuning;
use super::ui;

mod draft;
use draft::holds_bases;
mod keys;

pub const PANES: [&str; 4] = ["Hot queue", "Health", "Sources", "Backtest"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Detail,
    Tuning,
    /// A question before something that acts: applying the draft, the real daily run.
    Confirm,
    /// A signal's explanation (Enter on a Backtest row).
    Signal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Startup,
    /// `r`: a what-if, nothing recorded.
    WhatIf,
    /// `D`, confirmed: the real pipeline.
    Daily,
    Reload,
    /// `w`: what applying would change.
    Preview,
    Explain,
    /// The learn view's fit.
    Learn,
}

impl JobKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Startup => "loading",
            Self::WhatIf => "what-if",
            Self::Daily => "daily run",
            Self::Reload => "reloading",
            Self::Preview => "checking the draft",
            Self::Explain => "explaining",
            Self::Learn => "learning",
        }
    }
}

/// What a confirmation asks.
#[derive(Debug, Clone)]
pub enum Confirm {
    /// Write the draft (`text`) to the config file; `model` when it holds learned bases.
    Apply {
        text: String,
        sandbox: Sandbox,
        model: Option<DraftedModel>,
    },
    /// Run the real daily pipeline; `lines` say what it will do and send.
    Daily { lines: Vec<String> },
}

/// The Backtest pane's learn view: fitting, fitted or failed.
#[derive(Debug, Clone)]
pub struct LearnView {
    pub data: Option<Box<Learned>>,
    pub error: Option<String>,
    pub scroll: u16,
    /// The settings in force and the T of the fit: showing the view again refits when either
    /// changed (an applied draft, a new run).
    pub config: Config,
    pub t: i64,
}

/// A learned model whose proposed bases went into the tuner's draft (`d` in the learn view).
#[derive(Debug, Clone)]
pub struct DraftedModel {
    pub learned: Box<Learned>,
    pub t: i64,
    /// The draft still holds exactly the proposed bases: applying it records the model.
    pub matches: bool,
}

/// The signal view: loading, loaded or failed.
#[derive(Debug, Clone)]
pub struct SignalView {
    pub signal: SignalType,
    pub data: Option<SignalExplanation>,
    pub error: Option<String>,
    pub scroll: u16,
}

/// Background work in flight.
#[derive(Debug, Clone)]
pub struct Job {
    pub kind: JobKind,
    pub stage: String,
    pub done: u64,
    pub total: u64,
    pub cancel: Arc<CancelFlag>,
}

/// The detail view: loading, loaded or failed.
#[derive(Debug, Clone)]
pub struct DetailView {
    pub key: String,
    pub data: Option<Detail>,
    pub error: Option<String>,
    pub scroll: u16,
    /// Which earlier run the "why now" compares with (0: the previous one).
    pub against: usize,
    /// Opened on a workspace row: the parent it is scored as part of.
    pub workspace_of: Option<String>,
    /// The rep's-answer dialog (`a`), when open.
    pub answer: Option<AnswerDialog>,
}

/// The dialog that records a rep's answer about the detail's account (SPEC §10). It writes the
/// workspace only (no CRM, no alert): an explicit action, not a what-if.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerDialog {
    /// Index into `beton::feedback::Kind::ALL`.
    pub kind: usize,
    pub note: String,
}

impl AnswerDialog {
    pub fn kind(&self) -> beton::feedback::Kind {
        beton::feedback::Kind::ALL[self.kind % beton::feedback::Kind::ALL.len()]
    }
}

/// A message in the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

pub struct App {
    pub config: Config,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub keymap: Keymap,
    pub theme: Theme,
    pub now: i64,
    pub size: (u16, u16),
    pub pane: usize,
    pub overlay: Overlay,
    /// Typing into the filter of the current pane.
    pub filtering: bool,
    pub snapshot: Snapshot,
    /// The backtest figures before the latest re-run, for before → after.
    pub previous: Option<Snapshot>,
    pub tables: [TableData; 4],
    pub grids: [Grid; 4],
    pub job: Option<Job>,
    pub detail: Option<DetailView>,
    /// The tuner's draft; it stays when the tuner closes, until applied (`w`) or dropped (`x`).
    pub tuning: Option<Tuning>,
    pub confirm: Option<Confirm>,
    pub signal: Option<SignalView>,
    /// The learn view's state, kept while the table shows.
    pub learn: Option<LearnView>,
    /// The Backtest pane shows the learn view instead of its table.
    pub learn_shown: bool,
    /// The learned model whose bases the tuner's draft holds.
    pub drafted: Option<DraftedModel>,
    /// Settings to put in the draft once the tuner has read the file.
    pub pending_sets: Vec<(String, String)>,
    /// The latest run's snapshot, kept while a what-if shows in its place.
    pub latest: Option<Snapshot>,
    /// A run newer than the one shown, made outside the app (cron): `R` loads it.
    pub newer_run: Option<i64>,
    /// The hot queue lists one tier only.
    pub tier: Option<Tier>,
    pub help_scroll: u16,
    pub notice: Option<Notice>,
    pub loaded: bool,
    pub quit: bool,
}

impl App {
    pub fn new(
        config: Config,
        config_path: PathBuf,
        data_dir: PathBuf,
        theme: Theme,
        now: i64,
    ) -> Self {
        let (keymap, errors) = Keymap::new(&config.keys);
        Self {
            config,
            config_path,
            data_dir,
            keymap,
            theme,
            now,
            size: (120, 40),
            pane: 0,
            overlay: Overlay::None,
            filtering: false,
            snapshot: Snapshot::default(),
            previous: None,
            tables: Default::default(),
            grids: Default::default(),
            job: None,
            detail: None,
            tuning: None,
            confirm: None,
            signal: None,
            learn: None,
            learn_shown: false,
            drafted: None,
            pending_sets: Vec::new(),
            latest: None,
            newer_run: None,
            tier: None,
            help_scroll: 0,
            notice: errors.first().map(|e| Notice {
                text: e.clone(),
                error: true,
            }),
            loaded: false,
            quit: false,
        }
    }

    /// Starts the startup load.
    pub fn start(&mut self) -> Effect {
        let cancel = Arc::new(CancelFlag::default());
        self.job = Some(Job {
            kind: JobKind::Startup,
            stage: "loading".into(),
            done: 0,
            total: 0,
            cancel: cancel.clone(),
        });
        Effect::Startup(cancel)
    }

    /// Rows of the table that fit on screen now.
    pub fn page(&self) -> usize {
        let a = ui::areas(Rect::new(0, 0, self.size.0, self.size.1), self.pane);
        usize::from(a.table.height.saturating_sub(3)).max(1)
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
    }

    /// Puts a new snapshot in place: tables rebuilt, filters and sorts kept.
    fn swap(&mut self, snap: Snapshot) {
        self.tables = super::panes::tables(&snap, &self.config);
        for (g, t) in self.grids.iter_mut().zip(&self.tables) {
            g.refresh(t);
        }
        if let Some(note) = snap.notes.last() {
            self.say(note.clone(), note.starts_with("step "));
        }
        if let Some(e) = snap.figures.errors.first() {
            self.say(e.clone(), true);
        }
        self.snapshot = snap;
        self.loaded = true;
    }

    /// Starts background work of `kind`; says so and returns `None` when a job already runs.
    fn begin_job(&mut self, kind: JobKind) -> Option<Arc<CancelFlag>> {
        if self.job.is_some() {
            self.say(
                format!(
                    "a job is running; {} cancels it",
                    self.keymap.hint(Command::Cancel)
                ),
                false,
            );
            return None;
        }
        let cancel = Arc::new(CancelFlag::default());
        self.job = Some(Job {
            kind,
            stage: "starting".into(),
            done: 0,
            total: 0,
            cancel: cancel.clone(),
        });
        Some(cancel)
    }

    /// The settings a what-if tries: the tuner's draft, else the file's.
    pub fn draft(&self) -> Result<Config, String> {
        match &self.tuning {
            Some(t) if t.dirty() => t.config(),
            _ => Ok(self.config.clone()),
        }
    }

    /// `r`: a what-if of the draft at the latest run's T.
    fn whatif(&mut self) -> Option<Effect> {
        let draft = match self.draft() {
            Ok(d) => d,
            Err(e) => {
                self.say(format!("the draft is not valid: {e}"), true);
                return None;
            }
        };
        let t = self.snapshot.run.map(|r| r.as_of);
        let cancel = self.begin_job(JobKind::WhatIf)?;
        self.notice = None;
        Some(Effect::WhatIf {
            draft: Box::new(draft),
            t,
            cancel,
        })
    }

    /// Back from a what-if to the latest run.
    fn leave_sandbox(&mut self) -> bool {
        match self.latest.take() {
            Some(real) => {
                let id = real.run.map(|r| r.id);
                self.swap(real);
                self.say(
                    match id {
                        Some(id) => format!("back to run {id}, the latest run"),
                        None => "back to the latest run".into(),
                    },
                    false,
                );
                true
            }
            None => false,
        }
    }

    /// What `D` will do, for its confirmation.
    fn daily_lines(&self) -> Vec<String> {
        let cfg = &self.config;
        let next = self.snapshot.run.map_or(1, |r| r.id + 1);
        let mut out = vec![
            "Run the daily pipeline now, as cron does (`beton --run-daily`), with the file's settings:".to_string(),
            format!(
                "· records run {next} (or the next free number): it becomes the latest run that `beton scores`, `beton sync attio` and cron read"
            ),
            "· records the emitted signals in the cooldown ledger".into(),
        ];
        let demo = self.snapshot.demo;
        let posthog = cfg.posthog.as_ref().filter(|p| p.project_id != 0);
        match (posthog, demo) {
            (Some(p), false) => {
                out.push(format!(
                    "· sends a beton_signal_fired event to PostHog project {} per newly emitted signal",
                    p.project_id
                ));
                if p.provision_on_run {
                    out.push("· updates the PostHog dashboards".into());
                }
            }
            (Some(_), true) => out.push("· DEMO data: nothing is sent to PostHog".into()),
            (None, _) => out.push("· PostHog is not connected: nothing is sent there".into()),
        }
        let routed = self
            .latest
            .as_ref()
            .unwrap_or(&self.snapshot)
            .queue
            .iter()
            .filter(|e| e.score.routed)
            .count();
        match (&cfg.attio, demo) {
            (Some(_), false) => out.push(format!(
                "· writes to Attio: a deal (note, task) per routed account ({routed} routed in the latest run)"
            )),
            (Some(_), true) => out.push("· DEMO data: nothing is sent to Attio".into()),
            (None, _) => out.push("· Attio is not configured: no CRM writes".into()),
        }
        if self.tuning.as_ref().is_some_and(Tuning::dirty) {
            out.push(format!(
                "Your draft is NOT used: {} in the tuner applies it first.",
                "w"
            ));
        }
        out
    }

    pub fn update(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Key(k) if k.kind != KeyEventKind::Release => return self.key(k),
            Action::Key(_) => {}
            Action::Mouse(m) => return self.mouse(m),
            Action::Resize(w, h) => {
                self.size = (w, h);
                let page = self.page();
                for g in &mut self.grids {
                    g.scroll_to(page);
                }
            }
            Action::Tick(now) => self.now = now,
            Action::Interrupt => return self.quit(),
            Action::JobStage(s) => {
                if let Some(j) = &mut self.job {
                    j.stage = s;
                    j.done = 0;
                    j.total = 0;
                }
            }
            Action::JobProgress(done, total) => {
                if let Some(j) = &mut self.job {
                    j.done = done;
                    j.total = total;
                }
            }
            Action::Loaded(snap) => {
                self.swap(*snap);
                if let Some(j) = &mut self.job {
                    j.stage = "figures".into();
                }
            }
            Action::FiguresLoaded(figures) => {
                self.job = None;
                if let Some(e) = figures.errors.first() {
                    self.say(e.clone(), true);
                }
                self.snapshot.figures = *figures;
                self.snapshot.fill_last_seen();
                self.rebuild();
            }
            Action::RunFinished(snap) => {
                self.job = None;
                let shown = std::mem::take(&mut self.snapshot);
                let old = self.latest.take().unwrap_or(shown);
                let rows = snap.queue.len();
                let id = snap.run.map(|r| r.id);
                self.swap(*snap);
                self.previous = Some(old);
                if self.newer_run <= id {
                    self.newer_run = None;
                }
                if self.notice.as_ref().is_none_or(|n| !n.error) {
                    self.say(format!("daily run {} finished: {rows} accounts in the queue; 4 shows the backtest before → after", id.unwrap_or_default()), false);
                }
            }
            Action::WhatIfFinished(snap) => {
                self.job = None;
                if self.latest.is_none() {
                    self.latest = Some(std::mem::take(&mut self.snapshot));
                }
                let n = snap.sandbox.as_ref().map_or(0, |s| s.settings.len());
                self.swap(*snap);
                if self.notice.as_ref().is_none_or(|n| !n.error) {
                    let what = match n {
                        0 => "the file's settings".to_string(),
                        1 => "the draft (1 setting changed)".to_string(),
                        n => format!("the draft ({n} settings changed)"),
                    };
                    self.say(
                        format!(
                            "what-if of {what}: nothing recorded or sent · {} back to the latest run · t then w applies",
                            self.keymap.hint(Command::Back)
                        ),
                        false,
                    );
                }
            }
            Action::Reloaded(snap) => {
                self.job = None;
                self.latest = None;
                let id = snap.run.map(|r| r.id);
                self.swap(*snap);
                self.newer_run = None;
                if self.notice.as_ref().is_none_or(|n| !n.error) {
                    self.say(
                        match id {
                            Some(id) => format!("loaded run {id}, the latest run"),
                            None => "no run yet".into(),
                        },
                        false,
                    );
                }
            }
            Action::ApplyPreview(sandbox) => {
                self.job = None;
                if let Some(t) = &self.tuning {
                    let model = self.drafted.clone().map(|mut m| {
                        m.matches = t.config().is_ok_and(|cfg| holds_bases(&cfg, &m.learned));
                        m
                    });
                    self.confirm = Some(Confirm::Apply {
                        text: t.text(),
                        sandbox: *sandbox,
                        model,
                    });
                    self.overlay = Overlay::Confirm;
                }
            }
            Action::ConfigChanged(text) => self.config_changed(&text),
            Action::RunSeen { id, .. } => {
                let shown = self
                    .latest
                    .as_ref()
                    .unwrap_or(&self.snapshot)
                    .run
                    .map(|r| r.id);
                let ours = self
                    .job
                    .as_ref()
                    .is_some_and(|j| matches!(j.kind, JobKind::Daily | JobKind::Startup));
                if !ours
                    && self.loaded
                    && shown.is_none_or(|s| id > s)
                    && self.newer_run != Some(id)
                {
                    self.newer_run = Some(id);
                    self.say(
                        format!(
                            "new run {id} (made outside the app, e.g. by cron): press {} to load it",
                            self.keymap.hint(Command::Reload)
                        ),
                        false,
                    );
                }
            }
            Action::SignalExplained(e) => {
                if self
                    .job
                    .as_ref()
                    .is_some_and(|j| j.kind == JobKind::Explain)
                {
                    self.job = None;
                }
                if let Some(v) = self.signal.as_mut().filter(|v| v.signal == e.signal) {
                    v.data = Some(*e);
                }
            }
            Action::LearnFinished(l) => {
                        if self.job.as_ref().is_some_and(|j| j.kind == JobKind::Learn) {
                    self.job = None;
                }
                if let Some(v) = &mut self.learn {
                    v.data = Some(l);
                    v.error = None;
                }
            }
            Action::JobFailed(e) => {
                let kind = self.job.take().map(|j| j.kind);
                let what = match kind {
                    Some(JobKind::Startup) => "loading the workspace",
                    Some(JobKind::Learn) => {
                        if let Some(v) = &mut self.learn {
                            v.error = Some(e.clone());
                        }
                        "learning"
                    }
                    Some(JobKind::Explain) => {
                        if let Some(v) = &mut self.signal {
                            v.error = Some(e.clone());
                        }
                        "explaining the signal"
                    }
                    Some(k) => k.label(),
                    None => "job",
                };
                self.loaded = true;
                self.say(format!("{what}: {e}"), true);
            }
            Action::DetailLoaded(d) => {
                if let Some(v) = self
                    .detail
                    .as_mut()
                    .filter(|v| v.key == d.entry.score.account)
                {
                    v.data = Some(*d);
                }
            }
            Action::DetailFailed(e) => {
                if let Some(v) = &mut self.detail {
                    v.error = Some(e);
                }
            }
            Action::TuningOpened(text, then) => match Tuning::open(&text) {
                Ok(t) => {
                    self.tuning = Some(t);
                    self.overlay = Overlay::Tuning;
                    if let Some((k, v)) = then {
                        self.try_value(&k, &v);
                    }
                    let sets = std::mem::take(&mut self.pending_sets);
                    if !sets.is_empty() {
                        self.draft_sets(&sets);
                    }
                }
                Err(e) => self.say(format!("{}: {e}", self.config_path.display()), true),
            },
            Action::ConfigSaved(cfg) => self.saved(*cfg, None),
            Action::ModelApplied {
                config,
                model_id,
                forced,
            } => self.saved(
                *config,
                Some(format!(
                    "; learned model #{model_id}{} recorded (`beton learn --rollback` puts the previous bases back)",
                    if forced { ", forced," } else { "" }
                )),
            ),
            Action::Notice(text, error) => self.say(text, error),
        }
        None
    }

    /// The config file was written (the tuner's apply): the settings in force change, the draft
    /// and a drafted model are done with. `model` says what else was recorded.
    fn saved(&mut self, cfg: Config, model: Option<String>) {
        let changes = beton::pipeline::sandbox::setting_changes(&self.config, &cfg);
        self.config = cfg;
        let (keymap, errors) = Keymap::new(&self.config.keys);
        self.keymap = keymap;
        self.tuning = None;
        self.confirm = None;
        self.drafted = None;
        self.overlay = Overlay::None;
        self.rebuild();
        match errors.first() {
            Some(e) => self.say(e.clone(), true),
            None => self.say(
                format!(
                    "applied to {} ({}){}: the next daily run uses it",
                    self.config_path.display(),
                    changes
                        .iter()
                        .map(beton::pipeline::sandbox::SettingChange::text)
                        .collect::<Vec<_>>()
                        .join(", "),
                    model.unwrap_or_default()
                ),
                false,
            ),
        }
    }

    /// Rebuilds every table from the snapshot (the settings changed, or the figures came).
    fn rebuild(&mut self) {
        let tables = super::panes::tables(&self.snapshot, &self.config);
        for (i, t) in tables.into_iter().enumerate() {
            self.tables[i] = t;
            self.grids[i].refresh(&self.tables[i]);
        }
    }

    /// The config file changed on disk (an editor, `beton init`, another app).
    fn config_changed(&mut self, text: &str) {
        let path = self.config_path.display().to_string();
        let cfg = match Config::parse(text, &path) {
            Ok(c) => c,
            Err(e) => {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                self.say(
                    format!("{path} changed on disk but is not valid, the settings in force stay: {first}"),
                    true,
                );
                return;
            }
        };
        if cfg == self.config {
            return;
        }
        let changes = beton::pipeline::sandbox::setting_changes(&self.config, &cfg);
        self.config = cfg;
        let (keymap, _) = Keymap::new(&self.config.keys);
        self.keymap = keymap;
        self.rebuild();
        let listed = changes
            .iter()
            .take(3)
            .map(beton::pipeline::sandbox::SettingChange::text)
            .collect::<Vec<_>>()
            .join(", ");
        match &self.tuning {
            Some(t) if t.dirty() => self.say(
                format!(
                    "{path} changed on disk ({listed}); your draft was made on the old file: x in the tuner drops it, w would write it over the change"
                ),
                true,
            ),
            _ => {
                if self.tuning.is_some() {
                    self.tuning = Tuning::open(text).ok();
                    if self.tuning.is_none() && self.overlay == Overlay::Tuning {
                        self.overlay = Overlay::None;
                    }
                }
                self.say(
                    format!("{path} changed on disk; reloaded ({listed}). r tries it on the latest run"),
                    false,
                );
            }
        }
    }

    /// Sets `key = value` in the draft and shows it in the tuner.
    fn try_value(&mut self, key: &str, value: &str) {
        let Some(t) = &mut self.tuning else { return };
        match t.set(key, value) {
            Ok(()) => {
                self.overlay = Overlay::Tuning;
                self.say(
                    format!(
                        "draft: {key} = {value} · r tries it (what-if) · w applies it to the file"
                    ),
                    false,
                );
            }
            Err(e) => self.say(e, true),
        }
    }

    fn quit(&mut self) -> Option<Effect> {
        if let Some(j) = &self.job {
            j.cancel.cancel();
        }
        self.quit = true;
        Some(Effect::Quit)
    }
}
