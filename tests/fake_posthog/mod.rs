//! A fake PostHog on 127.0.0.1, built from ../shared/reference/posthog-api.md and PostHog's
//! source: it checks the bearer key, paths and body shapes like the real one, keeps dashboards,
//! insights, folders, data warehouse tables, saved views and captured events in memory, answers
//! the detection queries from canned rows with real keyset paging (`values.after`,
//! `values.limit`), and misbehaves on purpose when told to. Like PostHog it
//! - resolves the fields a query reads from a warehouse table or view (`Unable to resolve
//!   field`), with the native Attio source's raw shape for `attio_deals` (`with_attio_source`);
//! - keeps saved queries like `warehouse_saved_queries` does: POST upserts by name, no
//!   placeholders in a view, a query change needs the view's `latest_history_id`;
//! - wants a chart's `chartSettings` to name columns its query returns;
//! - throttles queries per hour (`queries_per_hour`: 429 with `Retry-After`, DRF's body);
//! - stops a query past 10 s of execution (504, `ClickHouseQueryTimeOut` with the detail
//!   `api_timeout_detail` gives it in `hogql_query_runner.py`), timing each
//!   as the events it scans (its `timestamp >=` bounds, all history without one) over
//!   `scan_per_second`.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

pub const KEY: &str = "phx_test_key_123";
pub const PROJECT: u64 = 7;
pub const CAPTURE_KEY: &str = "phc_capture_7";

/// A misbehaviour for the next query POST.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16),
    TooMany {
        retry_after: Option<u64>,
    },
    /// 202 with a query_status, then `polls` GETs answering 202, then 200 complete.
    Accepted {
        polls: u32,
    },
    Malformed,
}

#[derive(Default)]
pub struct World {
    pub key: String,
    pub group_index: u8,
    pub faults: VecDeque<Fault>,
    /// Canned answer rows per query name: (columns, rows sorted by account).
    pub answers: BTreeMap<String, (Vec<String>, Vec<Vec<Value>>)>,
    /// Every query body received.
    pub queries: Vec<Value>,
    pub polls_left: BTreeMap<String, (u32, Value)>,
    pub dashboards: Vec<Value>,
    pub insights: Vec<Value>,
    pub folders: Vec<String>,
    pub next_id: i64,
    /// Count of POST/PATCH on dashboards and insights.
    pub writes: u32,
    /// When set, dashboard and insight endpoints answer this status.
    pub dashboards_fail: Option<u16>,
    pub captured: Vec<Value>,
    /// When set, capture answers this status.
    pub capture_fails: Option<u16>,
    pub missing_tables: Vec<String>,
    /// Data warehouse tables: name → columns.
    pub warehouse_tables: BTreeMap<String, Vec<String>>,
    /// Saved queries (views), as `warehouse_saved_queries` keeps them.
    pub views: Vec<Value>,
    /// POST/PATCH on saved queries.
    pub view_writes: u32,
    pub history_seq: u64,
    /// Queries allowed per hour (None: no limit), and when each was let through.
    pub queries_per_hour: Option<u32>,
    pub query_times: VecDeque<Instant>,
    /// The timing model: events per day in the project, how many days of events it holds, and
    /// how many events ClickHouse scans per second (0 = no model: every query is fast).
    pub events_per_day: f64,
    pub history_days: f64,
    pub scan_per_second: f64,
}

/// The columns PostHog's Attio source lands for a records endpoint (`record_id`, `created_at`,
/// `web_url` and Attio's nested `values` as a JSON string; `_flatten_item` lifts the `id`
/// object's `workspace_id`, `object_id`, `record_id` to the top).
pub const ATTIO_RECORD_COLUMNS: [&str; 6] = [
    "workspace_id",
    "object_id",
    "record_id",
    "created_at",
    "web_url",
    "values",
];

/// PostHog's own execution limit for queries made with a personal API key.
pub const MAX_EXECUTION_SECONDS: f64 = 10.0;

impl World {
    /// The tables PostHog's native Attio source lands (`deals`, and `companies` if asked).
    pub fn with_attio_source(&mut self, companies: bool) {
        let cols: Vec<String> = ATTIO_RECORD_COLUMNS.iter().map(|c| c.to_string()).collect();
        self.warehouse_tables
            .insert("attio_deals".into(), cols.clone());
        if companies {
            self.warehouse_tables.insert("attio_companies".into(), cols);
        }
    }

