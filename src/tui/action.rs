//! Every input the app reacts to, and every effect `update` asks the loop to carry out.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{KeyEvent, MouseEvent};

use beton::config::Config;
use beton::progress::CancelFlag;

use super::data::{Detail, QueueEntry, Snapshot};
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
    /// A re-run finished: the panes swap to it.
    RunFinished(Box<Snapshot>),
    /// Startup or a re-run failed (or was cancelled); the message says why.
    JobFailed(String),
    DetailLoaded(Box<Detail>),
    DetailFailed(String),
    /// The tuning view's file was read (the template when there is no file yet).
    TuningOpened(String),
    ConfigSaved(Box<Config>),
    /// Something to show in the status bar; `true` for an error.
    Notice(String, bool),
}

#[derive(Debug)]
pub enum Effect {
    Quit,
    /// Load the workspace (creating the demo on first run).
    Startup(Arc<CancelFlag>),
    /// Re-run detection and the figures.
    Run(Arc<CancelFlag>),
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
    OpenTuning,
    SaveConfig {
        text: String,
    },
}
