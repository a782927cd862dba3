pub mod balance_card;
pub mod error_notice;
pub mod format;
pub mod journal_table;
pub mod layout;
pub mod plans;
pub mod rich_text;
pub mod usage_chart;
