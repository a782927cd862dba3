//! What the product sells: the plans, and the price book for operations. Loaded from
//! configuration on the server; the types are shared with the browser.

use crate::domain::credits::Credits;
use crate::domain::pricing::{PriceBook, PriceBookError};
use serde::{Deserialize, Serialize};

/// A plan's stable identifier: lowercase letters, digits and `-`, e.g. `creator`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlanId(String);

impl PlanId {
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(PlanId(raw.to_owned()))
        } else {
            Err(CatalogError::BadPlanId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PlanId {
    type Error = CatalogError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        PlanId::parse(&raw)
    }
}

impl From<PlanId> for String {
    fn from(id: PlanId) -> String {
        id.0
    }
}

/// A subscription tier. Prices are in the smallest currency unit (cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub monthly_price_cents: u64,
    pub credits_per_period: Credits,
    pub grace_period_days: u32,
    #[serde(default)]
    pub stripe_price_id: Option<String>,
}

impl Plan {
    /// The id of the plan's product in Stripe (`stripe setup` makes it with this id), so a
    /// price of the plan is known by its product, even one made before a price change.
    pub fn stripe_product_id(&self) -> String {
        format!("studio_billing_{}", self.id.as_str())
    }
}

/// A pack of top-up credits sold for a one-time payment. Top-up credits never expire (P4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpPack {
    /// Stable identifier, same rules as a plan id, e.g. `medium`.
    pub id: PlanId,
    pub credits: Credits,
    pub price_cents: u64,
}

/// The plans, cheapest first, the top-up packs, smallest first, and the price book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub plans: Vec<Plan>,
    #[serde(default)]
    pub top_ups: Vec<TopUpPack>,
    pub price_book: PriceBook,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("plan id {0:?} must be 1-32 lowercase letters, digits or dashes")]
    BadPlanId(String),
    #[error("the catalog has no plans")]
    NoPlans,
    #[error("plan {0:?} appears twice")]
    DuplicatePlan(String),
    #[error("plan {0:?} must include at least one credit per period")]
    NoCredits(String),
    #[error("plans must be listed cheapest first; {0:?} is out of order")]
    Unordered(String),
    #[error("top-up pack {0:?} appears twice")]
    DuplicatePack(String),
    #[error("top-up pack {0:?} must have credits and a price")]
    EmptyPack(String),
    #[error(transparent)]
    PriceBook(#[from] PriceBookError),
}

impl Catalog {
    pub fn validate(&self) -> Result<(), CatalogError> {
        if self.plans.is_empty() {
            return Err(CatalogError::NoPlans);
        }
        for (i, plan) in self.plans.iter().enumerate() {
            if self.plans[..i].iter().any(|p| p.id == plan.id) {
                return Err(CatalogError::DuplicatePlan(plan.id.as_str().to_owned()));
            }
            if plan.credits_per_period.is_zero() {
                return Err(CatalogError::NoCredits(plan.id.as_str().to_owned()));
            }
            if i > 0 && self.plans[i - 1].monthly_price_cents > plan.monthly_price_cents {
                return Err(CatalogError::Unordered(plan.id.as_str().to_owned()));
            }
        }
        for (i, pack) in self.top_ups.iter().enumerate() {
            if self.top_ups[..i].iter().any(|p| p.id == pack.id) {
                return Err(CatalogError::DuplicatePack(pack.id.as_str().to_owned()));
            }
            if pack.credits.is_zero() || pack.price_cents == 0 {
                return Err(CatalogError::EmptyPack(pack.id.as_str().to_owned()));
            }
        }
        self.price_book.validate()?;
        Ok(())
    }

    pub fn plan(&self, id: &PlanId) -> Option<&Plan> {
        self.plans.iter().find(|p| &p.id == id)
    }

    /// The plan sold under a Stripe price (or legacy plan) id.
    pub fn plan_by_stripe_price(&self, price: &str) -> Option<&Plan> {
        self.plans
            .iter()
            .find(|p| p.stripe_price_id.as_deref() == Some(price))
    }

    pub fn plan_by_stripe_product(&self, product: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.stripe_product_id() == product)
    }

    pub fn top_up(&self, id: &str) -> Option<&TopUpPack> {
        self.top_ups.iter().find(|p| p.id.as_str() == id)
    }
}

/// `2900` -> `"$29"`, `950` -> `"$9.50"`.
pub fn format_usd(cents: u64) -> String {
    let (dollars, rest) = (cents / 100, cents % 100);
    let dollars = crate::domain::credits::group_thousands(dollars);
    if rest == 0 {
        format!("${dollars}")
    } else {
        format!("${dollars}.{rest:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_ids_are_slugs() {
        assert!(PlanId::parse("creator").is_ok());
        assert!(PlanId::parse("pro-2").is_ok());
        assert!(PlanId::parse("").is_err());
        assert!(PlanId::parse("Creator").is_err());
        assert!(PlanId::parse("a b").is_err());
    }

    #[test]
    fn prices_format_as_dollars() {
        assert_eq!(format_usd(2900), "$29");
        assert_eq!(format_usd(950), "$9.50");
        assert_eq!(format_usd(123_456), "$1,234.56");
    }
}
