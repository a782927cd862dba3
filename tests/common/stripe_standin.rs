//! The tests' one stand-in for Stripe's API: what `stripe setup`, `stripe check` and
//! `stripe reconcile` use (products, prices with lookup keys, webhook endpoints, lists of
//! Checkout Sessions and invoices), what buying uses (customers, Checkout Sessions made and
//! expired, portal sessions), and what the plans section and the webhook use
//! (subscriptions listed, read, updated and cancelled, credit notes, a payment's receipt).
//! It keeps state per test, answers with Stripe's published objects (`stripe_fixtures`),
//! and records every call with what it sent and how it was answered.

use super::parse_form;
use super::stripe_fixtures::{Fixtures, Version};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    /// A POST's form, else the query.
    pub params: HashMap<String, String>,
    /// Tests check the secret key and the idempotency key the app sent.
    pub headers: HeaderMap,
    /// How the stand-in answered.
    pub status: StatusCode,
}

#[derive(Default)]
pub struct Account {
    pub products: HashMap<String, Value>,
    pub prices: Vec<Value>,
    pub endpoints: Vec<Value>,
    /// Checkout Sessions, oldest first: those a test put and those the app made.
    pub sessions: Vec<Value>,
    pub invoices: Vec<Value>,
    /// Subscriptions by id, as a test put them (Stripe's objects) and updates left them.
    pub subscriptions: HashMap<String, Value>,
    pub credit_notes: Vec<Value>,
    /// Payment intents and charges by id, as a test put them (a top-up's payment).
    pub payment_intents: HashMap<String, Value>,
    pub charges: HashMap<String, Value>,
    /// Answer the next this many credit-note requests with a 500 (Stripe having trouble).
    pub fail_credit_notes: u32,
    /// Stripe down: every call is answered 500 (`api_error`), and still recorded.
    pub failing: bool,
    /// A price Stripe refuses to move a subscription to (answering 500), if any.
    pub refused_price: Option<String>,
    /// A price whose prorated invoice the customer's card cannot pay (answering 402
    /// `card_error`, changing nothing, as `payment_behavior=error_if_incomplete` does).
    pub declined_price: Option<String>,
    pub calls: Vec<Call>,
    /// Stripe's time for what it makes (`created`), as the test sets it (the app's clock
    /// is the test's); the system time when unset.
    pub now: Option<i64>,
    next: u32,
}

impl Account {
    fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

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

    /// The subscription updates Stripe made: a refused or declined one changed nothing.
    pub fn updates(&self) -> Vec<Call> {
        self.writes()
            .into_iter()
            .filter(|c| c.method == Method::POST && c.path.starts_with("/v1/subscriptions/"))
            .filter(|c| c.status.is_success())
            .collect()
    }
}

/// What Stripe says when it has trouble; none of it may reach a customer.
pub const API_ERROR_MESSAGE: &str = "Something went wrong on Stripe's end.";

fn api_error() -> (StatusCode, axum::Json<Value>) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "error": { "type": "api_error", "message": API_ERROR_MESSAGE } })),
    )
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

/// Records each call, with what it sent and how it was answered; while the account is
/// `failing`, answers it as Stripe does when it has trouble.
async fn record(State(s): State<StandIn>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a request body");
    let params = if parts.method == Method::POST {
        parse_form(&String::from_utf8_lossy(&body))
    } else {
        parse_form(parts.uri.query().unwrap_or_default())
    };
    let (method, path, headers) = (
        parts.method.clone(),
        parts.uri.path().to_owned(),
        parts.headers.clone(),
    );
    let failing = s.account.lock().unwrap().failing;
    let response = if failing {
        api_error().into_response()
    } else {
        next.run(Request::from_parts(parts, Body::from(body))).await
    };
    s.account.lock().unwrap().calls.push(Call {
        method,
        path,
        params,
        headers,
        status: response.status(),
    });
    response
}

