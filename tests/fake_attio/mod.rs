//! A fake Attio REST API v2 on 127.0.0.1 for the sync tests: keeps companies, deals, notes,
//! tasks and list entries in memory, checks the bearer key, enforces unique attributes, required
//! attributes (`is_required`: Attio's `missing_value` body naming the attribute by id), known
//! select/status titles and the scopes each operation names in Attio's OpenAPI spec
//! (`../shared/reference/attio-openapi.json`, skipped loudly when absent, a failure in CI), validates
//! every request body against that spec, pages attribute lists, answers like a workspace whose
//! Deals object is disabled when told to, logs every request, and can misbehave on purpose (429
//! with an HTTP-date `Retry-After`, 5xx).
//!
//! Select attributes as Attio's spec has them: options are created only on a select attribute
//! (`POST …/attributes/{attribute}/options`: 404 `not_found` for an unknown attribute, 400
//! `validation_type` "This attribute is not a select attribute." for another type, 409
//! `slug_conflict` for a title that exists) and come back as `select-option`s
//! (`id.option_id`, `title`, `is_archived`); a write with an unknown option title is 400
//! `value_not_found` "Cannot find select attribute with select option title …" (options are never
//! auto-created). Every stored value carries `active_from`, `active_until` and
//! `created_by_actor` (`{type, id}`: `api-token` for the API's writes, `workspace-member` for a
//! rep's); `GET …/records/{id}/attributes/{attribute}/values` gives the current value, or every
//! value oldest first with `show_historic=true`.

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
/// What the daily sync needs and no more: reading the workspace's configuration, not changing it.
pub const SYNC_SCOPES: &str = "record_permission:read-write object_configuration:read note:read-write \
    task:read-write user_management:read";
/// A page of an attribute list when the request names no `limit` (Attio's spec gives none).
pub const ATTRIBUTE_PAGE: usize = 10;

/// A deal attribute as `GET /v2/objects/deals/attributes` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub id: String,
    pub slug: String,
    pub kind: String,
    pub unique: bool,
    pub required: bool,
    /// A static default Attio writes on create when no value is given.
    pub default: Option<Value>,
    pub archived: bool,
}

