//! `studio-billing stripe setup` and `stripe check`: the Stripe account made to match the
//! catalogue, and drift reported.
//!
//! - A product per plan, with the id [`Plan::stripe_product_id`] (so it is found again, and
//!   the webhook knows a plan by its product even for a price made before a change).
//! - A monthly price per plan, found by `lookup_key` = the plan id. A changed amount makes a
//!   new price (taking the lookup key over); a price is never edited. A plan with an
//!   explicit `stripe_price_id` in the catalogue keeps it.
//! - The webhook endpoint at `STUDIO_PUBLIC_URL/webhooks/stripe`, with exactly the events
//!   the app handles and its `api_version` pinned to the one the app is tested for. Its
//!   signing secret is printed once, when it is made; its SHA-256 is kept in the database
//!   so `check` can tell whether `STRIPE_WEBHOOK_SECRET` is that endpoint's.
//!
//! Every call goes through async-stripe's client with an idempotency key namespaced by the
//! installation.

use crate::domain::catalog::{Catalog, Plan};
use crate::server::config::StripeConfig;
use crate::server::db::Db;
use crate::server::payments::events::{HANDLED_EVENTS, PINNED_API_VERSION};
use crate::server::payments::stripe_api::{StripeCallError, client, timed};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use stripe::RequestStrategy;

/// One way the Stripe account differs from what the app needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The plan's product is not in Stripe.
    MissingProduct {
        plan: String,
    },
    /// No active price has the plan's lookup key (nor is one named in the catalogue).
    MissingPrice {
        plan: String,
    },
    /// The plan's price in Stripe is not the catalogue's.
    PriceChanged {
        plan: String,
        price: String,
        stripe: String,
        catalogue: String,
    },
    /// No webhook endpoint at the app's address.
    MissingEndpoint {
        url: String,
    },
    /// The endpoint is pinned to another API version.
    EndpointVersion {
        have: Option<String>,
        want: &'static str,
    },
    /// The endpoint sends events the app does not handle, or not all it does.
    EndpointEvents {
        missing: Vec<String>,
        extra: Vec<String>,
    },
    EndpointDisabled,
    /// `STRIPE_WEBHOOK_SECRET` is not the secret of the endpoint `stripe setup` made.
    SecretMismatch,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::MissingProduct { plan } => write!(f, "plan {plan}: no product in Stripe"),
            Drift::MissingPrice { plan } => {
                write!(f, "plan {plan}: no active price with lookup key {plan:?}")
            }
            Drift::PriceChanged {
                plan,
                price,
                stripe,
                catalogue,
            } => write!(
                f,
                "plan {plan}: price {price} is {stripe} in Stripe, {catalogue} in the catalogue"
            ),
            Drift::MissingEndpoint { url } => write!(f, "no webhook endpoint at {url}"),
            Drift::EndpointVersion { have, want } => write!(
                f,
                "the webhook endpoint's API version is {}, the app is tested for {want}",
                have.as_deref().unwrap_or("the account's default")
            ),
            Drift::EndpointEvents { missing, extra } => write!(
                f,
                "the webhook endpoint's events differ: missing [{}], not handled [{}]",
                missing.join(", "),
                extra.join(", ")
            ),
            Drift::EndpointDisabled => write!(f, "the webhook endpoint is disabled"),
            Drift::SecretMismatch => write!(
                f,
                "STRIPE_WEBHOOK_SECRET is not the signing secret of the endpoint `stripe setup` made"
            ),
        }
    }
}

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub drift: Vec<Drift>,
    /// What could not be checked, said for the operator (not drift).
    pub notes: Vec<String>,
    /// Each plan's price id in Stripe, where one that matches the catalogue was found.
    pub prices: HashMap<String, String>,
}

/// What `setup` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Done {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// The new endpoint's signing secret: shown once, never stored in clear.
    pub new_webhook_secret: Option<String>,
    /// What is left that only the operator can do.
    pub left: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Deserialize, Clone)]
struct StripePrice {
    id: String,
    #[serde(default)]
    unit_amount: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    recurring: Option<Recurring>,
    #[serde(default)]
    lookup_key: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

#[derive(Deserialize, Clone)]
struct Recurring {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    interval_count: Option<i64>,
}

impl StripePrice {
    fn describe(&self) -> String {
        format!(
            "{} {} per {} {}",
            self.unit_amount.unwrap_or(0),
            self.currency.as_deref().unwrap_or("?"),
            self.recurring
                .as_ref()
                .and_then(|r| r.interval_count)
                .unwrap_or(0),
            self.recurring
                .as_ref()
                .and_then(|r| r.interval.as_deref())
                .unwrap_or("(one time)")
        )
    }

