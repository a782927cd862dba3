//! The Subscription page's "Try it" panel (demo mode) and the order credits are spent in.

use super::*;

/// Demo mode: run a pretend generation through the ledger and see its receipt. The
/// estimate and the result come back in the address, so it all works without JavaScript.
#[component]
pub(super) fn TryPanel(
    book: PriceBook,
    renews: Option<i64>,
    /// The packs on sale, to suggest the smallest that covers a shortfall.
    packs: Vec<TopUpPack>,
    form_key: String,
    action: ServerAction<TryGeneration>,
    /// Buys the pack suggested for a shortfall.
    buy: ServerAction<BuyTopUp>,
) -> impl IntoView {
    let query = use_query_map();
    let buy_key = form_key.clone();
    // The operation and size asked about last ("Show estimate" puts them in the address).
    let (op, qty) = query.with_untracked(|q| {
        let op = q
            .get("op")
            .and_then(|k| Operation::from_key(&k))
            .unwrap_or(Operation::VoiceGeneration);
        let qty = q
            .get("qty")
            .and_then(|q| q.parse::<u64>().ok())
            .filter(|q| *q > 0)
            .unwrap_or(30);
        (op, qty)
    });
    let tried = query.with_untracked(|q| q.get("tried")).is_some();
    let pending = action.pending();
    view! {
        <section class="card" aria-labelledby="try-heading" id="try">
            <h2 id="try-heading">"Try a generation"</h2>
            <p class="help">"Demo only: the app plays a generation service through the real ledger. Nothing is generated."</p>
            {move || action.value().get().and_then(Result::err).map(|error| match error {
                AppError::InsufficientCredits { needed, available, .. } => {
                    let short = needed.saturating_sub(available);
                    // The smallest pack that covers what is missing, if one does, to buy
                    // from here and come back to this panel with the same choice.
                    let pack = packs
                        .iter()
                        .filter(|p| p.credits.get() >= short)
                        .min_by_key(|p| p.credits.get())
                        .cloned();
                    let covers = pack.as_ref().map(|p| format!(
                        " The {} credit top-up ({}) covers it.",
                        group_thousands(p.credits.get()),
                        format_usd(p.price_cents)
                    ));
                    let then = format!("/subscription?op={}&qty={qty}#try", op.key());
                    let buy_form = pack.map(|p| {
                        let key = format!("{buy_key}-{}-back", p.id.as_str());
                        let label = format!(
                            "Buy {} credits for {} and come back here",
                            group_thousands(p.credits.get()),
                            format_usd(p.price_cents)
                        );
                        view! {
                            <ActionForm action=buy attr:class="inline-form">
                                <input type="hidden" name="pack" value=p.id.as_str().to_owned() />
                                <input type="hidden" name="request_key" value=key />
                                <input type="hidden" name="then" value=then />
                                <button type="submit" data-testid="p10-buy">{label}</button>
                            </ActionForm>
                        }
                    });
                    view! {
                    <div class="notice notice-warning" role="alert" data-testid="p10-notice" id=FORM_ERROR_ANCHOR tabindex="-1">
                        <p><strong>{format!("This needs {} credits, but you have {}: {} more credits needed.", group_thousands(needed), group_thousands(available), group_thousands(short))}</strong>
                        " Nothing was reserved or charged, and everything you had is still there."{covers}</p>
                        {buy_form}
                        <p>"You can "<a href="#top-up">"pick another top-up"</a>
                        {match renews {
                            Some(r) => format!(" or wait until your plan renews on {}.", date(r)),
                            None => " and carry on straight away.".to_owned(),
                        }}</p>
                    </div>
                }.into_any()
                }
                error => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{error.to_string()}</p> }.into_any(),
            })}
            {tried.then(|| view! { <p class="notice" role="status" data-testid="try-done">"Done. Its receipt is open below."</p> })}
            <ActionForm action attr:class="stack-form">
                <input type="hidden" name="request_key" value=form_key />
                <TryChoice book op qty />
                <label><input type="checkbox" name="fail_part" value="on" />" Make part of it fail (shows a refund)"</label>
                <div class="button-row">
                    <button type="submit" name="intent" value="estimate" class="secondary" disabled=pending>"Show estimate"</button>
                    <button type="submit" name="intent" value="run" disabled=pending>"Run it"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// The operation and size to try, with the size's unit and the estimate. An island: in
/// the browser the unit and the estimate follow each change as it is made; without
/// JavaScript "Show estimate" sends the choice and the page comes back with both.
#[island]
fn TryChoice(book: PriceBook, op: Operation, qty: u64) -> impl IntoView {
    let chosen_op = RwSignal::new(op);
    let chosen_qty = RwSignal::new(qty);
    let unit_book = book.clone();
    let unit = move || {
        unit_book
            .rule(chosen_op.get())
            .map(|r| r.driver.unit_names().1)
            .unwrap_or("units")
    };
    let estimate = move || {
        let (op, qty) = (chosen_op.get(), chosen_qty.get());
        book.rule(op).map(|r| {
            format!(
                "Estimate for {} ({}): {} credits.",
                op.label(),
                r.describe(),
                r.price(qty)
                    .map(|c| group_thousands(c.get()))
                    .unwrap_or_default()
            )
        })
    };
    view! {
        <label for="try-op">"Operation"</label>
        <select id="try-op" name="operation" on:change=move |ev| {
            if let Some(op) = Operation::from_key(&event_target_value(&ev)) {
                chosen_op.set(op);
            }
        }>
            {Operation::ALL.into_iter().map(|o| view! {
                <option value=o.key() selected=o == op>{o.label()}</option>
            }).collect_view()}
        </select>
        <label for="try-qty">"Size, in "{unit}</label>
        <input id="try-qty" name="quantity" type="number" min="1" max="100000" value=qty.to_string() required
            on:input=move |ev| {
                if let Ok(q) = event_target_value(&ev).trim().parse::<u64>() && q > 0 {
                    chosen_qty.set(q);
                }
            } />
        <p class="help" data-testid="try-estimate" aria-live="polite">{estimate}</p>
    }
}

/// P5 in the customer's numbers: subscription credits go first, then support's, then top-ups.
#[component]
pub(super) fn SpendOrder(
    balance: BalanceView,
    /// What comes after the top-up credits (an automatic top-up, P16), if anything.
    then: Option<String>,
) -> impl IntoView {
    let parts = [
        (
            "Subscription credits",
            balance.subscription.get(),
            "spend-subscription",
        ),
        (
            "Added by support",
            balance.adjustment.get(),
            "spend-adjustment",
        ),
        ("Top-up credits", balance.topup.get(), "spend-topup"),
    ];
    let total: u64 = parts.iter().map(|p| p.1).sum();
    view! {
        <section class="card" aria-labelledby="spend-heading">
            <h2 id="spend-heading">"What gets spent next"</h2>
            {if total == 0 {
                view! { <p class="empty">"You have no credits to spend right now."</p> }.into_any()
            } else {
                view! {
                    <div class="spend-bar" aria-hidden="true">
                        {parts.iter().filter(|p| p.1 > 0).map(|(_, n, class)| {
                            view! { <span class=format!("spend-part {class} w-{}", (n * 20).div_ceil(total).min(20))></span> }
                        }).collect_view()}
                    </div>
                    <ol class="spend-order">
                        {parts.into_iter().filter(|p| p.1 > 0).map(|(label, n, _)| view! {
                            <li>{format!("{label}: {}", group_thousands(n))}</li>
                        }).collect_view()}
                    </ol>
                    <p class="help">"Subscription credits are always used first; top-up credits only after them, oldest first."</p>
                    {then.clone().map(|t| view! { <p data-testid="spend-then">{t}</p> })}
                }.into_any()
            }}
        </section>
    }
}
