//! Every input the app reacts to, and every effect `update` asks the loop to carry out.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{KeyEvent, MouseEvent};

use beton::backtest::SignalExplanation;
use beton::config::Config;
use beton::learn::Learned;
use beton::progress::CancelFlag;
use beton::signals::SignalType;

use super::data::{Detail, QueueEntry, Sandbox, Snapshot};
use super::figures::Figures;

#[derive(Debug)]
pub enum Action {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The render tick: the clock moved (`now` in microseconds).
    Tick(i64),
    /// Ctrl-C or a termination signal.
    Interrupt,
    /// Background work began a stage.
    JobStage(String),
    /// Background work advanced: done of total (0: unknown).
    JobProgress(u64, u64),
    /// The startup load of the queue finished (the figures follow).
    Loaded(Box<Snapshot>),
    /// The startup load of the health, sources and backtest figures finished.
    FiguresLoaded(Box<Figures>),
    /// The real daily run (`D`) finished: the panes swap to it.
    RunFinished(Box<Snapshot>),
    /// A what-if (`r`) finished: the panes show it beside the latest run.
    WhatIfFinished(Box<Snapshot>),
    /// `R`: the latest recorded run, loaded again.
    Reloaded(Box<Snapshot>),
    /// `w`: what applying the draft would change; the confirmation opens.
    ApplyPreview(Box<Sandbox>),
    /// The config file's text changed on disk (read by the watcher).
    ConfigChanged(String),
    /// The workspace's latest daily run is now `id` (the watcher saw it).
    RunSeen {
        id: i64,
    },
    SignalExplained(Box<SignalExplanation>),
    /// The learn view's fit finished (nothing written).
    LearnFinished(Box<Learned>),
    /// Startup or a re-run failed (or was cancelled); the message says why.
    JobFailed(String),
    DetailLoaded(Box<Detail>),
    DetailFailed(String),
    /// The tuning view's file was read (the template when there is no file yet), with a value
    /// to set in the draft at once (the signal view's "try the suggested value").
    TuningOpened(String, Option<(String, String)>),
    ConfigSaved(Box<Config>),
    /// The draft holding a learned model's bases was written and the model recorded.
    ModelApplied {
        config: Box<Config>,
        model_id: i64,
        forced: bool,
    },
    /// Something to show in the status bar; `true` for an error.
    Notice(String, bool),
}

#[derive(Debug)]
pub enum Effect {
    Quit,
    /// Load the workspace (creating the demo on first run).
    Startup(Arc<CancelFlag>),
    /// The real daily pipeline (recorded, sent), then the figures.
    Run(Arc<CancelFlag>),
    /// A what-if: detection and the backtest of `draft` at `t` (the latest run's), nothing
    /// recorded or sent.
    WhatIf {
        draft: Box<Config>,
        t: Option<i64>,
        cancel: Arc<CancelFlag>,
    },
    /// What applying `draft` would change (for the `w` confirmation).
    PreviewApply {
        draft: Box<Config>,
        t: Option<i64>,
        cancel: Arc<CancelFlag>,
    },
    /// Load the latest recorded run again.
    Reload(Arc<CancelFlag>),
    /// A signal's explanation and sweep at `t`.
    ExplainSignal {
        signal: SignalType,
        t: i64,
        config: Box<Config>,
        cancel: Arc<CancelFlag>,
    },
    LoadDetail {
        key: String,
        entry: Option<QueueEntry>,
        as_of: i64,
    },
    Export {
        path: PathBuf,
        text: String,
    },
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    /// Read the config file for the tuner, then set `then` in the draft.
    OpenTuning {
        then: Option<(String, String)>,
    },
    SaveConfig {
        text: String,
        /// The learned model whose bases the draft holds: recorded with the write, both or
        /// neither (as `beton learn --apply`).
        model: Option<Box<ModelApply>>,
    },
    /// The learn view's fit of the settings `config` at `t` (`beton learn`, nothing written).
    Learn {
        t: i64,
        config: Box<Config>,
        cancel: Arc<CancelFlag>,
    },
    /// Record a rep's answer in the workspace (nothing is sent), then load the detail again.
    RecordAnswer {
        disposition: Box<beton::feedback::Disposition>,
        entry: Option<QueueEntry>,
        as_of: i64,
    },
}

/// A learned model to record when the draft is written.
#[derive(Debug)]
pub struct ModelApply {
    pub learned: Box<Learned>,
    /// The T the model was fitted at.
    pub t: i64,
    /// It validates worse than the rules and the analyst confirmed with `F` (`--force`).
    pub force: bool,
}
