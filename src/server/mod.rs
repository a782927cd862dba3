//! Server-only code: configuration, state, storage, HTTP plumbing, services.

pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod services;
pub mod state;
pub mod telemetry;
