//! Statistics of SPEC §11–12, as pure functions over counts and vectors: no store, no clock, no
//! I/O. The backtest's evidence per signal, `learn`'s model and its validation, and the holdout's
//! incrementality figures are all computed here.
//!
//! - [`normal`]: the standard normal's CDF and quantile (from `statrs`)
//! - [`fisher`]: Fisher's exact test of a 2×2 table, two-sided as R's `fisher.test`
//! - [`proportions`]: Wilson and Newcombe intervals, the Katz risk-ratio interval, the pooled
//!   two-proportion test and the minimum detectable difference
//! - [`multiple`]: Benjamini–Hochberg q-values
//! - [`logistic`]: an L2-regularised logistic regression with a cluster-robust covariance
//! - [`metrics`]: ROC-AUC, average precision, Brier score, top-decile lift, calibration bins
//!
//! Every function that can be undefined (an empty group, a zero rate) says so with `None`
//! rather than a number; the caller words the reason.

pub mod fisher;
pub mod logistic;
pub mod metrics;
pub mod multiple;
pub mod normal;
pub mod proportions;

pub use fisher::fisher_exact;
pub use logistic::{Binomial, FitError, LogisticFit, fit_logistic};
pub use metrics::{
    CalibrationBin, average_precision, brier, calibration, roc_auc, top_decile_lift,
};
pub use multiple::benjamini_hochberg;
pub use proportions::{
    Interval, RiskRatio, katz_risk_ratio, min_detectable_difference, newcombe_difference,
    two_proportion_p_value, wilson,
};
