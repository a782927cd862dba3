//! The state every request handler and server function is given.

use crate::error::AppError;
use crate::server::clock::Clock;
use crate::server::config::Config;
use crate::server::db::Db;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos: LeptosOptions,
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    /// This instance's own running: job runs, refused webhook deliveries.
    pub ops: Arc<crate::server::ops::Ops>,
    /// The FAQ, made once: it depends on configuration only. Made when the state is and
    /// kept for the life of the process, so pages borrow its text instead of copying it.
    pub faq: &'static crate::domain::faq::Faq,
}

/// True when the build gave the site's files hashed names (`hash-files`, a release build
/// by `cargo leptos build --release`): it leaves `hash.txt`, their hashes, beside the
/// server's binary, where the pages look for it. Deploy the two together.
fn hashed_assets() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .is_some_and(|file| file.is_file())
}

impl AppState {
    pub fn new(config: Config, db: Db, clock: Clock) -> Self {
        let leptos = LeptosOptions::builder()
            .output_name(env!("CARGO_PKG_NAME"))
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(config.listen_addr)
            .hash_files(hashed_assets())
            .build();
        let faq = Box::leak(Box::new(crate::domain::faq::Faq::new(
            &crate::server::services::faq::facts(&config),
        )));
        AppState {
            leptos,
            faq,
            config: Arc::new(config),
            db,
            clock,
            ops: Arc::default(),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The state, from inside a server function or a component rendered on the server.
pub fn app_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal
    })
}
