//! A stateful stand-in for the parts of Stripe's API that `stripe setup`, `stripe check` and
//! `stripe reconcile` use: products, prices (with lookup keys), webhook endpoints, and lists
//! of Checkout Sessions and invoices. It answers with Stripe's published objects
//! (`stripe_fixtures`) and records every call.

use super::parse_form;
use super::stripe_fixtures::{Fixtures, Version};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub params: HashMap<String, String>,
}

#[derive(Default)]
pub struct Account {
    pub products: HashMap<String, Value>,
    pub prices: Vec<Value>,
    pub endpoints: Vec<Value>,
    pub sessions: Vec<Value>,
    pub invoices: Vec<Value>,
    /// Subscriptions by id, as a test put them (Stripe's objects).
    pub subscriptions: HashMap<String, Value>,
    pub credit_notes: Vec<Value>,
    /// Payment intents and charges by id, as a test put them (a top-up's payment).
    pub payment_intents: HashMap<String, Value>,
    pub charges: HashMap<String, Value>,
    /// Answer the next this many credit-note requests with a 500 (Stripe having trouble).
    pub fail_credit_notes: u32,
    pub calls: Vec<Call>,
    next: u32,
}

impl Account {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_standin{}", self.next)
    }
}

#[derive(Clone)]
pub struct StandIn {
    pub account: Arc<Mutex<Account>>,
    fixtures: Arc<Fixtures>,
}

impl StandIn {
    /// The calls that changed something (every POST and DELETE).
    pub fn writes(&self) -> Vec<Call> {
        self.account
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method != Method::GET)
            .cloned()
            .collect()
    }
}

fn missing(what: &str) -> (StatusCode, axum::Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": {
            "type": "invalid_request_error", "code": "resource_missing",
            "message": format!("No such {what}"),
        } })),
    )
}

fn ok(v: Value) -> (StatusCode, axum::Json<Value>) {
    (StatusCode::OK, axum::Json(v))
}

fn record(s: &StandIn, method: Method, path: String, params: HashMap<String, String>) {
    s.account.lock().unwrap().calls.push(Call {
        method,
        path,
        params,
    });
}

/// `enabled_events[0]=a&enabled_events[1]=b` (or `[]`) as a list.
fn indexed(params: &HashMap<String, String>, name: &str) -> Vec<String> {
    let mut items: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}[")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    items.sort_by_key(|(k, _)| {
        k[name.len() + 1..k.len() - 1]
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    items.into_iter().map(|(_, v)| v).collect()
}

async fn get_product(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    record(
        &s,
        Method::GET,
        format!("/v1/products/{id}"),
        HashMap::new(),
    );
    match s.account.lock().unwrap().products.get(&id) {
        Some(p) => ok(p.clone()),
        None => missing("product"),
    }
}

async fn create_product(State(s): State<StandIn>, body: String) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    record(&s, Method::POST, "/v1/products".into(), f.clone());
    let mut p = s.fixtures.object("product");
    let mut a = s.account.lock().unwrap();
    let id = f.get("id").cloned().unwrap_or_else(|| a.id("prod"));
    p["id"] = json!(id);
    p["name"] = json!(f.get("name"));
    p["metadata"] = json!({ "plan_id": f.get("metadata[plan_id]") });
    a.products.insert(id, p.clone());
    ok(p)
}

async fn list_prices(
    State(s): State<StandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    record(&s, Method::GET, "/v1/prices".into(), q.clone());
    let keys = indexed(&q, "lookup_keys");
    let indexed_form = q.keys().filter(|k| k.starts_with("lookup_keys")).all(|k| {
        k.strip_prefix("lookup_keys[")
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if !indexed_form || keys.is_empty() || keys.len() > 10 {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": { "type": "invalid_request_error",
                "message": "lookup_keys: 1 to 10 keys, as lookup_keys[0], lookup_keys[1], ..." } })),
        );
    }
    let active_only = q.get("active").map(String::as_str) == Some("true");
    let a = s.account.lock().unwrap();
    let data: Vec<Value> = a
        .prices
        .iter()
        .filter(|p| keys.iter().any(|k| p["lookup_key"] == json!(k)))
        .filter(|p| !active_only || p["active"] == json!(true))
        .cloned()
        .collect();
    ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/prices" }))
}

async fn get_price(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    record(&s, Method::GET, format!("/v1/prices/{id}"), HashMap::new());
    let a = s.account.lock().unwrap();
    match a.prices.iter().find(|p| p["id"] == json!(id)) {
        Some(p) => ok(p.clone()),
        None => missing("price"),
    }
}

