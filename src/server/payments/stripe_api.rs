//! Calls to Stripe's API through async-stripe.

use crate::domain::catalog::TopUpPack;
use crate::domain::credits::group_thousands;
use crate::server::config::StripeConfig;
use crate::server::payments::events::{self, SubscriptionObject};
use serde::Deserialize;
use std::time::Duration;
use stripe::{
    CheckoutSessionMode, Client, CreateCheckoutSession, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataProductData,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionPaymentIntentDataSetupFutureUsage,
    CreateCheckoutSessionPaymentMethodTypes, Currency, Metadata, RequestStrategy,
};

/// How long a call to Stripe may take before the customer is told to try again.
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum StripeCallError {
    #[error("stripe: {0}")]
    Stripe(#[from] stripe::StripeError),
    #[error("stripe did not answer within {0:?}")]
    Timeout(Duration),
    #[error("stripe answered something unexpected: {0}")]
    Unexpected(&'static str),
}

impl StripeCallError {
    /// Stripe refused the request itself (an `invalid_request_error`: a card detached, a
    /// customer deleted): nothing was made, so no event will follow.
    pub fn refused_outright(&self) -> bool {
        matches!(
            self,
            StripeCallError::Stripe(stripe::StripeError::Stripe(e))
                if e.error_type == stripe::ErrorType::InvalidRequest
        )
    }

    /// Stripe refused the customer's card (a `card_error`): its message is written for the
    /// customer ("Your card was declined.").
    pub fn card_declined(&self) -> Option<String> {
        match self {
            StripeCallError::Stripe(stripe::StripeError::Stripe(e))
                if e.error_type == stripe::ErrorType::Card =>
            {
                Some(
                    e.message
                        .clone()
                        .unwrap_or_else(|| "Your card was declined.".to_owned()),
                )
            }
            _ => None,
        }
    }
}

/// What the app keeps of a created session. Only these fields are read, so a change in
/// the rest of Stripe's response cannot break checkout.
#[derive(Debug, Deserialize)]
struct CreatedSession {
    id: String,
    url: Option<String>,
}

/// A Checkout Session to create for a top-up.
pub struct TopUpSession<'a> {
    pub account_id: i64,
    pub customer_email: &'a str,
    /// The account's Stripe customer, when the card is to be saved for automatic top-ups
    /// (P16): Stripe sets it up for charges while the customer is away and tells the
    /// customer so on its page.
    pub saving_card_for: Option<&'a str>,
    pub pack: &'a TopUpPack,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Sent as Stripe's `Idempotency-Key`: the same form sent twice creates one session.
    pub idempotency_key: String,
}

pub fn client(config: &StripeConfig) -> Client {
    Client::from_url(config.api_base.as_str(), config.secret_key.expose())
}

/// Creates a one-time-payment Checkout Session for a top-up pack; returns its id and url.
pub async fn create_top_up_session(
    config: &StripeConfig,
    s: TopUpSession<'_>,
) -> Result<(String, String), StripeCallError> {
    let client = client(config).with_strategy(RequestStrategy::Idempotent(s.idempotency_key));
    let account = s.account_id.to_string();
    let mut params = CreateCheckoutSession::new();
    params.mode = Some(CheckoutSessionMode::Payment);
    params.success_url = Some(s.success_url);
    params.cancel_url = Some(s.cancel_url);
    params.client_reference_id = Some(&account);
    params.metadata = Some(Metadata::from([
        ("account_id".to_owned(), account.clone()),
        ("pack_id".to_owned(), s.pack.id.as_str().to_owned()),
        ("credits".to_owned(), s.pack.credits.get().to_string()),
    ]));
    match s.saving_card_for {
        Some(customer) => {
            params.customer = Some(
                customer
                    .parse()
                    .map_err(|_| StripeCallError::Unexpected("a customer id"))?,
            );
            // A card only: automatic top-ups charge a card (`charge_off_session`).
            params.payment_method_types = Some(vec![CreateCheckoutSessionPaymentMethodTypes::Card]);
            params.payment_intent_data = Some(CreateCheckoutSessionPaymentIntentData {
                setup_future_usage: Some(
                    CreateCheckoutSessionPaymentIntentDataSetupFutureUsage::OffSession,
                ),
                // What the webhook reads off `payment_intent.succeeded` to keep the card.
                metadata: Some(Metadata::from([
                    ("account_id".to_owned(), account.clone()),
                    ("save_card".to_owned(), "true".to_owned()),
                ])),
                ..Default::default()
            });
        }
        None => params.customer_email = Some(s.customer_email),
    }
    params.line_items = Some(vec![CreateCheckoutSessionLineItems {
        quantity: Some(1),
        price_data: Some(CreateCheckoutSessionLineItemsPriceData {
            currency: Currency::USD,
            unit_amount: Some(i64::try_from(s.pack.price_cents).unwrap_or(i64::MAX)),
            product_data: Some(CreateCheckoutSessionLineItemsPriceDataProductData {
                name: format!("{} credits top-up", group_thousands(s.pack.credits.get())),
                description: Some("Top-up credits never expire.".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    let created: CreatedSession =
        tokio::time::timeout(TIMEOUT, client.post_form("/checkout/sessions", &params))
            .await
            .map_err(|_| StripeCallError::Timeout(TIMEOUT))??;
    let url = created
        .url
        .ok_or(StripeCallError::Unexpected("no checkout url"))?;
    Ok((created.id, url))
}

/// Runs a Stripe call with the timeout.
pub(crate) async fn timed<T>(call: stripe::Response<T>) -> Result<T, StripeCallError> {
    Ok(tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| StripeCallError::Timeout(TIMEOUT))??)
}

#[derive(serde::Serialize)]
struct NewCustomer<'a> {
    email: &'a str,
    metadata: std::collections::HashMap<&'static str, String>,
}

/// What Stripe answers a create with, as far as the app reads it.
#[derive(Deserialize)]
pub(crate) struct Created {
    pub(crate) id: String,
}

/// Creates the Stripe customer for an account (once: the key makes a retry return it).
pub async fn create_customer(
    config: &StripeConfig,
    account_id: i64,
    email: &str,
    idempotency_key: String,
) -> Result<String, StripeCallError> {
    let client = client(config).with_strategy(RequestStrategy::Idempotent(idempotency_key));
    let params = NewCustomer {
        email,
        metadata: std::collections::HashMap::from([("account_id", account_id.to_string())]),
    };
    let created: Created = timed(client.post_form("/customers", &params)).await?;
    Ok(created.id)
}

/// A subscription-mode Checkout Session for a plan's Stripe price.
pub struct PlanSession<'a> {
    pub account_id: i64,
    pub customer: &'a str,
    pub price: &'a str,
    pub plan_id: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub idempotency_key: String,
}

pub async fn create_plan_session(
    config: &StripeConfig,
    s: PlanSession<'_>,
) -> Result<String, StripeCallError> {
    let client = client(config).with_strategy(RequestStrategy::Idempotent(s.idempotency_key));
    let account = s.account_id.to_string();
    let metadata = Metadata::from([
        ("account_id".to_owned(), account.clone()),
        ("plan_id".to_owned(), s.plan_id.to_owned()),
    ]);
    let mut params = CreateCheckoutSession::new();
    params.mode = Some(CheckoutSessionMode::Subscription);
    params.success_url = Some(s.success_url);
    params.cancel_url = Some(s.cancel_url);
    params.client_reference_id = Some(&account);
    params.customer = Some(
        s.customer
            .parse()
            .map_err(|_| StripeCallError::Unexpected("a customer id"))?,
    );
    params.metadata = Some(metadata.clone());
    params.subscription_data = Some(stripe::CreateCheckoutSessionSubscriptionData {
        metadata: Some(metadata),
        ..Default::default()
    });
    params.line_items = Some(vec![CreateCheckoutSessionLineItems {
        price: Some(s.price.to_owned()),
        quantity: Some(1),
        ..Default::default()
    }]);
    let created: CreatedSession = timed(client.post_form("/checkout/sessions", &params)).await?;
    created
        .url
        .ok_or(StripeCallError::Unexpected("no checkout url"))
}

/// A customer's subscriptions, newest first (Stripe's list), read as the webhook reads
/// them.
pub async fn subscriptions_of(
    config: &StripeConfig,
    customer: &str,
) -> Result<Vec<SubscriptionObject>, StripeCallError> {
    #[derive(Deserialize)]
    struct Page {
        data: Vec<serde_json::Value>,
    }
    #[derive(serde::Serialize)]
    struct Query<'a> {
        customer: &'a str,
        status: &'static str,
        limit: u32,
    }
    let query = Query {
        customer,
        status: "all",
        limit: 10,
    };
    let page: Page = timed(client(config).get_query("/subscriptions", &query)).await?;
    page.data
        .into_iter()
        .map(|s| {
            events::subscription(s)
                .map_err(|_| StripeCallError::Unexpected("a subscription the app can read"))
        })
        .collect()
}

#[derive(serde::Serialize, Default)]
struct SubscriptionUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    cancel_at_period_end: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Vec<ItemUpdate>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proration_behavior: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_behavior: Option<&'static str>,
}

/// `items[0][id]` and `items[0][price]`, as Stripe's API describes them.
#[derive(serde::Serialize)]
struct ItemUpdate {
    id: String,
    price: String,
}

/// A change to a subscription, as the plans section asks for it.
pub enum Change<'a> {
    CancelAtPeriodEnd(bool),
    /// Move to `price`. An upgrade (`prorate`) is invoiced and paid at once
    /// (`proration_behavior=always_invoice`), and with `payment_behavior=error_if_incomplete`
    /// Stripe changes nothing when that payment fails; a downgrade is not prorated, so
    /// nothing is refunded (P7) and the lower price applies from the next invoice.
    Price {
        price: &'a str,
        prorate: bool,
    },
}

/// Applies `change` to the subscription and returns Stripe's updated object.
pub async fn update_subscription(
    config: &StripeConfig,
    subscription: &SubscriptionObject,
    change: Change<'_>,
    idempotency_key: String,
) -> Result<SubscriptionObject, StripeCallError> {
    let id = &subscription.id;
    let update = match change {
        Change::CancelAtPeriodEnd(cancel) => SubscriptionUpdate {
            cancel_at_period_end: Some(cancel),
            ..Default::default()
        },
        Change::Price { price, prorate } => SubscriptionUpdate {
            items: Some(vec![ItemUpdate {
                id: subscription
                    .item_id
                    .clone()
                    .ok_or(StripeCallError::Unexpected("a subscription item"))?,
                price: price.to_owned(),
            }]),
            proration_behavior: Some(if prorate { "always_invoice" } else { "none" }),
            payment_behavior: prorate.then_some("error_if_incomplete"),
            ..Default::default()
        },
    };
    let client = client(config).with_strategy(RequestStrategy::Idempotent(idempotency_key));
    let updated: serde_json::Value =
        timed(client.post_form(&format!("/subscriptions/{id}"), &update)).await?;
    events::subscription(updated)
        .map_err(|_| StripeCallError::Unexpected("a subscription the app can read"))
}

/// A Stripe customer-portal session, where the customer updates the payment method of a
/// past-due subscription; returns its url.
pub async fn portal_session(
    config: &StripeConfig,
    customer: &str,
    return_url: &str,
    idempotency_key: String,
) -> Result<String, StripeCallError> {
    #[derive(serde::Serialize)]
    struct Params<'a> {
        customer: &'a str,
        return_url: &'a str,
    }
    let client = client(config).with_strategy(RequestStrategy::Idempotent(idempotency_key));
    let created: CreatedSession = timed(client.post_form(
        "/billing_portal/sessions",
        &Params {
            customer,
            return_url,
        },
    ))
    .await?;
    created
        .url
        .ok_or(StripeCallError::Unexpected("no portal url"))
}

/// One subscription, read as the webhook reads it.
pub async fn subscription(
    config: &StripeConfig,
    id: &str,
) -> Result<SubscriptionObject, StripeCallError> {
    let object: serde_json::Value =
        timed(client(config).get(&format!("/subscriptions/{id}"))).await?;
    events::subscription(object)
        .map_err(|_| StripeCallError::Unexpected("a subscription the app can read"))
}

/// Cancels a subscription now, without proration or a final invoice. One already
/// cancelled (or gone) counts as cancelled.
pub async fn cancel_subscription(
    config: &StripeConfig,
    id: &str,
    idempotency_key: String,
) -> Result<(), StripeCallError> {
    let client = client(config).with_strategy(RequestStrategy::Idempotent(idempotency_key));
    match timed(client.delete::<serde_json::Value>(&format!("/subscriptions/{id}"))).await {
        Ok(_) => Ok(()),
        Err(StripeCallError::Stripe(stripe::StripeError::Stripe(e)))
            if e.code == Some(stripe::ErrorCode::ResourceMissing)
                || e.http_status == 404
                || e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("canceled subscription")) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[derive(serde::Serialize)]
struct NewCreditNote<'a> {
    invoice: &'a str,
    amount: u64,
    refund_amount: u64,
    reason: &'static str,
    memo: &'static str,
    metadata: std::collections::HashMap<&'static str, String>,
}

/// Refunds a paid invoice in full with a credit note (`reason=duplicate`): the refund
/// goes back to the payment method it was paid with, on every API version. Returns the
/// credit note's id.
pub async fn refund_invoice(
    config: &StripeConfig,
    invoice: &str,
    amount_cents: u64,
    payment_id: i64,
    idempotency_key: String,
) -> Result<String, StripeCallError> {
    let client = client(config).with_strategy(RequestStrategy::Idempotent(idempotency_key));
    let params = NewCreditNote {
        invoice,
        amount: amount_cents,
        refund_amount: amount_cents,
        reason: "duplicate",
        memo: "A second subscription, paid while your plan was already active: refunded in full.",
        metadata: std::collections::HashMap::from([("payment_id", payment_id.to_string())]),
    };
    let created: Created = timed(client.post_form("/credit_notes", &params)).await?;
    Ok(created.id)
}

/// An open subscription-mode Checkout Session of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPlanSession {
    pub id: String,
    /// The plan its metadata names.
    pub plan_id: Option<String>,
    pub url: Option<String>,
}

/// The customer's open Checkout Sessions that would start a subscription.
pub async fn open_plan_sessions(
    config: &StripeConfig,
    customer: &str,
) -> Result<Vec<OpenPlanSession>, StripeCallError> {
    #[derive(Deserialize)]
    struct Session {
        id: String,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        metadata: Option<std::collections::HashMap<String, String>>,
    }
    #[derive(Deserialize)]
    struct Page {
        data: Vec<Session>,
    }
    #[derive(serde::Serialize)]
    struct Query<'a> {
        customer: &'a str,
        status: &'static str,
        limit: u32,
    }
    let page: Page = timed(client(config).get_query(
        "/checkout/sessions",
        &Query {
            customer,
            status: "open",
            limit: 20,
        },
    ))
    .await?;
    Ok(page
        .data
        .into_iter()
        .filter(|s| s.mode.as_deref() == Some("subscription"))
        .filter(|s| s.status.as_deref().is_none_or(|st| st == "open"))
        .map(|s| OpenPlanSession {
            plan_id: s.metadata.and_then(|m| m.get("plan_id").cloned()),
            id: s.id,
            url: s.url,
        })
        .collect())
}

