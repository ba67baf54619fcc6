//! The PostHog private API over HTTP: bearer auth, the error envelope, 429 and 5xx retries, the
//! query endpoint with 202 polling, the per-run query budget, and pacing within PostHog's hourly
//! query limit. Blocking, so it works from a plain `std::thread` (reqwest's blocking client runs
//! its own small runtime).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiKey, PosthogError};

/// How the client waits: after a 429 without `Retry-After`, after a 5xx, between polls, and
/// before a query that would pass PostHog's hourly limit.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// First backoff; it doubles on each retry.
    pub backoff: Duration,
    /// Retries of one request after 429 or 5xx before giving up.
    pub retries: u32,
    /// Longest wait accepted: a `Retry-After`, or the pause before a query that would pass
    /// `per_hour`. A longer one fails the request at once, saying when to try again.
    pub max_wait: Duration,
    /// Query endpoint calls PostHog allows in any `hour` (120 for legacy teams, 2400 newer).
    pub per_hour: u32,
    /// The window `per_hour` counts over: an hour (shorter only in tests).
    pub hour: Duration,
    /// First poll interval for a 202 query; it grows to 2 s.
    pub poll: Duration,
    /// Total time one query may take, polls included.
    pub query_timeout: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            backoff: Duration::from_secs(2),
            retries: 4,
            max_wait: Duration::from_secs(900),
            per_hour: 120,
            hour: Duration::from_secs(3600),
            poll: Duration::from_millis(500),
            query_timeout: Duration::from_secs(120),
        }
    }
}

/// One HogQL query: a name (shows in PostHog's query log), the SQL with `{placeholders}`, and
/// the values PostHog substitutes for them.
#[derive(Debug, Clone, PartialEq)]
pub struct HogQl {
    pub name: String,
    pub sql: String,
    pub values: Map<String, Value>,
}

/// Rows of a query answer, positional with `columns`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The position of a column, or an error naming the query.
    pub fn col(&self, name: &str, query: &str) -> Result<usize, PosthogError> {
        self.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| PosthogError::BadResponse {
                what: format!("query {query}"),
                message: format!(
                    "no column `{name}` in the answer (columns: {})",
                    self.columns.join(", ")
                ),
            })
    }
}

/// What the client counted during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Usage {
    /// Calls to the query endpoint (POST), retries and pages included: what the budget limits.
    pub queries: u32,
    pub budget: u32,
    /// GETs polling a query that answered 202.
    pub polls: u32,
    /// Retries after 429 or 5xx.
    pub retries: u32,
    /// Seconds spent waiting for PostHog's rate limits (Retry-After and hourly pacing).
    #[serde(default)]
    pub waited_seconds: u64,
}

pub struct Client {
    http: Http,
    host: String,
    key: ApiKey,
    project_id: u64,
    budget: u32,
    pub pacing: Pacing,
    queries: AtomicU32,
    polls: AtomicU32,
    retries: AtomicU32,
    /// When each query of the last `pacing.hour` was sent, oldest first.
    sent: Mutex<VecDeque<Instant>>,
    waited: Mutex<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("key", &self.key)
            .field("project_id", &self.project_id)
            .field("budget", &self.budget)
            .finish()
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Deserialize)]
struct QueryAnswer {
    #[serde(default)]
    results: Option<Vec<Vec<Value>>>,
    #[serde(default)]
    columns: Option<Vec<String>>,
    #[serde(default)]
    query_status: Option<QueryStatus>,
}

#[derive(Deserialize)]
struct QueryStatus {
    id: String,
    #[serde(default)]
    complete: bool,
    #[serde(default)]
    error: bool,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    results: Option<Value>,
}

