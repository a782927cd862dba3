//! The integration tests, through the real router and real databases (each on SQLite and
//! PostgreSQL where the backend matters), as one test binary: one link and one build of
//! the shared harness instead of one for each file (issue 15, the test command's time).
//! `tests/page_queries.rs` stays a binary of its own: it counts every SQL statement the
//! process runs.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod auto_top_up;
mod customer_pages;
mod history;
mod http;
mod ledger;
mod ledger_model;
mod local_checkout;
mod migrations;
mod notices;
mod operations;
mod plan_changes;
mod plan_payments;
mod records;
mod sql_statements;
mod stripe_checkout;
mod stripe_events;
mod stripe_plan_processing;
mod stripe_setup;
mod stripe_story;
mod stripe_subscriptions;
mod subscriptions;
mod support_console;
mod try_panel;
mod usage_api;
mod webhook;
