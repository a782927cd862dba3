//! The facts the FAQ quotes, taken from configuration.

use crate::domain::faq::FaqFacts;
use crate::server::config::Config;

pub fn facts(config: &Config) -> FaqFacts {
    FaqFacts {
        support_email: config.support_email.clone(),
        catalog: config.catalog.clone(),
    }
}
