//! Who is asking: passwords, sessions and the guards every server function calls first.
//!
//! A guard returns the caller or an error; it never redirects and carries on.

use crate::domain::account::{Email, Role, check_new_password};
use crate::error::AppError;
use crate::server::config::Mode;
use crate::server::db::users::{self, User, UserError};
use crate::server::error::internal;
use crate::server::state::AppState;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header::{COOKIE, SET_COOKIE};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "sb_session";
/// How long a session lasts after sign-in.
pub const SESSION_TTL_SECS: i64 = 14 * 24 * 3600;
/// Failed sign-ins are counted over this window.
pub const FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// Failed sign-ins allowed within the window: per e-mail from one address (the usual
/// limit), per address, and per e-mail from anywhere. Only attempts whose password was
/// checked count (a refused attempt writes nothing), so one address adds at most
/// `MAX_FAILURES_PER_EMAIL` to the last count: guessing from one address never stops the
/// owner signing in from another, and guessing spread over many still meets a ceiling.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const MAX_FAILURES_PER_EMAIL_ANYWHERE: i64 = 50;

/// Hashes a password with argon2id, off the async runtime.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt =
            SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(internal("password hashing task"))?
    .map_err(internal("password hashing"))
}

/// Checks a password against a stored hash (or, for an unknown e-mail, against a hash no
/// password matches, so both take as long), off the async runtime.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let stored: &str = match &hash {
            Some(h) => h,
            None => dummy_hash(),
        };
        // `!` marks a disabled password (so did the purge of earlier versions): it never
        // matches.
        if stored.starts_with('!') {
            return Ok(false);
        }
        let parsed = PasswordHash::new(stored).map_err(|e| e.to_string())?;
        Ok::<bool, String>(
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
        )
    })
    .await
    .map_err(internal("password check task"))?
    .map_err(internal("stored password hash"))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// The signed-in user of a request, if any.
pub async fn user_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<User>, AppError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    // Sessions and sign-in limits run on real time: moving the demo clock (to show a
    // renewal) signs nobody out.
    users::session_user(&state.db, &token_hash(&token), state.clock.wall())
        .await
        .map_err(internal("session look-up"))
}

/// A `Set-Cookie` value for the app's own cookies: the whole site, never readable by
/// scripts, sent on top-level navigation from other sites (a link) but not on their posts,
/// and only over HTTPS when `secure` (production). `max_age` 0 removes it.
pub fn set_cookie_value(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that starts a session (a new id on every sign-in).
fn session_cookie(state: &AppState, token: &str) -> String {
    set_cookie_value(
        SESSION_COOKIE,
        token,
        SESSION_TTL_SECS,
        state.config.mode == Mode::Production,
    )
}

fn clear_cookie(state: &AppState) -> String {
    set_cookie_value(SESSION_COOKIE, "", 0, state.config.mode == Mode::Production)
}

/// Starts a session for `user`; returns the `Set-Cookie` header value.
pub async fn start_session(state: &AppState, user: &User) -> Result<String, AppError> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let now = state.clock.wall();
    users::create_session(
        &state.db,
        &token_hash(&token),
        user.id,
        now,
        now + SESSION_TTL_SECS,
    )
    .await
    .map_err(internal("session insert"))?;
    Ok(session_cookie(state, &token))
}

/// Ends the request's session on the server; returns the `Set-Cookie` that clears it.
pub async fn end_session(state: &AppState, headers: &HeaderMap) -> Result<String, AppError> {
    if let Some(token) = session_token(headers) {
        users::delete_session(&state.db, &token_hash(&token))
            .await
            .map_err(internal("session delete"))?;
    }
    Ok(clear_cookie(state))
}

/// Creates a customer account and its user.
pub async fn sign_up(
    state: &AppState,
    email: &str,
    password: &str,
    client: &str,
) -> Result<User, AppError> {
    let email = Email::parse(email).map_err(|e| AppError::bad_request(e.to_string()))?;
    check_new_password(password).map_err(|e| AppError::bad_request(e.to_string()))?;
    let signups = [(format!("signup:{client}"), MAX_SIGN_UPS_PER_ADDRESS)];
    limit_attempts(state, &signups, state.clock.wall()).await?;
    let hash = hash_password(password.to_owned()).await?;
    users::create(
        &state.db,
        &email,
        &hash,
        Role::Customer,
        users::Origin::SignUp,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        UserError::EmailTaken => AppError::conflict(
            "An account with this e-mail already exists. Sign in instead, or use another address.",
        ),
        UserError::NotFound(_) => AppError::Internal,
        UserError::Db(e) => internal("sign-up")(e),
    })
}

/// The same message for an unknown e-mail and a wrong password, so sign-in never tells
/// which addresses have accounts.
fn wrong_credentials() -> AppError {
    AppError::Unauthenticated {
        message: "That e-mail and password don't match an account. Check both and try again."
            .into(),
    }
}

