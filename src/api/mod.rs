//! Server functions, grouped by page. Each one decides who may call it, parses its input,
//! calls a service and maps the error; nothing else.

pub mod faq;

/// Sets the HTTP status of a failed server function from its error.
#[cfg(feature = "ssr")]
pub(crate) fn respond<T>(
    result: Result<T, crate::error::AppError>,
) -> Result<T, crate::error::AppError> {
    if let Err(e) = &result
        && let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = axum::http::StatusCode::from_u16(e.status())
    {
        options.set_status(status);
    }
    result
}
