//! The terminal app (`beton` with no command): one `tokio::select!` loop over terminal events,
//! results from background work and a render tick. Every input becomes an [`action::Action`];
//! [`app::App::update`] changes state and may return an [`action::Effect`] the loop carries out;
//! [`ui::render`] only reads state.

pub mod action;
pub mod app;
pub mod data;
pub mod detail;
pub mod dialogs;
pub mod figures;
pub mod help;
pub mod keymap;
pub mod panes;
pub mod since;
pub mod table;
pub mod theme;
pub mod tuning;
pub mod ui;
pub mod worker;

#[cfg(test)]
mod svg;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::time::{Duration, Instant};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use beton::config::{Config, Paths, TEMPLATE, write_atomic};
use beton::pipeline::Context;
use beton::{Error, Result};

use action::{Action, Effect};
use app::App;

/// Installs color-eyre's panic and error hooks so that they first give the terminal back.
pub fn install_hooks() -> color_eyre::Result<()> {
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default().into_hooks();
    let panic_hook = panic_hook.into_panic_hook();
    let eyre_hook = eyre_hook.into_eyre_hook();
    color_eyre::eyre::set_hook(Box::new(move |e| {
        restore();
        eyre_hook(e)
    }))?;
    std::panic::set_hook(Box::new(move |info| {
        restore();
        panic_hook(info);
    }));
    Ok(())
}

/// Gives the terminal back: cooked mode, main screen, cursor, no mouse capture.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, whatever way the app ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn term_err(e: std::io::Error) -> Error {
    Error::Usage(format!("terminal: {e}"))
}

/// Runs the app until the user quits. `as_of` fixes the detection time (tests, what-ifs).
pub fn run(paths: Paths, config: Config, as_of: Option<i64>) -> Result<i32> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(term_err)?;
    enable_raw_mode().map_err(term_err)?;
    let _guard = TerminalGuard;
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture).map_err(term_err)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_err)?;
    terminal.clear().map_err(term_err)?;
    let size = terminal.size().map_err(term_err)?;
    let mut app = App::new(
        config,
        paths.config_file.clone(),
        paths.data_dir.clone(),
        theme::Theme::from_env(),
        beton::time::now(),
    );
    app.size = (size.width, size.height);
    let (tx, rx) = unbounded_channel();
    worker::watch(paths.clone(), tx.clone(), Duration::from_secs(2));
    let looper = Looper {
        paths,
        as_of,
        tx,
        started,
        first_data: false,
    };
    let result = runtime.block_on(looper.run(&mut terminal, &mut app, rx));
    drop(terminal);
    result.map(|()| 0)
}

struct Looper {
    paths: Paths,
    as_of: Option<i64>,
    tx: UnboundedSender<Action>,
    started: Instant,
    first_data: bool,
}

type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

