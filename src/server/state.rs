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
}

impl AppState {
    pub fn new(config: Config, db: Db, clock: Clock) -> Self {
        let leptos = LeptosOptions::builder()
            .output_name(env!("CARGO_PKG_NAME"))
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(config.listen_addr)
            .build();
        AppState {
            leptos,
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
