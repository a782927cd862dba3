//! Every type a server function returns or a page shows, for both targets: the server
//! builds them (`server::services`), the pages read them (`ui`). They depend on `domain`
//! only, so services never reach into `api` or `ui` for them.

pub mod account;
pub mod forms;
pub mod history;
pub mod operations;
pub mod payments;
pub mod plans;
pub mod subscription;
pub mod support;
pub mod topup;
