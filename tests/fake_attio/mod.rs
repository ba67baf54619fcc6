//! A fake Attio REST API v2 on 127.0.0.1 for the sync tests: keeps companies, deals, notes,
//! tasks and list entries in memory, checks the bearer key, enforces unique attributes and known
//! select/status titles like Attio does, validates every request body against Attio's OpenAPI
//! spec (`../shared/reference/attio-openapi.json`, skipped loudly when absent, a failure in CI),
//! logs every request, and can misbehave on purpose (429 with an HTTP-date `Retry-After`, 5xx).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub const KEY: &str = "attio_test_key_0123456789";
pub const ALL_SCOPES: &str = "record_permission:read-write object_configuration:read-write note:read-write \
    task:read-write user_management:read list_entry:read-write list_configuration:read";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub at: SystemTime,
}

impl Request {
    /// True when the request changes something (not a GET, not a records/entries query).
    pub fn is_write(&self) -> bool {
        self.method != "GET" && !self.path.ends_with("/query")
    }
}

/// A planned misbehaviour for requests whose method and path start match.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (5xx) instead of handling the request.
    Status(u16),
    /// 429 with `Retry-After` as an HTTP date this many seconds ahead (rounded up to a second).
    RateLimit { seconds_ahead: u64 },
    /// Handle the request, then hold the answer this many milliseconds (a client timeout loses
    /// an answer to a request that was applied).
    SlowAnswer(u64),
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub created_at: String,
    pub values: Map<String, Value>,
}

#[derive(Debug, Default)]
pub struct World {
    pub scopes: String,
    pub active: bool,
    /// Deal attributes: slug → (type, unique).
    pub deal_attributes: Vec<(String, String, bool)>,
    pub options: HashMap<String, Vec<String>>,
    pub statuses: Vec<String>,
    pub companies: Vec<Record>,
    pub deals: Vec<Record>,
    /// Stage history per deal: (title, active_from, active_until).
    pub stage_history: HashMap<String, Vec<(String, String, Option<String>)>>,
    pub notes: Vec<Value>,
    pub tasks: Vec<Value>,
    pub lists: Vec<String>,
    /// (list, entry id, parent record id).
    pub entries: Vec<(String, String, String)>,
    pub members: Vec<(String, String)>,
    pub log: Vec<Request>,
    pub faults: VecDeque<(String, String, Fault)>,
    pub schema_errors: Vec<String>,
    next_id: u64,
    clock: u64,
}

impl World {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("00000000-0000-4000-8000-{:012}", self.next_id)
    }

    /// A fresh record id, for tests that build records by hand.
    pub fn id_for_test(&mut self) -> String {
        self.id()
    }

    /// A strictly increasing timestamp, as Attio writes them.
    fn now(&mut self) -> String {
        self.clock += 1;
        format!(
            "2026-11-{:02}T10:00:{:02}.000000000Z",
            1 + (self.clock / 60) % 28,
            self.clock % 60
        )
    }
}

#[derive(Clone)]
pub struct Fake {
    pub url: String,
    pub world: Arc<Mutex<World>>,
}

impl Fake {
    /// Starts a fake workspace with Attio's default deal attributes and stages, two members, and
    /// nothing Beton creates.
    pub fn start() -> Self {
        let world = World {
            scopes: ALL_SCOPES.into(),
            active: true,
            deal_attributes: vec![
                ("name".into(), "text".into(), false),
                ("stage".into(), "status".into(), false),
                ("owner".into(), "actor-reference".into(), false),
                ("value".into(), "currency".into(), false),
                (
                    "associated_company".into(),
                    "record-reference".into(),
                    false,
                ),
                ("associated_people".into(), "record-reference".into(), false),
            ],
            statuses: vec![
                "Lead".into(),
                "In Progress".into(),
                "Won 🎉".into(),
                "Lost".into(),
            ],
            members: vec![
                (
                    "11111111-1111-4111-8111-111111111111".into(),
                    "ae1@example.com".into(),
                ),
                (
                    "22222222-2222-4222-8222-222222222222".into(),
                    "ae2@example.com".into(),
                ),
            ],
            ..Default::default()
        };
        let world = Arc::new(Mutex::new(world));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = world.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("fake Attio did not start");
        Self {
            url: format!("http://{addr}"),
            world,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().expect("world"))
    }

