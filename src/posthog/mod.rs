//! PostHog: the HTTP client, the HogQL detection queries, capture of `beton_signal_fired`
//! events, the four dashboards, the connection and the data source checks.
//!
//! - [`client`]: private API (bearer key), query endpoint, retries, budget
//! - [`hogql`]: detection as a few set-based HogQL queries giving [`crate::signals::Metrics`]
//! - [`capture`]: batch capture with deterministic uuids
//! - [`dashboards`]: the dashboard definitions in `assets/dashboards.toml` and provisioning
//! - [`connect`]: key validation, project discovery, settings written to the config
//! - [`doctor`]: what data the project has and which signals can fire
//! - [`warehouse`]: the deals view over PostHog's Attio table and the deals column check

pub mod capture;
pub mod client;
pub mod connect;
pub mod dashboards;
pub mod doctor;
pub mod groups;
pub mod hogql;
pub mod warehouse;

use std::path::{Path, PathBuf};

pub use client::{Client, HogQl, Pacing, Rows, Usage};

use crate::config::{Config, Paths, PosthogSettings};

/// The environment variable holding the personal API key.
pub const KEY_ENV: &str = "POSTHOG_API_KEY";

/// A personal API key (`phx_…`). Never printed: Debug and Display show only its prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: &str) -> Option<Self> {
        let k = key.trim();
        (!k.is_empty() && !k.contains(char::is_whitespace)).then(|| Self(k.to_string()))
    }

    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The key's kind from its prefix, for messages.
    pub fn kind(&self) -> &'static str {
        match self.0.get(..4) {
            Some("phx_") => "personal API key",
            Some("phc_") => "project (capture) key",
            Some("phs_") => "project secret key",
            _ => "key",
        }
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}…redacted)", self.0.get(..4).unwrap_or(""))
    }
}

/// What can go wrong talking to PostHog. Messages never include the key.
#[derive(Debug, thiserror::Error)]
pub enum PosthogError {
    #[error(
        "PostHog at {host} rejected the API key (401: {detail}). Check the key, and the region: a US key does not work on eu.posthog.com and the other way round"
    )]
    Unauthorized { host: String, detail: String },
    #[error(
        "PostHog refused {path} (403: {detail}). The key needs the scopes listed in docs/POSTHOG.md, and access to this project"
    )]
    Forbidden { path: String, detail: String },
    #[error("PostHog has no {path} (404)")]
    NotFound { path: String },
    #[error("PostHog kept rate-limiting {path} after retries (429: {detail})")]
    RateLimited { path: String, detail: String },
    #[error(
        "PostHog rate-limits {path} for {wait_seconds} s more (until about {until}), longer than Beton waits (posthog.max_wait_seconds = {max_wait}): nothing more was sent; run again after that time (429: {detail})"
    )]
    Throttled {
        path: String,
        wait_seconds: u64,
        until: String,
        max_wait: u64,
        detail: String,
    },
    #[error(
        "PostHog allows this project {per_hour} queries an hour (posthog.queries_per_hour) and they are spent: the next is allowed in {wait_seconds} s (about {until}), longer than Beton waits (posthog.max_wait_seconds = {max_wait}); run again then"
    )]
    HourlyLimit {
        per_hour: u32,
        wait_seconds: u64,
        until: String,
        max_wait: u64,
    },
    #[error("{0}")]
    Plan(String),
    #[error(
        "PostHog stopped HogQL query {name} at its execution limit ({status}: {detail}). Queries made with a personal API key get 10 s on PostHog Cloud: see \"PostHog's limits\" in docs/POSTHOG.md"
    )]
    TooSlow {
        name: String,
        status: u16,
        detail: String,
    },
    #[error("PostHog answered {status} on {path}: {detail}")]
    Http {
        status: u16,
        path: String,
        detail: String,
    },
    #[error("cannot reach PostHog at {host}: {message}")]
    Unreachable { host: String, message: String },
    #[error("PostHog answered {what} with something Beton cannot read: {message}")]
    BadResponse { what: String, message: String },
    #[error("HogQL query {name} failed: {detail}")]
    Query { name: String, detail: String },
    #[error("HogQL query {name} did not finish within {seconds} s")]
    Timeout { name: String, seconds: u64 },
    #[error(
        "the query budget of this run is spent ({used} of {budget} calls); raise posthog.query_budget"
    )]
    Budget { used: u32, budget: u32 },
    #[error("{0}")]
    Setup(String),
}

