//! Forms, and what they did.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use serde::de::DeserializeOwned;

/// The server action behind a form. Pages are rendered on the server only (islands), so a
/// form is posted as a plain form and the page comes back; on that page this action's
/// value is what the post did: its error (`ServerActionError`) or, when it succeeded, the
/// result it handed back (`api::hand_back`).
pub fn form_action<S>() -> ServerAction<S>
where
    S: ServerFn + Send + Sync + Clone + 'static,
    S::Output: DeserializeOwned + Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let action = ServerAction::<S>::new();
    if let Some(done) = use_context::<crate::model::forms::FormResult>()
        && done.path == S::PATH
        && let Ok(output) = serde_json::from_str::<S::Output>(&done.json)
    {
        action.value().set(Some(Ok(output)));
    }
    action
}
