//! What a form post did, handed from the post to the page it returns to.

/// The result of the last form post that succeeded, for the page it returned to: the
/// server function's path and its output as JSON (see `server::form_errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormResult {
    pub path: String,
    pub json: String,
}
