//! Attio CRM: routed accounts become deals with the context a rep needs, exactly once, and deals
//! come back in for the backtest and the source comparison (docs/ATTIO.md).
//!
//! - [`client`]: HTTP client with rate limits, `Retry-After`, retries and readable errors
//! - [`setup`]: key check (`beton connect attio`) and workspace setup (`beton attio setup`)
//! - [`resolver`]: account → company by domain
//! - [`sync`]: planning deals, notes, tasks and list entries into the outbox
//! - [`outbox`]: sending the outbox, replaying what an interrupted run left
//! - [`pull`]: deals back in (`beton sync attio --pull`)

pub mod client;
pub mod outbox;
pub mod pull;
pub mod resolver;
pub mod setup;
pub mod sync;

pub use client::{ApiKey, Client};
pub use sync::{SyncOptions, SyncReport, sync};

use crate::config::Config;
use crate::daily::{Step, StepStatus};
use crate::error::{Error, Result};
use crate::store::Store;

/// A client for the configured workspace with the key from the environment.
pub fn connect(cfg: &Config) -> Result<Client> {
    let s = cfg
        .attio
        .as_ref()
        .ok_or_else(|| Error::Attio("not configured: run `beton connect attio`".into()))?;
    let key = ApiKey::from_env().ok_or_else(|| {
        Error::Attio(format!(
            "{} is not set: export it with the workspace's API key",
            client::KEY_VAR
        ))
    })?;
    Client::new(s, key).map_err(|e| Error::Attio(e.to_string()))
}

/// The `attio` step of `run_daily`: sync the run's routed accounts. None when Attio is not
/// configured.
pub fn daily_step(store: &Store, cfg: &Config, run_id: i64) -> Option<Step> {
    cfg.attio.as_ref()?;
    let step = |status, detail: String| Step {
        name: "attio".into(),
        status,
        detail,
    };
    let result =
        connect(cfg).and_then(|client| sync(store, cfg, &client, run_id, &SyncOptions::default()));
    Some(match result {
        Ok(r) if r.count(sync::Outcome::Failed) > 0 => step(StepStatus::Failed, r.summary()),
        Ok(r) => step(StepStatus::Ok, r.summary()),
        Err(e) => step(StepStatus::Failed, e.to_string()),
    })
}
