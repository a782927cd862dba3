//! Studio Billing: the credits and billing part of an AI audio product.
//!
//! `domain` holds the rules (pure, both targets), `model` what server functions return and
//! pages show (both targets), `api` the server functions, `ui` the pages and widgets, and
//! `server` (server only) configuration, storage and HTTP.

pub mod api;
pub mod app;
pub mod domain;
pub mod error;
pub mod model;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

/// The browser's entry point. Pages are rendered on the server only; what runs in the
/// browser are the islands (`#[island]` components, README "Islands"), which the page's
/// script hydrates one by one after this.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