/// `metadata[key]=value` fields as Stripe's metadata object.
fn metadata(f: &HashMap<String, String>) -> Value {
    Value::Object(
        f.iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((key.to_owned(), json!(v)))
            })
            .collect(),
    )
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
    find(&s, "product", |a| a.products.get(&id).cloned())
}

async fn create_product(State(s): State<StandIn>, body: String) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
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
    find(&s, "price", |a| by_id(&a.prices, &id))
}

async fn create_price(State(s): State<StandIn>, body: String) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
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
    let data = s.account.lock().unwrap().endpoints.clone();
    ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/webhook_endpoints" }))
}

async fn create_endpoint(
    State(s): State<StandIn>,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
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
    let mut a = s.account.lock().unwrap();
    let before = a.endpoints.len();
    a.endpoints.retain(|e| e["id"] != json!(id));
    if a.endpoints.len() == before {
        return missing("webhook endpoint");
    }
    ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}

/// `POST /v1/customers`: a new customer with the email and metadata asked for.
async fn create_customer(
    State(s): State<StandIn>,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    let mut c = s.fixtures.object("customer");
    c["id"] = json!(s.account.lock().unwrap().id("cus"));
    c["email"] = json!(f.get("email"));
    c["metadata"] = metadata(&f);
    ok(c)
}

/// `POST /v1/payment_intents`: an off-session charge of a saved card, confirmed at once.
/// Stripe's test payment methods: `pm_card_chargeDeclined` is declined (402 `card_error`;
/// the PaymentIntent is made, `requires_payment_method`, as Stripe does),
/// `pm_card_detached` is refused outright (400 `invalid_request_error`, nothing made), any
/// other is charged. The same idempotency key answers the same PaymentIntent.
async fn create_payment_intent(
    State(s): State<StandIn>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    if f.get("payment_method").map(String::as_str) == Some("pm_card_detached") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": {
                "type": "invalid_request_error",
                "message": "The provided PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again."
            }})),
        );
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut a = s.account.lock().unwrap();
    let declined = f.get("payment_method").map(String::as_str) == Some("pm_card_chargeDeclined");
    let card_error = json!({
        "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
        "message": "Your card was declined."
    });
    let answer = |pi: &Value| {
        if declined {
            let mut error = card_error.clone();
            error["payment_intent"] = pi.clone();
            (
                StatusCode::PAYMENT_REQUIRED,
                axum::Json(json!({ "error": error })),
            )
        } else {
            ok(pi.clone())
        }
    };
    if let Some(pi) = a
        .payment_intents
        .values()
        .find(|p| p["idempotency_key_seen"] == key.as_str())
    {
        return answer(pi);
    }
    let mut pi = s.fixtures.object("payment_intent");
    let id = a.id("pi");
    pi["id"] = json!(id);
    pi["created"] = json!(a.now());
    pi["amount"] = json!(f.get("amount").and_then(|v| v.parse::<u64>().ok()));
    pi["currency"] = json!(f.get("currency"));
    pi["customer"] = json!(f.get("customer"));
    pi["payment_method"] = json!(f.get("payment_method"));
    pi["metadata"] = metadata(&f);
    if declined {
        pi["status"] = json!("requires_payment_method");
        pi["last_payment_error"] = card_error.clone();
    } else {
        pi["status"] = json!("succeeded");
        pi["last_payment_error"] = Value::Null;
        // Its charge, with Stripe's receipt.
        let mut charge = s.fixtures.object("charge");
        let charge_id = a.id("ch");
        charge["id"] = json!(charge_id);
        charge["payment_intent"] = json!(id);
        pi["latest_charge"] = json!(charge_id);
        a.charges.insert(charge_id, charge);
    }
    // Kept beside the object, to answer the same key alike (not a field Stripe sends).
    pi["idempotency_key_seen"] = json!(key);
    a.payment_intents.insert(id, pi.clone());
    answer(&pi)
}

