//! A small blocking client of Attio's REST API v2: bearer auth, read and write rate limits,
//! `Retry-After` (an HTTP date or seconds) on 429, retries with backoff on 5xx and timeouts, and
//! errors that say what Attio rejected. It works from any plain thread (no async runtime needed).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::config::AttioSettings;

/// The environment variable that holds the API key.
pub const KEY_VAR: &str = "ATTIO_API_KEY";

/// An Attio API key. Never printed: `Debug` shows only that there is one.
#[derive(Clone)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into().trim().to_string())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key from `ATTIO_API_KEY`, or None when it is unset or empty.
    pub fn from_env() -> Option<Self> {
        std::env::var(KEY_VAR)
            .ok()
            .map(Self::new)
            .filter(|k| !k.0.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
}

impl Method {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }
}

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 5xx, timeouts, connection failures, or 429 for too long: worth trying again later.
    Unavailable(String),
    /// 401/403: the key is wrong, revoked or lacks a scope.
    Auth { status: u16, message: String },
    /// Another 4xx: Attio rejected what was sent.
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Rejected { status: 404, .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Rejected { status: 409, .. })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Unavailable(m) => write!(f, "Attio unavailable: {m}"),
            ApiError::Auth { status, message } => {
                write!(
                    f,
                    "Attio refused the API key ({status}): {message}; check {KEY_VAR} and its scopes"
                )
            }
            ApiError::Rejected {
                status,
                code,
                message,
            } => write!(f, "Attio rejected it ({status} {code}): {message}"),
        }
    }
}

/// Requests sent, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub reads: u64,
    pub writes: u64,
    pub retries: u64,
}

struct Pace {
    next_read: Instant,
    next_write: Instant,
    counts: Counts,
}

/// The client. Holds the key; `Debug` does not show it.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    key: ApiKey,
    read_gap: Duration,
    write_gap: Duration,
    tries: u32,
    backoff: Duration,
    /// Longest wait a 429's `Retry-After` may ask for.
    max_wait: Duration,
    pace: Mutex<Pace>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish()
    }
}

/// Parses `Retry-After`: an HTTP date (what Attio sends) or a number of seconds. Returns how long
/// to wait from `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

