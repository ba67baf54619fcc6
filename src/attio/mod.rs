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

use crate::config::{Config, Paths};
use crate::error::{Error, Result};

/// The API key: `ATTIO_API_KEY`, else `api_key` in the `[attio]` table of the credentials file
/// (`credentials.toml` beside the config, mode 0600, shared with PostHog's key).
pub fn load_key(paths: &Paths) -> Result<ApiKey> {
    if let Some(k) = ApiKey::from_env() {
        return Ok(k);
    }
    let file = crate::posthog::credentials_file(paths);
    let missing = || {
        Error::Attio(format!(
            "no API key: set {} (or `api_key` under [attio] in {}) to a key with the scopes in docs/ATTIO.md",
            client::KEY_VAR,
            file.display()
        ))
    };
    let text = match crate::secret::read_credentials(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(Error::io(&file, e)),
    };
    let doc: toml::Table = toml::from_str(&text).map_err(|e| {
        Error::Attio(format!(
            "{}: not valid TOML ({})",
            file.display(),
            e.message()
        ))
    })?;
    doc.get("attio")
        .and_then(|t| t.get("api_key"))
        .and_then(|v| v.as_str())
        .map(ApiKey::new)
        .filter(|k| !k.is_empty())
        .ok_or_else(missing)
}

/// A client for the configured workspace.
pub fn connect(paths: &Paths, cfg: &Config) -> Result<Client> {
    let s = cfg
        .attio
        .as_ref()
        .ok_or_else(|| Error::Attio("not configured: run `beton connect attio`".into()))?;
    Client::new(s, load_key(paths)?).map_err(|e| Error::Attio(e.to_string()))
}