    /// Columns of a warehouse table or live view.
    fn columns_of(&self, table: &str) -> Option<Vec<String>> {
        if let Some(c) = self.warehouse_tables.get(table) {
            return Some(c.clone());
        }
        self.views
            .iter()
            .find(|v| v["name"] == table && v["deleted"] != json!(true))
            .map(|v| {
                v["columns"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            })
    }
}

const POSTHOG_TABLES: [&str; 5] = ["events", "groups", "persons", "sessions", "numbers"];
const GROUPS_COLUMNS: [&str; 6] = [
    "index",
    "key",
    "properties",
    "created_at",
    "updated_at",
    "team_id",
];
const KEYWORDS: [&str; 36] = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "NULL", "AS", "GROUP", "BY",
    "ORDER", "HAVING", "LIMIT", "INTERVAL", "DAY", "CASE", "WHEN", "THEN", "ELSE", "END", "DESC",
    "ASC", "LEFT", "INNER", "JOIN", "ON", "DISTINCT", "TRUE", "FALSE", "LIKE", "UNION", "ALL",
    "WEEK", "BETWEEN",
];

/// The SQL with the text of string literals and `{placeholders}` blanked out.
fn blank_strings(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut escaped = false;
    let mut placeholder = false;
    for c in sql.chars() {
        if placeholder {
            placeholder = c != '}';
            out.push(if placeholder { ' ' } else { '0' });
        } else if !quoted && c == '{' {
            placeholder = true;
            out.push('0');
        } else if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '\'' {
                quoted = false;
                out.push(c);
                continue;
            }
            out.push(' ');
        } else {
            if c == '\'' {
                quoted = true;
            }
            out.push(c);
        }
    }
    out
}

fn ident_at(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'$') {
        j += 1;
    }
    j
}

/// Every `FROM t` / `JOIN t` of a table (not a subquery): (table, byte offset of the keyword).
fn tables_read(sql: &str) -> Vec<(String, usize)> {
    let b = sql.as_bytes();
    let upper = sql.to_ascii_uppercase();
    let mut out = Vec::new();
    for kw in ["FROM ", "JOIN "] {
        let mut from = 0;
        while let Some(i) = upper[from..].find(kw) {
            let at = from + i;
            from = at + kw.len();
            if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
                continue;
            }
            let mut j = at + kw.len();
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let end = ident_at(b, j);
            if end > j {
                out.push((sql[j..end].to_string(), at));
            }
        }
    }
    out
}