async fn create_price(State(s): State<StandIn>, body: String) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    record(&s, Method::POST, "/v1/prices".into(), f.clone());
    let mut a = s.account.lock().unwrap();
    let key = f.get("lookup_key").cloned();
    if let Some(k) = &key {
        let taken = a.prices.iter().any(|p| p["lookup_key"] == json!(k));
        if taken && f.get("transfer_lookup_key").map(String::as_str) != Some("true") {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": { "type": "invalid_request_error",
                    "message": "A price with this lookup_key already exists." } })),
            );
        }
        for p in a.prices.iter_mut().filter(|p| p["lookup_key"] == json!(k)) {
            p["lookup_key"] = Value::Null;
        }
    }
    let mut p = s.fixtures.object("price");
    p["id"] = json!(a.id("price"));
    p["product"] = json!(f.get("product"));
    p["currency"] = json!(f.get("currency"));
    let amount: i64 = f
        .get("unit_amount")
        .and_then(|a| a.parse().ok())
        .unwrap_or(-1);
    p["unit_amount"] = json!(amount);
    p["unit_amount_decimal"] = json!(amount.to_string());
    p["recurring"]["interval"] = json!(f.get("recurring[interval]"));
    p["recurring"]["interval_count"] = json!(
        f.get("recurring[interval_count]")
            .and_then(|c| c.parse::<i64>().ok())
    );
    p["lookup_key"] = json!(key);
    p["active"] = json!(true);
    a.prices.push(p.clone());
    ok(p)
}

async fn list_endpoints(State(s): State<StandIn>) -> (StatusCode, axum::Json<Value>) {
    record(
        &s,
        Method::GET,
        "/v1/webhook_endpoints".into(),
        HashMap::new(),
    );
    let data = s.account.lock().unwrap().endpoints.clone();
    ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/webhook_endpoints" }))
}

async fn create_endpoint(
    State(s): State<StandIn>,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    record(&s, Method::POST, "/v1/webhook_endpoints".into(), f.clone());
    let mut e = s.fixtures.object("webhook_endpoint");
    let mut a = s.account.lock().unwrap();
    let id = a.id("we");
    e["id"] = json!(id);
    e["url"] = json!(f.get("url"));
    e["enabled_events"] = json!(indexed(&f, "enabled_events"));
    e["api_version"] = json!(f.get("api_version"));
    e["status"] = json!("enabled");
    a.endpoints.push(e.clone());
    // Only the answer that creates it carries the secret.
    e["secret"] = json!(format!("whsec_{id}_secret"));
    ok(e)
}

async fn update_endpoint(
    State(s): State<StandIn>,
    Path(id): Path<String>,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    record(
        &s,
        Method::POST,
        format!("/v1/webhook_endpoints/{id}"),
        f.clone(),
    );
    let mut a = s.account.lock().unwrap();
    let Some(e) = a.endpoints.iter_mut().find(|e| e["id"] == json!(id)) else {
        return missing("webhook endpoint");
    };
    if f.contains_key("api_version") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": { "type": "invalid_request_error",
                "message": "Received unknown parameter: api_version" } })),
        );
    }
    let events = indexed(&f, "enabled_events");
    if !events.is_empty() {
        e["enabled_events"] = json!(events);
    }
    if let Some(d) = f.get("disabled") {
        e["status"] = json!(if d == "true" { "disabled" } else { "enabled" });
    }
    ok(e.clone())
}

async fn delete_endpoint(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    record(
        &s,
        Method::DELETE,
        format!("/v1/webhook_endpoints/{id}"),
        HashMap::new(),
    );
    let mut a = s.account.lock().unwrap();
    let before = a.endpoints.len();
    a.endpoints.retain(|e| e["id"] != json!(id));
    if a.endpoints.len() == before {
        return missing("webhook endpoint");
    }
    ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}

async fn list_sessions(
    State(s): State<StandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    record(&s, Method::GET, "/v1/checkout/sessions".into(), q);
    let data = s.account.lock().unwrap().sessions.clone();
    ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/checkout/sessions" }))
}

async fn list_invoices(
    State(s): State<StandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    record(&s, Method::GET, "/v1/invoices".into(), q.clone());
    let status = q.get("status").cloned();
    let data: Vec<Value> = s
        .account
        .lock()
        .unwrap()
        .invoices
        .iter()
        .filter(|i| status.as_ref().is_none_or(|st| i["status"] == json!(st)))
        .cloned()
        .collect();
    ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/invoices" }))
}