/// `GET /v1/payment_intents`: the customer's, made between `created[gte]` and
/// `created[lte]`, newest first, a page of `limit` after `starting_after`, as Stripe lists
/// them.
async fn list_payment_intents(
    State(s): State<StandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    let bound = |name: &str, default: i64| {
        q.get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let (since, until) = (bound("created[gte]", 0), bound("created[lte]", i64::MAX));
    let limit = usize::try_from(bound("limit", 10)).unwrap_or(10);
    let a = s.account.lock().unwrap();
    let mut all: Vec<Value> = a
        .payment_intents
        .values()
        .filter(|p| {
            q.get("customer")
                .is_none_or(|c| p["customer"] == c.as_str())
        })
        .filter(|p| (since..=until).contains(&p["created"].as_i64().unwrap_or(0)))
        .cloned()
        .collect();
    all.sort_by_key(|p| {
        (
            std::cmp::Reverse(p["created"].as_i64().unwrap_or(0)),
            p["id"].as_str().unwrap_or_default().to_owned(),
        )
    });
    let start = match q.get("starting_after") {
        Some(after) => all
            .iter()
            .position(|p| p["id"] == after.as_str())
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let rest = &all[start..];
    let data: Vec<Value> = rest.iter().take(limit).cloned().collect();
    ok(json!({
        "object": "list", "url": "/v1/payment_intents",
        "has_more": rest.len() > limit, "data": data,
    }))
}

/// `GET /v1/payment_methods/{id}`: Stripe's card fixture under the id asked for;
/// `pm_card_mastercard` is a Mastercard ending 4444, `pm_gone` does not exist.
async fn get_payment_method(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    if id == "pm_gone" {
        return missing("payment_method");
    }
    let mut pm = s.fixtures.object("payment_method");
    pm["id"] = json!(id);
    if id == "pm_card_mastercard" {
        pm["card"]["brand"] = json!("mastercard");
        pm["card"]["last4"] = json!("4444");
    }
    ok(pm)
}

/// `POST /v1/checkout/sessions`: an open session of the mode, customer and metadata asked
/// for, kept for the list and for `expire`.
async fn create_session(State(s): State<StandIn>, body: String) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    let mut session = s.fixtures.object("checkout.session");
    let mut a = s.account.lock().unwrap();
    let id = a.id("cs_test");
    session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    session["id"] = json!(id);
    session["mode"] = json!(f.get("mode"));
    session["status"] = json!("open");
    session["customer"] = json!(f.get("customer"));
    session["client_reference_id"] = json!(f.get("client_reference_id"));
    session["metadata"] = metadata(&f);
    a.sessions.push(session.clone());
    ok(session)
}

/// Newest first, as Stripe lists them; only the customer's and of the status asked for,
/// when asked.
async fn list_sessions(
    State(s): State<StandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    let data: Vec<Value> = s
        .account
        .lock()
        .unwrap()
        .sessions
        .iter()
        .rev()
        .filter(|v| q.get("customer").is_none_or(|c| v["customer"] == json!(c)))
        .filter(|v| q.get("status").is_none_or(|st| v["status"] == json!(st)))
        .cloned()
        .collect();
    ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/checkout/sessions" }))
}

/// `POST /v1/checkout/sessions/{id}/expire`: the session can no longer be paid.
async fn expire_session(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    let mut a = s.account.lock().unwrap();
    let Some(session) = a.sessions.iter_mut().find(|v| v["id"] == json!(id)) else {
        return missing("checkout session");
    };
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    ok(session.clone())
}

/// `POST /v1/billing_portal/sessions`: a portal session for the customer, coming back to
/// `return_url`.
async fn create_portal_session(
    State(s): State<StandIn>,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    let mut p = s.fixtures.object("billing_portal.session");
    let id = s.account.lock().unwrap().id("bps");
    p["url"] = json!(format!("https://billing.stripe.com/p/session/{id}"));
    p["id"] = json!(id);
    p["customer"] = json!(f.get("customer"));
    p["return_url"] = json!(f.get("return_url"));
    ok(p)
}

async fn list_invoices(
    State(s): State<StandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
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

/// `GET` of one object a test put in the account, picked by `pick`.
fn find(
    s: &StandIn,
    what: &str,
    pick: impl FnOnce(&Account) -> Option<Value>,
) -> (StatusCode, axum::Json<Value>) {
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
    find(&s, "invoice", |a| by_id(&a.invoices, &id))
}

async fn get_session(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(&s, "checkout session", |a| by_id(&a.sessions, &id))
}

async fn get_payment_intent(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(&s, "payment_intent", |a| {
        a.payment_intents.get(&id).cloned()
    })
}

async fn get_charge(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(&s, "charge", |a| a.charges.get(&id).cloned())
}

/// `GET /v1/subscriptions`: newest first, only the customer's when asked; `status=all`
/// lists every status, none (Stripe's default) all but the cancelled.
async fn list_subscriptions(
    State(s): State<StandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    let wanted = |v: &Value| match q.get("status").map(String::as_str) {
        Some("all") => true,
        Some(status) => v["status"] == status,
        None => v["status"] != "canceled",
    };
    let mut data: Vec<Value> = s
        .account
        .lock()
        .unwrap()
        .subscriptions
        .values()
        .filter(|v| q.get("customer").is_none_or(|c| v["customer"] == json!(c)))
        .filter(|v| wanted(v))
        .cloned()
        .collect();
    // The map has no order; ties on `created` go by id, so a list is the same every time.
    data.sort_by_key(|v| {
        std::cmp::Reverse((v["created"].as_i64(), v["id"].as_str().map(str::to_owned)))
    });
    ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/subscriptions" }))
}

async fn get_subscription(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    find(&s, "subscription", |a| a.subscriptions.get(&id).cloned())
}

/// `POST /v1/subscriptions/{id}`: a new price for its item, or the cancel flag. The
/// account's refused price is Stripe's trouble (500); its declined price is the card's
/// (402), and changes nothing.
async fn update_subscription(
    State(s): State<StandIn>,
    Path(id): Path<String>,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let f = parse_form(&body);
    let price = f.get("items[0][price]");
    let mut a = s.account.lock().unwrap();
    if price.is_some() && price == a.refused_price.as_ref() {
        return api_error();
    }
    if price.is_some() && price == a.declined_price.as_ref() {
        return (
            StatusCode::PAYMENT_REQUIRED,
            axum::Json(json!({ "error": {
                "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            } })),
        );
    }
    let Some(sub) = a.subscriptions.get_mut(&id) else {
        return missing("subscription");
    };
    if let Some(price) = price {
        sub["items"]["data"][0]["price"]["id"] = json!(price);
    }
    if let Some(cancel) = f.get("cancel_at_period_end") {
        sub["cancel_at_period_end"] = json!(cancel == "true");
    }
    ok(sub.clone())
}

/// `DELETE /v1/subscriptions/{id}`: cancelled now, as Stripe answers it.
async fn cancel_subscription(
    State(s): State<StandIn>,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
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
    let mut a = s.account.lock().unwrap();
    if a.fail_credit_notes > 0 {
        a.fail_credit_notes -= 1;
        return api_error();
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
        .route("/v1/customers", post(create_customer))
        .route(
            "/v1/checkout/sessions",
            get(list_sessions).post(create_session),
        )
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/billing_portal/sessions", post(create_portal_session))
        .route("/v1/invoices", get(list_invoices))
        .route("/v1/invoices/{id}", get(get_invoice))
        .route(
            "/v1/payment_intents",
            get(list_payment_intents).post(create_payment_intent),
        )
        .route("/v1/payment_intents/{id}", get(get_payment_intent))
        .route("/v1/charges/{id}", get(get_charge))
        .route("/v1/payment_methods/{id}", get(get_payment_method))
        .route("/v1/subscriptions", get(list_subscriptions))
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription)
                .post(update_subscription)
                .delete(cancel_subscription),
        )
        .route("/v1/credit_notes", post(create_credit_note))
        .route_layer(middleware::from_fn_with_state(standin.clone(), record))
        .with_state(standin.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), standin)
}