/// The fields a SELECT over one table names: its select list, and its clauses up to the end of
/// the parenthesis the SELECT sits in. Aliases (`AS x`), functions, qualified names and keywords
/// are not fields.
fn fields_near(sql: &str, at: usize) -> Vec<String> {
    let b = sql.as_bytes();
    let upper = sql.to_ascii_uppercase();
    // Back to this FROM's SELECT: the nearest SELECT at the same depth.
    let mut depth = 0i32;
    let mut start = 0;
    let mut i = at;
    while i > 0 {
        i -= 1;
        match b[i] {
            b')' => depth += 1,
            b'(' => {
                if depth == 0 {
                    start = i + 1;
                    break;
                }
                depth -= 1;
            }
            _ => {}
        }
        if depth == 0 && upper[i..].starts_with("SELECT") {
            start = i;
            break;
        }
    }
    let mut depth = 0i32;
    let mut end = b.len();
    for (k, c) in b.iter().enumerate().skip(at) {
        if depth == 0 && upper[k..].starts_with("UNION") {
            end = k;
            break;
        }
        match c {
            b'(' => depth += 1,
            b')' => {
                if depth == 0 {
                    end = k;
                    break;
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    let seg = &sql[start..end];
    let sb = seg.as_bytes();
    let mut aliases = Vec::new();
    let mut words = Vec::new();
    let mut k = 0;
    let mut prev_as = false;
    while k < sb.len() {
        if sb[k].is_ascii_alphabetic() || sb[k] == b'_' || sb[k] == b'$' {
            let e = ident_at(sb, k);
            let w = &seg[k..e];
            let before_dot = k > 0 && sb[k - 1] == b'.';
            let mut n = e;
            while n < sb.len() && sb[n] == b' ' {
                n += 1;
            }
            let call = n < sb.len() && sb[n] == b'(';
            let after_dot = e < sb.len() && sb[e] == b'.';
            if prev_as {
                aliases.push(w.to_string());
                prev_as = false;
            } else if w.eq_ignore_ascii_case("AS") {
                prev_as = true;
            } else if !call
                && !before_dot
                && !after_dot
                && !KEYWORDS.contains(&w.to_ascii_uppercase().as_str())
            {
                words.push(w.to_string());
            }
            k = e;
        } else {
            if !sb[k].is_ascii_whitespace() {
                prev_as = false;
            }
            if sb[k].is_ascii_digit() {
                k = ident_at(sb, k).max(k + 1);
                continue;
            }
            k += 1;
        }
    }
    words.retain(|w| !aliases.contains(w));
    // The table's own name and its alias after it.
    words
}

/// HogQL's resolution, for the tables the fake knows the columns of: every field a SELECT over
/// a warehouse table, a view or `groups` names must be one of its columns.
fn resolve(w: &World, sql: &str) -> Result<(), String> {
    let text = blank_strings(sql);
    for (table, at) in tables_read(&text) {
        let cols: Vec<String> = if table == "groups" {
            GROUPS_COLUMNS.iter().map(|c| c.to_string()).collect()
        } else if POSTHOG_TABLES.contains(&table.as_str()) {
            continue;
        } else {
            match w.columns_of(&table) {
                Some(c) => c,
                None => return Err(format!("Unknown table `{table}`.")),
            }
        };
        for f in fields_near(&text, at) {
            if f != table && !cols.contains(&f) {
                return Err(format!("Unable to resolve field: {f}"));
            }
        }
    }
    Ok(())
}

/// The names of the columns a query returns (its outermost SELECT list).
pub fn returned_columns(sql: &str) -> Vec<String> {
    let text = blank_strings(sql);
    let upper = text.to_ascii_uppercase();
    let Some(s) = upper.find("SELECT") else {
        return Vec::new();
    };
    let mut depth = 0;
    let mut cur = String::new();
    let mut items = Vec::new();
    let b = text.as_bytes();
    let mut i = s + 6;
    while i < b.len() {
        let c = b[i] as char;
        if depth == 0 && upper[i..].starts_with("FROM") && b[i - 1].is_ascii_whitespace() {
            break;
        }
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
        i += 1;
    }
    items.push(cur);
    items
        .iter()
        .filter_map(|it| {
            let t = it.trim();
            let last = t.split_whitespace().last()?;
            Some(last.rsplit('.').next().unwrap_or(last).to_string())
        })
        .collect()
}

/// How long ClickHouse would take: the events the query scans over `scan_per_second`. A
/// `FROM events` without a `timestamp >=` bound scans the whole history.
fn execution_seconds(w: &World, sql: &str, values: &serde_json::Map<String, Value>) -> f64 {
    if w.scan_per_second <= 0.0 {
        return 0.0;
    }
    let ts = |name: &str| {
        values
            .get(name)
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp() as f64 / 86_400.0)
    };
    let bound = |op: &str| -> Vec<f64> {
        let mut out = Vec::new();
        let mut rest = sql;
        while let Some(i) = rest.find(op) {
            rest = &rest[i + op.len()..];
            let r = rest.trim_start().trim_start_matches("toDateTime(");
            if let Some(name) = r
                .strip_prefix('{')
                .and_then(|r| r.split_once('}'))
                .map(|(n, _)| n)
            {
                out.extend(ts(name));
            }
        }
        out
    };
    let lower = bound("timestamp >=");
    let upper = bound("timestamp <");
    let scans = tables_read(&blank_strings(sql))
        .iter()
        .filter(|(t, _)| t == "events")
        .count();
    let days = if scans == 0 {
        0.0
    } else if lower.len() < scans {
        w.history_days
    } else {
        let lo = lower.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = upper.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let hi = if hi.is_finite() { hi } else { lo };
        (hi - lo).clamp(0.0, w.history_days)
    };
    days * w.events_per_day / w.scan_per_second
}

/// DRF's throttle: `Retry-After` is the seconds until the oldest query of the hour expires.
fn throttled(w: &mut World) -> Option<Response> {
    let limit = w.queries_per_hour? as usize;
    let now = Instant::now();
    let hour = Duration::from_secs(3600);
    while w
        .query_times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= hour)
    {
        w.query_times.pop_front();
    }
    if w.query_times.len() < limit {
        w.query_times.push_back(now);
        return None;
    }
    let wait = hour
        .saturating_sub(now.duration_since(w.query_times[0]))
        .as_secs();
    let mut r = err(
        429,
        "throttled_error",
        "throttled",
        &format!("Request was throttled. Expected available in {wait} seconds."),
    );
    r.headers_mut()
        .insert("retry-after", wait.to_string().parse().unwrap());
    Some(r)
}

/// The chart displays that plot an x axis (`ChartDisplayType`).
const CHARTS: [&str; 6] = [
    "ActionsLineGraph",
    "ActionsBar",
    "ActionsStackedBar",
    "ActionsAreaGraph",
    "ActionsPie",
    "ActionsBarValue",
];

/// A SQL chart renders from its `chartSettings` (PostHog picks only a date column as the x axis
/// without them): every named column must be one the query returns.
fn chart_ok(q: &Value) -> Result<(), String> {
    let display = q["display"].as_str().unwrap_or("ActionsTable");
    let cols = returned_columns(q["source"]["query"].as_str().unwrap_or(""));
    let cs = &q["chartSettings"];
    let named = |v: &Value| -> Result<(), String> {
        let c = v["column"].as_str().ok_or("a ChartAxis needs a `column`")?;
        if cols.iter().any(|x| x == c) {
            Ok(())
        } else {
            Err(format!(
                "chartSettings names `{c}`, which the query does not return ({cols:?})"
            ))
        }
    };
    if CHARTS.contains(&display) {
        if cs["xAxis"].is_null() {
            return Err(format!(
                "a {display} needs chartSettings.xAxis (without it only a date column is taken as the x axis)"
            ));
        }
        named(&cs["xAxis"])?;
        let y = cs["yAxis"]
            .as_array()
            .filter(|y| !y.is_empty())
            .ok_or("a chart needs chartSettings.yAxis")?;
        for a in y {
            named(a)?;
        }
    } else if let Some(y) = cs["yAxis"].as_array() {
        for a in y {
            named(a)?;
        }
    }
    if let Some(s) = cs["seriesBreakdownColumn"].as_str() {
        named(&json!({"column": s}))?;
    }
    Ok(())
}

pub type Shared = Arc<Mutex<World>>;

pub struct Fake {
    pub url: String,
    pub world: Shared,
    _rt: tokio::runtime::Runtime,
}

impl Fake {
    pub fn start() -> Self {
        let world: Shared = Arc::new(Mutex::new(World {
            key: KEY.into(),
            group_index: 1,
            next_id: 100,
            ..Default::default()
        }));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = Router::new()
            .route("/batch/", post(capture))
            .route("/api/{*rest}", any(api))
            .with_state(world.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            world,
            _rt: rt,
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.world.lock().unwrap())
    }
}

fn err(status: u16, kind: &str, code: &str, detail: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"type": kind, "code": code, "detail": detail, "attr": null})),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

