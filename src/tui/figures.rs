//! The figure engines' reports (health, sources, backtest) as the panes show them.

use beton::config::Config;
use beton::progress::Progress;
use beton::store::Store;

/// The reports of the Health, Sources and Backtest panes.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Why the figures are not shown, when they are not.
    pub missing: Option<String>,
}

const NOT_BUILT: &str = "the health, sources and backtest engines are not in this build yet";

/// Loads the figures at `t` (stored backtest reports; health and sources computed).
pub fn load(_store: &Store, _cfg: &Config, _t: Option<i64>, _progress: &dyn Progress) -> Figures {
    Figures {
        missing: Some(NOT_BUILT.into()),
    }
}

/// Recomputes every figure at `t` after a re-run, the backtest included.
pub fn rerun(store: &Store, cfg: &Config, t: Option<i64>, progress: &dyn Progress) -> Figures {
    load(store, cfg, t, progress)
}
