//! The facts the FAQ quotes, taken from configuration.

use crate::domain::faq::FaqFacts;
use crate::server::config::Config;

pub fn facts(config: &Config) -> FaqFacts {
    FaqFacts {
        support_email: config.support_email.clone(),
        catalog: config.catalog.clone(),
        capture_tolerance_percent: config.capture_tolerance_percent,
        auto_top_up_attempts: config.auto_top_up_attempts,
    }
}
