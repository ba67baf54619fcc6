//! `beton backtest`, `learn`, `explain-signal`, `health` and `sources`: the figures of SPEC §4–6
//! and §11, printed.

use std::time::Instant;

use beton::backtest::{self, BacktestOptions, BacktestReport, Evidence, Unit};
use beton::health::Status;
use beton::progress::Silent;
use beton::signals::SignalType;
use beton::source::{Budget, Source};
use beton::store::Store;
use beton::time::{fmt_date, fmt_ts};
use beton::{Error, Result};

use super::common::{Exit, as_of, context};
use crate::cli::args::{Global, OutputFormat, RangeArgs, StatusArg};

mod backtesting;
mod health;
mod learn;
mod sources;

pub use backtesting::{backtest, explain_signal};
pub use health::health;
pub use learn::learn;
pub use sources::sources;

pub(super) fn json<T: serde::Serialize>(v: &T) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `--json` wins over `--format`.
pub(super) fn format_of(g: &Global, f: OutputFormat) -> OutputFormat {
    if g.json { OutputFormat::Json } else { f }
}

/// A number as data: no separators, no unit (`19000`, `0.17`); empty when undefined.
pub(super) fn raw(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v == v.trunc() && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => format!("{v}"),
        None => String::new(),
    }
}

pub(super) fn count(n: u64) -> String {
    n.to_string()
}

/// Writes CSV rows (the first is the header) to stdout.
pub(super) fn csv_out(rows: Vec<Vec<String>>) -> Result<()> {
    let fail = |e: csv::Error| Error::Usage(format!("writing CSV: {e}"));
    let mut w = csv::Writer::from_writer(std::io::stdout());
    for r in rows {
        w.write_record(&r).map_err(fail)?;
    }
    w.flush()
        .map_err(|e| Error::Usage(format!("writing CSV: {e}")))
}

pub(super) fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The workspace and T, refusing an empty workspace like `--run-daily` does.
pub(super) fn open(g: &Global) -> Result<(beton::pipeline::Context, Store, i64)> {
    let ctx = context(g)?;
    let store = ctx.open_store()?;
    if store.is_empty()? {
        return Err(Error::NoData(beton::pipeline::NO_DATA.into()));
    }
    let t = as_of(g)?.unwrap_or_else(beton::time::now);
    super::common::warn_out_of_range(g, &ctx, t);
    Ok((ctx, store, t))
}

/// With `source = "posthog"`, a client whose query budget has room for `runs` replays (each is
/// the detection queries at every replay date of `opts`); `None` for the local workspace.
pub(super) fn remote(
    ctx: &beton::pipeline::Context,
    opts: &BacktestOptions,
    runs: usize,
) -> Result<Option<beton::posthog::Client>> {
    let budget = Budget::Backtests {
        runs,
        dates: opts.dates().len(),
    };
    beton::source::client(&ctx.paths, &ctx.config, budget).map_err(|e| Error::Usage(e.to_string()))
}

pub(super) fn source(client: &Option<beton::posthog::Client>) -> Source<'_> {
    Source::of(client.as_ref())
}

pub(super) fn options(cfg: &beton::config::Config, t: i64, r: RangeArgs) -> BacktestOptions {
    let mut o = BacktestOptions::from_config(cfg, t);
    o.range_days = r.range_days.unwrap_or(o.range_days);
    o.step_days = r.step_days.unwrap_or(o.step_days);
    o.horizon_days = r.horizon_days.unwrap_or(o.horizon_days);
    o
}

pub(super) fn pct(v: Option<f64>) -> String {
    Unit::Percent.show(v)
}