impl PosthogError {
    /// The error with `secret` redacted from every text in it.
    pub(crate) fn redacted(self, secret: &str) -> Self {
        let r = |s: String| crate::secret::redact(&s, secret).into_owned();
        match self {
            Self::Unauthorized { host, detail } => Self::Unauthorized {
                host: r(host),
                detail: r(detail),
            },
            Self::Forbidden { path, detail } => Self::Forbidden {
                path: r(path),
                detail: r(detail),
            },
            Self::NotFound { path } => Self::NotFound { path: r(path) },
            Self::RateLimited { path, detail } => Self::RateLimited {
                path: r(path),
                detail: r(detail),
            },
            Self::Http {
                status,
                path,
                detail,
            } => Self::Http {
                status,
                path: r(path),
                detail: r(detail),
            },
            Self::Unreachable { host, message } => Self::Unreachable {
                host: r(host),
                message: r(message),
            },
            Self::BadResponse { what, message } => Self::BadResponse {
                what: r(what),
                message: r(message),
            },
            Self::Query { name, detail } => Self::Query {
                name,
                detail: r(detail),
            },
            Self::Throttled {
                path,
                wait_seconds,
                until,
                max_wait,
                detail,
            } => Self::Throttled {
                path: r(path),
                wait_seconds,
                until,
                max_wait,
                detail: r(detail),
            },
            Self::Plan(m) => Self::Plan(r(m)),
            Self::TooSlow {
                name,
                status,
                detail,
            } => Self::TooSlow {
                name,
                status,
                detail: r(detail),
            },
            Self::Setup(m) => Self::Setup(r(m)),
            other @ (Self::Timeout { .. } | Self::Budget { .. } | Self::HourlyLimit { .. }) => {
                other
            }
        }
    }
}

impl From<PosthogError> for crate::Error {
    fn from(e: PosthogError) -> Self {
        crate::Error::Usage(e.to_string())
    }
}

/// The credentials file: `credentials.toml` next to the config file, mode 0600.
pub fn credentials_file(paths: &Paths) -> PathBuf {
    paths
        .config_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("credentials.toml")
}

/// The address of an account's group page in the PostHog app.
pub fn group_url(p: &crate::config::PosthogSettings, key: &str) -> String {
    format!(
        "{}/project/{}/groups/{}/{}",
        p.host.trim_end_matches('/'),
        p.project_id,
        p.group_type_index,
        dashboards::urlencode(key)
    )
}

/// The personal key: `POSTHOG_API_KEY`, else the credentials file.
pub fn load_key(paths: &Paths) -> Result<Option<ApiKey>, PosthogError> {
    if let Some(k) = std::env::var(KEY_ENV).ok().as_deref().and_then(ApiKey::new) {
        return Ok(Some(k));
    }
    let file = credentials_file(paths);
    let text = match crate::secret::read_credentials(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PosthogError::Setup(format!("{}: {e}", file.display()))),
    };
    let doc: toml::Table = toml::from_str(&text).map_err(|e| {
        PosthogError::Setup(format!(
            "{}: not valid TOML ({})",
            file.display(),
            e.message()
        ))
    })?;
    Ok(doc
        .get("posthog")
        .and_then(|t| t.get("api_key"))
        .and_then(|v| v.as_str())
        .and_then(ApiKey::new))
}

/// Stores the key in the credentials file, readable by the owner only, keeping other sections.
pub fn store_key(paths: &Paths, key: &ApiKey) -> Result<PathBuf, PosthogError> {
    let file = credentials_file(paths);
    let fail = |e: std::io::Error| PosthogError::Setup(format!("{}: {e}", file.display()));
    let mut doc: toml_edit::DocumentMut = match std::fs::read_to_string(&file) {
        Ok(t) => t
            .parse()
            .map_err(|_| PosthogError::Setup(format!("{}: not valid TOML", file.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "# Beton credentials: secrets only, readable by you alone (0600).\n"
                .parse()
                .unwrap_or_default()
        }
        Err(e) => return Err(fail(e)),
    };
    if !doc.contains_table("posthog") {
        doc["posthog"] = toml_edit::table();
    }
    doc["posthog"]["api_key"] = toml_edit::value(key.expose());
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(".credentials.toml.tmp-{}", std::process::id()));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(fail)?;
        }
        f.write_all(doc.to_string().as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
    }
    std::fs::rename(&tmp, &file).map_err(fail)?;
    Ok(file)
}

/// The connection settings, or a message saying how to connect.
pub fn settings(cfg: &Config) -> Result<&PosthogSettings, PosthogError> {
    cfg.posthog
        .as_ref()
        .filter(|p| p.project_id != 0)
        .ok_or_else(|| {
            PosthogError::Setup("PostHog is not connected: run `beton connect posthog`".into())
        })
}