/// Refuses an attempt (429 with the seconds to wait) once a key has its allowance in the
/// window, writing nothing: a flood of refused attempts costs reads only, never the
/// writer. An attempt that may go ahead is recorded under each key before the password is
/// checked, and counted again after, so a burst of simultaneous attempts cannot all slip
/// under the limit; one that loses that race takes its rows back.
async fn limit_attempts(
    state: &AppState,
    keys: &[(String, i64)],
    now: i64,
) -> Result<Vec<i64>, AppError> {
    over_limit(state, keys, now, false).await?;
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    let ids = users::record_attempt(&state.db, &names, now)
        .await
        .map_err(internal("rate limit"))?;
    if let Err(refused) = over_limit(state, keys, now, true).await {
        users::forget_attempts(&state.db, &ids)
            .await
            .map_err(internal("rate limit"))?;
        return Err(refused);
    }
    Ok(ids)
}

/// A 429 when a key is at its allowance (before this attempt is recorded) or over it
/// (after).
async fn over_limit(
    state: &AppState,
    keys: &[(String, i64)],
    now: i64,
    recorded: bool,
) -> Result<(), AppError> {
    for (key, max) in keys {
        let (n, first) = users::attempts_since(&state.db, key, now - FAILURE_WINDOW_SECS)
            .await
            .map_err(internal("rate limit"))?;
        let refused = if recorded { n > *max } else { n >= *max };
        if refused {
            let wait = first
                .map_or(FAILURE_WINDOW_SECS, |f| f + FAILURE_WINDOW_SECS - now)
                .max(1);
            return Err(AppError::TooManyRequests {
                retry_after_secs: u64::try_from(wait).unwrap_or(1),
            });
        }
    }
    Ok(())
}

/// Sign-ups allowed per address within the window (each costs a password hash).
pub const MAX_SIGN_UPS_PER_ADDRESS: i64 = 20;

/// Checks an e-mail and password, slowing down repeated failures from one address or for
/// one account (429 with the seconds to wait).
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    client: &str,
) -> Result<User, AppError> {
    let now = state.clock.wall();
    let email = Email::parse(email).map_err(|_| wrong_credentials())?;
    let keys = [
        (
            format!("email-from:{}:{client}", email.as_str()),
            MAX_FAILURES_PER_EMAIL,
        ),
        (format!("addr:{client}"), MAX_FAILURES_PER_ADDRESS),
        (
            format!("email:{}", email.as_str()),
            MAX_FAILURES_PER_EMAIL_ANYWHERE,
        ),
    ];
    let attempt = limit_attempts(state, &keys, now).await?;
    let found = users::credentials(&state.db, &email)
        .await
        .map_err(internal("credentials"))?;
    let (hash, user, disabled) = match found {
        Some(c) => (Some(c.password_hash), Some(c.user), c.disabled),
        None => (None, None, false),
    };
    let ok = verify_password(password.to_owned(), hash).await?;
    match user {
        Some(user) if ok => {
            users::forget_attempts(&state.db, &attempt)
                .await
                .map_err(internal("rate limit"))?;
            if disabled {
                return Err(AppError::Unauthenticated {
                    message: format!(
                        "This account has been disabled. Write to {} if you think that is a mistake.",
                        state.config.support_email
                    ),
                });
            }
            Ok(user)
        }
        _ => Err(wrong_credentials()),
    }
}

/// An argon2id hash of a random password nobody knows.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("a 16-byte salt encodes");
        Argon2::default()
            .hash_password(&rand::random::<[u8; 24]>(), &salt)
            .map(|h| h.to_string())
            .expect("hashing a fixed-size input succeeds")
    })
}

/// Adds `Set-Cookie` to the server function's response.
pub fn set_cookie(value: &str) {
    if let (Some(options), Ok(v)) = (
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        axum::http::HeaderValue::from_str(value),
    ) {
        options.append_header(SET_COOKIE, v);
    }
}

/// The request headers of the current server function.
pub fn request_headers() -> Result<HeaderMap, AppError> {
    leptos::prelude::use_context::<axum::http::request::Parts>()
        .map(|p| p.headers)
        .ok_or_else(|| {
            tracing::error!("request parts missing from the Leptos context");
            AppError::Internal
        })
}

/// Who signed in the request being answered, looked up once: a page's layout and its
/// data each ask (three server functions on `/subscription`), and they share one indexed
/// read of the session. A new one for every request (`server::http`'s context).
#[derive(Clone, Default)]
pub struct RequestUser(Arc<tokio::sync::OnceCell<Option<User>>>);

/// The signed-in user of the request being answered, if any (see [`RequestUser`]).
pub async fn current_user(state: &AppState) -> Result<Option<User>, AppError> {
    let headers = request_headers()?;
    match leptos::prelude::use_context::<RequestUser>() {
        Some(memo) => memo
            .0
            .get_or_try_init(|| user_from_headers(state, &headers))
            .await
            .cloned(),
        None => user_from_headers(state, &headers).await,
    }
}

/// Guard: anyone signed in.
pub async fn require_user(state: &AppState) -> Result<User, AppError> {
    current_user(state).await?.ok_or(AppError::Unauthorized)
}

/// Guard: a signed-in customer, with their ledger account.
pub async fn require_customer(state: &AppState) -> Result<(User, i64), AppError> {
    let user = require_user(state).await?;
    match (user.role, user.account_id) {
        (Role::Customer, Some(account)) => Ok((user, account)),
        _ => Err(AppError::Forbidden),
    }
}

/// Guard: a signed-in support user.
pub async fn require_support(state: &AppState) -> Result<User, AppError> {
    let user = require_user(state).await?;
    if user.role == Role::Support {
        Ok(user)
    } else {
        Err(AppError::Forbidden)
    }
}
