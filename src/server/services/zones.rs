//! The reader's time zone: a profile setting on the user, remembered in the browser by a
//! cookie so every page can use it (`server::zones`).

use crate::error::AppError;
use crate::server::config::Mode;
use crate::server::db::users::{self, User};
use crate::server::error::internal;
use crate::server::state::AppState;
use crate::server::zones;

/// What failed, in the log.
const CONTEXT: &str = "time zone";

/// The `Set-Cookie` value that makes this browser show times in `zone`.
pub fn cookie(state: &AppState, zone: &str) -> String {
    zones::cookie(zone, state.config.mode == Mode::Production)
}

/// The canonical name of `zone`, or a 400 that says what to pick. UTC's other names (a
/// browser on a server may say `Etc/UTC`) are UTC.
fn known(zone: &str) -> Result<String, AppError> {
    const UTC_ALIASES: &[&str] = &[
        "Etc/UTC",
        "Etc/UCT",
        "Etc/Universal",
        "Etc/Zulu",
        "UCT",
        "Universal",
        "Zulu",
    ];
    zones::parse(zone)
        .map(|tz| tz.name())
        .map(|name| {
            if UTC_ALIASES.contains(&name) {
                "UTC"
            } else {
                name
            }
            .to_owned()
        })
        .ok_or_else(|| AppError::bad_request("Pick a time zone from the list."))
}

/// The reader's choice: stored on the user; returns the zone's name.
pub async fn choose(state: &AppState, user: &User, zone: &str) -> Result<String, AppError> {
    let zone = known(zone)?;
    users::set_time_zone(&state.db, user.id, &zone, false)
        .await
        .map_err(internal(CONTEXT))?;
    Ok(zone)
}

/// The browser's own zone, offered once when the page names none: it becomes a signed-in
/// reader's setting if they have none (never over a choice). Returns the zone the reader
/// reads in now; `None` when the browser named no zone the tz database knows.
pub async fn offer(
    state: &AppState,
    user: Option<&User>,
    zone: &str,
) -> Result<Option<String>, AppError> {
    let Ok(zone) = known(zone) else {
        return Ok(None);
    };
    match user {
        Some(user) => users::set_time_zone(&state.db, user.id, &zone, true)
            .await
            .map_err(internal(CONTEXT)),
        None => Ok(Some(zone)),
    }
}

/// The zone `user` chose, if any.
pub async fn saved(state: &AppState, user: &User) -> Result<Option<String>, AppError> {
    users::time_zone(&state.db, user.id)
        .await
        .map_err(internal(CONTEXT))
}

/// After signing in (or up): the zone to remember in this browser. The one the user chose;
/// for one who has none, the zone this browser was showing (`browser`, the browser app
/// offered its own), which becomes their setting. `None`: nothing to remember.
pub async fn after_sign_in(
    state: &AppState,
    user: &User,
    browser: Option<&str>,
) -> Result<Option<String>, AppError> {
    match (saved(state, user).await?, browser) {
        (Some(zone), _) => Ok(Some(zone)),
        (None, Some(browser)) => offer(state, Some(user), browser).await,
        (None, None) => Ok(None),
    }
}

/// Every zone name, for the setting's list.
pub fn names() -> Vec<String> {
    zones::names().iter().map(|n| (*n).to_owned()).collect()
}
