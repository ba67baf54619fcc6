//! Beton's core: finds the accounts whose product usage says "ready to buy", scores them, explains
//! why, and proves with history whether the signals predict revenue. No terminal UI code lives
//! here; the TUI and the headless mode in `main.rs` are thin front-ends over [`daily::run_daily`].
//!
//! - [`config`]: settings with the SPEC defaults, and where files live
//! - [`store`]: the embedded SQLite workspace (migrations, ingest, rollups, runs, ledger)
//! - [`import`]: events, accounts and deals files (SPEC §1)
//! - [`signals`]: the eight detectors, score, tiers, routing and explanation (SPEC §2–3)
//! - [`daily`]: `run_daily`, the one pipeline
//! - [`demo`]: the generated demo workspace
//! - [`deals`]: deal outcomes from stages
//! - [`attio`]: the Attio CRM sync (deals, notes, tasks, list entries; deals back in)
//! - [`backtest`], [`health`], [`sources`]: the figures of SPEC §4–6

pub mod attio;
pub mod backtest;
pub mod config;
pub mod deals;
pub mod demo;
pub mod error;
pub mod health;
pub mod import;
pub mod pipeline;
pub mod posthog;
pub mod progress;
pub mod signals;
pub mod source;
pub mod sources;
pub mod store;
pub mod time;

pub use error::{Error, Result};
/// The pipeline's former name, kept so existing paths (`beton::daily::run_daily`) still work.
pub use pipeline as daily;