/// Expires an open Checkout Session: it can no longer be paid.
pub async fn expire_session(
    config: &StripeConfig,
    id: &str,
    idempotency_key: String,
) -> Result<(), StripeCallError> {
    let client = client(config).with_strategy(RequestStrategy::Idempotent(idempotency_key));
    let _: serde_json::Value =
        timed(client.post(&format!("/checkout/sessions/{id}/expire"))).await?;
    Ok(())
}

/// Where Stripe shows the customer its receipt for a payment the app recorded under
/// `external_id`: an invoice's hosted page (a plan's payments, and a top-up whose session
/// made an invoice), else the receipt of the charge a top-up's payment made. Plain reads
/// of ids, no `expand`, so every API version answers the same shape. `None` when Stripe
/// has none (yet).
pub async fn receipt_url(
    config: &StripeConfig,
    external_id: &str,
) -> Result<Option<String>, StripeCallError> {
    #[derive(Deserialize)]
    struct Session {
        #[serde(default)]
        invoice: Option<String>,
        #[serde(default)]
        payment_intent: Option<String>,
    }
    #[derive(Deserialize)]
    struct Invoice {
        #[serde(default)]
        hosted_invoice_url: Option<String>,
    }
    #[derive(Deserialize)]
    struct PaymentIntent {
        #[serde(default)]
        latest_charge: Option<String>,
    }
    #[derive(Deserialize)]
    struct Charge {
        #[serde(default)]
        receipt_url: Option<String>,
    }
    async fn invoice_url(client: &Client, id: &str) -> Result<Option<String>, StripeCallError> {
        let invoice: Invoice = timed(client.get(&format!("/invoices/{id}"))).await?;
        Ok(invoice.hosted_invoice_url)
    }
    let client = client(config);
    if external_id.starts_with("in_") {
        return invoice_url(&client, external_id).await;
    }
    // An automatic top-up's payment is its PaymentIntent; a top-up's, its Checkout Session.
    let intent = if external_id.starts_with("pi_") {
        external_id.to_owned()
    } else {
        let session: Session =
            timed(client.get(&format!("/checkout/sessions/{external_id}"))).await?;
        if let Some(invoice) = session.invoice
            && let Some(url) = invoice_url(&client, &invoice).await?
        {
            return Ok(Some(url));
        }
        let Some(intent) = session.payment_intent else {
            return Ok(None);
        };
        intent
    };
    let intent: PaymentIntent = timed(client.get(&format!("/payment_intents/{intent}"))).await?;
    let Some(charge) = intent.latest_charge else {
        return Ok(None);
    };
    let charge: Charge = timed(client.get(&format!("/charges/{charge}"))).await?;
    Ok(charge.receipt_url)
}
