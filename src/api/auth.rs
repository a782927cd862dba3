//! Sign-up, sign-in, sign-out and who is signed in.

use crate::domain::account::Viewer;
use crate::error::AppError;
use leptos::prelude::*;

/// Creates a customer account and signs it in. Public: anyone may sign up.
#[server(endpoint = "auth/sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let user =
                auth::sign_up(&state, &email, &password, &crate::api::client_address()).await?;
            auth::set_cookie(&auth::start_session(&state, &user).await?);
            adopt_time_zone(&state, &user).await?;
            leptos_axum::redirect("/subscription");
            Ok(())
        }
        .await,
    )
}

/// After signing in (or up): times in the zone the user chose; one who has none takes
/// the zone this browser was showing (the browser app offered its own).
#[cfg(feature = "ssr")]
async fn adopt_time_zone(
    state: &crate::server::state::AppState,
    user: &crate::server::db::users::User,
) -> Result<(), AppError> {
    use crate::server::{auth, services::zones};
    let browser = auth::cookie_value(&auth::request_headers()?, crate::server::zones::COOKIE);
    if let Some(zone) = zones::after_sign_in(state, user, browser.as_deref()).await? {
        auth::set_cookie(&zones::cookie(state, &zone));
    }
    Ok(())
}

/// Signs in with an e-mail and password. Public; slowed down after repeated failures.
#[server(endpoint = "auth/sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use crate::domain::account::Role;
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let user =
                auth::sign_in(&state, &email, &password, &crate::api::client_address()).await?;
            auth::set_cookie(&auth::start_session(&state, &user).await?);
            adopt_time_zone(&state, &user).await?;
            leptos_axum::redirect(match user.role {
                Role::Customer => "/subscription",
                Role::Support => "/support",
            });
            Ok(())
        }
        .await,
    )
}

/// Ends the session on the server and clears the cookie. Anyone may call it; without a
/// session it only clears the cookie.
#[server(endpoint = "auth/sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::set_cookie(&auth::end_session(&state, &auth::request_headers()?).await?);
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Who is signed in, if anyone. Public: it only ever describes the caller.
#[server(endpoint = "auth/viewer")]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let user = auth::current_user(&state).await?;
            Ok(user.map(|u| Viewer {
                email: u.email,
                role: u.role,
            }))
        }
        .await,
    )
}

/// The demo credentials, shown on the sign-in page in demo mode only. Public.
#[server(endpoint = "auth/demo_credentials")]
pub async fn demo_credentials() -> Result<Option<(String, String)>, AppError> {
    use crate::server::{config::Mode, seed, state::app_state};
    crate::api::respond(app_state().map(|state| {
        (state.config.mode == Mode::Demo).then(|| {
            (
                seed::DEMO_CUSTOMER_EMAIL.to_owned(),
                seed::DEMO_PASSWORD.to_owned(),
            )
        })
    }))
}
