//! Where keyboard focus starts on a page.

use leptos::prelude::*;

/// Moves keyboard focus to the element `id` once the page runs in the browser: a confirm
/// step that opened, or the result of a change, is where the customer carries on from, and
/// a screen reader reads it. An island (it renders nothing); without JavaScript the address
/// names the element (`#confirm`, `#form-error`), so the browser scrolls it into view.
#[island]
pub fn FocusOnLoad(id: String) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(el) = document()
            .get_element_by_id(&id)
            .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}
