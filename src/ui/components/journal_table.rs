use crate::domain::ledger::JournalEntry;
use crate::ui::components::format::{date_time, entry_kind, signed};
use leptos::prelude::*;

/// Journal entries, newest first, as a table with a caption.
#[component]
pub fn JournalTable(entries: Vec<JournalEntry>, caption: &'static str) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="empty">"No credit changes yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table>
                <caption>{caption}</caption>
                <thead>
                    <tr><th scope="col">"When"</th><th scope="col">"What"</th><th scope="col" class="num">"Credits"</th><th scope="col" class="num">"Balance after"</th><th scope="col">"Note"</th></tr>
                </thead>
                <tbody>
                    {entries.into_iter().map(|e| {
                        let note = note(&e);
                        view! {
                            <tr>
                                <td>{date_time(e.at)}</td>
                                <td>{entry_kind(e.kind)}</td>
                                <td class="num">{signed(e.amount)}</td>
                                <td class="num">{signed(e.balance_after).trim_start_matches('+').to_owned()}</td>
                                <td>{note}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The reason and who made a manual change, from the entry's detail.
fn note(e: &JournalEntry) -> String {
    let detail: Option<serde_json::Value> = e
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok());
    let reason = detail
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(|r| r.as_str())
        .unwrap_or_default()
        .to_owned();
    match &e.actor {
        Some(actor) if reason.is_empty() => format!("by {actor}"),
        Some(actor) => format!("{reason} (by {actor})"),
        None => reason,
    }
}