    fn matches(&self, plan: &Plan) -> bool {
        self.unit_amount == i64::try_from(plan.monthly_price_cents).ok()
            && self.currency.as_deref() == Some("usd")
            && self.recurring.as_ref().is_some_and(|r| {
                r.interval.as_deref() == Some("month") && r.interval_count == Some(1)
            })
            && self.active != Some(false)
    }
}

fn wanted(plan: &Plan) -> String {
    format!("{} usd per 1 month", plan.monthly_price_cents)
}

#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
}

#[derive(Deserialize, Clone)]
struct Endpoint {
    id: String,
    url: String,
    #[serde(default)]
    enabled_events: Vec<String>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    status: Option<String>,
    /// Only in the answer that creates it.
    #[serde(default)]
    secret: Option<String>,
}

/// The endpoint's address for `public_url`.
pub fn endpoint_url(public_url: &str) -> String {
    format!(
        "{}{}",
        public_url.trim_end_matches('/'),
        crate::server::payments::WEBHOOK_PATH
    )
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn is_missing(e: &StripeCallError) -> bool {
    matches!(e, StripeCallError::Stripe(stripe::StripeError::Stripe(r)) if r.http_status == 404)
}

async fn product_exists(config: &StripeConfig, plan: &Plan) -> Result<bool, StripeCallError> {
    #[derive(Deserialize)]
    struct Product {
        #[allow(dead_code)]
        id: String,
    }
    let path = format!("/products/{}", plan.stripe_product_id());
    match timed(client(config).get::<Product>(&path)).await {
        Ok(_) => Ok(true),
        Err(e) if is_missing(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

async fn prices_by_lookup_key(
    config: &StripeConfig,
    catalog: &Catalog,
) -> Result<HashMap<String, StripePrice>, StripeCallError> {
    #[derive(Serialize)]
    struct Query {
        lookup_keys: Vec<String>,
        active: bool,
        limit: u32,
    }
    let keys: Vec<String> = catalog
        .plans
        .iter()
        .map(|p| p.id.as_str().to_owned())
        .collect();
    let mut found = HashMap::new();
    // Stripe takes at most 10 lookup keys per list.
    for chunk in keys.chunks(10) {
        let query = Query {
            lookup_keys: chunk.to_vec(),
            active: true,
            limit: 100,
        };
        let page: Page<StripePrice> = timed(client(config).get_query("/prices", &query)).await?;
        found.extend(
            page.data
                .into_iter()
                .filter_map(|p| p.lookup_key.clone().map(|k| (k, p))),
        );
    }
    Ok(found)
}

async fn price_by_id(
    config: &StripeConfig,
    id: &str,
) -> Result<Option<StripePrice>, StripeCallError> {
    match timed(client(config).get::<StripePrice>(&format!("/prices/{id}"))).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn endpoint_at(
    config: &StripeConfig,
    url: &str,
) -> Result<Option<Endpoint>, StripeCallError> {
    #[derive(Serialize)]
    struct Query {
        limit: u32,
    }
    let page: Page<Endpoint> =
        timed(client(config).get_query("/webhook_endpoints", &Query { limit: 100 })).await?;
    Ok(page.data.into_iter().find(|e| e.url == url))
}

async fn stored_secret_hash(db: &Db) -> Result<Option<(String, String)>, sqlx::Error> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT webhook_endpoint_id, webhook_secret_sha256 FROM install WHERE id = 1",
    )
    .fetch_optional(db.reader())
    .await?;
    Ok(row.and_then(|(id, hash)| id.zip(hash)))
}

/// Compares the Stripe account with the catalogue and the app's endpoint; changes nothing.
pub async fn check(
    config: &StripeConfig,
    db: &Db,
    catalog: &Catalog,
    public_url: &str,
) -> Result<Report, SetupError> {
    let mut report = Report::default();
    let by_key = prices_by_lookup_key(config, catalog).await?;
    for plan in &catalog.plans {
        let id = plan.id.as_str().to_owned();
        if !product_exists(config, plan).await? {
            report
                .drift
                .push(Drift::MissingProduct { plan: id.clone() });
        }
        let price = match &plan.stripe_price_id {
            // The catalogue names its price: that one must be right.
            Some(explicit) => price_by_id(config, explicit).await?,
            None => by_key.get(&id).cloned(),
        };
        match price {
            None => report.drift.push(Drift::MissingPrice { plan: id.clone() }),
            Some(p) => {
                if p.matches(plan) {
                    report.prices.insert(id, p.id);
                } else {
                    report.drift.push(Drift::PriceChanged {
                        plan: id.clone(),
                        price: p.id.clone(),
                        stripe: p.describe(),
                        catalogue: wanted(plan),
                    });
                }
            }
        }
    }
    let url = endpoint_url(public_url);
    match endpoint_at(config, &url).await? {
        None => report.drift.push(Drift::MissingEndpoint { url }),
        Some(e) => {
            if e.api_version.as_deref() != Some(PINNED_API_VERSION) {
                report.drift.push(Drift::EndpointVersion {
                    have: e.api_version.clone(),
                    want: PINNED_API_VERSION,
                });
            }
            let have: BTreeSet<&str> = e.enabled_events.iter().map(String::as_str).collect();
            let want: BTreeSet<&str> = HANDLED_EVENTS.iter().copied().collect();
            if have != want {
                report.drift.push(Drift::EndpointEvents {
                    missing: want.difference(&have).map(|s| s.to_string()).collect(),
                    extra: have.difference(&want).map(|s| s.to_string()).collect(),
                });
            }
            if e.status.as_deref() == Some("disabled") {
                report.drift.push(Drift::EndpointDisabled);
            }
            match stored_secret_hash(db).await? {
                Some((endpoint, hash)) if endpoint == e.id => {
                    let configured = config.webhook_secrets.first().map(|s| sha256_hex(s.expose()));
                    if configured.as_deref() != Some(hash.as_str()) {
                        report.drift.push(Drift::SecretMismatch);
                    }
                }
                _ => report.notes.push(format!(
                    "The endpoint {} was not made by `stripe setup` here, so STRIPE_WEBHOOK_SECRET cannot be compared with its secret; check it in Stripe's dashboard.",
                    e.id
                )),
            }
        }
    }
    Ok(report)
}

#[derive(Serialize)]
struct NewProduct<'a> {
    id: String,
    name: &'a str,
    metadata: HashMap<&'static str, &'a str>,
}

#[derive(Serialize)]
struct NewPrice<'a> {
    product: String,
    currency: &'static str,
    unit_amount: u64,
    recurring: NewRecurring,
    lookup_key: &'a str,
    transfer_lookup_key: bool,
    metadata: HashMap<&'static str, &'a str>,
}

#[derive(Serialize)]
struct NewRecurring {
    interval: &'static str,
    interval_count: u32,
}

#[derive(Serialize)]
struct EndpointParams<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    enabled_events: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
}

