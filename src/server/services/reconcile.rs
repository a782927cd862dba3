//! `studio-billing stripe reconcile`: Stripe's money against the ledger's credits over a
//! window. Every paid top-up checkout, every paid subscription invoice and every paid
//! automatic top-up (an off-session PaymentIntent) of the app's customers must have granted
//! its credits exactly once, and every top-up or subscription
//! grant must have a paid payment behind it. Without Stripe keys the local test payments
//! are checked the same way.

use crate::domain::payments::Provider;
use crate::server::config::StripeConfig;
use crate::server::db::{Db, payments, reconcile as store};
use crate::server::payments::events::{self, InvoiceOutcome};
use crate::server::payments::stripe_api::{StripeCallError, client, timed};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Stripe lists objects from this long before the window, so a payment whose row was
/// written late (a retried invoice, a delayed bank debit) is still found.
const LOOKBACK_SECS: i64 = 7 * 86_400;

/// One way money and credits disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// Paid in Stripe (or recorded as paid locally) and no credits granted for it.
    MissingGrant {
        payment: String,
        account: Option<i64>,
        why: String,
    },
    /// A second grant for a payment that already granted its credits.
    DoubleGrant {
        payment: String,
        account: i64,
        grant_id: i64,
    },
    /// Credits granted with no paid payment behind them.
    GrantWithoutPayment {
        account: i64,
        grant_id: i64,
        amount: i64,
        reason: String,
    },
    /// The ledger has a paid Stripe payment that Stripe does not list as paid.
    NotPaidInStripe { payment: String, account: i64 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checked_payments: usize,
    pub checked_grants: usize,
    pub differences: Vec<Difference>,
}

impl Report {
    /// The differences as a table, with a summary line.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "checked {} paid payment(s) and {} grant(s): {} difference(s)",
            self.checked_payments,
            self.checked_grants,
            self.differences.len()
        );
        if self.differences.is_empty() {
            return out;
        }
        let _ = writeln!(
            out,
            "{:<22} {:<32} {:>8}  detail",
            "difference", "payment / grant", "account"
        );
        for d in &self.differences {
            let (what, id, account, detail) = match d {
                Difference::MissingGrant {
                    payment,
                    account,
                    why,
                } => (
                    "missing grant",
                    payment.clone(),
                    account.map_or("?".to_owned(), |a| a.to_string()),
                    why.clone(),
                ),
                Difference::DoubleGrant {
                    payment,
                    account,
                    grant_id,
                } => (
                    "double grant",
                    payment.clone(),
                    account.to_string(),
                    format!("grant {grant_id} repeats this payment's credits"),
                ),
                Difference::GrantWithoutPayment {
                    account,
                    grant_id,
                    amount,
                    reason,
                } => (
                    "grant without payment",
                    format!("grant {grant_id}"),
                    account.to_string(),
                    format!("{amount} credits: {reason}"),
                ),
                Difference::NotPaidInStripe { payment, account } => (
                    "not paid in Stripe",
                    payment.clone(),
                    account.to_string(),
                    "recorded as paid here; Stripe does not list it as paid".to_owned(),
                ),
            };
            let _ = writeln!(out, "{what:<22} {id:<32} {account:>8}  {detail}");
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Payments(#[from] payments::PaymentsError),
    #[error("Stripe listed something the app cannot read: {0}")]
    Shape(String),
}

#[derive(Serialize)]
struct Created {
    gte: i64,
    lte: i64,
}

#[derive(Serialize)]
struct ListQuery<'a> {
    created: Created,
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    starting_after: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    data: Vec<serde_json::Value>,
    #[serde(default)]
    has_more: bool,
}

/// Every object of a Stripe list in the window, page by page.
async fn list_all(
    config: &StripeConfig,
    path: &str,
    status: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Vec<serde_json::Value>, StripeCallError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let query = ListQuery {
            created: Created { gte: from, lte: to },
            limit: 100,
            status,
            starting_after: after.take(),
        };
        let page: Page = timed(client(config).get_query(path, &query)).await?;
        all.extend(page.data);
        match all.last().and_then(|o| o["id"].as_str()) {
            Some(last) if page.has_more => after = Some(last.to_owned()),
            _ => return Ok(all),
        }
    }
}

/// Grants that no paid payment claims: a second grant naming a payment that already has
/// its own (a double grant), or credits with nothing behind them.
fn unclaimed(
    grants: &[store::MoneyGrant],
    granted_payments: &HashMap<i64, String>,
) -> Vec<Difference> {
    grants
        .iter()
        .filter(|g| g.payment.is_none())
        .map(|g| {
            let repeats = granted_payments
                .values()
                .find(|p| g.reason.contains(p.as_str()));
            match repeats {
                Some(p) => Difference::DoubleGrant {
                    payment: p.clone(),
                    account: g.account_id,
                    grant_id: g.grant_id,
                },
                None => Difference::GrantWithoutPayment {
                    account: g.account_id,
                    grant_id: g.grant_id,
                    amount: g.amount,
                    reason: g.reason.clone(),
                },
            }
        })
        .collect()
}

