//! Stripe's PaymentIntents for automatic top-ups (P16): the off-session charge of a saved
//! card, how a saved card is shown, and a customer's PaymentIntents when an outcome is late.

use crate::domain::credits::group_thousands;
use crate::server::config::StripeConfig;
use crate::server::payments::events;
use crate::server::payments::stripe_api::{Created, StripeCallError, client, timed};
use serde::Deserialize;
use stripe::RequestStrategy;

/// An automatic top-up's charge of the customer's saved card, off-session.
#[derive(serde::Serialize)]
struct OffSessionCharge<'a> {
    amount: u64,
    currency: &'static str,
    customer: &'a str,
    payment_method: &'a str,
    off_session: bool,
    confirm: bool,
    /// A card only: confirmed off-session there is no page to return to.
    payment_method_types: Vec<&'static str>,
    description: String,
    metadata: std::collections::HashMap<&'static str, String>,
}

/// What an automatic top-up charges.
pub struct AutoCharge<'a> {
    pub account_id: i64,
    pub auto_top_up: i64,
    pub customer: &'a str,
    pub payment_method: &'a str,
    pub amount_cents: u64,
    pub credits: u64,
    /// `stripe_key`'s, naming this installation and the automatic top-up.
    pub idempotency_key: String,
}

/// Charges the saved card for automatic top-up `c` (P16): a PaymentIntent confirmed at
/// once, off-session, with the automatic top-up's own key, so a retry of an unclear answer
/// never charges twice (Stripe keeps a key's answer for 24 hours). Its outcome comes
/// by the webhook (`payment_intent.succeeded` or `.payment_failed`), which alone settles
/// it; the answer here is only the PaymentIntent's id.
pub async fn charge_off_session(
    config: &StripeConfig,
    c: &AutoCharge<'_>,
) -> Result<String, StripeCallError> {
    let client =
        client(config).with_strategy(RequestStrategy::Idempotent(c.idempotency_key.clone()));
    let params = OffSessionCharge {
        amount: c.amount_cents,
        currency: "usd",
        customer: c.customer,
        payment_method: c.payment_method,
        off_session: true,
        confirm: true,
        payment_method_types: vec!["card"],
        description: format!("Automatic top-up: {} credits", group_thousands(c.credits)),
        metadata: std::collections::HashMap::from([
            ("account_id", c.account_id.to_string()),
            ("auto_top_up_id", c.auto_top_up.to_string()),
        ]),
    };
    let created: Created = timed(client.post_form("/payment_intents", &params)).await?;
    Ok(created.id)
}

#[derive(Deserialize)]
struct PaymentMethod {
    #[serde(default)]
    card: Option<CardDetails>,
}

#[derive(Deserialize)]
struct CardDetails {
    brand: String,
    last4: String,
    #[serde(default)]
    exp_month: Option<u32>,
    #[serde(default)]
    exp_year: Option<u32>,
}

/// How a saved card is shown ("Visa ending 4242, expires 12/2034"), from Stripe's
/// payment method; `None` for a payment method that is not a card.
pub async fn card_label(
    config: &StripeConfig,
    payment_method: &str,
) -> Result<Option<String>, StripeCallError> {
    let id_like = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !payment_method.starts_with("pm_") || !id_like(payment_method) {
        return Err(StripeCallError::Unexpected("a payment method id"));
    }
    let pm: PaymentMethod =
        timed(client(config).get(&format!("/payment_methods/{payment_method}"))).await?;
    Ok(pm.card.map(|c| {
        crate::domain::auto_top_up::card_label(&c.brand, &c.last4, c.exp_month.zip(c.exp_year))
    }))
}

/// The customer's PaymentIntents made from `since` to `until` (Stripe's `created`, every
/// page): the automatic top-up each names in its metadata, and what it says, read as its
/// event would be (`None`: no outcome yet).
pub async fn payment_intents_of(
    config: &StripeConfig,
    customer: &str,
    since: i64,
    until: i64,
) -> Result<Vec<(Option<i64>, Option<events::PaymentIntentObject>)>, StripeCallError> {
    #[derive(Deserialize)]
    struct Page {
        data: Vec<serde_json::Value>,
        #[serde(default)]
        has_more: bool,
    }
    #[derive(serde::Serialize)]
    struct Query<'a> {
        customer: &'a str,
        #[serde(rename = "created[gte]")]
        created_gte: i64,
        #[serde(rename = "created[lte]")]
        created_lte: i64,
        limit: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        starting_after: Option<String>,
    }
    /// Pages read at most: a customer's automatic top-ups and top-ups of a day or so.
    const PAGES: usize = 20;
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..PAGES {
        let query = Query {
            customer,
            created_gte: since,
            created_lte: until,
            limit: 100,
            starting_after: after.take(),
        };
        let page: Page = timed(client(config).get_query("/payment_intents", &query)).await?;
        after = page
            .data
            .last()
            .and_then(|o| o["id"].as_str())
            .map(str::to_owned);
        for o in page.data {
            let auto_top_up = o["metadata"]["auto_top_up_id"]
                .as_str()
                .and_then(|v| v.parse().ok());
            let read = events::payment_intent(o)
                .map_err(|_| StripeCallError::Unexpected("a PaymentIntent the app can read"))?;
            all.push((auto_top_up, read));
        }
        if !page.has_more {
            return Ok(all);
        }
        if after.is_none() {
            break;
        }
    }
    // Not all of them: what is missing cannot be told from what is not there.
    Err(StripeCallError::Unexpected(
        "more PaymentIntents in that time than the app reads",
    ))
}