async fn capture(State(w): State<Shared>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "failed to decode request").into_response();
    };
    let mut w = w.lock().unwrap();
    if let Some(status) = w.capture_fails {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "capture is failing on purpose").into_response();
    }
    if v.get("api_key").and_then(Value::as_str) != Some(CAPTURE_KEY) {
        return (StatusCode::UNAUTHORIZED, "invalid api_key").into_response();
    }
    let Some(batch) = v
        .get("batch")
        .and_then(Value::as_array)
        .filter(|b| !b.is_empty())
    else {
        return (StatusCode::BAD_REQUEST, "empty batch").into_response();
    };
    for e in batch {
        let named = e
            .get("event")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let distinct = e
            .pointer("/properties/distinct_id")
            .and_then(Value::as_str)
            .is_some();
        if !named || !distinct {
            return (StatusCode::BAD_REQUEST, "missing event name or distinct_id").into_response();
        }
    }
    w.captured.extend(batch.iter().cloned());
    ok(json!({"status": "Ok"}))
}

/// Placeholders `{name}` in the SQL must all have a value.
fn placeholders_ok(sql: &str, values: &serde_json::Map<String, Value>) -> Result<(), String> {
    let mut rest = sql;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('}') else {
            return Err("unclosed placeholder".into());
        };
        let name = &after[..j];
        if !values.contains_key(name) {
            return Err(format!("Placeholder {{{name}}} is not available"));
        }
        rest = &after[j + 1..];
    }
    Ok(())
}

