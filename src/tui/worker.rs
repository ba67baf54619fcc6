//! Background work on plain threads (the core is synchronous, and its HTTP clients must not run
//! inside the UI's tokio runtime), reporting progress and results to the loop's channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::UnboundedSender;

use beton::config::{Config, Paths};
use beton::pipeline::Context;
use beton::progress::{CancelFlag, Progress};
use beton::signals::SignalType;
use beton::store::Store;

use super::action::Action;
use super::data::{self, QueueEntry};

/// A [`Progress`] that posts to the UI's channel, at most once per 0.5 % of a stage.
pub struct ChannelProgress {
    tx: UnboundedSender<Action>,
    cancel: Arc<CancelFlag>,
    last: AtomicU64,
}

impl ChannelProgress {
    pub fn new(tx: UnboundedSender<Action>, cancel: Arc<CancelFlag>) -> Self {
        Self {
            tx,
            cancel,
            last: AtomicU64::new(u64::MAX),
        }
    }
}

impl Progress for ChannelProgress {
    fn stage(&self, name: &str) {
        self.last.store(u64::MAX, Ordering::Relaxed);
        let _ = self.tx.send(Action::JobStage(name.to_string()));
    }

    fn advance(&self, done: u64, total: u64) {
        let step = done.saturating_mul(200).checked_div(total).unwrap_or(done);
        if self.last.swap(step, Ordering::Relaxed) != step {
            let _ = self.tx.send(Action::JobProgress(done, total));
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_set()
    }
}

fn message(e: &beton::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

pub fn startup(
    ctx: Context,
    as_of: Option<i64>,
    tx: UnboundedSender<Action>,
    cancel: Arc<CancelFlag>,
) {
    std::thread::spawn(move || {
        let progress = ChannelProgress::new(tx.clone(), cancel);
        let t = match data::startup(&ctx, as_of, &progress) {
            Ok(s) => {
                let t = s.run.map(|r| r.as_of);
                let _ = tx.send(Action::Loaded(Box::new(s)));
                t
            }
            Err(e) => {
                tracing::warn!("startup: {e}");
                let _ = tx.send(Action::JobFailed(message(&e)));
                return;
            }
        };
        let action = match data::figures(&ctx, t, &progress) {
            Ok(f) => Action::FiguresLoaded(Box::new(f)),
            Err(e) => Action::JobFailed(message(&e)),
        };
        let _ = tx.send(action);
    });
}

pub fn rerun(
    ctx: Context,
    as_of: Option<i64>,
    tx: UnboundedSender<Action>,
    cancel: Arc<CancelFlag>,
) {
    std::thread::spawn(move || {
        let progress = ChannelProgress::new(tx.clone(), cancel);
        let started = std::time::Instant::now();
        let action = match data::rerun(&ctx, as_of, &progress) {
            Ok(s) => {
                tracing::info!(
                    "re-run finished in {:.2} s",
                    started.elapsed().as_secs_f64()
                );
                Action::RunFinished(Box::new(s))
            }
            Err(e) => {
                tracing::warn!("re-run: {e}");
                Action::JobFailed(message(&e))
            }
        };
        let _ = tx.send(action);
    });
}

pub fn detail(
    ctx: Context,
    key: String,
    entry: Option<QueueEntry>,
    as_of: i64,
    tx: UnboundedSender<Action>,
) {
    std::thread::spawn(move || {
        let action = match data::detail(&ctx, &key, entry, as_of) {
            Ok(d) => Action::DetailLoaded(Box::new(d)),
            Err(e) => Action::DetailFailed(message(&e)),
        };
        let _ = tx.send(action);
    });
}

/// Records a rep's answer (the workspace only), says what it does, and loads the detail again.
pub fn record_answer(
    ctx: Context,
    d: beton::feedback::Disposition,
    entry: Option<QueueEntry>,
    as_of: i64,
    tx: UnboundedSender<Action>,
) {
    std::thread::spawn(move || {
        let recorded = ctx
            .open_store()
            .and_then(|store| beton::feedback::record(&store, &d));
        let notice = match recorded {
            Ok(()) => {
                let days = d.kind.days(&ctx.config.feedback);
                let effect = if days > 0 {
                    format!(
                        "daily runs after it leave it unrouted and unalerted until {}",
                        beton::time::fmt_date(d.at + i64::from(days) * beton::time::DAY)
                    )
                } else {
                    "it suppresses nothing".into()
                };
                Action::Notice(
                    format!("recorded {} for {}: {effect}", d.kind, d.account),
                    false,
                )
            }
            Err(e) => Action::Notice(format!("recording the answer: {}", message(&e)), true),
        };
        let _ = tx.send(notice);
        let action = match data::detail(&ctx, &d.account, entry, as_of) {
            Ok(x) => Action::DetailLoaded(Box::new(x)),
            Err(e) => Action::DetailFailed(message(&e)),
        };
        let _ = tx.send(action);
    });
}

/// Spawns `work` on a thread and posts its result, or its error as `JobFailed`.
fn spawn(
    tx: UnboundedSender<Action>,
    what: &'static str,
    work: impl FnOnce() -> beton::Result<Action> + Send + 'static,
) {
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let action = match work() {
            Ok(a) => {
                tracing::info!(
                    "{what} finished in {:.2} s",
                    started.elapsed().as_secs_f64()
                );
                a
            }
            Err(e) => {
                tracing::warn!("{what}: {e}");
                Action::JobFailed(message(&e))
            }
        };
        let _ = tx.send(action);
    });
}