/// Makes the Stripe account match: creates what is missing, a new price for a changed one,
/// the endpoint's events and status put right. Safe to run again: it then changes nothing.
/// An endpoint pinned to another API version is replaced only with `recreate_endpoint`
/// (Stripe cannot change an endpoint's version, and a new endpoint has a new secret).
pub async fn setup(
    config: &StripeConfig,
    db: &Db,
    catalog: &Catalog,
    public_url: &str,
    recreate_endpoint: bool,
) -> Result<Done, SetupError> {
    let install = db.install_id().await?;
    let key = |what: String| {
        client(config).with_strategy(RequestStrategy::Idempotent(format!(
            "sb-{install}-setup-{what}"
        )))
    };
    let mut done = Done::default();
    let before = check(config, db, catalog, public_url).await?;
    for p in &catalog.plans {
        let plan = p.id.as_str();
        let drifts = || {
            before.drift.iter().filter(move |d| match d {
                Drift::MissingProduct { plan: d }
                | Drift::MissingPrice { plan: d }
                | Drift::PriceChanged { plan: d, .. } => d == plan,
                _ => false,
            })
        };
        if drifts().any(|d| matches!(d, Drift::MissingProduct { .. })) {
            let params = NewProduct {
                id: p.stripe_product_id(),
                name: &p.name,
                metadata: HashMap::from([("plan_id", plan)]),
            };
            let _: serde_json::Value =
                timed(key(format!("product-{plan}")).post_form("/products", &params)).await?;
            done.created
                .push(format!("product {} for plan {plan}", p.stripe_product_id()));
        }
        if !drifts().any(|d| matches!(d, Drift::MissingPrice { .. } | Drift::PriceChanged { .. })) {
            continue;
        }
        if let Some(explicit) = &p.stripe_price_id {
            done.left.push(format!(
                "plan {plan}: the catalogue names price {explicit}; fix it there (or remove stripe_price_id to let `stripe setup` manage the price)"
            ));
            continue;
        }
        let params = NewPrice {
            product: p.stripe_product_id(),
            currency: "usd",
            unit_amount: p.monthly_price_cents,
            recurring: NewRecurring {
                interval: "month",
                interval_count: 1,
            },
            lookup_key: plan,
            transfer_lookup_key: true,
            metadata: HashMap::from([("plan_id", plan)]),
        };
        let created: StripePrice = timed(
            key(format!("price-{plan}-{}-usd-month", p.monthly_price_cents))
                .post_form("/prices", &params),
        )
        .await?;
        done.created.push(format!(
            "price {} for plan {plan} ({})",
            created.id,
            wanted(p)
        ));
    }
    let url = endpoint_url(public_url);
    let events: Vec<&'static str> = HANDLED_EVENTS.to_vec();
    let existing = endpoint_at(config, &url).await?;
    let wrong_version = existing
        .as_ref()
        .is_some_and(|e| e.api_version.as_deref() != Some(PINNED_API_VERSION));
    let create = match &existing {
        None => true,
        Some(e) if wrong_version && recreate_endpoint => {
            let _: serde_json::Value =
                timed(client(config).delete(&format!("/webhook_endpoints/{}", e.id))).await?;
            done.updated.push(format!(
                "deleted endpoint {} (API version {})",
                e.id,
                e.api_version.as_deref().unwrap_or("default")
            ));
            true
        }
        Some(e) => {
            if wrong_version {
                done.left.push(format!(
                    "the endpoint {} is pinned to API version {}; Stripe cannot change that. Run `studio-billing stripe setup --recreate-endpoint` to replace it (it gets a new signing secret), then set STRIPE_WEBHOOK_SECRET to it.",
                    e.id,
                    e.api_version.as_deref().unwrap_or("(the account's default)")
                ));
            }
            let have: BTreeSet<&str> = e.enabled_events.iter().map(String::as_str).collect();
            let want: BTreeSet<&str> = events.iter().copied().collect();
            let disabled = e.status.as_deref() == Some("disabled");
            if have != want || disabled {
                let params = EndpointParams {
                    url: None,
                    enabled_events: events.clone(),
                    api_version: None,
                    disabled: disabled.then_some(false),
                    description: None,
                };
                let _: serde_json::Value = timed(
                    client(config).post_form(&format!("/webhook_endpoints/{}", e.id), &params),
                )
                .await?;
                done.updated.push(format!(
                    "endpoint {}: the events the app handles{}",
                    e.id,
                    if disabled { ", enabled" } else { "" }
                ));
            }
            false
        }
    };
    if create {
        let params = EndpointParams {
            url: Some(&url),
            enabled_events: events,
            api_version: Some(PINNED_API_VERSION),
            disabled: None,
            description: Some("Studio Billing"),
        };
        let created: Endpoint = timed(
            key(format!("endpoint-{}", uuid::Uuid::new_v4().simple()))
                .post_form("/webhook_endpoints", &params),
        )
        .await?;
        if let Some(secret) = &created.secret {
            sqlx::query(
                "UPDATE install SET webhook_endpoint_id = $1, webhook_secret_sha256 = $2 WHERE id = 1",
            )
            .bind(&created.id)
            .bind(sha256_hex(secret))
            .execute(db.writer())
            .await?;
        }
        done.created.push(format!(
            "webhook endpoint {} at {url} (API version {PINNED_API_VERSION})",
            created.id
        ));
        done.new_webhook_secret = created.secret;
    }
    Ok(done)
}

/// At start-up with Stripe: each plan without an explicit `stripe_price_id` takes the
/// active price its lookup key names, if that price is the catalogue's (amount, currency,
/// monthly); a plan whose price differs stays unsold online until `stripe setup` makes the
/// new price, so nobody is charged an amount the page does not show. Returns the plans left
/// without a price.
pub async fn resolve_prices(
    config: &StripeConfig,
    catalog: &mut Catalog,
) -> Result<Vec<String>, StripeCallError> {
    let by_key = prices_by_lookup_key(config, catalog).await?;
    let mut unsold = Vec::new();
    for plan in &mut catalog.plans {
        if plan.stripe_price_id.is_some() {
            continue;
        }
        match by_key.get(plan.id.as_str()).filter(|p| p.matches(plan)) {
            Some(p) => plan.stripe_price_id = Some(p.id.clone()),
            None => unsold.push(plan.id.as_str().to_owned()),
        }
    }
    Ok(unsold)
}
