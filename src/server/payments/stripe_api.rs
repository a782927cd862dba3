//! Calls to Stripe's API through async-stripe.

use crate::domain::catalog::TopUpPack;
use crate::domain::credits::group_thousands;
use crate::server::config::StripeConfig;
use serde::Deserialize;
use std::time::Duration;
use stripe::{
    CheckoutSessionMode, Client, CreateCheckoutSession, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataProductData,
    Currency, Metadata, RequestStrategy,
};

/// How long a call to Stripe may take before the customer is told to try again.
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum StripeCallError {
    #[error("stripe: {0}")]
    Stripe(#[from] stripe::StripeError),
    #[error("stripe did not answer within {0:?}")]
    Timeout(Duration),
    #[error("stripe answered without a checkout url")]
    NoUrl,
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
    params.customer_email = Some(s.customer_email);
    params.metadata = Some(Metadata::from([
        ("account_id".to_owned(), account.clone()),
        ("pack_id".to_owned(), s.pack.id.as_str().to_owned()),
        ("credits".to_owned(), s.pack.credits.get().to_string()),
    ]));
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
    let url = created.url.ok_or(StripeCallError::NoUrl)?;
    Ok((created.id, url))
}