fn answer_query(w: &mut World, body: &Value) -> Response {
    let Some(q) = body.get("query") else {
        return err(400, "validation_error", "invalid_input", "query missing");
    };
    if q.get("kind").and_then(Value::as_str) != Some("HogQLQuery") {
        return err(400, "validation_error", "invalid_input", "unknown kind");
    }
    let sql = q.get("query").and_then(Value::as_str).unwrap_or("");
    let empty = serde_json::Map::new();
    let values = q.get("values").and_then(Value::as_object).unwrap_or(&empty);
    if let Err(e) = placeholders_ok(sql, values) {
        return err(400, "validation_error", "invalid_input", &e);
    }
    if let Err(e) = resolve(w, sql) {
        return err(400, "validation_error", "invalid_input", &e);
    }
    if execution_seconds(w, sql, values) > MAX_EXECUTION_SECONDS {
        return err(
            504,
            "server_error",
            "error",
            "This query hit the 10-second time limit for queries run through the API. Submit it as an async query to give it more time: https://posthog.com/docs/api/queries#asynchronous-queries. You can also narrow the date range or the filters so it scans less data: https://posthog.com/docs/api/queries#writing-performant-queries",
        );
    }
    for t in &w.missing_tables {
        if sql.contains(&format!("FROM {t}")) {
            return err(
                400,
                "validation_error",
                "invalid_input",
                &format!("Unknown table `{t}`."),
            );
        }
    }
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (columns, rows) = w
        .answers
        .get(&name)
        .cloned()
        .unwrap_or_else(|| (vec!["ok".into()], vec![vec![json!(1)]]));
    let after = values
        .get("after")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let limit = values
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    let acc = columns.iter().position(|c| c == "account");
    let rows: Vec<Vec<Value>> = rows
        .into_iter()
        .filter(|r| acc.is_none_or(|i| r[i].as_str().unwrap_or("") > after.as_str()))
        .take(limit as usize)
        .collect();
    let types: Vec<Value> = columns.iter().map(|c| json!([c, "String"])).collect();
    json!({"results": rows, "columns": columns, "types": types, "hasMore": null, "is_cached": false})
        .pipe(ok)
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

async fn api(
    State(w): State<Shared>,
    method: Method,
    Path(rest): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = w.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth.is_empty() {
        return err(
            401,
            "authentication_error",
            "not_authenticated",
            "Authentication credentials were not provided.",
        );
    }
    if auth != format!("Bearer {}", w.key) {
        return err(
            401,
            "authentication_error",
            "authentication_failed",
            "Personal API key found in request Authorization header is invalid.",
        );
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return err(400, "validation_error", "parse_error", "JSON parse error"),
        }
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["projects"]) => ok(
            json!({"count": 1, "next": null, "previous": null, "results": [
            {"id": PROJECT, "uuid": "u", "organization": "o", "api_token": CAPTURE_KEY, "name": "Default project",
             "timezone": "UTC"}]}),
        ),
        (_, ["projects", id, ..]) if *id != PROJECT.to_string() => err(
            403,
            "authentication_error",
            "permission_denied",
            &format!("API key does not have access to the requested project: ID {id}."),
        ),
        ("GET", ["projects", _, "groups_types"]) => ok(json!([
            {"group_type": "team", "group_type_index": 0, "name_singular": null, "name_plural": null},
            {"group_type": "company", "group_type_index": w.group_index, "name_singular": null, "name_plural": null}
        ])),
        ("POST", ["projects", _, "query"]) => {
            w.queries.push(body.clone());
            if let Some(r) = throttled(&mut w) {
                return r;
            }
            if body.get("refresh").and_then(Value::as_str) != Some("force_blocking") {
                return err(
                    400,
                    "validation_error",
                    "invalid_input",
                    "expected refresh force_blocking",
                );
            }
            match w.faults.pop_front() {
                Some(Fault::Status(401)) => err(
                    401,
                    "authentication_error",
                    "authentication_failed",
                    "Personal API key found in request Authorization header is invalid.",
                ),
                Some(Fault::Status(403)) => err(
                    403,
                    "authentication_error",
                    "permission_denied",
                    "API key missing required scope 'query:read'",
                ),
                Some(Fault::Status(s)) => err(s, "server_error", "error", "Internal server error"),
                Some(Fault::TooMany { retry_after }) => {
                    let mut r = err(
                        429,
                        "throttled_error",
                        "throttled",
                        "Request was throttled. Expected available in 1 second.",
                    );
                    if let Some(s) = retry_after {
                        r.headers_mut()
                            .insert("retry-after", s.to_string().parse().unwrap());
                    }
                    r
                }
                Some(Fault::Malformed) => (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    "{\"results\": [[\"a\", 1]",
                )
                    .into_response(),
                Some(Fault::Accepted { polls }) => {
                    let answer = answer_query(&mut w, &body);
                    let id = format!("q{}", w.next_id);
                    w.next_id += 1;
                    let status = answer.status();
                    let bytes = futures_body(answer);
                    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status != StatusCode::OK {
                        return (status, axum::Json(v)).into_response();
                    }
                    w.polls_left.insert(id.clone(), (polls, v));
                    (StatusCode::ACCEPTED, axum::Json(json!({"query_status": {"id": id, "team_id": PROJECT, "complete": false}}))).into_response()
                }
                None => answer_query(&mut w, &body),
            }
        }
        ("GET", ["projects", _, "query", id]) => {
            let id = id.to_string();
            let Some((left, v)) = w.polls_left.get_mut(&id) else {
                return err(404, "invalid_request", "not_found", "Not found.");
            };
            if *left > 0 {
                *left -= 1;
                return (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"query_status": {"id": id, "complete": false}})),
                )
                    .into_response();
            }
            let v = v.clone();
            ok(json!({"query_status": {"id": id, "complete": true, "error": false, "results": v}}))
        }
        (_, ["projects", _, "dashboards" | "insights", ..]) if w.dashboards_fail.is_some() => err(
            w.dashboards_fail.unwrap_or(500),
            "server_error",
            "error",
            "Internal server error",
        ),
        ("GET", ["projects", _, "file_system"]) => {
            let path = params.get("path").cloned().unwrap_or_default();
            let results: Vec<Value> = w
                .folders
                .iter()
                .filter(|f| **f == path)
                .map(|f| json!({"id": "f", "path": f, "type": "folder"}))
                .collect();
            ok(json!({"count": results.len(), "next": null, "results": results}))
        }
        ("POST", ["projects", _, "file_system"]) => {
            let Some(path) = body.get("path").and_then(Value::as_str) else {
                return err(400, "validation_error", "invalid_input", "path");
            };
            w.folders.push(path.to_string());
            (
                StatusCode::CREATED,
                axum::Json(json!({"id": "f", "path": path, "type": "folder"})),
            )
                .into_response()
        }
        ("GET", ["projects", _, kind @ ("dashboards" | "insights")]) => {
            let list = if *kind == "dashboards" {
                &w.dashboards
            } else {
                &w.insights
            };
            let want: Vec<String> = match (*kind, params.get("tags")) {
                ("dashboards", Some(t)) => vec![t.clone()],
                (_, Some(t)) => match serde_json::from_str::<Vec<String>>(t) {
                    Ok(v) => v,
                    Err(_) => {
                        return err(
                            400,
                            "validation_error",
                            "invalid_input",
                            "tags must be a JSON array",
                        );
                    }
                },
                _ => vec![],
            };
            let results: Vec<Value> = list
                .iter()
                .filter(|d| !d["deleted"].as_bool().unwrap_or(false))
                .filter(|d| {
                    want.is_empty()
                        || d["tags"]
                            .as_array()
                            .is_some_and(|t| t.iter().any(|x| want.iter().any(|w| x == w)))
                })
                .cloned()
                .collect();
            ok(json!({"count": results.len(), "next": null, "previous": null, "results": results}))
        }
        ("POST", ["projects", _, kind @ ("dashboards" | "insights")]) => {
            let Some(name) = body.get("name").and_then(Value::as_str) else {
                return err(400, "validation_error", "required", "name");
            };
            if *kind == "insights" {
                let q = &body["query"];
                if q["kind"] != "DataVisualizationNode"
                    || q["source"]["kind"] != "HogQLQuery"
                    || !q["source"]["query"].is_string()
                {
                    return err(400, "validation_error", "parse_error", "invalid query");
                }
                if let Err(e) = chart_ok(q) {
                    return err(400, "validation_error", "invalid_input", &e);
                }
                if body["saved"] != json!(true) {
                    return err(
                        400,
                        "validation_error",
                        "invalid_input",
                        "fake: insights must be saved",
                    );
                }
                let dash = body["dashboards"].as_array().cloned().unwrap_or_default();
                for d in &dash {
                    if !w
                        .dashboards
                        .iter()
                        .any(|x| x["id"] == *d && !x["deleted"].as_bool().unwrap_or(false))
                    {
                        return err(
                            400,
                            "validation_error",
                            "invalid_input",
                            "Dashboard not found",
                        );
                    }
                }
            }
            let id = w.next_id;
            w.next_id += 1;
            w.writes += 1;
            let mut obj = body.clone();
            obj["id"] = json!(id);
            obj["deleted"] = json!(false);
            obj["name"] = json!(name);
            if obj.get("tags").is_none() {
                obj["tags"] = json!([]);
            }
            if let Some(o) = obj.as_object_mut() {
                o.remove("_create_in_folder");
            }
            if *kind == "dashboards" {
                w.dashboards.push(obj.clone())
            } else {
                w.insights.push(obj.clone())
            }
            (StatusCode::CREATED, axum::Json(obj)).into_response()
        }
        (m @ ("GET" | "PATCH"), ["projects", _, kind @ ("dashboards" | "insights"), id]) => {
            let id: i64 = id.parse().unwrap_or(-1);
            let patch = m == "PATCH";
            if patch {
                w.writes += 1;
            }
            let list = if *kind == "dashboards" {
                &mut w.dashboards
            } else {
                &mut w.insights
            };
            let Some(obj) = list.iter_mut().find(|d| d["id"] == id) else {
                return err(404, "invalid_request", "not_found", "Not found.");
            };
            if patch
                && *kind == "insights"
                && body.get("query").is_some()
                && let Err(e) = chart_ok(&body["query"])
            {
                return err(400, "validation_error", "invalid_input", &e);
            }
            if patch && let Some(fields) = body.as_object() {
                for (k, v) in fields {
                    obj[k.as_str()] = v.clone();
                }
            }
            ok(obj.clone())
        }
        ("DELETE", ["projects", _, "dashboards" | "insights", _]) => {
            StatusCode::METHOD_NOT_ALLOWED.into_response()
        }
        ("GET", ["projects", _, "warehouse_tables"]) => {
            let q = params.get("search").cloned().unwrap_or_default();
            let results: Vec<Value> = w
                .warehouse_tables
                .iter()
                .filter(|(n, _)| n.contains(&q))
                .map(|(n, cols)| {
                    json!({"id": format!("t-{n}"), "name": n, "format": "DeltaS3Wrapper", "deleted": false,
                           "columns": cols.iter().map(|c| json!({"key": c, "name": c, "type": "string", "schema_valid": true})).collect::<Vec<_>>(),
                           "external_data_source": {"source_type": "Attio"}})
                })
                .collect();
            ok(json!({"count": results.len(), "next": null, "previous": null, "results": results}))
        }
        ("GET", ["projects", _, "warehouse_saved_queries"]) => {
            let q = params.get("search").cloned().unwrap_or_default();
            // The list serializer leaves `query` out.
            let results: Vec<Value> = w
                .views
                .iter()
                .filter(|v| {
                    v["deleted"] != json!(true)
                        && v["name"].as_str().is_some_and(|n| n.contains(&q))
                })
                .map(|v| {
                    let mut v = v.clone();
                    if let Some(o) = v.as_object_mut() {
                        o.remove("query");
                        o.remove("latest_history_id");
                    }
                    v
                })
                .collect();
            ok(json!({"count": results.len(), "next": null, "previous": null, "results": results}))
        }
        ("POST", ["projects", _, "warehouse_saved_queries"]) => {
            let name = body["name"].as_str().unwrap_or("").to_string();
            let existing = w
                .views
                .iter()
                .position(|v| v["name"] == name.as_str() && v["deleted"] != json!(true));
            match existing {
                // PostHog's create is an upsert by name.
                Some(i) => {
                    let id = w.views[i]["id"].clone();
                    save_view(&mut w, Some(id), &body, false)
                }
                None => save_view(&mut w, None, &body, true),
            }
        }
        (m @ ("GET" | "PATCH" | "DELETE"), ["projects", _, "warehouse_saved_queries", id]) => {
            let id = json!(id);
            let Some(i) = w
                .views
                .iter()
                .position(|v| v["id"] == id && v["deleted"] != json!(true))
            else {
                return err(404, "invalid_request", "not_found", "Not found.");
            };
            match m {
                "GET" => ok(w.views[i].clone()),
                "DELETE" => {
                    w.views[i]["deleted"] = json!(true);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => save_view(&mut w, Some(id), &body, false),
            }
        }
        _ => err(404, "invalid_request", "not_found", "Not found."),
    }
}