impl Looper {
    async fn run(
        mut self,
        terminal: &mut Term,
        app: &mut App,
        mut rx: UnboundedReceiver<Action>,
    ) -> Result<()> {
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let effect = app.start();
        self.perform(app, effect);
        terminal.draw(|f| ui::render(f, app)).map_err(term_err)?;
        tracing::info!(
            "first frame after {} ms",
            self.started.elapsed().as_millis()
        );
        // The end-to-end tests check that a panic gives the terminal back (debug builds only).
        #[cfg(debug_assertions)]
        if std::env::var_os("BETON_TEST_PANIC").is_some() {
            panic!("BETON_TEST_PANIC: a panic while the terminal app is up");
        }
        let mut term_signal = terminate_signal();
        loop {
            let action = tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(e)) => translate(e),
                    Some(Err(e)) => Some(Action::Notice(format!("terminal: {e}"), true)),
                    None => Some(Action::Interrupt),
                },
                Some(a) = rx.recv() => Some(a),
                _ = tick.tick() => Some(Action::Tick(beton::time::now())),
                _ = tokio::signal::ctrl_c() => Some(Action::Interrupt),
                _ = term_signal.recv() => Some(Action::Interrupt),
            };
            let Some(action) = action else { continue };
            let is_key = matches!(action, Action::Key(_));
            let t0 = Instant::now();
            self.handle(app, action);
            while let Ok(a) = rx.try_recv() {
                self.handle(app, a);
            }
            if app.quit {
                return Ok(());
            }
            terminal.draw(|f| ui::render(f, app)).map_err(term_err)?;
            if is_key {
                tracing::debug!(target: "beton::tui::timing", "key handled and drawn in {} µs", t0.elapsed().as_micros());
            }
            if !self.first_data && app.snapshot.run.is_some() {
                self.first_data = true;
                tracing::info!(
                    "first frame with the hot queue ({} rows) after {} ms",
                    app.snapshot.queue.len(),
                    self.started.elapsed().as_millis()
                );
            }
        }
    }

    fn handle(&mut self, app: &mut App, action: Action) {
        let mut next = Some(action);
        while let Some(a) = next.take() {
            if let Some(effect) = app.update(a) {
                next = self.perform(app, effect);
            }
        }
    }

    fn context(&self, app: &App) -> Context {
        Context {
            paths: self.paths.clone(),
            config: app.config.clone(),
        }
    }

    /// Carries out an effect; quick ones (files, clipboard) answer at once with an action.
    fn perform(&mut self, app: &App, effect: Effect) -> Option<Action> {
        match effect {
            Effect::Quit => None,
            Effect::Startup(cancel) => {
                worker::startup(self.context(app), self.as_of, self.tx.clone(), cancel);
                None
            }
            Effect::Run(cancel) => {
                worker::rerun(self.context(app), self.as_of, self.tx.clone(), cancel);
                None
            }
            Effect::WhatIf { draft, t, cancel } => {
                let t = t.or(self.as_of).unwrap_or_else(beton::time::now);
                worker::whatif(self.context(app), *draft, t, self.tx.clone(), cancel);
                None
            }
            Effect::PreviewApply { draft, t, cancel } => {
                let t = t.or(self.as_of).unwrap_or_else(beton::time::now);
                worker::preview(self.context(app), *draft, t, self.tx.clone(), cancel);
                None
            }
            Effect::Reload(cancel) => {
                worker::reload(self.context(app), self.tx.clone(), cancel);
                None
            }
            Effect::ExplainSignal {
                signal,
                t,
                config,
                cancel,
            } => {
                let ctx = Context {
                    paths: self.paths.clone(),
                    config: *config,
                };
                worker::explain(ctx, signal, t, self.tx.clone(), cancel);
                None
            }
            Effect::LoadDetail { key, entry, as_of } => {
                worker::detail(self.context(app), key, entry, as_of, self.tx.clone());
                None
            }
            Effect::RecordAnswer {
                disposition,
                entry,
                as_of,
            } => {
                worker::record_answer(
                    self.context(app),
                    *disposition,
                    entry,
                    as_of,
                    self.tx.clone(),
                );
                None
            }
            Effect::Export { path, text } => Some(match write_atomic(&path, &text) {
                Ok(()) => Action::Notice(
                    format!(
                        "exported {} rows to {}",
                        text.lines().count().saturating_sub(1),
                        path.display()
                    ),
                    false,
                ),
                Err(e) => Action::Notice(format!("export: {e}"), true),
            }),
            Effect::Copy(text) => {
                let mut out = std::io::stdout();
                let _ = write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()));
                let _ = out.flush();
                None
            }
            Effect::OpenTuning { then } => {
                Some(match std::fs::read_to_string(&self.paths.config_file) {
                    Ok(text) => Action::TuningOpened(text, then),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Action::TuningOpened(TEMPLATE.to_string(), then)
                    }
                    Err(e) => {
                        Action::Notice(format!("{}: {e}", self.paths.config_file.display()), true)
                    }
                })
            }
            Effect::SaveConfig { text, model } => {
                let origin = self.paths.config_file.display().to_string();
                let write = || {
                    Config::parse(&text, &origin)
                        .and_then(|c| write_atomic(&self.paths.config_file, &text).map(|()| c))
                };
                let Some(m) = model else {
                    return Some(match write() {
                        Ok(cfg) => Action::ConfigSaved(Box::new(cfg)),
                        Err(e) => Action::Notice(e.to_string(), true),
                    });
                };
                // The file and the model record: both or neither, as `beton learn --apply`.
                let mut learned = *m.learned;
                let mut saved = None;
                let applied = self.context(app).open_store().and_then(|store| {
                    beton::learn::apply_with(&store, &mut learned, m.t, m.force, || {
                        saved = Some(write()?);
                        Ok(())
                    })
                });
                Some(match (applied, saved) {
                    (Ok(stored), Some(cfg)) => Action::ModelApplied {
                        config: Box::new(cfg),
                        model_id: stored.id,
                        forced: stored.forced,
                    },
                    (Ok(_), None) => Action::Notice("the draft was not written".into(), true),
                    (Err(e), _) => Action::Notice(e.to_string(), true),
                })
            }
            Effect::Learn { t, config, cancel } => {
                let ctx = Context {
                    paths: self.paths.clone(),
                    config: *config,
                };
                worker::learn(ctx, t, self.tx.clone(), cancel);
                None
            }
        }
    }
}

fn translate(e: Event) -> Option<Action> {
    match e {
        Event::Key(k) => Some(Action::Key(k)),
        Event::Mouse(m) => Some(Action::Mouse(m)),
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        _ => None,
    }
}

/// SIGTERM (and SIGHUP) end the app like `q` does, so the terminal is restored.
#[cfg(unix)]
fn terminate_signal() -> Signals {
    use tokio::signal::unix::{SignalKind, signal};
    Signals(
        [SignalKind::terminate(), SignalKind::hangup()]
            .into_iter()
            .filter_map(|k| signal(k).ok())
            .collect(),
    )
}

#[cfg(unix)]
struct Signals(Vec<tokio::signal::unix::Signal>);

#[cfg(unix)]
impl Signals {
    async fn recv(&mut self) {
        if self.0.is_empty() {
            std::future::pending::<()>().await;
        }
        let futs = self.0.iter_mut().map(|s| Box::pin(s.recv()));
        futures::future::select_all(futs).await;
    }
}

#[cfg(not(unix))]
fn terminate_signal() -> Signals {
    Signals
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    async fn recv(&mut self) {
        std::future::pending::<()>().await
    }
}

/// Standard base64, for the OSC 52 clipboard sequence.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
