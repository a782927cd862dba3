//! Pure Rust, no I/O: the rules of the product. Compiles for the server and the browser.

pub mod account;
pub mod auto_top_up;
pub mod catalog;
pub mod credits;
pub mod faq;
pub mod history;
pub mod ledger;
pub mod notices;
pub mod payments;
pub mod pricing;
pub mod records;
pub mod subscription;
pub mod usage;
pub mod zone;