impl Client {
    /// A client for `host` (e.g. `https://us.posthog.com`) and one project; `budget` caps the
    /// query endpoint calls this client may make.
    pub fn new(
        host: &str,
        key: ApiKey,
        project_id: u64,
        budget: u32,
    ) -> Result<Self, PosthogError> {
        let http = Http::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(90))
            .user_agent(concat!("beton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PosthogError::Unreachable {
                host: host.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            host: host.trim_end_matches('/').to_string(),
            key,
            project_id,
            budget,
            pacing: Pacing::default(),
            queries: AtomicU32::new(0),
            polls: AtomicU32::new(0),
            retries: AtomicU32::new(0),
            sent: Mutex::new(VecDeque::new()),
            waited: Mutex::new(Duration::ZERO),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    pub fn set_project(&mut self, id: u64) {
        self.project_id = id;
    }

    /// Caps the query endpoint calls of this client (a backtest makes many runs' worth).
    pub fn set_budget(&mut self, budget: u32) {
        self.budget = budget;
    }

    pub fn usage(&self) -> Usage {
        Usage {
            queries: self.queries.load(Ordering::Relaxed),
            budget: self.budget,
            polls: self.polls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            waited_seconds: self.waited.lock().map_or(0, |w| w.as_secs()),
        }
    }

    /// Sleeps `d`, counting it as time spent on PostHog's rate limits.
    fn wait(&self, d: Duration) {
        std::thread::sleep(d);
        if let Ok(mut w) = self.waited.lock() {
            *w += d;
        }
    }

    /// Before a query: waits until sending it keeps this client within `per_hour` queries in
    /// any `hour`, or fails when that wait is longer than `max_wait`.
    fn pace(&self) -> Result<(), PosthogError> {
        let Ok(mut sent) = self.sent.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.pacing.hour)
        {
            sent.pop_front();
        }
        let limit = self.pacing.per_hour.max(1) as usize;
        if sent.len() >= limit {
            let oldest = sent[sent.len() - limit];
            let pause = self.pacing.hour.saturating_sub(now.duration_since(oldest));
            if pause > self.pacing.max_wait {
                return Err(PosthogError::HourlyLimit {
                    per_hour: self.pacing.per_hour,
                    wait_seconds: pause.as_secs().max(1),
                    until: until(pause),
                    max_wait: self.pacing.max_wait.as_secs(),
                });
            }
            tracing::warn!(
                ?pause,
                per_hour = self.pacing.per_hour,
                "pacing queries within PostHog's hourly limit"
            );
            self.wait(pause);
        }
        sent.push_back(Instant::now());
        Ok(())
    }

    /// `/api/projects/{id}/{rest}`.
    pub fn project_path(&self, rest: &str) -> String {
        format!(
            "/api/projects/{}/{}",
            self.project_id,
            rest.trim_start_matches('/')
        )
    }

    // Every request method redacts the key from its error: a server may echo the request,
    // bearer header and all, into the text an error relays.
    pub fn get(&self, path: &str) -> Result<Value, PosthogError> {
        self.send_json(path, |u| self.http.get(u), false)
            .map_err(|e| e.redacted(self.key.expose()))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, PosthogError> {
        self.send_json(path, |u| self.http.post(u).json(body), false)
            .map_err(|e| e.redacted(self.key.expose()))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, PosthogError> {
        self.send_json(path, |u| self.http.patch(u).json(body), false)
            .map_err(|e| e.redacted(self.key.expose()))
    }

    /// Every page of a DRF list (`results` + `next`), following `next` within this host.
    pub fn list(&self, path: &str) -> Result<Vec<Value>, PosthogError> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(p) = next.take() {
            let page = self.get(&p)?;
            match page {
                Value::Array(items) => return Ok(items),
                Value::Object(mut o) => {
                    if let Some(Value::Array(items)) = o.remove("results") {
                        out.extend(items);
                    }
                    pages += 1;
                    next = o
                        .get("next")
                        .and_then(Value::as_str)
                        .and_then(|n| n.find("/api/").map(|i| n[i..].to_string()))
                        .filter(|_| pages < 100);
                }
                _ => {
                    return Err(PosthogError::BadResponse {
                        what: p,
                        message: "expected a list".into(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Sends a request, retrying 429 (honouring `Retry-After`) and 502/503/504 with backoff.
    /// `query` marks a query endpoint call, which the budget counts.
    fn send(
        &self,
        path: &str,
        build: impl Fn(&str) -> RequestBuilder,
        query: bool,
    ) -> Result<Response, PosthogError> {
        let url = format!("{}{}", self.host, path);
        let mut wait = self.pacing.backoff;
        let mut attempt = 0;
        loop {
            if query {
                let used = self.queries.load(Ordering::Relaxed);
                if used >= self.budget {
                    return Err(PosthogError::Budget {
                        used,
                        budget: self.budget,
                    });
                }
                self.pace()?;
                self.queries.fetch_add(1, Ordering::Relaxed);
            }
            let resp = build(&url)
                .header(reqwest::header::AUTHORIZATION, self.key.bearer())
                .send()
                .map_err(|e| PosthogError::Unreachable {
                    host: self.host.clone(),
                    message: plain(&e),
                })?;
            let status = resp.status();
            // PostHog's own 504 (a query past its execution time) is a JSON error: retrying it
            // only spends the hourly budget. A gateway's 502/503/504 (no JSON) is retried.
            let json = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("json"));
            let retryable = status == StatusCode::TOO_MANY_REQUESTS
                || status.as_u16() == 503
                || (matches!(status.as_u16(), 502 | 504) && !json);
            if !retryable {
                return Ok(resp);
            }
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            if attempt >= self.pacing.retries {
                return Err(error_of(status, &self.host, path, resp));
            }
            let pause = match retry_after {
                Some(d) if d > self.pacing.max_wait => {
                    let detail = error_detail(resp);
                    return Err(PosthogError::Throttled {
                        path: path.to_string(),
                        wait_seconds: d.as_secs(),
                        until: until(d),
                        max_wait: self.pacing.max_wait.as_secs(),
                        detail,
                    });
                }
                // `Retry-After: 0` (PostHog rounds a wait under a second down): one second, so
                // a retry never lands in the same second of the same throttle window.
                Some(d) => d.max(Duration::from_secs(1)),
                None => wait,
            };
            tracing::warn!(
                status = status.as_u16(),
                path,
                ?pause,
                "PostHog asked to slow down; retrying"
            );
            self.wait(pause);
            wait = wait.saturating_mul(2);
            attempt += 1;
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn send_json(
        &self,
        path: &str,
        build: impl Fn(&str) -> RequestBuilder,
        query: bool,
    ) -> Result<Value, PosthogError> {
        let resp = self.send(path, build, query)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(error_of(status, &self.host, path, resp));
        }
        read_json(resp, path)
    }

    /// Runs one HogQL query with `refresh: force_blocking`, polling when PostHog answers 202.
    pub fn query(&self, q: &HogQl) -> Result<Rows, PosthogError> {
        self.query_unredacted(q)
            .map_err(|e| e.redacted(self.key.expose()))
    }

    fn query_unredacted(&self, q: &HogQl) -> Result<Rows, PosthogError> {
        let body = json!({
            "query": {"kind": "HogQLQuery", "query": q.sql, "values": q.values},
            "refresh": "force_blocking",
            "name": q.name,
        });
        let path = self.project_path("query/");
        let started = Instant::now();
        let resp = self.send(&path, |u| self.http.post(u).json(&body), true)?;
        let status = resp.status();
        if status == StatusCode::BAD_REQUEST {
            let env = resp.json::<Envelope>().ok();
            return Err(PosthogError::Query {
                name: q.name.clone(),
                detail: env
                    .and_then(|e| e.detail)
                    .unwrap_or_else(|| "rejected (400)".into()),
            });
        }
        if matches!(status.as_u16(), 504 | 512 | 513) {
            return Err(PosthogError::TooSlow {
                name: q.name.clone(),
                status: status.as_u16(),
                detail: error_detail(resp),
            });
        }
        if !status.is_success() {
            return Err(error_of(status, &self.host, &path, resp));
        }
        let accepted = status == StatusCode::ACCEPTED;
        let answer: QueryAnswer = parse(read_json(resp, &path)?, &path)?;
        match (answer.results, answer.query_status) {
            (Some(results), _) if !accepted => Ok(Rows {
                columns: answer.columns.unwrap_or_default(),
                rows: results,
            }),
            (_, Some(st)) => self.poll(q, st, started),
            _ => Err(PosthogError::BadResponse {
                what: format!("query {}", q.name),
                message: "neither `results` nor `query_status` in the answer".into(),
            }),
        }
    }

    fn poll(&self, q: &HogQl, mut st: QueryStatus, started: Instant) -> Result<Rows, PosthogError> {
        let mut every = self.pacing.poll;
        loop {
            if st.error {
                return Err(PosthogError::Query {
                    name: q.name.clone(),
                    detail: st
                        .error_message
                        .unwrap_or_else(|| "the query failed".into()),
                });
            }
            if st.complete {
                let results = st.results.take().unwrap_or(Value::Null);
                // `query_status.results` holds the whole HogQL answer (`results`, `columns`, …).
                let answer: QueryAnswer = parse(results, &format!("query {}", q.name))?;
                let rows = answer.results.ok_or_else(|| PosthogError::BadResponse {
                    what: format!("query {}", q.name),
                    message: "a complete query status without results".into(),
                })?;
                return Ok(Rows {
                    columns: answer.columns.unwrap_or_default(),
                    rows,
                });
            }
            if started.elapsed() > self.pacing.query_timeout {
                return Err(PosthogError::Timeout {
                    name: q.name.clone(),
                    seconds: started.elapsed().as_secs(),
                });
            }
            std::thread::sleep(every);
            every = (every * 2).min(Duration::from_secs(2));
            let path = self.project_path(&format!("query/{}/", st.id));
            self.polls.fetch_add(1, Ordering::Relaxed);
            let resp = self.send(&path, |u| self.http.get(u), false)?;
            let status = resp.status();
            if status == StatusCode::BAD_REQUEST {
                let v = read_json(resp, &path).unwrap_or(Value::Null);
                let detail = v
                    .pointer("/query_status/error_message")
                    .or_else(|| v.get("detail"))
                    .and_then(Value::as_str)
                    .unwrap_or("the query failed")
                    .to_string();
                return Err(PosthogError::Query {
                    name: q.name.clone(),
                    detail,
                });
            }
            if !status.is_success() {
                return Err(error_of(status, &self.host, &path, resp));
            }
            #[derive(Deserialize)]
            struct Polled {
                query_status: QueryStatus,
            }
            let polled: Polled = parse(read_json(resp, &path)?, &path)?;
            st = polled.query_status;
        }
    }
}

/// A transport error with its causes (URLs hold no secret: the key travels in a header).
fn plain(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn read_json(resp: Response, path: &str) -> Result<Value, PosthogError> {
    let text = resp.text().map_err(|e| PosthogError::BadResponse {
        what: path.to_string(),
        message: plain(&e),
    })?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| PosthogError::BadResponse {
        what: path.to_string(),
        message: format!("malformed JSON ({e})"),
    })
}

fn parse<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, PosthogError> {
    serde_json::from_value(v).map_err(|e| PosthogError::BadResponse {
        what: what.to_string(),
        message: format!("unexpected shape ({e})"),
    })
}

/// The `detail` of PostHog's error envelope, else the start of the body.
fn error_detail(resp: Response) -> String {
    let text = resp.text().unwrap_or_default();
    serde_json::from_str::<Envelope>(&text)
        .ok()
        .and_then(|e| e.detail)
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// The UTC time `d` from now, to the minute, for messages.
fn until(d: Duration) -> String {
    let at = crate::time::now()
        + i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2) * crate::time::SECOND;
    let s = crate::time::fmt_ts(at);
    format!("{} UTC", s.get(..16).unwrap_or(&s).replace('T', " "))
}

/// Turns a failed answer into an error that says what to do.
fn error_of(status: StatusCode, host: &str, path: &str, resp: Response) -> PosthogError {
    let text = resp.text().unwrap_or_default();
    let env: Option<Envelope> = serde_json::from_str(&text).ok();
    let detail = env
        .as_ref()
        .and_then(|e| e.detail.clone())
        .unwrap_or_else(|| text.chars().take(200).collect::<String>());
    let code = env.and_then(|e| e.code).unwrap_or_default();
    match status.as_u16() {
        401 => PosthogError::Unauthorized {
            host: host.to_string(),
            detail,
        },
        403 => PosthogError::Forbidden {
            path: path.to_string(),
            detail,
        },
        404 => PosthogError::NotFound {
            path: path.to_string(),
        },
        429 => PosthogError::RateLimited {
            path: path.to_string(),
            detail,
        },
        s => PosthogError::Http {
            status: s,
            path: path.to_string(),
            detail: if code.is_empty() {
                detail
            } else {
                format!("{code}: {detail}")
            },
        },
    }
}
