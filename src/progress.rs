//! How long work tells its front-end where it is, and learns that it should stop.

use std::sync::atomic::{AtomicBool, Ordering};

pub trait Progress: Sync {
    /// A new stage begins (`"detect"`, `"backtest"`, …).
    fn stage(&self, _name: &str) {}
    /// `done` of `total` units of the current stage (total 0: unknown).
    fn advance(&self, _done: u64, _total: u64) {}
    /// True once the front-end asked the work to stop.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Reports nothing and never cancels.
pub struct Silent;

impl Progress for Silent {}

/// A cancel flag a front-end can set from another thread.
#[derive(Debug, Default)]
pub struct CancelFlag(AtomicBool);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
