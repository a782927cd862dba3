//! Infrastructure failures (storage, a corrupt row) become [`AppError::Internal`] here,
//! once: logged on the server with what was being done, and only a generic message for
//! the browser (`crate::error` keeps the text from ever serialising).

use crate::error::AppError;

/// `map_err(internal("top-up"))`: logs the failure with its context and answers
/// [`AppError::Internal`].
pub fn internal<E: std::fmt::Display>(context: &'static str) -> impl FnOnce(E) -> AppError {
    move |e| {
        tracing::error!(error = %e, context, "internal error");
        AppError::Internal
    }
}
