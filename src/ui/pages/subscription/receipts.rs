//! The Subscription page's receipts: one per generation, what it held, charged and gave
//! back, and what paid for it.

use super::*;

#[component]
pub(super) fn Receipts(
    receipts: Vec<OperationReceipt>,
    support: String,
    book: PriceBook,
) -> impl IntoView {
    // The receipt of a generation just run opens; it follows the address, which may change
    // after the list was drawn.
    let query = use_query_map();
    let opened = Memo::new(move |_| {
        query
            .with(|q| q.get("tried"))
            .and_then(|t| t.parse::<i64>().ok())
    });
    if receipts.is_empty() {
        return view! { <p class="empty">"No generations yet. When you generate a voice, music or anything else, its receipt appears here."</p> }.into_any();
    }
    view! {
        <ul class="receipts">
            {receipts.into_iter().map(|r| {
                let support = support.clone();
                let headline = match r.status {
                    HoldStatus::Captured => format!("{} credits", group_thousands(r.net_cost())),
                    HoldStatus::Held => "in progress".to_owned(),
                    HoldStatus::Released | HoldStatus::Expired => "not charged".to_owned(),
                };
                view! {
                    <li>
                        <details class="receipt" id=format!("receipt-{}", r.hold_id) open=move || opened.get() == Some(r.hold_id)>
                            <summary>
                                <span class="receipt-op">{r.operation.label()}</span>
                                <span class="receipt-when">{date_time(r.started_at)}</span>
                                <span class="receipt-cost">{headline}</span>
                            </summary>
                            <p class="receipt-words" data-testid="receipt-words">{in_words(&r, &book)}</p>
                            <dl class="receipt-lines">
                                <dt>"Estimate before it started"</dt><dd>{group_thousands(r.estimate)}</dd>
                                <dt>"Held"</dt><dd>{group_thousands(r.reserved)}</dd>
                                <dt>"Charged for the real output"</dt><dd>{group_thousands(r.charged)}</dd>
                                <dt>"Released"</dt><dd>{group_thousands(r.released)}</dd>
                                {(r.refunded > 0).then(|| view! {
                                    <dt>"Credited back (failed part)"</dt>
                                    <dd>{format!("{} — {}", group_thousands(r.refunded), r.refund_reasons.join("; "))}</dd>
                                })}
                                {(r.shortfall > 0).then(|| view! {
                                    <dt>"Not charged (the balance ran out)"</dt><dd>{group_thousands(r.shortfall)}</dd>
                                })}
                                {(r.over_limit > 0).then(|| view! {
                                    <dt>"Not charged (more than the estimate allows)"</dt><dd>{group_thousands(r.over_limit)}</dd>
                                })}
                                <dt>"Paid with"</dt>
                                <dd>{paid_with(&r)}</dd>
                            </dl>
                            <p class="help">"Think this is wrong? Write to "<a href=format!("mailto:{support}")>{support.clone()}</a>{format!(" with receipt number {}.", r.hold_id)}</p>
                        </details>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

fn paid_with(r: &OperationReceipt) -> String {
    let parts: Vec<String> = [
        ("subscription", r.paid_subscription),
        ("support", r.paid_adjustment),
        ("top-up", r.paid_topup),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{} {k} credits", group_thousands(n)))
    .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(" + ")
    }
}

/// A receipt in one line of plain words, ending in the one figure it came to:
/// "Held 120 · charged 108 for 27 seconds of audio · 54 back for the failed part · you
/// paid 54".
fn in_words(r: &OperationReceipt, book: &PriceBook) -> String {
    let units = |n: u64| {
        book.rule(r.operation)
            .map(|rule| {
                let (one, many) = rule.driver.unit_names();
                format!(
                    " for {} {}",
                    group_thousands(n),
                    if n == 1 { one } else { many }
                )
            })
            .unwrap_or_default()
    };
    match r.status {
        HoldStatus::Captured => {
            let mut parts = vec![
                format!("Held {}", group_thousands(r.reserved)),
                format!(
                    "charged {}{}",
                    group_thousands(r.charged),
                    r.actual_quantity.map(units).unwrap_or_default()
                ),
            ];
            if r.refunded > 0 {
                parts.push(format!(
                    "{} back for the failed part",
                    group_thousands(r.refunded)
                ));
            }
            parts.push(format!("you paid {}", group_thousands(r.net_cost())));
            parts.join(" · ")
        }
        HoldStatus::Held => format!(
            "Held {} while it runs; nothing charged yet",
            group_thousands(r.reserved)
        ),
        HoldStatus::Released | HoldStatus::Expired => format!(
            "Held {}, all given back · you paid 0",
            group_thousands(r.reserved)
        ),
    }
}
