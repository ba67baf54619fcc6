//! A fake PostHog on 127.0.0.1, built from ../shared/reference/posthog-api.md: it checks the
//! bearer key, paths and body shapes like the real one, keeps dashboards, insights, folders and
//! captured events in memory, answers the detection queries from canned rows with real keyset
//! paging (`values.after`, `values.limit`), and misbehaves on purpose when told to.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

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
        _ => err(404, "invalid_request", "not_found", "Not found."),
    }
}

/// The body bytes of a response built in this module (all are small JSON bodies).
fn futures_body(r: Response) -> Bytes {
    let body = r.into_body();
    futures::executor::block_on(axum::body::to_bytes(body, 1 << 20)).unwrap_or_default()
}
