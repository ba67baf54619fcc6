//! The app's state and `update`: actions in, state changed, maybe an effect out. No I/O here.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use beton::config::Config;
use beton::progress::CancelFlag;

use super::action::{Action, Effect};
use super::data::{Detail, Snapshot};
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Startup,
    Rerun,
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
    pub tuning: Option<Tuning>,
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
                let tables = super::panes::tables(&self.snapshot, &self.config);
                for (i, t) in tables.into_iter().enumerate() {
                    self.tables[i] = t;
                    self.grids[i].refresh(&self.tables[i]);
                }
            }
            Action::RunFinished(snap) => {
                self.job = None;
                let old = std::mem::take(&mut self.snapshot);
                let rows = snap.queue.len();
                self.swap(*snap);
                self.previous = Some(old);
                if self.notice.as_ref().is_none_or(|n| !n.error) {
                    self.say(format!("re-run finished: {rows} accounts in the queue; 4 shows the backtest before → after"), false);
                }
            }
            Action::JobFailed(e) => {
                let kind = self.job.take().map(|j| j.kind);
                let what = if kind == Some(JobKind::Startup) {
                    "loading the workspace"
                } else {
                    "re-run"
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
            Action::TuningOpened(text) => match Tuning::open(&text) {
                Ok(t) => {
                    self.tuning = Some(t);
                    self.overlay = Overlay::Tuning;
                }
                Err(e) => self.say(format!("{}: {e}", self.config_path.display()), true),
            },
            Action::ConfigSaved(cfg) => {
                self.config = *cfg;
                let (keymap, errors) = Keymap::new(&self.config.keys);
                self.keymap = keymap;
                if let Some(t) = &mut self.tuning {
                    t.saved();
                }
                match errors.first() {
                    Some(e) => self.say(e.clone(), true),
                    None => self.say(
                        format!(
                            "saved {}; {} re-runs with it",
                            self.config_path.display(),
                            self.keymap.hint(Command::Rerun)
                        ),
                        false,
                    ),
                }
            }
            Action::Notice(text, error) => self.say(text, error),
        }
        None
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
        if self.overlay == Overlay::Tuning
            && self.tuning.as_ref().is_some_and(|t| t.editing.is_some())
        {
            return self.edit_key(k);
        }
        let cmd = self.keymap.command(&k);
        match self.overlay {
            Overlay::Help => {
                if matches!(cmd, Some(Command::Help | Command::Back | Command::Quit)) {
                    self.overlay = Overlay::None;
                }
                None
            }
            Overlay::Detail => self.detail_key(cmd),
            Overlay::Tuning => self.tuning_key(k, cmd),
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
            Command::Copy => {
                let key = v.key.clone();
                self.say(format!("copied {key}"), false);
                return Some(Effect::Copy(key));
            }
            Command::Help => self.overlay = Overlay::Help,
            Command::Rerun | Command::Cancel => return self.command(cmd?),
            _ => {}
        }
        None
    }

    fn tuning_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        let page = self.page();
        let t = self.tuning.as_mut()?;
        if k.code == KeyCode::Char('w')
            || (k.code == KeyCode::Char('s') && k.modifiers.contains(KeyModifiers::CONTROL))
        {
            return match t.config() {
                Ok(_) => Some(Effect::SaveConfig { text: t.text() }),
                Err(e) => {
                    t.error = Some(e);
                    None
                }
            };
        }
        match cmd {
            Some(Command::Down) => t.step(1, page),
            Some(Command::Up) => t.step(-1, page),
            Some(Command::PageDown) => t.step(page as isize, page),
            Some(Command::PageUp) => t.step(-(page as isize), page),
            Some(Command::Top) => t.step(isize::MIN / 2, page),
            Some(Command::Bottom) => t.step(isize::MAX / 2, page),
            Some(Command::Open) => t.begin(),
            Some(Command::Back | Command::Quit) => {
                if t.dirty() && !t.confirm_discard {
                    t.confirm_discard = true;
                } else {
                    if t.dirty() {
                        self.say("tuning closed; unsaved changes discarded", false);
                    }
                    self.tuning = None;
                    self.overlay = Overlay::None;
                }
            }
            Some(Command::Rerun | Command::Cancel) => return self.command(cmd?),
            Some(Command::Help) => self.overlay = Overlay::Help,
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
                    .map(|i| self.tables[self.pane].rows[i][0].text.clone());
                return match key {
                    Some(key) => {
                        self.say(format!("copied {key}"), false);
                        Some(Effect::Copy(key))
                    }
                    None => None,
                };
            }
            Command::Tune => return Some(Effect::OpenTuning),
            Command::Rerun => {
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
                    kind: JobKind::Rerun,
                    stage: "starting".into(),
                    done: 0,
                    total: 0,
                    cancel: cancel.clone(),
                });
                self.notice = None;
                return Some(Effect::Run(cancel));
            }
            Command::Cancel => match &self.job {
                Some(j) => {
                    j.cancel.cancel();
                    self.say("cancelling…", false);
                }
                None => self.say("nothing is running", false),
            },
        }
        None
    }

    /// Enter: the account detail for the selected account (hot queue and health rows).
    fn open(&mut self) -> Option<Effect> {
        if self.pane > 1 {
            return None;
        }
        let i = self.grids[self.pane].current()?;
        let key = self.tables[self.pane].rows[i][0].text.clone();
        let entry = self
            .snapshot
            .queue
            .iter()
            .find(|e| e.score.account == key)
            .cloned();
        let as_of = self.snapshot.run.map_or(self.now, |r| r.as_of);
        self.detail = Some(DetailView {
            key: key.clone(),
            data: None,
            error: None,
            scroll: 0,
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