    /// Sets up what `beton attio setup` would create.
    pub fn set_up_for_beton(&self, slug: &str) {
        self.with(|w| {
            w.deal_attributes.push((slug.into(), "text".into(), true));
            w.deal_attributes
                .push(("lead_source".into(), "select".into(), false));
            w.deal_attributes
                .push(("pql_score".into(), "number".into(), false));
            w.deal_attributes
                .push(("pql_signals".into(), "text".into(), false));
            w.options.insert(
                "lead_source".into(),
                ["pql", "inbound", "outbound", "partner"]
                    .map(String::from)
                    .to_vec(),
            );
        });
    }

    pub fn add_company(&self, domain: &str, name: &str) -> String {
        self.with(|w| {
            let id = w.id();
            let created_at = w.now();
            let mut values = Map::new();
            values.insert(
                "domains".into(),
                json!([{"domain": domain, "root_domain": domain, "attribute_type": "domain"}]),
            );
            values.insert(
                "name".into(),
                json!([{"value": name, "attribute_type": "text"}]),
            );
            w.companies.push(Record {
                id: id.clone(),
                created_at,
                values,
            });
            id
        })
    }

    pub fn fail_next(&self, method: &str, path_prefix: &str, fault: Fault) {
        self.with(|w| {
            w.faults
                .push_back((method.into(), path_prefix.into(), fault))
        });
    }

    pub fn requests(&self) -> Vec<Request> {
        self.with(|w| w.log.clone())
    }

    pub fn writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_write)
            .collect()
    }

    pub fn deals(&self) -> Vec<Record> {
        self.with(|w| w.deals.clone())
    }

    pub fn notes(&self) -> Vec<Value> {
        self.with(|w| w.notes.clone())
    }

    pub fn tasks(&self) -> Vec<Value> {
        self.with(|w| w.tasks.clone())
    }

    pub fn schema_errors(&self) -> Vec<String> {
        self.with(|w| w.schema_errors.clone())
    }

    /// The text of a deal's single-value attribute.
    pub fn deal_text(r: &Record, slug: &str) -> Option<String> {
        let v = r.values.get(slug)?.as_array()?.first()?.clone();
        v.get("value")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                v.pointer("/status/title")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| {
                v.pointer("/option/title")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| v.get("value").map(Value::to_string))
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let kind = match status {
        403 => "auth_error",
        429 => "rate_limit_error",
        _ => "invalid_request_error",
    };
    let body = json!({"status_code": status, "type": kind, "code": code, "message": message});
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(body),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn query_map(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%40", "@").replace("%3A", ":")))
        .collect()
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (resp, slow) = answer(&world, method, uri, headers, body);
    if let Some(wait) = slow {
        tokio::time::sleep(wait).await;
    }
    resp
}

/// The answer to one request, and how long to hold it.
fn answer(
    world: &Mutex<World>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (Response, Option<std::time::Duration>) {
    let mut slow = None;
    let resp = answer_now(world, method, uri, headers, body, &mut slow);
    (resp, slow)
}

fn answer_now(
    world: &Mutex<World>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    slow: &mut Option<std::time::Duration>,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return error(400, "validation_type", &format!("body is not JSON: {e}")),
        }
    };
    let mut w = world.lock().expect("world");
    w.log.push(Request {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
        at: SystemTime::now(),
    });
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}"))
    {
        return error(401, "unauthorized", "Invalid API key");
    }
    if let Some(i) = w
        .faults
        .iter()
        .position(|(m, p, _)| *m == method.as_str() && path.starts_with(p.as_str()))
    {
        let (_, _, fault) = w.faults.remove(i).expect("fault");
        match fault {
            Fault::Status(code) => return error(code, "internal_error", "Something went wrong"),
            Fault::RateLimit { seconds_ahead } => {
                let at = SystemTime::now()
                    + std::time::Duration::from_millis(seconds_ahead * 1000 + 999);
                let mut resp = error(
                    429,
                    "rate_limit_exceeded",
                    "Rate limit exceeded, please try again later",
                );
                resp.headers_mut().insert(
                    "retry-after",
                    httpdate::fmt_http_date(at).parse().expect("header"),
                );
                return resp;
            }
            Fault::SlowAnswer(ms) => *slow = Some(std::time::Duration::from_millis(ms)),
        }
    }
    if !body.is_null()
        && let Err(e) = validate(method.as_str(), &path, &body)
    {
        w.schema_errors.push(format!("{method} {path}: {e}"));
        return error(
            400,
            "validation_type",
            &format!("Body does not match the OpenAPI schema: {e}"),
        );
    }
    route(&mut w, method.as_str(), &path, &query_map(&query), &body)
}

