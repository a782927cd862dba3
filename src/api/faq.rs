use crate::domain::faq::FaqFacts;
use crate::error::AppError;
use leptos::prelude::*;

/// The configured facts the FAQ quotes. Public: it reveals only published configuration.
#[server(endpoint = "faq/facts")]
pub async fn get_faq_facts() -> Result<FaqFacts, AppError> {
    let facts = crate::server::state::app_state()
        .map(|state| crate::server::services::faq::facts(&state.config));
    crate::api::respond(facts)
}