impl Attr {
    pub fn new(slug: &str, kind: &str, unique: bool) -> Self {
        let n: u64 = slug
            .bytes()
            .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Self {
            id: format!("a77a0000-0000-4000-8000-{:012}", n % 1_000_000_000_000),
            slug: slug.into(),
            kind: kind.into(),
            unique,
            required: false,
            default: None,
            archived: false,
        }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

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
    pub deal_attributes: Vec<Attr>,
    /// False: the workspace's Deals object is disabled (Attio's default until an admin enables it).
    pub deals_enabled: bool,
    pub options: HashMap<String, Vec<String>>,
    pub statuses: Vec<String>,
    pub companies: Vec<Record>,
    pub deals: Vec<Record>,
    /// Stage history per deal: (title, active_from, active_until).
    pub stage_history: HashMap<String, Vec<(String, String, Option<String>)>>,
    /// Every value each other attribute of a deal has had, oldest first: (record id, slug).
    pub value_history: HashMap<(String, String), Vec<Value>>,
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
            // Attio's standard deal attributes; name, stage and owner are required (docs: standard
            // objects → deals).
            deal_attributes: vec![
                Attr::new("name", "text", false).required(),
                Attr::new("stage", "status", false).required(),
                Attr::new("owner", "actor-reference", false).required(),
                Attr::new("value", "currency", false),
                Attr::new("associated_company", "record-reference", false),
                Attr::new("associated_people", "record-reference", false),
            ],
            deals_enabled: true,
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
            w.deal_attributes.push(Attr::new(slug, "text", true));
            w.deal_attributes
                .push(Attr::new("lead_source", "select", false));
            w.deal_attributes
                .push(Attr::new("pql_score", "number", false));
            w.deal_attributes
                .push(Attr::new("pql_signals", "text", false));
            w.options.insert(
                "lead_source".into(),
                ["pql", "inbound", "outbound", "partner"]
                    .map(String::from)
                    .to_vec(),
            );
            w.deal_attributes
                .push(Attr::new("pql_disposition", "select", false));
            w.options.insert(
                "pql_disposition".into(),
                ["legit", "not_ready", "already_working"]
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

    /// The id of the workspace member with this email.
    pub fn member(&self, email: &str) -> String {
        self.with(|w| {
            w.members
                .iter()
                .find(|(_, e)| e == email)
                .map(|(id, _)| id.clone())
                .expect("a member")
        })
    }

    /// What a rep does in Attio's web app: renames the deal of `key` (matched on `slug`) and
    /// gives it to another member.
    pub fn rep_edit(&self, slug: &str, key: &str, name: &str, owner_email: &str) {
        let owner = self.member(owner_email);
        self.with(|w| {
            let now = w.now();
            let d = w
                .deals
                .iter_mut()
                .find(|d| Fake::deal_text(d, slug).as_deref() == Some(key))
                .expect("the deal");
            d.values.insert(
                "name".into(),
                json!([{"value": name, "attribute_type": "text", "active_from": now, "active_until": null}]),
            );
            d.values.insert(
                "owner".into(),
                json!([{"referenced_actor_type": "workspace-member", "referenced_actor_id": owner,
                        "attribute_type": "actor-reference", "active_from": now, "active_until": null}]),
            );
        });
    }

    /// What a rep does in Attio's web app: picks `title` in the select `attr` of the deal of `key`
    /// (matched on `slug`). The app offers only existing options: an unknown title is an error
    /// here too. The previous value's `active_until` is set, as Attio keeps history.
    pub fn rep_select(
        &self,
        slug: &str,
        key: &str,
        attr: &str,
        title: &str,
        owner_email: &str,
    ) -> Result<String, String> {
        let member = self.member(owner_email);
        self.with(|w| {
            if !w
                .options
                .get(attr)
                .is_some_and(|o| o.iter().any(|x| x == title))
            {
                return Err(format!(
                    "Cannot find select attribute with select option title \"{title}\"."
                ));
            }
            let now = w.now();
            let option = option_json(w, attr, title);
            let d = w
                .deals
                .iter_mut()
                .find(|d| Fake::deal_text(d, slug).as_deref() == Some(key))
                .ok_or("no such deal")?;
            let value = json!({"option": option, "attribute_type": "select", "active_from": now,
                               "active_until": null,
                               "created_by_actor": {"type": "workspace-member", "id": member}});
            let rid = d.id.clone();
            d.values.insert(attr.into(), json!([value.clone()]));
            let hist = w.value_history.entry((rid, attr.to_string())).or_default();
            if let Some(last) = hist.last_mut() {
                last["active_until"] = json!(now);
            }
            hist.push(value);
            Ok(now)
        })
    }

    /// A deal a rep opened in Attio (not Beton's: no account key), in "In Progress"; its id.
    pub fn add_rep_deal(&self, name: &str, source: &str, owner_email: &str) -> String {
        let owner = self.member(owner_email);
        self.with(|w| {
            let id = w.id();
            let now = w.now();
            let mut values = Map::new();
            let v = |item: Value| {
                let mut item = item;
                item["active_from"] = json!(now);
                item["active_until"] = Value::Null;
                json!([item])
            };
            values.insert(
                "name".into(),
                v(json!({"value": name, "attribute_type": "text"})),
            );
            values.insert(
                "stage".into(),
                v(json!({"status": {"title": "In Progress"}, "attribute_type": "status"})),
            );
            values.insert(
                "owner".into(),
                v(json!({"referenced_actor_type": "workspace-member", "referenced_actor_id": owner,
                         "attribute_type": "actor-reference"})),
            );
            values.insert(
                "lead_source".into(),
                v(json!({"option": {"title": source}, "attribute_type": "select"})),
            );
            w.stage_history
                .insert(id.clone(), vec![("In Progress".into(), now.clone(), None)]);
            w.deals.push(Record {
                id: id.clone(),
                created_at: now,
                values,
            });
            id
        })
    }

    /// Makes a deal attribute required (with no default), adding it as text when missing.
    pub fn require(&self, slug: &str) {
        self.with(
            |w| match w.deal_attributes.iter_mut().find(|a| a.slug == slug) {
                Some(a) => a.required = true,
                None => w
                    .deal_attributes
                    .push(Attr::new(slug, "text", false).required()),
            },
        );
    }

    /// The attribute's id, as Attio's messages name it.
    pub fn attribute_id(&self, slug: &str) -> String {
        self.with(|w| {
            w.deal_attributes
                .iter()
                .find(|a| a.slug == slug)
                .map(|a| a.id.clone())
                .expect("an attribute")
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
    if let Some(missing) = missing_scope(&w.scopes, method.as_str(), &path) {
        // The body of a scope refusal is not in Attio's spec; the status and type are.
        return error(
            403,
            "unauthorized",
            &format!("This API token is missing the scope {missing} this endpoint requires."),
        );
    }
    if !w.deals_enabled && path.starts_with("/v2/objects/deals") {
        return error(404, "not_found", "Object with slug/ID \"deals\" not found.");
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
        ("GET", ["v2", "objects", "deals", "attributes"]) => {
            let archived = q.get("show_archived").map(String::as_str) == Some("true");
            let limit: usize = q
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(ATTRIBUTE_PAGE);
            let offset: usize = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
            let data: Vec<Value> = w
                .deal_attributes
                .iter()
                .filter(|a| archived || !a.archived)
                .skip(offset)
                .take(limit)
                .map(attribute_json)
                .collect();
            ok(json!({ "data": data }))
        }
        ("POST", ["v2", "objects", "deals", "attributes"]) => {
            let d = &body["data"];
            let slug = d["api_slug"].as_str().unwrap_or_default().to_string();
            if w.deal_attributes.iter().any(|a| a.slug == slug) {
                return error(
                    409,
                    "slug_conflict",
                    "An attribute with the same API slug already exists on this object. Please choose a different API slug.",
                );
            }
            let kind = d["type"].as_str().unwrap_or_default().to_string();
            let mut a = Attr::new(&slug, &kind, d["is_unique"].as_bool().unwrap_or(false));
            a.required = d["is_required"].as_bool().unwrap_or(false);
            let json = attribute_json(&a);
            w.deal_attributes.push(a);
            ok(json!({ "data": json }))
        }
        ("GET", ["v2", "objects", "deals", "attributes", attr, "options"]) => {
            if let Some(e) = not_a_select(w, attr) {
                return e;
            }
            let list = w.options.get(*attr).cloned().unwrap_or_default();
            ok(json!({"data": list.iter().map(|t| option_json(w, attr, t)).collect::<Vec<_>>()}))
        }
        ("POST", ["v2", "objects", "deals", "attributes", attr, "options"]) => {
            if let Some(e) = not_a_select(w, attr) {
                return e;
            }
            let title = body["data"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let list = w.options.entry(attr.to_string()).or_default();
            if list.contains(&title) {
                return error(
                    409,
                    "slug_conflict",
                    &format!("There is already another select option with the title \"{title}\"."),
                );
            }
            list.push(title.clone());
            ok(json!({"data": option_json(w, attr, &title)}))
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
        ("GET", ["v2", "objects", "deals", "records", id]) => {
            match w.deals.iter().find(|d| d.id == *id) {
                Some(d) => ok(json!({"data": record_json(d, "deals")})),
                None => error(
                    404,
                    "not_found",
                    &format!("Record with ID \"{id}\" not found."),
                ),
            }
        }
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
        (
            "GET",
            [
                "v2",
                "objects",
                "deals",
                "records",
                id,
                "attributes",
                attr,
                "values",
            ],
        ) => {
            let Some(deal) = w.deals.iter().find(|d| d.id == *id) else {
                return error(
                    404,
                    "not_found",
                    &format!("Record with ID \"{id}\" not found."),
                );
            };
            if !w.deal_attributes.iter().any(|a| a.slug == *attr) {
                return error(
                    404,
                    "not_found",
                    &format!("Attribute with slug/ID \"{attr}\" not found."),
                );
            }
            let all = q.get("show_historic").map(String::as_str) == Some("true");
            let data: Vec<Value> = if all {
                w.value_history
                    .get(&(id.to_string(), attr.to_string()))
                    .cloned()
                    .unwrap_or_else(|| {
                        deal.values
                            .get(*attr)
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                    })
            } else {
                deal.values
                    .get(*attr)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
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

/// The actor of the fake's API key (`created_by_actor` of what the API writes).
pub const API_TOKEN_ACTOR: &str = "77777777-7777-4777-8777-777777777777";

/// A select option as Attio's spec describes it (`select-option`).
fn option_json(w: &World, attr: &str, title: &str) -> Value {
    let attribute_id = w
        .deal_attributes
        .iter()
        .find(|a| a.slug == attr)
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let n: u64 = title
        .bytes()
        .fold(11, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    json!({"id": {"workspace_id": "ws-1", "object_id": "deals-object", "attribute_id": attribute_id,
                  "option_id": format!("0e7e0000-0000-4000-8000-{:012}", n % 1_000_000_000_000)},
           "title": title, "is_archived": false})
}

/// 404 for an unknown deal attribute, 400 for one that is not a select (Attio's spec bodies);
/// `None` for a select.
fn not_a_select(w: &World, attr: &str) -> Option<Response> {
    match w.deal_attributes.iter().find(|a| a.slug == attr) {
        None => Some(error(
            404,
            "not_found",
            &format!("Attribute with slug/ID \"{attr}\" not found."),
        )),
        Some(a) if a.kind != "select" => Some(error(
            400,
            "validation_type",
            "This attribute is not a select attribute.",
        )),
        Some(_) => None,
    }
}

fn attribute_json(a: &Attr) -> Value {
    let default = a
        .default
        .as_ref()
        .map(|v| json!({"type": "static", "template": [v]}));
    json!({"id": {"workspace_id": "ws-1", "object_id": "deals-object", "attribute_id": a.id},
           "title": a.slug, "description": null, "api_slug": a.slug, "type": a.kind,
           "is_system_attribute": matches!(a.slug.as_str(), "name" | "stage" | "owner" | "value"
                                           | "associated_company" | "associated_people"),
           "is_writable": true, "is_required": a.required, "is_unique": a.unique, "is_multiselect": false,
           "is_default_value_enabled": default.is_some(), "is_archived": a.archived,
           "default_value": default, "relationship": null, "created_at": "2026-01-01T00:00:00.000000000Z",
           "config": {}})
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
    match w.deal_attributes.iter().find(|a| a.slug == slug) {
        Some(a) if a.unique => {}
        Some(_) => {
            return error(
                400,
                "matching_attribute_definition_not_unique",
                &format!("The matching attribute \"{slug}\" must be unique."),
            );
        }
        None => {
            return error(
                400,
                "value_not_found",
                &format!("No attribute was found for matching_attribute slug/ID \"{slug}\"."),
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
        let Some(kind) = w
            .deal_attributes
            .iter()
            .find(|a| a.slug == *attr)
            .map(|a| a.kind.clone())
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
                json!({"option": option_json(w, attr, title)})
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
        item["created_by_actor"] = json!({"type": "api-token", "id": API_TOKEN_ACTOR});
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
    // A new record: every required attribute needs a value or a default (Attio's body: the
    // attribute named by id, not slug).
    for a in w
        .deal_attributes
        .iter()
        .filter(|a| a.required && !a.archived)
    {
        if out.contains_key(&a.slug) {
            continue;
        }
        match &a.default {
            Some(v) => {
                out.insert(a.slug.clone(), json!([v]));
            }
            None => {
                return error(
                    400,
                    "missing_value",
                    &format!(
                        "Required value for attribute with ID \"{}\" was not provided.",
                        a.id
                    ),
                );
            }
        }
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

/// True when the spec's path template (`/v2/objects/{object}/records`) fits the path's segments.
fn fits(template: &str, seg: &[&str]) -> bool {
    let ts: Vec<&str> = template.split('/').collect();
    ts.len() == seg.len()
        && ts
            .iter()
            .zip(seg)
            .all(|(a, b)| a.starts_with('{') || a == b)
}

/// How specific a template is: its literal segments (the best fit has the most).
fn literal_parts(template: &str) -> usize {
    template.split('/').filter(|s| !s.starts_with('{')).count()
}

/// The first scope the operation needs (its `security` in the spec) that `granted` lacks; a
/// `…:read-write` scope includes `…:read`.
fn missing_scope(granted: &str, method: &str, path: &str) -> Option<String> {
    static OPS: OnceLock<Vec<(String, String, Vec<String>)>> = OnceLock::new();
    let ops = OPS.get_or_init(|| {
        let Ok(text) = std::fs::read_to_string(spec_path()) else {
            return Vec::new();
        };
        let spec: Value = serde_json::from_str(&text).expect("the OpenAPI spec is JSON");
        let mut ops = Vec::new();
        for (p, item) in spec["paths"].as_object().expect("paths") {
            for (m, op) in item.as_object().into_iter().flatten() {
                let scopes: Vec<String> = op
                    .pointer("/security/0/oauth2")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                ops.push((p.clone(), m.to_uppercase(), scopes));
            }
        }
        ops
    });
    let seg: Vec<&str> = path.split('/').collect();
    let (template, _, need) = ops
        .iter()
        .filter(|(t, m, _)| m == method && fits(t, &seg))
        .max_by_key(|(t, _, _)| literal_parts(t))?;
    // Creating an attribute names no scope in `security`; its description says which.
    let mut need = need.clone();
    if template == "/v2/{target}/{identifier}/attributes" && method == "POST" {
        need.push(if seg.get(2) == Some(&"lists") {
            "list_configuration:read-write".into()
        } else {
            "object_configuration:read-write".into()
        });
    }
    let have: Vec<&str> = granted.split_whitespace().collect();
    need.iter()
        .find(|n| {
            !have.iter().any(|g| {
                *g == n.as_str()
                    || n.strip_suffix(":read")
                        .is_some_and(|base| *g == format!("{base}:read-write"))
            })
        })
        .cloned()
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
        .filter(|((t, m), _)| m == method && fits(t, &seg))
        .max_by_key(|((t, _), _)| literal_parts(t))
        .map(|(_, idx)| *idx);
    let Some(idx) = best else {
        return Err(format!(
            "no {method} operation with a body for {path} in the spec"
        ));
    };
    v.schemas.validate(body, idx).map_err(|e| format!("{e:#}"))
}