/// The money grants of `[from, to]` against the paid payments `recorded`: each must be one
/// payment's grant.
async fn check_grants(
    db: &Db,
    recorded: &[store::PaidPayment],
    from: i64,
    to: i64,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    let granted: HashMap<i64, String> = recorded
        .iter()
        .filter_map(|p| p.grant_id.map(|g| (g, p.external_id.clone())))
        .collect();
    let grants = store::money_grants(db, from, to).await?;
    report.checked_grants = grants.len();
    report.differences.extend(unclaimed(&grants, &granted));
    Ok(())
}

/// Stripe against the ledger over `[from, to]`.
pub async fn with_stripe(
    config: &StripeConfig,
    db: &Db,
    from: i64,
    to: i64,
) -> Result<Report, ReconcileError> {
    let mut report = Report::default();
    let customers: HashMap<String, i64> = store::stripe_customers(db).await?.into_iter().collect();
    let mut paid_in_stripe: HashSet<String> = HashSet::new();

    // Top-ups: paid Checkout Sessions in payment mode that the app started.
    for v in list_all(config, "/checkout/sessions", None, from - LOOKBACK_SECS, to).await? {
        let s = events::listed_session(v).map_err(|e| ReconcileError::Shape(e.to_string()))?;
        if !s.paid || !s.ours || s.mode.as_deref() != Some("payment") {
            continue;
        }
        let (id, account) = (s.id.as_str(), s.account_id);
        paid_in_stripe.insert(s.id.clone());
        report.checked_payments += 1;
        match payments::by_external_id(db, id).await? {
            Some(p) if p.grant_id.is_some() => {}
            Some(p) => report.differences.push(Difference::MissingGrant {
                payment: id.to_owned(),
                account: Some(p.account_id),
                why: format!("paid in Stripe; recorded here as {}", p.status.as_str()),
            }),
            None => report.differences.push(Difference::MissingGrant {
                payment: id.to_owned(),
                account,
                why: "paid in Stripe; no checkout of that id on record".to_owned(),
            }),
        }
    }

    // Plans: paid invoices of the app's customers.
    for v in list_all(config, "/invoices", Some("paid"), from - LOOKBACK_SECS, to).await? {
        let inv = events::invoice(v, InvoiceOutcome::Paid)
            .map_err(|e| ReconcileError::Shape(e.to_string()))?;
        let Some(&account) = customers.get(&inv.customer) else {
            continue;
        };
        if inv.subscription.is_none() {
            continue;
        }
        paid_in_stripe.insert(inv.id.clone());
        report.checked_payments += 1;
        // A period's invoice always grants; one of prorations grants when it upgraded.
        let grants = inv.period_line().is_some()
            || (inv.prorations().any(|l| l.amount > 0) && inv.prorations().any(|l| l.amount < 0));
        match payments::by_external_id(db, &inv.id).await? {
            Some(p) if p.grant_id.is_some() || !grants => {}
            Some(_) => report.differences.push(Difference::MissingGrant {
                payment: inv.id.clone(),
                account: Some(account),
                why: "a paid invoice whose credits were not granted".to_owned(),
            }),
            None => report.differences.push(Difference::MissingGrant {
                payment: inv.id.clone(),
                account: Some(account),
                why: "paid in Stripe; its invoice event was never applied here".to_owned(),
            }),
        }
    }

    // Automatic top-ups (P16): the app's off-session PaymentIntents that succeeded.
    for v in list_all(config, "/payment_intents", None, from - LOOKBACK_SECS, to).await? {
        let pi = events::payment_intent(v).map_err(|e| ReconcileError::Shape(e.to_string()))?;
        let Some(pi) = pi.filter(|pi| {
            pi.auto_top_up.is_some() && pi.outcome == events::PaymentIntentOutcome::Succeeded
        }) else {
            continue;
        };
        let Some(&account) = pi.customer.as_ref().and_then(|c| customers.get(c)) else {
            continue;
        };
        paid_in_stripe.insert(pi.id.clone());
        report.checked_payments += 1;
        match payments::by_external_id(db, &pi.id).await? {
            Some(p) if p.grant_id.is_some() => {}
            _ => report.differences.push(Difference::MissingGrant {
                payment: pi.id.clone(),
                account: Some(account),
                why: "an automatic top-up paid in Stripe; its credits were not granted here"
                    .to_owned(),
            }),
        }
    }

    let recorded = store::paid_payments(db, from, to).await?;
    for p in recorded
        .iter()
        .filter(|p| p.provider == Provider::Stripe.as_str())
    {
        if !paid_in_stripe.contains(&p.external_id) {
            report.differences.push(Difference::NotPaidInStripe {
                payment: p.external_id.clone(),
                account: p.account_id,
            });
        }
    }
    check_grants(db, &recorded, from, to, &mut report).await?;
    Ok(report)
}

/// The local test payments against the ledger over `[from, to]` (no Stripe keys).
pub async fn local(db: &Db, from: i64, to: i64) -> Result<Report, ReconcileError> {
    let mut report = Report::default();
    let recorded = store::paid_payments(db, from - LOOKBACK_SECS, to).await?;
    for p in recorded
        .iter()
        .filter(|p| p.provider == Provider::Local.as_str())
    {
        report.checked_payments += 1;
        if p.grant_id.is_none() {
            report.differences.push(Difference::MissingGrant {
                payment: p.external_id.clone(),
                account: Some(p.account_id),
                why: "recorded as paid; no credits granted".to_owned(),
            });
        }
    }
    check_grants(db, &recorded, from, to, &mut report).await?;
    Ok(report)
}