/// `warehouse_saved_queries` create or update (PostHog's `DataWarehouseSavedQuerySerializer`).
fn save_view(w: &mut World, id: Option<Value>, body: &Value, create: bool) -> Response {
    let sql = body.pointer("/query/query").and_then(Value::as_str);
    if create {
        let name = body["name"].as_str().unwrap_or("");
        let valid = !name.is_empty()
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.$".contains(c));
        if !valid {
            return err(
                400,
                "validation_error",
                "invalid_input",
                &format!(
                    "{name} is not a valid view name. View names can only contain letters, numbers, '_', '.', or '$' "
                ),
            );
        }
        if w.warehouse_tables.contains_key(name) || POSTHOG_TABLES.contains(&name) {
            return err(
                400,
                "validation_error",
                "invalid_input",
                "A table with this name already exists.",
            );
        }
        if sql.is_none() {
            return err(
                400,
                "validation_error",
                "required",
                "This field is required.",
            );
        }
    }
    if let Some(sql) = sql {
        if let Some(i) = sql.find('{') {
            let name: String = sql[i + 1..].chars().take_while(|c| *c != '}').collect();
            return err(
                400,
                "validation_error",
                "invalid_input",
                &format!("Variables like {{{name}}} are not allowed in views"),
            );
        }
        if let Err(e) = resolve(w, sql) {
            return err(
                400,
                "validation_error",
                "invalid_input",
                &format!("Invalid query: {e}"),
            );
        }
    }
    let pos = id
        .as_ref()
        .and_then(|id| w.views.iter().position(|v| v["id"] == *id));
    if let (Some(i), Some(_)) = (pos, sql) {
        // A query change must name the history the editor saw.
        let seen = body
            .get("edited_history_id")
            .cloned()
            .unwrap_or(Value::Null);
        if seen != w.views[i]["latest_history_id"] {
            return err(
                400,
                "validation_error",
                "invalid_input",
                "The query was modified by someone else.",
            );
        }
    }
    w.view_writes += 1;
    w.history_seq += 1;
    let history = json!(format!("h{}", w.history_seq));
    let columns: Option<Vec<Value>> = sql.map(|q| {
        returned_columns(q)
            .iter()
            .map(|c| json!({"key": c, "name": c, "type": "string", "schema_valid": true}))
            .collect()
    });
    match pos {
        Some(i) => {
            let v = &mut w.views[i];
            if let Some(q) = body.get("query") {
                v["query"] = q.clone();
                v["status"] = json!("Modified");
            }
            if let Some(c) = columns {
                v["columns"] = json!(c);
            }
            v["latest_history_id"] = history;
            ok(v.clone())
        }
        None => {
            w.next_id += 1;
            let v = json!({
                "id": format!("0190f2a8-0000-7000-8000-{:012}", w.next_id),
                "deleted": false, "name": body["name"], "query": body["query"],
                "columns": columns.unwrap_or_default(), "status": null, "is_materialized": false,
                "latest_history_id": history, "origin": "data_warehouse",
            });
            w.views.push(v.clone());
            (StatusCode::CREATED, axum::Json(v)).into_response()
        }
    }
}

/// The body bytes of a response built in this module (all are small JSON bodies).
fn futures_body(r: Response) -> Bytes {
    let body = r.into_body();
    futures::executor::block_on(axum::body::to_bytes(body, 1 << 20)).unwrap_or_default()
}
