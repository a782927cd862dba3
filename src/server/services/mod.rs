//! Application services: what the server functions and API routes call.

pub mod auto_top_up;
pub mod demo;
pub mod faq;
pub mod history;
pub mod lifecycle;
pub mod notices;
pub mod operations;
pub mod payment_events;
pub mod payments;
pub mod plans;
pub mod reconcile;
pub mod records;
pub mod refunds;
pub mod stripe_setup;
pub mod subscription;
pub mod support;
pub mod topup;
pub mod usage;
pub mod webhook;
pub mod zones;