impl Client {
    pub fn new(settings: &AttioSettings, key: ApiKey) -> Result<Self, ApiError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(u64::from(settings.timeout_seconds)))
            .user_agent(concat!("beton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unavailable(format!("HTTP client: {e}")))?;
        let now = Instant::now();
        Ok(Self {
            http,
            base: settings.base_url.trim_end_matches('/').to_string(),
            key,
            // 10 % under the limit, so jitter on the way cannot make Attio count one too many.
            read_gap: Duration::from_millis(1100) / settings.max_reads_per_second.max(1),
            write_gap: Duration::from_millis(1100) / settings.max_writes_per_second.max(1),
            tries: settings.tries.max(1),
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(120),
            pace: Mutex::new(Pace {
                next_read: now,
                next_write: now,
                counts: Counts::default(),
            }),
        })
    }

    /// Sets the first backoff after a 5xx (doubling each try); tests make it short.
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// How many times a request that got a 5xx or timed out is tried.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Sleeps the backoff after failed try number `attempt` (1-based): doubling each time.
    pub fn pause(&self, attempt: u32) {
        let wait = self.backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        self.note_retry();
        std::thread::sleep(wait);
    }

    pub fn counts(&self) -> Counts {
        self.pace.lock().map(|p| p.counts).unwrap_or_default()
    }

    /// Waits for the request's turn: at most `max_*_per_second` of its kind. Query endpoints are
    /// POSTs that only read, and count as reads.
    fn pace(&self, write: bool) {
        let wait = {
            let Ok(mut p) = self.pace.lock() else { return };
            let now = Instant::now();
            let (slot, gap) = if write {
                (&mut p.next_write, self.write_gap)
            } else {
                (&mut p.next_read, self.read_gap)
            };
            let at = (*slot).max(now);
            *slot = at + gap;
            if write {
                p.counts.writes += 1;
            } else {
                p.counts.reads += 1;
            }
            at - now
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    fn note_retry(&self) {
        if let Ok(mut p) = self.pace.lock() {
            p.counts.retries += 1;
        }
    }

    /// True for requests that change nothing in Attio.
    pub fn is_read(method: Method, path: &str) -> bool {
        method == Method::Get || (method == Method::Post && path.ends_with("/query"))
    }

    /// Sends one request and returns the JSON answer, after waiting out rate limits and retrying
    /// what is worth retrying.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        self.send_tries(method, path, query, body, self.tries)
    }

    /// [`Client::send`] with its own number of tries for 5xx and timeouts (429 always waits).
    pub fn send_tries(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        max_tries: u32,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{}", self.base, path);
        let write = !Self::is_read(method, path);
        let mut tries = 0u32;
        let mut throttled = 0u32;
        loop {
            self.pace(write);
            let mut req = match method {
                Method::Get => self.http.get(&url),
                Method::Post => self.http.post(&url),
                Method::Put => self.http.put(&url),
                Method::Patch => self.http.patch(&url),
            }
            .bearer_auth(&self.key.0)
            .header("accept", "application/json");
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            tries += 1;
            let transient = match req.send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, SystemTime::now()));
                    // A server may echo the request, bearer header and all.
                    let text = crate::secret::redact(&resp.text().unwrap_or_default(), &self.key.0)
                        .into_owned();
                    match status {
                        200..=299 => {
                            return Ok(if text.trim().is_empty() {
                                Value::Null
                            } else {
                                serde_json::from_str(&text).map_err(|e| {
                                    ApiError::Unavailable(format!(
                                        "{} {path}: answer is not JSON: {e}",
                                        method.as_str()
                                    ))
                                })?
                            });
                        }
                        429 => {
                            // Not processed: safe to send again once the date has passed.
                            throttled += 1;
                            tries -= 1;
                            let wait = retry.unwrap_or(Duration::from_secs(1));
                            if throttled > 20 || wait > self.max_wait {
                                return Err(ApiError::Unavailable(format!(
                                    "{} {path}: rate limited (429) and asked to wait {:.0} s",
                                    method.as_str(),
                                    wait.as_secs_f64()
                                )));
                            }
                            tracing::info!(
                                "attio: 429 on {path}, waiting {:.2} s as Retry-After says",
                                wait.as_secs_f64()
                            );
                            self.note_retry();
                            std::thread::sleep(wait);
                            continue;
                        }
                        500..=599 => format!(
                            "{} {path}: {status} {}",
                            method.as_str(),
                            error_message(&text)
                        ),
                        401 | 403 => {
                            return Err(ApiError::Auth {
                                status,
                                message: error_message(&text),
                            });
                        }
                        _ => {
                            let (code, message) = error_parts(&text);
                            return Err(ApiError::Rejected {
                                status,
                                code,
                                message,
                            });
                        }
                    }
                }
                Err(e) if e.is_timeout() => format!("{} {path}: timed out", method.as_str()),
                Err(e) => format!("{} {path}: {}", method.as_str(), without_url(&e)),
            };
            if tries >= max_tries.max(1) {
                return Err(ApiError::Unavailable(if tries > 1 {
                    format!("{transient} (gave up after {tries} tries)")
                } else {
                    transient
                }));
            }
            tracing::info!("attio: {transient}; trying again");
            self.pause(tries);
        }
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.send(Method::Get, path, query, None)
    }

    /// Every item of a `{"data": [...]}` list read `limit` at a time (`limit`, `offset`), with
    /// `query` on every page, until a page comes back short.
    pub fn get_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        limit: usize,
    ) -> Result<Vec<Value>, ApiError> {
        let mut all = Vec::new();
        loop {
            let mut q = query.to_vec();
            q.push(("limit", limit.to_string()));
            q.push(("offset", all.len().to_string()));
            let page = self.get(path, &q)?;
            let items = page
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = items.len();
            all.extend(items);
            if n < limit {
                return Ok(all);
            }
        }
    }
}

/// The workspace's members as (member id, email as Attio has it).
pub fn workspace_members(client: &Client) -> Result<Vec<(String, String)>, ApiError> {
    let v = client.get("/v2/workspace_members", &[])?;
    Ok(v.get("data")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    let id = m.get("id")?.get("workspace_member_id")?.as_str()?;
                    let email = m.get("email_address")?.as_str()?;
                    Some((id.to_string(), email.to_string()))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// A reqwest error in words, without its URL (the URL carries no secret, but is noise).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "");
    }
    if e.is_connect() {
        format!("cannot connect: {s}")
    } else {
        s
    }
}

/// `code` and `message` of Attio's error body; the raw text when it is not one.
fn error_parts(text: &str) -> (String, String) {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => (
            v.get("code")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_string(),
            v.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| short(text)),
        ),
        Err(_) => ("error".into(), short(text)),
    }
}

fn error_message(text: &str) -> String {
    let (code, message) = error_parts(text);
    if code == "error" {
        message
    } else {
        format!("{code}: {message}")
    }
}

fn short(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() > 200 {
        format!("{}…", t.chars().take(200).collect::<String>())
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_http_dates_and_seconds() {
        let now = httpdate::parse_http_date("Tue, 23 May 2023 14:42:00 GMT").unwrap();
        assert_eq!(
            retry_after("Tue, 23 May 2023 14:42:01 GMT", now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            retry_after("Tue, 23 May 2023 14:41:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new("sk_live_very_secret");
        let client = Client::new(&AttioSettings::default(), key.clone()).unwrap();
        assert!(!format!("{key:?} {client:?}").contains("very_secret"));
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        let body = r#"{"status_code":400,"type":"invalid_request_error","code":"value_not_found","message":"Cannot find Status with title \"X\"."}"#;
        assert_eq!(error_parts(body).0, "value_not_found");
        assert_eq!(
            error_parts("<html>bad gateway</html>"),
            ("error".into(), "<html>bad gateway</html>".into())
        );
    }
}
