use crate::domain::faq::{Block, Inline};
use leptos::prelude::*;

/// Renders the structured text of an FAQ answer.
#[component]
pub fn RichText(blocks: Vec<Block>) -> impl IntoView {
    blocks
        .into_iter()
        .map(|block| match block {
            Block::Para(inlines) => view! { <p>{inlines_view(inlines)}</p> }.into_any(),
            Block::List(items) => view! {
                <ul>{items.into_iter().map(|item| view! { <li>{inlines_view(item)}</li> }).collect_view()}</ul>
            }
            .into_any(),
        })
        .collect_view()
}

fn inlines_view(inlines: Vec<Inline>) -> impl IntoView {
    inlines
        .into_iter()
        .map(|inline| match inline {
            Inline::Text(text) => text.into_any(),
            Inline::Strong(text) => view! { <strong>{text}</strong> }.into_any(),
            Inline::Link { href, text } => view! { <a href=href>{text}</a> }.into_any(),
        })
        .collect_view()
}