fn route(
    w: &mut World,
    method: &str,
    path: &str,
    q: &HashMap<String, String>,
    body: &Value,
) -> Response {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, seg.as_slice()) {
        ("GET", ["v2", "self"]) => {
            if !w.active {
                return ok(json!({"active": false}));
            }
            ok(
                json!({"active": true, "scope": w.scopes, "client_id": "c", "token_type": "Bearer", "exp": null,
                      "iat": 1_700_000_000, "sub": "ws", "aud": "a", "iss": "attio.com",
                      "authorized_by_workspace_member_id": w.members[0].0, "workspace_id": "ws-1",
                      "workspace_name": "Acme Test", "workspace_slug": "acme-test", "workspace_logo_url": null}),
            )
        }
        ("GET", ["v2", "workspace_members"]) => {
            ok(json!({"data": w.members.iter().map(|(id, email)| json!({
            "id": {"workspace_id": "ws-1", "workspace_member_id": id}, "email_address": email,
            "first_name": "A", "last_name": "E", "access_level": "member"})).collect::<Vec<_>>()}))
        }
        ("GET", ["v2", "objects", "deals", "attributes"]) => ok(
            json!({"data": w.deal_attributes.iter().map(|(s, t, u)| json!({
            "api_slug": s, "type": t, "is_unique": u, "is_multiselect": false, "title": s})).collect::<Vec<_>>()}),
        ),
        ("POST", ["v2", "objects", "deals", "attributes"]) => {
            let d = &body["data"];
            let slug = d["api_slug"].as_str().unwrap_or_default().to_string();
            if w.deal_attributes.iter().any(|(s, _, _)| *s == slug) {
                return error(
                    409,
                    "slug_conflict",
                    &format!("An attribute with slug \"{slug}\" already exists"),
                );
            }
            let kind = d["type"].as_str().unwrap_or_default().to_string();
            w.deal_attributes.push((
                slug.clone(),
                kind.clone(),
                d["is_unique"].as_bool().unwrap_or(false),
            ));
            ok(json!({"data": {"api_slug": slug, "type": kind, "id": {"attribute_id": w.id()}}}))
        }
        ("GET", ["v2", "objects", "deals", "attributes", attr, "options"]) => {
            let list = w.options.get(*attr).cloned().unwrap_or_default();
            ok(
                json!({"data": list.iter().map(|t| json!({"title": t, "is_archived": false})).collect::<Vec<_>>()}),
            )
        }
        ("POST", ["v2", "objects", "deals", "attributes", attr, "options"]) => {
            let title = body["data"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let list = w.options.entry(attr.to_string()).or_default();
            if list.contains(&title) {
                return error(409, "slug_conflict", "option exists");
            }
            list.push(title.clone());
            ok(json!({"data": {"title": title}}))
        }
        ("GET", ["v2", "objects", "deals", "attributes", "stage", "statuses"]) => ok(
            json!({"data": w.statuses.iter().map(|t| json!({"title": t, "is_archived": false})).collect::<Vec<_>>()}),
        ),
        ("POST", ["v2", "objects", "deals", "attributes", "stage", "statuses"]) => {
            let title = body["data"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if w.statuses.contains(&title) {
                return error(409, "slug_conflict", "status exists");
            }
            w.statuses.push(title.clone());
            ok(json!({"data": {"title": title}}))
        }
        ("GET", ["v2", "lists", list]) => {
            if w.lists.iter().any(|l| l == list) {
                ok(json!({"data": {"api_slug": list, "parent_object": ["companies"]}}))
            } else {
                error(
                    404,
                    "not_found",
                    &format!("List with slug/ID \"{list}\" not found."),
                )
            }
        }
        ("POST", ["v2", "objects", "companies", "records", "query"]) => {
            let domain = body
                .pointer("/filter/domains/domain/$eq")
                .and_then(Value::as_str);
            let found: Vec<Value> = w
                .companies
                .iter()
                .filter(|c| domain.is_none_or(|d| company_has(c, d)))
                .map(|c| record_json(c, "companies"))
                .collect();
            ok(json!({"data": found}))
        }
        ("GET", ["v2", "objects", "companies", "records", id]) => {
            match w.companies.iter().find(|c| c.id == *id) {
                Some(c) => ok(json!({"data": record_json(c, "companies")})),
                None => error(404, "not_found", "Record not found."),
            }
        }
        ("PUT", ["v2", "objects", "companies", "records"]) => {
            if q.get("matching_attribute").map(String::as_str) != Some("domains") {
                return error(400, "value_not_found", "matching_attribute must be unique");
            }
            let values = body["data"]["values"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let domain = values
                .get("domains")
                .and_then(|d| d[0].as_str())
                .unwrap_or_default()
                .to_string();
            if let Some(c) = w.companies.iter().find(|c| company_has(c, &domain)) {
                return ok(json!({"data": record_json(c, "companies")}));
            }
            let id = w.id();
            let created_at = w.now();
            let mut out = Map::new();
            out.insert(
                "domains".into(),
                json!([{"domain": domain, "root_domain": domain, "attribute_type": "domain"}]),
            );
            if let Some(n) = values.get("name").and_then(|n| n[0].as_str()) {
                out.insert(
                    "name".into(),
                    json!([{"value": n, "attribute_type": "text"}]),
                );
            }
            let rec = Record {
                id,
                created_at,
                values: out,
            };
            let json = record_json(&rec, "companies");
            w.companies.push(rec);
            ok(json!({"data": json}))
        }
        ("POST", ["v2", "objects", "deals", "records", "query"]) => {
            let filter = body
                .get("filter")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(500) as usize;
            let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
            let matches: Vec<Value> = w
                .deals
                .iter()
                .filter(|d| {
                    filter.iter().all(|(slug, cond)| {
                        let want = cond.get("$eq").or(Some(cond)).and_then(Value::as_str);
                        Fake::deal_text(d, slug).as_deref() == want
                    })
                })
                .skip(offset)
                .take(limit)
                .map(|d| record_json(d, "deals"))
                .collect();
            ok(json!({"data": matches}))
        }
        ("PUT", ["v2", "objects", "deals", "records"]) => assert_deal(w, q, body),
        (
            "GET",
            [
                "v2",
                "objects",
                "deals",
                "records",
                id,
                "attributes",
                "stage",
                "values",
            ],
        ) => {
            let hist = w.stage_history.get(*id).cloned().unwrap_or_default();
            let all = q.get("show_historic").map(String::as_str) == Some("true");
            let data: Vec<Value> = hist
                .iter()
                .filter(|(_, _, until)| all || until.is_none())
                .map(|(t, from, until)| {
                    json!({"status": {"title": t}, "active_from": from, "active_until": until,
                                               "attribute_type": "status"})
                })
                .collect();
            ok(json!({"data": data}))
        }
        ("POST", ["v2", "notes"]) => {
            let d = &body["data"];
            let parent = d["parent_record_id"].as_str().unwrap_or_default();
            if d["parent_object"] != "deals" || !w.deals.iter().any(|x| x.id == parent) {
                return error(
                    404,
                    "not_found",
                    &format!("Record with ID \"{parent}\" not found."),
                );
            }
            let id = w.id();
            let note = json!({"id": {"workspace_id": "ws-1", "note_id": id}, "parent_object": "deals",
                              "parent_record_id": parent, "title": d["title"], "content_plaintext": d["content"],
                              "content_markdown": d["content"], "created_at": w.now()});
            w.notes.push(note.clone());
            ok(json!({"data": note}))
        }
        ("GET", ["v2", "notes"]) => {
            let parent = q.get("parent_record_id").cloned().unwrap_or_default();
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
            let offset: usize = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
            let data: Vec<Value> = w
                .notes
                .iter()
                .filter(|n| n["parent_record_id"] == parent.as_str())
                .skip(offset)
                .take(limit.min(50))
                .cloned()
                .collect();
            ok(json!({"data": data}))
        }
        ("POST", ["v2", "tasks"]) => {
            let d = &body["data"];
            for l in d["linked_records"].as_array().cloned().unwrap_or_default() {
                let rid = l["target_record_id"].as_str().unwrap_or_default();
                if !w.deals.iter().any(|x| x.id == rid) {
                    return error(
                        400,
                        "validation_type",
                        "Only standard or custom object records can be linked to.",
                    );
                }
            }
            for a in d["assignees"].as_array().cloned().unwrap_or_default() {
                let id = a["referenced_actor_id"].as_str().unwrap_or_default();
                if !w.members.iter().any(|(m, _)| m == id) {
                    return error(
                        400,
                        "value_not_found",
                        &format!("Workspace member \"{id}\" not found."),
                    );
                }
            }
            let id = w.id();
            let linked: Vec<Value> = d["linked_records"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|l| json!({"target_object_id": "deals-object", "target_record_id": l["target_record_id"]}))
                .collect();
            let task = json!({"id": {"workspace_id": "ws-1", "task_id": id}, "content_plaintext": d["content"],
                              "deadline_at": d["deadline_at"], "is_completed": false, "linked_records": linked,
                              "assignees": d["assignees"], "created_at": w.now()});
            w.tasks.push(task.clone());
            ok(json!({"data": task}))
        }
        ("GET", ["v2", "tasks"]) => {
            let rid = q.get("linked_record_id").cloned().unwrap_or_default();
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(500);
            let offset: usize = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
            let data: Vec<Value> = w
                .tasks
                .iter()
                .filter(|t| {
                    t["linked_records"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|l| l["target_record_id"] == rid.as_str()))
                })
                .skip(offset)
                .take(limit)
                .cloned()
                .collect();
            ok(json!({"data": data}))
        }
        ("PUT", ["v2", "lists", list, "entries"]) => {
            if !w.lists.iter().any(|l| l == list) {
                return error(404, "not_found", "List not found.");
            }
            let parent = body["data"]["parent_record_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !w.companies.iter().any(|c| c.id == parent) {
                return error(
                    400,
                    "value_not_found",
                    &format!("Parent record \"{parent}\" not found."),
                );
            }
            let id = match w.entries.iter().find(|(l, _, p)| l == list && *p == parent) {
                Some((_, id, _)) => id.clone(),
                None => {
                    let id = w.id();
                    w.entries
                        .push((list.to_string(), id.clone(), parent.clone()));
                    id
                }
            };
            ok(
                json!({"data": {"id": {"workspace_id": "ws-1", "list_id": list, "entry_id": id},
                               "parent_record_id": parent, "parent_object": "companies", "entry_values": {}}}),
            )
        }
        _ => error(
            404,
            "not_found",
            &format!("no route {method} {path} in the fake"),
        ),
    }
}

fn company_has(c: &Record, domain: &str) -> bool {
    c.values["domains"]
        .as_array()
        .is_some_and(|a| a.iter().any(|d| d["domain"] == domain))
}

fn record_json(r: &Record, object: &str) -> Value {
    json!({"id": {"workspace_id": "ws-1", "object_id": object, "record_id": r.id}, "created_at": r.created_at,
           "web_url": format!("https://app.attio.com/x/{object}/{}", r.id), "values": r.values})
}

/// The deal assert: matched on a unique attribute; values checked like Attio checks them.
fn assert_deal(w: &mut World, q: &HashMap<String, String>, body: &Value) -> Response {
    let Some(slug) = q.get("matching_attribute").cloned() else {
        return error(400, "validation_type", "matching_attribute is required");
    };
    match w.deal_attributes.iter().find(|(s, _, _)| *s == slug) {
        Some((_, _, true)) => {}
        Some(_) => {
            return error(
                400,
                "validation_type",
                &format!("Matching attribute \"{slug}\" must be unique."),
            );
        }
        None => {
            return error(
                400,
                "value_not_found",
                &format!("Cannot find attribute with slug/ID \"{slug}\"."),
            );
        }
    }
    let values = body["data"]["values"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let Some(key) = values
        .get(&slug)
        .and_then(|v| v[0].as_str())
        .map(str::to_string)
    else {
        return error(
            400,
            "missing_value",
            &format!("Missing value for matching attribute \"{slug}\"."),
        );
    };
    let now = w.now();
    let mut out = Map::new();
    for (attr, v) in &values {
        let Some((_, kind, _)) = w
            .deal_attributes
            .iter()
            .find(|(s, _, _)| s == attr)
            .cloned()
        else {
            return error(
                400,
                "value_not_found",
                &format!("Cannot find attribute with slug/ID \"{attr}\"."),
            );
        };
        let first = v
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or(Value::Null);
        let item = match kind.as_str() {
            "status" => {
                let title = first.as_str().unwrap_or_default();
                if !w.statuses.iter().any(|s| s == title) {
                    return error(
                        400,
                        "value_not_found",
                        &format!("Cannot find Status with title \"{title}\"."),
                    );
                }
                json!({"status": {"title": title}})
            }
            "select" => {
                let title = first.as_str().unwrap_or_default();
                if !w
                    .options
                    .get(attr)
                    .is_some_and(|o| o.iter().any(|x| x == title))
                {
                    return error(
                        400,
                        "value_not_found",
                        &format!(
                            "Cannot find select attribute with select option title \"{title}\"."
                        ),
                    );
                }
                json!({"option": {"title": title}})
            }
            "record-reference" => {
                let rid = first["target_record_id"].as_str().unwrap_or_default();
                if !w.companies.iter().any(|c| c.id == rid) {
                    return error(
                        400,
                        "value_not_found",
                        &format!("Referenced record \"{rid}\" not found."),
                    );
                }
                json!({"target_object": "companies", "target_record_id": rid})
            }
            "actor-reference" => {
                let id = first["referenced_actor_id"].as_str().unwrap_or_default();
                if !w.members.iter().any(|(m, _)| m == id) {
                    return error(
                        400,
                        "value_not_found",
                        &format!("Workspace member \"{id}\" not found."),
                    );
                }
                json!({"referenced_actor_type": "workspace-member", "referenced_actor_id": id})
            }
            "currency" => json!({"currency_value": first, "currency_code": "USD"}),
            _ => json!({"value": first}),
        };
        let mut item = item;
        item["attribute_type"] = json!(kind);
        item["active_from"] = json!(now);
        item["active_until"] = Value::Null;
        out.insert(attr.clone(), json!([item]));
    }
    if let Some(i) = w
        .deals
        .iter()
        .position(|d| Fake::deal_text(d, &slug).as_deref() == Some(key.as_str()))
    {
        if let Some(stage) = out
            .get("stage")
            .and_then(|s| s.pointer("/0/status/title"))
            .and_then(Value::as_str)
        {
            move_stage(w, &w.deals[i].id.clone(), stage, &now);
        }
        let deal = &mut w.deals[i];
        for (k, v) in out {
            deal.values.insert(k, v);
        }
        return ok(json!({"data": record_json(deal, "deals")}));
    }
    let id = w.id();
    if let Some(stage) = out
        .get("stage")
        .and_then(|s| s.pointer("/0/status/title"))
        .and_then(Value::as_str)
    {
        w.stage_history
            .insert(id.clone(), vec![(stage.to_string(), now.clone(), None)]);
    }
    let rec = Record {
        id,
        created_at: now,
        values: out,
    };
    let json = record_json(&rec, "deals");
    w.deals.push(rec);
    ok(json!({"data": json}))
}

/// Moves a deal to a stage, closing the current stretch in its history.
pub fn move_stage(w: &mut World, id: &str, stage: &str, at: &str) {
    let hist = w.stage_history.entry(id.to_string()).or_default();
    if hist
        .last()
        .is_some_and(|(t, _, until)| t == stage && until.is_none())
    {
        return;
    }
    if let Some(last) = hist.last_mut() {
        last.2 = Some(at.to_string());
    }
    hist.push((stage.to_string(), at.to_string(), None));
    if let Some(d) = w.deals.iter_mut().find(|d| d.id == id) {
        d.values.insert(
            "stage".into(),
            json!([{"status": {"title": stage}, "attribute_type": "status", "active_from": at, "active_until": null}]),
        );
    }
}

/// Where the spec is; tests skip the body check with a loud reason when it is absent.
pub fn spec_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/attio-openapi.json")
}

/// Whether a check that needs a file of `../shared` can run. When the file is missing the skip is
/// written straight to the process's stderr (past the test harness's capture, so it shows on a
/// passing run too), and under `BETON_REQUIRE_SHARED` (which `.ci/run` sets: CI always has
/// `../shared`) it is a failure instead.
pub fn shared_file(path: &std::path::Path, what: &str) -> bool {
    shared_file_or(
        path,
        what,
        std::env::var_os("BETON_REQUIRE_SHARED").is_some(),
    )
}

pub fn shared_file_or(path: &std::path::Path, what: &str, required: bool) -> bool {
    if path.is_file() {
        return true;
    }
    let msg = format!("SKIPPED {what}: {} is missing", path.display());
    assert!(!required, "{msg} (BETON_REQUIRE_SHARED is set)");
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
    false
}

struct Validator {
    schemas: boon::Schemas,
    /// (path template, method) → compiled request-body schema.
    compiled: HashMap<(String, String), boon::SchemaIndex>,
}

const SPEC_URL: &str = "file:///attio-openapi.json";

/// Compiles every request-body schema of the spec once (refs resolve against its components).
fn validator() -> Option<&'static Mutex<Validator>> {
    static V: OnceLock<Option<Mutex<Validator>>> = OnceLock::new();
    V.get_or_init(|| {
        let path = spec_path();
        if !shared_file(&path, "the fake Attio's OpenAPI body checks") {
            return None;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "fake Attio: skipping OpenAPI body checks: {} unreadable ({e})",
                    path.display()
                );
                return None;
            }
        };
        let spec: Value = serde_json::from_str(&text).expect("the OpenAPI spec is JSON");
        let mut ops = Vec::new();
        for (p, item) in spec["paths"].as_object().expect("paths") {
            for (m, op) in item.as_object().into_iter().flatten() {
                if op
                    .pointer("/requestBody/content/application~1json/schema")
                    .is_some()
                {
                    ops.push((p.clone(), m.clone()));
                }
            }
        }
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(SPEC_URL, spec)
            .expect("spec resource");
        let mut schemas = boon::Schemas::new();
        let mut compiled = HashMap::new();
        for (p, m) in ops {
            let pointer = format!(
                "/paths/{}/{m}/requestBody/content/application~1json/schema",
                p.replace('~', "~0").replace('/', "~1")
            );
            let loc = format!(
                "{SPEC_URL}#{}",
                pointer.replace('{', "%7B").replace('}', "%7D")
            );
            let idx = compiler
                .compile(&loc, &mut schemas)
                .unwrap_or_else(|e| panic!("compiling {loc}: {e}"));
            compiled.insert((p, m.to_uppercase()), idx);
        }
        Some(Mutex::new(Validator { schemas, compiled }))
    })
    .as_ref()
}

/// Checks a request body against the operation's request schema in the spec.
pub fn validate(method: &str, path: &str, body: &Value) -> Result<(), String> {
    let Some(v) = validator() else { return Ok(()) };
    let v = v.lock().expect("validator");
    let seg: Vec<&str> = path.split('/').collect();
    let best = v
        .compiled
        .iter()
        .filter(|((t, m), _)| {
            let ts: Vec<&str> = t.split('/').collect();
            m == method
                && ts.len() == seg.len()
                && ts
                    .iter()
                    .zip(&seg)
                    .all(|(a, b)| a.starts_with('{') || a == b)
        })
        .max_by_key(|((t, _), _)| t.split('/').filter(|s| !s.starts_with('{')).count())
        .map(|(_, idx)| *idx);
    let Some(idx) = best else {
        return Err(format!(
            "no {method} operation with a body for {path} in the spec"
        ));
    };
    v.schemas.validate(body, idx).map_err(|e| format!("{e:#}"))
}
