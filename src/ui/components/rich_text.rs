use crate::domain::faq::{Block, Inline};
use leptos::prelude::*;

/// Renders the structured text of an FAQ answer. The FAQ is made once and kept (see
/// `domain::faq::Faq`), so its text is borrowed, not copied, on every page.
#[component]
pub fn RichText(blocks: &'static [Block]) -> impl IntoView {
    blocks
        .iter()
        .map(|block| match block {
            Block::Para(inlines) => view! { <p>{inlines_view(inlines)}</p> }.into_any(),
            Block::List(items) => view! {
                <ul>{items.iter().map(|item| view! { <li>{inlines_view(item)}</li> }).collect_view()}</ul>
            }
            .into_any(),
        })
        .collect_view()
}

fn inlines_view(inlines: &'static [Inline]) -> impl IntoView {
    inlines
        .iter()
        .map(|inline| match inline {
            Inline::Text(text) => text.as_str().into_any(),
            Inline::Strong(text) => view! { <strong>{text.as_str()}</strong> }.into_any(),
            Inline::Link { href, text } => {
                view! { <a href=href.as_str()>{text.as_str()}</a> }.into_any()
            }
        })
        .collect_view()
}
