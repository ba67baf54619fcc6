//! Beton's core: finds the accounts whose product usage says "ready to buy", scores them, explains
//! why, and proves with history whether the signals predict revenue. No terminal UI code lives
//! here; the binary's front-ends (`src/cli/` headless, `src/tui/` the terminal app) are thin
//! layers over [`pipeline::run_daily`] and the figure engines. docs/ARCHITECTURE.md is the map;
//! the layers, from the top (a module imports only the layers below it):
//!
//! - [`pipeline`]: `run_daily`, the one pipeline: detect through the source, score, record, then
//!   the integration steps (`pipeline::steps`: capture, provision, attio); its step and report
//!   types (`pipeline::report`); what-ifs of it with nothing recorded (`pipeline::sandbox`). Beside it, the workspace actions [`import`] (events, accounts and
//!   deals files, SPEC §1) and [`demo`] (the generated demo workspace)
//! - [`backtest`]: the replay of SPEC §5, through the source, and the evidence per signal (§11)
//! - [`learn`]: weights learned from the backtest's replay, validated forward in time (SPEC §11)
//! - [`source`]: where events are read: the local workspace or PostHog (HogQL), chosen once from
//!   the config
//! - [`posthog`], [`attio`], [`alerts`]: the integrations (HTTP clients, HogQL, capture,
//!   dashboards, group properties, the deals view in PostHog's data warehouse; the CRM sync of
//!   deals, notes, tasks and list entries, deals back in; alerts to the owner and the daily digest
//!   over a JSON webhook and Slack)
//! - [`signals`], [`health`], [`sources`], [`holdout`], [`feedback`]: the engines: the eight
//!   detectors, score, tiers, routing and explanation (SPEC §2–3, §8), account health (§4), the
//!   lead-source comparison (§6), the holdout's assignment and `incrementality` (§12), reps'
//!   dispositions, their suppression and the false-positive trend (§10)
//! - [`stats`]: pure statistics: intervals, exact and multiple tests, the L2 logistic model with
//!   a cluster-robust covariance, validation figures (SPEC §11–12)
//! - [`store`]: the embedded SQLite workspace (migrations, ingest, rollups, runs, ledger,
//!   outboxes); [`deals`]: deal outcomes from stages
//! - [`config`], [`time`], [`progress`], [`error`], [`workers`]: settings with the SPEC defaults
//!   and where files live, timestamps, progress reporting, the error type, work on a few threads

pub mod alerts;
pub mod attio;
pub mod backtest;
pub mod config;
pub mod deals;
pub mod demo;
pub mod error;
pub mod feedback;
pub mod health;
pub mod holdout;
pub mod import;
pub mod learn;
pub mod pipeline;
pub mod posthog;
pub mod progress;
pub mod safe;
pub mod secret;
pub mod signals;
pub mod source;
pub mod sources;
pub mod stats;
pub mod store;
pub mod time;
pub mod workers;

pub use error::{Error, Result};
/// The pipeline's former name, kept so existing paths (`beton::daily::run_daily`) still work.
pub use pipeline as daily;
