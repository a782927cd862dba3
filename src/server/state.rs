//! The state every request handler and server function is given.

use crate::error::AppError;
use crate::server::clock::Clock;
use crate::server::config::Config;
use crate::server::db::Db;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// Cloned several times for every request (each middleware with state, each page route's
/// handler and its context), so it is one shared pointer: a clone is one counter, not one
/// for each of its parts (a profile of a kept page under load found a fifth of the
/// server's time in cloning and dropping the parts). Its fields read through it
/// (`state.config`).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// What `AppState` shares.
#[derive(Clone, Debug)]
pub struct Shared {
    pub leptos: LeptosOptions,
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    /// This instance's own running: job runs, refused webhook deliveries.
    pub ops: Arc<crate::server::ops::Ops>,
    /// The FAQ, made once: it depends on configuration only. Made when the state is and
    /// kept for the life of the process, so pages borrow its text instead of copying it.
    pub faq: &'static crate::domain::faq::Faq,
    /// The hashes in the site's file names (none for a debug build): a file named by one
    /// is cached for a year (`server::http`'s assets).
    pub asset_hashes: Arc<Vec<String>>,
}

/// The hashes the build put in the site's file names (`hash-files`, a release build by
/// `cargo leptos build --release`): it writes them to `hash.txt` beside the server's
/// binary (`js: ...`, `wasm: ...`, `css: ...`), where the pages look for them too. Deploy
/// the two together. None for a debug build.
fn asset_hashes() -> Vec<String> {
    let Some(file) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
    else {
        return Vec::new();
    };
    std::fs::read_to_string(file)
        .map(|text| {
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(_, hash)| hash.trim().to_owned())
                .filter(|hash| hash.len() >= 8)
                .collect()
        })
        .unwrap_or_default()
}

impl AppState {
    pub fn new(config: Config, db: Db, clock: Clock) -> Self {
        let asset_hashes = asset_hashes();
        let leptos = LeptosOptions::builder()
            .output_name(env!("CARGO_PKG_NAME"))
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(config.listen_addr)
            .hash_files(!asset_hashes.is_empty())
            .build();
        let faq = Box::leak(Box::new(crate::domain::faq::Faq::new(
            &crate::server::services::faq::facts(&config),
        )));
        AppState(Arc::new(Shared {
            leptos,
            asset_hashes: Arc::new(asset_hashes),
            faq,
            config: Arc::new(config),
            db,
            clock,
            ops: Arc::default(),
        }))
    }

    /// The same state, with the site's files named by `hashes` (as a release build names
    /// them).
    pub fn with_asset_hashes(mut self, hashes: Vec<String>) -> Self {
        Arc::make_mut(&mut self.0).asset_hashes = Arc::new(hashes);
        self
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
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
