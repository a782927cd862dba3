//! Server-only code: configuration, state, storage, HTTP plumbing, services.

pub mod api_error;
pub mod api_schemas;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod form_errors;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod ops;
pub mod payments;
pub mod seed;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod zones;
