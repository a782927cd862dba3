//! The one error type that crosses server functions and the JSON API.
//!
//! Every variant's message is written for a person. Infrastructure failures become
//! [`AppError::Internal`]: they are logged with their context on the server, and only a
//! generic message reaches the browser.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// The `id` of the element that shows a form's error, so a form posted without JavaScript
/// comes back at `#form-error`, at the form, not at the top of the page.
pub const FORM_ERROR_ANCHOR: &str = "form-error";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AppError {
    /// 400: the request was malformed or a value was out of range.
    #[error("{message}")]
    BadRequest { message: String },
    /// 401: nobody is signed in, or the credentials are missing or wrong.
    #[error("Please sign in to continue.")]
    Unauthorized,
    /// 401: the e-mail and password given do not match (said without telling which).
    #[error("{message}")]
    Unauthenticated { message: String },
    /// 402: the balance cannot cover the operation (P10). Nothing was reserved or charged.
    #[error(
        "This needs {needed} credits but only {available} are available. {}",
        if *auto_top_up_coming {
            "An automatic top-up is being bought: try again in a minute.".to_owned()
        } else {
            format!(
                "Buy a top-up now, or wait for your credits to renew{}.",
                renews_on.as_deref().map(|d| format!(" on {d}")).unwrap_or_default()
            )
        }
    )]
    InsufficientCredits {
        needed: u64,
        available: u64,
        /// An automatic top-up (P16) is being charged: the credits are on their way, so
        /// the caller may try again shortly.
        #[serde(default)]
        auto_top_up_coming: bool,
        /// The next renewal, as an RFC 3339 instant.
        renews_at: Option<String>,
        /// The renewal date as people read it, e.g. `1 December 2026`.
        renews_on: Option<String>,
        /// Where to buy a top-up.
        top_up_url: String,
    },
    /// 403: signed in, but this is not yours to see or change.
    #[error("You don't have access to this.")]
    Forbidden,
    /// 403: the service token is valid but was not given the scope this call needs.
    #[error(
        "This service token may not do this: it needs the `{scope}` scope. Ask the operator for a token with it (studio-billing token create --scopes {scope})."
    )]
    MissingScope { scope: String },
    /// 403: a support user tried to approve their own large adjustment.
    #[error("Another support user must approve this adjustment: you asked for it.")]
    SecondApprovalNeeded,
    /// 403: a change was sent from another site.
    #[error(
        "This request came from another site and was refused. Open the page in Studio Billing and try again."
    )]
    CrossSite,
    /// 403: the customer's plan has ended; generations wait for a new plan (P13). Nothing
    /// the customer made is touched (P11).
    #[error("{message}")]
    PlanEnded { message: String },
    /// 404: the thing asked for does not exist (or is not visible to the caller).
    #[error("{what} was not found.")]
    NotFound { what: String },
    /// 409: the request conflicts with what is already there.
    #[error("{message}")]
    Conflict { message: String },
    /// 413: the request body is too large.
    #[error("The request is too large.")]
    PayloadTooLarge,
    /// 429: too many attempts; try again later.
    #[error("Too many attempts. Please try again in {retry_after_secs} seconds.")]
    TooManyRequests { retry_after_secs: u64 },
    /// 402: the payment provider refused the customer's card. Nothing changed; `message`
    /// is the provider's, written for the customer, and the way to fix the card follows.
    #[error(
        "{message} Your plan has not changed and nothing was charged. Update your payment method, then try again."
    )]
    CardDeclined { message: String },
    /// 504: the payment provider did not answer a change in time; it may have gone through.
    #[error(
        "Our payment provider did not answer in time, so we can't tell yet whether the change went through. Reload the page in a minute before trying again."
    )]
    PaymentProviderTimeout,
    /// 502: the payment provider could not be reached or refused the request.
    #[error(
        "We couldn't start the payment with our payment provider. Nothing was charged; please try again in a minute."
    )]
    PaymentProvider,
    /// 500: something failed on the server. The details are in the server's log only.
    #[error(
        "Something went wrong on our side. Please try again; if it keeps happening, contact support."
    )]
    Internal,
    /// The browser could not reach the server (never produced by the server itself).
    #[error("We couldn't reach the server. Check your connection and try again.")]
    Unreachable,
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound { what: what.into() }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest { .. } => 400,
            AppError::Unauthorized | AppError::Unauthenticated { .. } => 401,
            AppError::InsufficientCredits { .. } | AppError::CardDeclined { .. } => 402,
            AppError::Forbidden
            | AppError::MissingScope { .. }
            | AppError::SecondApprovalNeeded
            | AppError::CrossSite
            | AppError::PlanEnded { .. } => 403,
            AppError::NotFound { .. } => 404,
            AppError::Conflict { .. } => 409,
            AppError::PayloadTooLarge => 413,
            AppError::TooManyRequests { .. } => 429,
            AppError::Internal => 500,
            AppError::PaymentProvider => 502,
            AppError::PaymentProviderTimeout => 504,
            AppError::Unreachable => 503,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Unreachable,
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                AppError::bad_request("Some of the information sent was missing or not valid.")
            }
            // On the server this is the request body that could not be read: too large
            // (the body limit), or not what a form or JSON body is. The client's own
            // failure to read a response stays internal.
            ServerFnErrorErr::Deserialization(why) if cfg!(feature = "ssr") => {
                if why.contains("length limit exceeded") {
                    AppError::PayloadTooLarge
                } else {
                    AppError::bad_request("The information sent could not be read.")
                }
            }
            ServerFnErrorErr::UnsupportedRequestMethod(_) if cfg!(feature = "ssr") => {
                AppError::bad_request("This address takes a form sent with POST.")
            }
            ServerFnErrorErr::Registration(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_)
            | ServerFnErrorErr::ServerError(_)
            | ServerFnErrorErr::MiddlewareError(_)
            | ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::Serialization(_) => AppError::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialize_with_a_code_and_never_carry_internal_text() {
        let json = serde_json::to_value(AppError::Internal).unwrap();
        assert_eq!(json, serde_json::json!({ "code": "internal" }));
        let json = serde_json::to_value(AppError::bad_request("Amount must be positive.")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "code": "bad_request", "message": "Amount must be positive." })
        );
    }

    #[test]
    fn server_side_failures_become_a_generic_internal_error() {
        let e = AppError::from_server_fn_error(ServerFnErrorErr::ServerError(
            "relation \"x\" does not exist".into(),
        ));
        assert_eq!(e, AppError::Internal);
        assert!(!e.to_string().contains("relation"));
    }
}
