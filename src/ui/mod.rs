//! Pages and the widgets they share.

pub mod components;
pub mod pages;