/// Account health (SPEC §4) from the same HogQL counts query detection runs.
pub fn health(
    client: &Client,
    cfg: &Config,
    t: i64,
) -> Result<crate::health::HealthReport, PosthogError> {
    let t = t - t.rem_euclid(crate::time::SECOND);
    let d = hogql::detect(client, cfg, t)?;
    let rows = d.health;
    Ok(crate::health::from_counts(rows, t))
}

/// Query endpoint calls a backtest makes: detection at each of `dates` replay dates of each of
/// `runs` replays (one page per query when every account fits in `page_size`), and one
/// first-seen scan.
pub fn backtest_queries(cfg: &Config, runs: usize, dates: usize) -> u64 {
    let s = cfg.posthog.clone().unwrap_or_default();
    let per_date =
        hogql::detection_queries(cfg, s.group_type_index, 1, 0, "", s.page_size).len() as u64;
    1 + per_date * dates as u64 * runs as u64
}

/// Whether `need` queries fit PostHog's hourly limit, waiting at most `max_wait_seconds`: the
/// first `per_hour` go at once, each further `per_hour` waits for the next hour.
pub fn plan(s: &PosthogSettings, need: u64, what: &str) -> Result<(), PosthogError> {
    let per_hour = u64::from(s.queries_per_hour.max(1));
    let hours = need.saturating_sub(1) / per_hour;
    let wait = hours * 3600;
    if wait <= u64::from(s.max_wait_seconds) {
        return Ok(());
    }
    Err(PosthogError::Plan(format!(
        "{what} needs {need} PostHog queries and the project allows {per_hour} an hour (posthog.queries_per_hour): \
         pacing them takes about {hours} h of waiting, more than posthog.max_wait_seconds ({} s). Shorten the range \
         (--range-days) or lengthen the step (--step-days), raise posthog.max_wait_seconds to {wait} to let Beton \
         pace it, or set posthog.queries_per_hour = 2400 if the project is on PostHog's newer query limits",
        s.max_wait_seconds
    )))
}

/// Refuses up front `runs` backtests of `dates` replay dates whose queries do not fit PostHog's
/// hourly limit within the accepted wait (see [`plan`]).
pub fn plan_backtests(cfg: &Config, runs: usize, dates: usize) -> Result<(), PosthogError> {
    let what = if runs > 1 {
        format!("these {runs} backtests of {dates} replay dates (a what-if or a sweep)")
    } else {
        format!("this backtest ({dates} replay dates)")
    };
    plan(settings(cfg)?, backtest_queries(cfg, runs, dates), &what)
}

/// A client for the backtest: the daily run's query budget for each replay date (`dates`, from
/// the backtest's options) of each of `runs` replays, and the first-seen query. The backtest
/// itself checks its plan against the hourly limit before it sends anything
/// ([`plan_backtests`]).
pub fn client_for_backtest(
    paths: &Paths,
    cfg: &Config,
    runs: usize,
    dates: usize,
) -> Result<Client, PosthogError> {
    let s = settings(cfg)?;
    let mut c = client_for(paths, cfg)?;
    let per = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    c.set_budget(
        s.query_budget
            .saturating_mul(per(dates))
            .saturating_mul(per(runs))
            .saturating_add(10),
    );
    Ok(c)
}

/// A client for the configured project, with the run's query budget.
pub fn client_for(paths: &Paths, cfg: &Config) -> Result<Client, PosthogError> {
    let s = settings(cfg)?;
    let key = load_key(paths)?.ok_or_else(|| {
        PosthogError::Setup(format!(
            "no PostHog API key: set {KEY_ENV} or run `beton connect posthog` to store one in {}",
            credentials_file(paths).display()
        ))
    })?;
    let mut c = Client::new(&s.host, key, s.project_id, s.query_budget)?;
    c.pacing.query_timeout = std::time::Duration::from_secs(u64::from(s.query_timeout_seconds));
    c.pacing.per_hour = s.queries_per_hour;
    c.pacing.max_wait = std::time::Duration::from_secs(u64::from(s.max_wait_seconds));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_never_shows_the_secret() {
        let k = ApiKey::new("phx_supersecretvalue").unwrap();
        let shown = format!("{k:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("phx_"));
        let c = Client::new("http://127.0.0.1:1", k, 1, 3).unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
    }

    #[test]
    fn credentials_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_file: dir.path().join("config.toml"),
            data_dir: dir.path().join("data"),
        };
        let file = store_key(&paths, &ApiKey::new("phx_abc").unwrap()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // SAFETY of the test: no other test in this module reads POSTHOG_API_KEY.
        if std::env::var(KEY_ENV).is_err() {
            assert_eq!(load_key(&paths).unwrap(), ApiKey::new("phx_abc"));
        }
    }
}
