pub mod error_notice;
pub mod layout;
pub mod rich_text;
