//! The signed-in customer's own account.

use crate::error::AppError;
pub use crate::model::account::*;
use leptos::prelude::*;

/// The caller's balance and latest journal entries. Customers only, their own account.
#[server(endpoint = "account/mine")]
pub async fn my_account() -> Result<AccountOverview, AppError> {
    use crate::domain::ledger::JournalEntry;
    use crate::server::{auth, services::usage, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (user, account) = auth::require_customer(&state).await?;
            let balance = usage::balance(&state, account).await?;
            let recent = usage::journal(&state, account, None, 10)
                .await?
                .into_iter()
                .map(JournalEntry::for_customer)
                .collect();
            Ok(AccountOverview {
                email: user.email,
                balance,
                recent,
            })
        }
        .await,
    )
}

/// The caller's time zone setting. Anyone signed in.
#[server(endpoint = "account/time_zone")]
pub async fn my_time_zone() -> Result<TimeZoneSetting, AppError> {
    use crate::server::{auth, services::zones, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let user = auth::require_user(&state).await?;
            Ok(TimeZoneSetting {
                chosen: zones::saved(&state, &user).await?,
                names: zones::names(),
            })
        }
        .await,
    )
}

/// Sets the caller's time zone (an IANA name from the list) and shows times in it from
/// now on; back to `/account#time-zone`, so it works without JavaScript. Anyone signed in.
#[server(endpoint = "account/set_time_zone")]
pub async fn set_time_zone(zone: String) -> Result<String, AppError> {
    use crate::server::{auth, services::zones, state::app_state};
    crate::api::respond_form::<SetTimeZone>(
        async {
            let state = app_state()?;
            let user = auth::require_user(&state).await?;
            let zone = zones::choose(&state, &user, &zone).await?;
            auth::set_cookie(&zones::cookie(&state, &zone));
            leptos_axum::redirect("/account#time-zone");
            Ok(format!("Times are now shown in {zone}."))
        }
        .await,
    )
}

/// The browser's own time zone, offered by the browser app when a page names none: the
/// setting of a signed-in caller who has none, and this browser's from now on. Answers the
/// zone times are read in now (`None`: the browser's zone is not one the app knows).
/// Anyone, signed in or not.
#[server(endpoint = "account/browser_time_zone")]
pub async fn browser_time_zone(zone: String) -> Result<Option<String>, AppError> {
    use crate::server::{auth, services::zones, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let user = auth::current_user(&state).await?;
            let now = zones::offer(&state, user.as_ref(), &zone).await?;
            if let Some(now) = &now {
                auth::set_cookie(&zones::cookie(&state, now));
            }
            Ok(now)
        }
        .await,
    )
}
