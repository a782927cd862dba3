//! The Subscription page's payments: top-ups bought and plan payments, each with its
//! receipt (support's console shows the same list without the receipts' links).

use super::*;

/// Top-ups bought and subscription payments; `receipts`: with a link to each one's receipt
/// (the customer's own view).
#[component]
pub fn Payments(payments: Vec<PaymentLine>, receipts: bool) -> impl IntoView {
    view! {
        <section aria-labelledby="payments-heading">
            <h2 id="payments-heading">"Payments"</h2>
            {if payments.is_empty() {
                view! { <p class="empty">"No payments yet. Top-ups you buy and your plan's payments appear here."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table data-testid="payments">
                            <caption>"Payments, newest first"</caption>
                            <thead><tr>
                                <th scope="col">"Date"</th><th scope="col">"What"</th>
                                <th scope="col" class="num">"Amount"</th><th scope="col">"Status"</th>
                                {receipts.then(|| view! { <th scope="col"><span class="visually-hidden">"Receipt"</span></th> })}
                            </tr></thead>
                            <tbody>
                                {payments.into_iter().map(|p| {
                                    let what = format!(
                                        "{}{}",
                                        payment_what(&p),
                                        if p.test_mode { " (test mode)" } else { "" }
                                    );
                                    let receipt = receipts.then(|| {
                                        let link = crate::ui::components::format::receipt_href(&p).map(|href| view! {
                                            <a href=href aria-label=format!("Receipt for {what}, {}", date_time(p.created_at))>"Receipt"</a>
                                        });
                                        view! { <td>{link}</td> }
                                    });
                                    view! {
                                        <tr>
                                            <td>{date_time(p.created_at)}</td>
                                            <td>{what}</td>
                                            <td class="num">{format_usd(p.amount_cents)}</td>
                                            {match p.refund {
                                                Some(r) => view! { <td class=format!("status status-refund-{}", r.as_str())>{r.label()}</td> }.into_any(),
                                                None => view! { <td class=format!("status status-{}", p.status.as_str())>{p.status.label()}</td> }.into_any(),
                                            }}
                                            {receipt}
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