/// `r`: the what-if of `draft` at `t` (the latest run's; `as_of` or now when there is none).
pub fn whatif(
    ctx: Context,
    draft: Config,
    t: i64,
    tx: UnboundedSender<Action>,
    cancel: Arc<CancelFlag>,
) {
    let progress = ChannelProgress::new(tx.clone(), cancel);
    spawn(tx, "what-if", move || {
        data::whatif(&ctx, &draft, t, &progress).map(|s| Action::WhatIfFinished(Box::new(s)))
    });
}

/// `w`: what applying `draft` would change at `t`.
pub fn preview(
    ctx: Context,
    draft: Config,
    t: i64,
    tx: UnboundedSender<Action>,
    cancel: Arc<CancelFlag>,
) {
    let progress = ChannelProgress::new(tx.clone(), cancel);
    spawn(tx, "apply preview", move || {
        data::apply_preview(&ctx, &draft, t, &progress).map(|s| Action::ApplyPreview(Box::new(s)))
    });
}

/// `R`: the latest recorded run again.
pub fn reload(ctx: Context, tx: UnboundedSender<Action>, cancel: Arc<CancelFlag>) {
    let progress = ChannelProgress::new(tx.clone(), cancel);
    spawn(tx, "reload", move || {
        data::reload(&ctx, &progress).map(|s| Action::Reloaded(Box::new(s)))
    });
}

/// Enter on a Backtest row: the signal's explanation and sweep at `t`.
pub fn explain(
    ctx: Context,
    signal: SignalType,
    t: i64,
    tx: UnboundedSender<Action>,
    cancel: Arc<CancelFlag>,
) {
    let progress = ChannelProgress::new(tx.clone(), cancel);
    spawn(tx, "explain-signal", move || {
        data::explain(&ctx, signal, t, &progress).map(|e| Action::SignalExplained(Box::new(e)))
    });
}

/// The learn view: `beton learn`'s fit at `t`, nothing written.
pub fn learn(ctx: Context, t: i64, tx: UnboundedSender<Action>, cancel: Arc<CancelFlag>) {
    let progress = ChannelProgress::new(tx.clone(), cancel);
    spawn(tx, "learn", move || {
        data::learn(&ctx, t, &progress).map(|l| Action::LearnFinished(Box::new(l)))
    });
}

/// Watches the config file and the workspace's latest run, every `every`, until the app's
/// channel closes: a changed file posts its text, a new run its id.
pub fn watch(paths: Paths, tx: UnboundedSender<Action>, every: std::time::Duration) {
    std::thread::spawn(move || {
        let read = |p: &std::path::Path| std::fs::read_to_string(p).ok();
        let mut text = read(&paths.config_file);
        let mut store: Option<Store> = None;
        let mut last_run: Option<i64> = None;
        loop {
            std::thread::sleep(every);
            if tx.is_closed() {
                return;
            }
            let now = read(&paths.config_file);
            if now != text {
                text = now;
                if let Some(t) = &text
                    && tx.send(Action::ConfigChanged(t.clone())).is_err()
                {
                    return;
                }
            }
            if store.is_none() && paths.database().exists() {
                store = Store::open(&paths.database()).ok();
            }
            let Some(s) = &store else { continue };
            if let Ok(Some(r)) = s.latest_run("daily") {
                if last_run != Some(r.id) {
                    let _ = tx.send(Action::RunSeen { id: r.id });
                }
                last_run = Some(r.id);
            }
        }
    });
}