/// `GET /v1/{kind}/{id}` of what a test put in `list` (by `id`).
fn find(
    s: &StandIn,
    what: &str,
    path: String,
    pick: impl FnOnce(&Account) -> Option<Value>,
) -> (StatusCode, axum::Json<Value>) {
    record(s, Method::GET, path, HashMap::new());
    match pick(&s.account.lock().unwrap()) {
        Some(v) => ok(v),
        None => missing(what),
    }
}

fn by_id(list: &[Value], id: &str) -> Option<Value> {
    list.iter().find(|v| v["id"] == json!(id)).cloned()
}

async fn get_invoice(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(&s, "invoice", format!("/v1/invoices/{id}"), |a| {
        by_id(&a.invoices, &id)
    })
}

async fn get_session(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(
        &s,
        "checkout session",
        format!("/v1/checkout/sessions/{id}"),
        |a| by_id(&a.sessions, &id),
    )
}

async fn get_payment_intent(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(
        &s,
        "payment_intent",
        format!("/v1/payment_intents/{id}"),
        |a| a.payment_intents.get(&id).cloned(),
    )
}

async fn get_charge(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(&s, "charge", format!("/v1/charges/{id}"), |a| {
        a.charges.get(&id).cloned()
    })
}

async fn get_subscription(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    record(
        &s,
        Method::GET,
        format!("/v1/subscriptions/{id}"),
        HashMap::new(),
    );
    match s.account.lock().unwrap().subscriptions.get(&id) {
        Some(sub) => ok(sub.clone()),
        None => missing("subscription"),
    }
}

/// `DELETE /v1/subscriptions/{id}`: cancelled now, as Stripe answers it.
async fn cancel_subscription(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    record(
        &s,
        Method::DELETE,
        format!("/v1/subscriptions/{id}"),
        HashMap::new(),
    );
    let mut a = s.account.lock().unwrap();
    let Some(sub) = a.subscriptions.get_mut(&id) else {
        return missing("subscription");
    };
    sub["status"] = json!("canceled");
    sub["canceled_at"] = sub["current_period_start"].clone();
    sub["ended_at"] = sub["current_period_start"].clone();
    ok(sub.clone())
}

/// `POST /v1/credit_notes`: Stripe's credit note object for the invoice and amounts asked.
async fn create_credit_note(
    State(s): State<StandIn>,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    record(&s, Method::POST, "/v1/credit_notes".into(), f.clone());
    let mut a = s.account.lock().unwrap();
    if a.fail_credit_notes > 0 {
        a.fail_credit_notes -= 1;
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                json!({ "error": { "type": "api_error", "message": "Something went wrong on Stripe's end." } }),
            ),
        );
    }
    let Some(invoice) = f.get("invoice").cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({ "error": { "type": "invalid_request_error", "message": "Missing required param: invoice." } }),
            ),
        );
    };
    let mut note = s.fixtures.object("credit_note");
    note["id"] = json!(a.id("cn"));
    note["invoice"] = json!(invoice);
    let amount: i64 = f.get("amount").and_then(|v| v.parse().ok()).unwrap_or(0);
    note["amount"] = json!(amount);
    note["total"] = json!(amount);
    note["reason"] = json!(f.get("reason"));
    note["type"] = json!("post_payment");
    a.credit_notes.push(note.clone());
    ok(note)
}

/// Starts the stand-in on a free port; its API base and handle.
pub async fn start() -> (String, StandIn) {
    let standin = StandIn {
        account: Arc::default(),
        fixtures: Arc::new(Fixtures::load(Version::V2023)),
    };
    let app = Router::new()
        .route("/v1/products", post(create_product))
        .route("/v1/products/{id}", get(get_product))
        .route("/v1/prices", get(list_prices).post(create_price))
        .route("/v1/prices/{id}", get(get_price))
        .route(
            "/v1/webhook_endpoints",
            get(list_endpoints).post(create_endpoint),
        )
        .route(
            "/v1/webhook_endpoints/{id}",
            post(update_endpoint).delete(delete_endpoint),
        )
        .route("/v1/checkout/sessions", get(list_sessions))
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/invoices", get(list_invoices))
        .route("/v1/invoices/{id}", get(get_invoice))
        .route("/v1/payment_intents/{id}", get(get_payment_intent))
        .route("/v1/charges/{id}", get(get_charge))
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription).delete(cancel_subscription),
        )
        .route("/v1/credit_notes", post(create_credit_note))
        .with_state(standin.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), standin)
}
