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

    fn key(&mut self, k: KeyEvent) -> Option<Effect> {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return self.quit();
        }
        if self.filtering {
            return self.filter_key(k);
        }
        if self.overlay == Overlay::Detail
            && self.detail.as_ref().is_some_and(|v| v.answer.is_some())
        {
            return self.answer_key(k);
        }
        if self.overlay == Overlay::Tuning {
            match &self.tuning {
                Some(t) if t.editing.is_some() => return self.edit_key(k),
                Some(t) if t.searching => return self.search_key(k),
                _ => {}
            }
        }
        let cmd = self.keymap.command(&k);
        match self.overlay {
            Overlay::Help => {
                match cmd {
                    Some(Command::Help | Command::Back | Command::Quit) => {
                        self.overlay = Overlay::None;
                        self.help_scroll = 0;
                    }
                    Some(Command::Down) => self.help_scroll = self.help_scroll.saturating_add(1),
                    Some(Command::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                    Some(Command::PageDown) => {
                        self.help_scroll = self.help_scroll.saturating_add(10)
                    }
                    Some(Command::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(10),
                    Some(Command::Top) => self.help_scroll = 0,
                    _ => {}
                }
                None
            }
            Overlay::Detail => self.detail_key(cmd),
            Overlay::Tuning => self.tuning_key(k, cmd),
            Overlay::Confirm => self.confirm_key(k, cmd),
            Overlay::Signal => self.signal_key(k, cmd),
            Overlay::None if self.pane == 3 && self.learn_shown => self.learn_key(k, cmd),
            // In the hot queue's tree, ← and → fold and unfold, as in a file tree.
            Overlay::None
                if self.pane == 0
                    && self.tables[0].is_tree()
                    && k.modifiers.is_empty()
                    && matches!(k.code, KeyCode::Left | KeyCode::Right) =>
            {
                self.fold(Some(k.code == KeyCode::Right))
            }
            Overlay::None => cmd.and_then(|c| self.command(c)),
        }
    }

    fn filter_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let g = &mut self.grids[self.pane];
        match k.code {
            KeyCode::Enter => self.filtering = false,
            KeyCode::Esc => {
                self.filtering = false;
                g.filter.clear();
            }
            KeyCode::Backspace => {
                g.filter.pop();
            }
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                g.filter.push(c)
            }
            _ => return None,
        }
        g.refresh(&self.tables[self.pane]);
        let page = self.page();
        self.grids[self.pane].scroll_to(page);
        None
    }

    fn edit_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let t = self.tuning.as_mut()?;
        match k.code {
            KeyCode::Enter => {
                t.commit();
            }
            KeyCode::Esc => t.cancel_edit(),
            KeyCode::Backspace => t.backspace(),
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                t.type_char(c)
            }
            _ => {}
        }
        None
    }

    /// `/` in the tuner: every character goes to the search.
    fn search_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let t = self.tuning.as_mut()?;
        match k.code {
            KeyCode::Enter => t.searching = false,
            KeyCode::Esc => {
                t.searching = false;
                t.search.clear();
                t.selected = 0;
            }
            KeyCode::Backspace => t.search_backspace(),
            KeyCode::Up => t.step(-1, 1),
            KeyCode::Down => t.step(1, 1),
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                t.search_char(c)
            }
            _ => {}
        }
        None
    }

    fn detail_key(&mut self, cmd: Option<Command>) -> Option<Effect> {
        let v = self.detail.as_mut()?;
        match cmd? {
            Command::Back | Command::Quit | Command::Open => {
                self.overlay = Overlay::None;
                self.detail = None;
            }
            Command::Down => v.scroll = v.scroll.saturating_add(1),
            Command::Up => v.scroll = v.scroll.saturating_sub(1),
            Command::PageDown => v.scroll = v.scroll.saturating_add(10),
            Command::PageUp => v.scroll = v.scroll.saturating_sub(10),
            Command::Top => v.scroll = 0,
            Command::NextPane => {
                let n = v.data.as_ref().map_or(0, |d| d.since.len());
                v.against = (v.against + 1).min(n.saturating_sub(1));
            }
            Command::PrevPane => v.against = v.against.saturating_sub(1),
            Command::Copy => {
                let key = v.key.clone();
                self.say(format!("copied {key}"), false);
                return Some(Effect::Copy(key));
            }
            Command::Help => self.overlay = Overlay::Help,
            Command::Cancel => return self.command(Command::Cancel),
            Command::Answer if v.data.is_some() => v.answer = Some(AnswerDialog::default()),
            _ => {}
        }
        None
    }

    /// The answer dialog: ↑↓ (or Tab) choose, typing writes the note, Enter records, Esc cancels.
    fn answer_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let v = self.detail.as_mut()?;
        let d = v.answer.as_mut()?;
        let n = beton::feedback::Kind::ALL.len();
        match k.code {
            KeyCode::Esc => {
                v.answer = None;
                self.say("nothing recorded", false);
            }
            KeyCode::Up | KeyCode::BackTab => d.kind = (d.kind + n - 1) % n,
            KeyCode::Down | KeyCode::Tab => d.kind = (d.kind + 1) % n,
            KeyCode::Backspace => {
                d.note.pop();
            }
            KeyCode::Enter => {
                let answer = v.answer.take()?;
                let entry = v.data.as_ref().map(|d| d.entry.clone());
                let as_of = v.data.as_ref().map_or(self.now, |d| d.as_of);
                let note = answer.note.trim().to_string();
                return Some(Effect::RecordAnswer {
                    disposition: Box::new(beton::feedback::Disposition {
                        account: v.key.clone(),
                        kind: answer.kind(),
                        at: beton::time::now(),
                        note: (!note.is_empty()).then_some(note),
                        by: None,
                        source: "tui".into(),
                    }),
                    entry,
                    as_of,
                });
            }
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && d.note.chars().count() < 500 =>
            {
                d.note.push(c)
            }
            _ => {}
        }
        None
    }

    /// The tuner's list. Only its own keys act here: letters never reach the panes' commands.
    fn tuning_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        let page = self.page();
        let plain = !k
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let apply = (k.code == KeyCode::Char('w') && plain)
            || (k.code == KeyCode::Char('s') && k.modifiers.contains(KeyModifiers::CONTROL));
        if apply {
            return self.apply();
        }
        if k.code == KeyCode::Char('x') && plain {
            let t = self.tuning.as_mut()?;
            if t.dirty() {
                t.drop_draft();
                self.drafted = None;
                self.say("draft dropped: the tuner shows the file again", false);
            }
            return None;
        }
        let t = self.tuning.as_mut()?;
        match cmd {
            Some(Command::Down) => t.step(1, page),
            Some(Command::Up) => t.step(-1, page),
            Some(Command::PageDown) => t.step(page as isize, page),
            Some(Command::PageUp) => t.step(-(page as isize), page),
            Some(Command::Top) => t.step(isize::MIN / 2, page),
            Some(Command::Bottom) => t.step(isize::MAX / 2, page),
            Some(Command::Open) => t.begin(),
            Some(Command::Filter) => {
                t.searching = true;
                t.selected = 0;
            }
            Some(Command::Back | Command::Quit) => {
                let dirty = t.dirty();
                self.overlay = Overlay::None;
                if dirty {
                    self.say(
                        format!(
                            "draft kept (not applied): {} tries it · {} reopens the tuner, where w applies and x drops it",
                            self.keymap.hint(Command::Rerun),
                            self.keymap.hint(Command::Tune)
                        ),
                        false,
                    );
                } else {
                    self.tuning = None;
                }
            }
            Some(Command::Rerun) => {
                self.overlay = Overlay::None;
                return self.whatif();
            }
            Some(Command::Cancel) => return self.command(Command::Cancel),
            Some(Command::Help) => self.overlay = Overlay::Help,
            _ => {}
        }
        None
    }

    /// `w`: checks the draft and asks what applying it would change.
    fn apply(&mut self) -> Option<Effect> {
        let t = self.tuning.as_mut()?;
        if !t.dirty() {
            self.say("the draft equals the file: nothing to apply", false);
            return None;
        }
        let draft = match t.config() {
            Ok(c) => c,
            Err(e) => {
                t.error = Some(e);
                return None;
            }
        };
        let at = self.snapshot.run.map(|r| r.as_of);
        let cancel = self.begin_job(JobKind::Preview)?;
        Some(Effect::PreviewApply {
            draft: Box::new(draft),
            t: at,
            cancel,
        })
    }

    fn confirm_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        let force = k.code == KeyCode::Char('F');
        let yes = force || matches!(k.code, KeyCode::Char('y') | KeyCode::Enter);
        let no = matches!(k.code, KeyCode::Char('n'))
            || matches!(cmd, Some(Command::Back | Command::Quit));
        if no {
            let back = match self.confirm.take() {
                Some(Confirm::Apply { .. }) => Overlay::Tuning,
                _ => Overlay::None,
            };
            self.overlay = back;
            self.say("nothing done", false);
            return None;
        }
        if !yes {
            return None;
        }
        match self.confirm.take()? {
            Confirm::Apply {
                text,
                sandbox,
                model,
            } => {
                let model = model.filter(|m| m.matches);
                let needs_force = model.as_ref().is_some_and(|m| !m.learned.validates);
                if needs_force && !force {
                    self.confirm = Some(Confirm::Apply {
                        text,
                        sandbox,
                        model,
                    });
                    self.say(
                        "the learned model validates worse than the rules in force: F applies it anyway (like `beton learn --apply --force`), n goes back",
                        true,
                    );
                    return None;
                }
                Some(Effect::SaveConfig {
                    text,
                    model: model.map(|m| {
                        Box::new(ModelApply {
                            learned: m.learned,
                            t: m.t,
                            force: needs_force,
                        })
                    }),
                })
            }
            Confirm::Daily { .. } => {
                self.overlay = Overlay::None;
                let cancel = self.begin_job(JobKind::Daily)?;
                self.notice = None;
                Some(Effect::Run(cancel))
            }
        }
    }

    fn signal_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        let v = self.signal.as_mut()?;
        if k.code == KeyCode::Char('d') {
            let Some((key, value)) = v
                .data
                .as_ref()
                .and_then(|e| Some((format!("signals.{}", e.tuning_key), e.suggested.clone()?)))
            else {
                self.say(
                    "no suggested value: the advice is to keep the setting",
                    false,
                );
                return None;
            };
            self.signal = None;
            if self.tuning.is_some() {
                self.try_value(&key, &value);
                return None;
            }
            self.overlay = Overlay::None;
            return Some(Effect::OpenTuning {
                then: Some((key, value)),
            });
        }
        match cmd? {
            Command::Back | Command::Quit | Command::Open => {
                self.overlay = Overlay::None;
                self.signal = None;
            }
            Command::Down => v.scroll = v.scroll.saturating_add(1),
            Command::Up => v.scroll = v.scroll.saturating_sub(1),
            Command::PageDown => v.scroll = v.scroll.saturating_add(10),
            Command::PageUp => v.scroll = v.scroll.saturating_sub(10),
            Command::Top => v.scroll = 0,
            Command::Help => self.overlay = Overlay::Help,
            Command::Cancel => return self.command(Command::Cancel),
            _ => {}
        }
        None
    }

    fn command(&mut self, c: Command) -> Option<Effect> {
        let page = self.page();
        let g = &mut self.grids[self.pane];
        match c {
            Command::Quit => return self.quit(),
            Command::Help => self.overlay = Overlay::Help,
            Command::NextPane => self.pane = (self.pane + 1) % PANES.len(),
            Command::PrevPane => self.pane = (self.pane + PANES.len() - 1) % PANES.len(),
            Command::Pane(i) => self.pane = i.min(PANES.len() - 1),
            Command::Up => g.step(-1, page),
            Command::Down => g.step(1, page),
            Command::PageUp => g.step(-(page as isize), page),
            Command::PageDown => g.step(page as isize, page),
            Command::Top => g.step(isize::MIN / 2, page),
            Command::Bottom => g.step(isize::MAX / 2, page),
            Command::Open => return self.open(),
            Command::Back => {
                if !g.filter.is_empty() {
                    g.filter.clear();
                    g.refresh(&self.tables[self.pane]);
                } else {
                    self.leave_sandbox();
                }
            }
            Command::Filter => self.filtering = true,
            Command::Sort => {
                let n = self.tables[self.pane].columns.len();
                g.sort = match g.sort {
                    None if n > 0 => Some((0, false)),
                    Some((col, _)) if col + 1 < n => Some((col + 1, false)),
                    _ => None,
                };
                g.refresh(&self.tables[self.pane]);
            }
            Command::Reverse => {
                g.sort = Some(g.sort.map_or((0, true), |(col, r)| (col, !r)));
                g.refresh(&self.tables[self.pane]);
            }
            Command::Export => return self.export(),
            Command::Copy => {
                let key = g
                    .current()
                    .map(|i| self.tables[self.pane].key(i).to_string());
                return match key {
                    Some(key) => {
                        self.say(format!("copied {key}"), false);
                        Some(Effect::Copy(key))
                    }
                    None => None,
                };
            }
            Command::Tune => {
                if self.tuning.is_some() {
                    self.overlay = Overlay::Tuning;
                    return None;
                }
                return Some(Effect::OpenTuning { then: None });
            }
            Command::Rerun => return self.whatif(),
            Command::RunDaily => {
                if self.job.is_some() {
                    return self.begin_job(JobKind::Daily).map(Effect::Run);
                }
                self.confirm = Some(Confirm::Daily {
                    lines: self.daily_lines(),
                });
                self.overlay = Overlay::Confirm;
            }
            Command::Reload => {
                let cancel = self.begin_job(JobKind::Reload)?;
                return Some(Effect::Reload(cancel));
            }
            Command::Tier => {
                self.tier = match self.tier {
                    None => Some(Tier::Hot),
                    Some(Tier::Hot) => Some(Tier::Warm),
                    Some(Tier::Warm) => Some(Tier::Cool),
                    Some(Tier::Cool) => None,
                };
                self.pane = 0;
                let g = &mut self.grids[0];
                g.only = self.tier.map(|t| (1, t.as_str().to_string()));
                g.refresh(&self.tables[0]);
                g.scroll_to(page);
            }
            Command::Answer => self.say(
                format!(
                    "open an account ({}) to record a rep's answer",
                    self.keymap.hint(Command::Open)
                ),
                false,
            ),
            Command::Cancel => match &self.job {
                Some(j) => {
                    j.cancel.cancel();
                    self.say("cancelling…", false);
                }
                None => self.say("nothing is running", false),
            },
            Command::Learn => {
                if self.pane == 3 && self.learn_shown {
                    self.learn_shown = false;
                    return None;
                }
                self.pane = 3;
                return self.show_learn();
            }
            Command::Fold => return self.fold(None),
        }
        None
    }

    /// Folds or unfolds the selected parent's workspaces: `None` toggles (on a workspace row, it
    /// folds its parent), `Some(true)` unfolds (→), `Some(false)` folds a parent, or from one of
    /// its workspaces goes to the parent (←).
    fn fold(&mut self, arrow: Option<bool>) -> Option<Effect> {
        if self.pane != 0 {
            return None;
        }
        let page = self.page();
        let table = &self.tables[0];
        if !table.is_tree() {
            self.say(
                "no parents to fold: accounts.parent_property groups workspaces under their parent",
                false,
            );
            return None;
        }
        let g = &mut self.grids[0];
        let i = g.current()?;
        let under = table.parent.get(i).copied().flatten();
        let row = under.unwrap_or(i);
        if table.children[row].is_empty() {
            return None;
        }
        let key = table.key(row).to_string();
        let open = g.open.contains(&key);
        let want = match (arrow, under) {
            (None, _) => !open,
            (Some(true), _) => true,
            (Some(false), Some(_)) => open,
            (Some(false), None) => false,
        };
        if want {
            g.open.insert(key);
        } else {
            g.open.remove(&key);
        }
        g.refresh(table);
        if under.is_some()
            && (arrow == Some(false) || !want)
            && let Some(at) = g.view.iter().position(|&v| v == row)
        {
            g.select(at, page);
        }
        g.scroll_to(page);
        None
    }

    /// `L`: the learn view, fitted again when the settings in force or the run changed since.
    fn show_learn(&mut self) -> Option<Effect> {
        self.learn_shown = true;
        let t = self
            .snapshot
            .run
            .map(|r| r.as_of)
            .or(self.snapshot.figures.backtest.as_ref().map(|b| b.as_of))
            .unwrap_or(self.now);
        let fresh = self
            .learn
            .as_ref()
            .is_some_and(|v| v.t == t && v.config == self.config && v.error.is_none());
        if fresh {
            return None;
        }
        let Some(cancel) = self.begin_job(JobKind::Learn) else {
            self.learn = Some(LearnView {
                data: None,
                error: Some(format!(
                    "another job is running: {} again when it has finished",
                    self.keymap.hint(Command::Learn)
                )),
                scroll: 0,
                config: self.config.clone(),
                t,
            });
            return None;
        };
        self.learn = Some(LearnView {
            data: None,
            error: None,
            scroll: 0,
            config: self.config.clone(),
            t,
        });
        Some(Effect::Learn {
            t,
            config: Box::new(self.config.clone()),
            cancel,
        })
    }

    /// Keys in the learn view: scrolling, `d` (draft the proposed bases), `L` or Esc back to the
    /// table; the app's other commands (panes, r, D, t, ?, q) as anywhere.
    fn learn_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        if k.code == KeyCode::Char('d') && k.modifiers.is_empty() {
            return self.draft_learned();
        }
        let v = self.learn.as_mut()?;
        match cmd? {
            Command::Down => v.scroll = v.scroll.saturating_add(1),
            Command::Up => v.scroll = v.scroll.saturating_sub(1),
            Command::PageDown => v.scroll = v.scroll.saturating_add(10),
            Command::PageUp => v.scroll = v.scroll.saturating_sub(10),
            Command::Top => v.scroll = 0,
            Command::Back => self.learn_shown = false,
            Command::Open
            | Command::Filter
            | Command::Sort
            | Command::Reverse
            | Command::Export
            | Command::Copy
            | Command::Bottom => {}
            c => return self.command(c),
        }
        None
    }

    /// `d` in the learn view: the proposed bases go into the tuner's draft (the tuner opens on
    /// them); nothing is written until the draft is applied (`w`, then a confirmation).
    fn draft_learned(&mut self) -> Option<Effect> {
        let v = self.learn.as_ref()?;
        let Some(l) = v.data.as_ref() else {
            self.say("the fit is not ready yet", false);
            return None;
        };
        let Some(bases) = &l.proposed_bases else {
            self.say(
                format!(
                    "no bases to draft: {}",
                    l.reason.as_deref().unwrap_or("no model")
                ),
                false,
            );
            return None;
        };
        let sets: Vec<(String, String)> = bases
            .iter()
            .map(|(t, b)| (format!("signals.{t}.base"), b.to_string()))
            .collect();
        self.drafted = Some(DraftedModel {
            learned: l.clone(),
            t: v.t,
            matches: true,
        });
        if self.tuning.is_some() {
            self.draft_sets(&sets);
            return None;
        }
        self.pending_sets = sets;
        Some(Effect::OpenTuning { then: None })
    }

    /// Puts the learned bases in the draft and shows them in the tuner.
    fn draft_sets(&mut self, sets: &[(String, String)]) {
        let Some(t) = &mut self.tuning else { return };
        for (k, v) in sets {
            if let Err(e) = t.set(k, v) {
                self.say(e, true);
                return;
            }
        }
        self.overlay = Overlay::Tuning;
        let force = self.drafted.as_ref().is_some_and(|m| !m.learned.validates);
        self.say(
            format!(
                "draft: the learned bases ({}) · {} tries them (what-if) · w applies them{}",
                sets.iter()
                    .map(|(k, v)| format!(
                        "{} {v}",
                        k.trim_start_matches("signals.").trim_end_matches(".base")
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.keymap.hint(Command::Rerun),
                if force {
                    "; the model validates worse than the rules, so applying asks for F (--force)"
                } else {
                    ""
                }
            ),
            force,
        );
    }

    /// Enter on a Backtest row: the signal's explanation, sweep and advice.
    fn open_signal(&mut self) -> Option<Effect> {
        let i = self.grids[3].current()?;
        let signal = SignalType::parse(&self.tables[3].rows[i][0].text)?;
        let config = match self.draft() {
            Ok(c) => c,
            Err(e) => {
                self.say(format!("the draft is not valid: {e}"), true);
                return None;
            }
        };
        let t = self
            .snapshot
            .figures
            .backtest
            .as_ref()
            .map(|b| b.as_of)
            .or(self.snapshot.run.map(|r| r.as_of))?;
        let cancel = self.begin_job(JobKind::Explain)?;
        self.signal = Some(SignalView {
            signal,
            data: None,
            error: None,
            scroll: 0,
        });
        self.overlay = Overlay::Signal;
        Some(Effect::ExplainSignal {
            signal,
            t,
            config: Box::new(config),
            cancel,
        })
    }

    /// Enter: the account detail for the selected account (hot queue and health rows).
    fn open(&mut self) -> Option<Effect> {
        if self.pane == 3 {
            return self.open_signal();
        }
        if self.pane > 1 {
            return None;
        }
        let i = self.grids[self.pane].current()?;
        let table = &self.tables[self.pane];
        let key = table.key(i).to_string();
        let workspace_of = table
            .parent
            .get(i)
            .copied()
            .flatten()
            .map(|p| table.key(p).to_string());
        let entry = self
            .snapshot
            .queue
            .iter()
            .find(|e| e.score.account == key && workspace_of.is_none())
            .cloned();
        let as_of = self.snapshot.run.map_or(self.now, |r| r.as_of);
        self.detail = Some(DetailView {
            key: key.clone(),
            data: None,
            error: None,
            scroll: 0,
            against: 0,
            workspace_of,
            answer: None,
        });
        self.overlay = Overlay::Detail;
        Some(Effect::LoadDetail { key, entry, as_of })
    }

    fn export(&mut self) -> Option<Effect> {
        let table = &self.tables[self.pane];
        if table.rows.is_empty() {
            self.say("nothing to export", false);
            return None;
        }
        let stamp = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(self.now)
            .map(|t| t.format("%Y%m%d-%H%M%S").to_string())
            .unwrap_or_default();
        let name = PANES[self.pane].to_lowercase().replace(' ', "-");
        let path = self
            .data_dir
            .join("exports")
            .join(format!("{name}-{stamp}.csv"));
        match table.csv(&self.grids[self.pane].view) {
            Ok(text) => Some(Effect::Export { path, text }),
            Err(e) => {
                self.say(format!("export: {e}"), true);
                None
            }
        }
    }

    fn mouse(&mut self, m: MouseEvent) -> Option<Effect> {
        let page = self.page();
        let a = ui::areas(Rect::new(0, 0, self.size.0, self.size.1), self.pane);
        let scroll = |d: isize, app: &mut Self| match app.overlay {
            Overlay::Detail => {
                if let Some(v) = &mut app.detail {
                    v.scroll = v.scroll.saturating_add_signed(d as i16);
                }
            }
            Overlay::Tuning => {
                if let Some(t) = &mut app.tuning {
                    t.step(d, page);
                }
            }
            Overlay::None if app.pane == 3 && app.learn_shown => {
                if let Some(v) = &mut app.learn {
                    v.scroll = v.scroll.saturating_add_signed(d as i16);
                }
            }
            _ => app.grids[app.pane].step(d, page),
        };
        match m.kind {
            MouseEventKind::ScrollDown => scroll(3, self),
            MouseEventKind::ScrollUp => scroll(-3, self),
            MouseEventKind::Down(MouseButton::Left) if self.overlay == Overlay::None => {
                if m.row == a.tabs.y {
                    if let Some(i) = ui::tab_at(m.column) {
                        self.pane = i;
                    }
                } else if m.row >= a.table.y + 2
                    && m.row < a.table.y + a.table.height.saturating_sub(1)
                    && m.column >= a.table.x
                    && m.column < a.table.x + a.table.width
                {
                    let g = &mut self.grids[self.pane];
                    let row = g.offset + usize::from(m.row - a.table.y - 2);
                    if row < g.view.len() {
                        if row == g.selected {
                            return self.open();
                        }
                        g.select(row, page);
                    }
                }
            }
            _ => {}
        }
        None
    }
}

/// The settings hold exactly the learned model's proposed bases.
fn holds_bases(cfg: &Config, l: &Learned) -> bool {
    l.proposed_bases.as_ref().is_some_and(|bases| {
        bases
            .iter()
            .all(|(t, b)| SignalType::parse(t).is_some_and(|s| s.base(cfg) == *b))
    })
}
