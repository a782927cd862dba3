//! Automatic top-ups (P16): what is set, the card, what this month has spent of the cap,
//! why they stopped if they did, and (test mode) how the test card behaves. Plain forms:
//! they work without JavaScript.

use crate::api::subscription::{SaveAutoTopUp, SetTestCard};
use crate::api::topup::BuyTopUp;
use crate::domain::auto_top_up::cap_left;
use crate::domain::catalog::{TopUpPack, format_usd};
use crate::domain::credits::group_thousands;
use crate::error::FORM_ERROR_ANCHOR;
use crate::model::subscription::AutoTopUpView;
use crate::ui::components::format::date;
use leptos::prelude::*;

/// What "What gets spent next" says after the top-up credits, when automatic top-ups are
/// on.
pub fn next_step(v: &AutoTopUpView, packs: &[TopUpPack]) -> Option<String> {
    if !v.settings.enabled || v.card.is_none() || v.stopped_reason.is_some() {
        return None;
    }
    let pack = packs.iter().find(|p| p.id.as_str() == v.settings.pack)?;
    Some(format!(
        "Then, when your available balance falls below {}: an automatic top-up of {} credits ({}), up to {} a month.",
        group_thousands(v.settings.threshold),
        group_thousands(pack.credits.get()),
        format_usd(pack.price_cents),
        format_usd(v.settings.monthly_cap_cents)
    ))
}

#[component]
pub fn AutoTopUp(
    v: AutoTopUpView,
    packs: Vec<TopUpPack>,
    /// This page's form key: the card form's request key.
    form_key: String,
    save: ServerAction<SaveAutoTopUp>,
    test_card: ServerAction<SetTestCard>,
    buy: ServerAction<BuyTopUp>,
) -> impl IntoView {
    let has_card = v.card.is_some();
    let pack_options: Vec<(String, String)> = packs
        .iter()
        .map(|p| {
            let label = format!(
                "{} credits for {}",
                group_thousands(p.credits.get()),
                format_usd(p.price_cents)
            );
            (p.id.as_str().to_owned(), label)
        })
        .collect();
    // The card is saved at a top-up: the checkout (Stripe's, or the test one) is told
    // before it starts, shows it, and keeps the card it is paid with.
    let card_form = view! {
        <ActionForm action=buy attr:class="notices-form" attr:data-testid="save-card-form">
            <input type="hidden" name="request_key" value=form_key />
            <input type="hidden" name="save_card" value="on" />
            <input type="hidden" name="then" value="/subscription#auto-top-up" />
            <div class="field">
                <label for="save-card-pack">{if has_card { "Use another card: buy" } else { "Save a card: buy" }}</label>
                <select id="save-card-pack" name="pack">
                    {pack_options.into_iter().map(|(id, label)| view! { <option value=id>{label}</option> }).collect_view()}
                </select>
            </div>
            <button type="submit" class=if has_card { "secondary" } else { "" }>"Buy and save the card"</button>
        </ActionForm>
    };
    let outcome = move || {
        save.value().get().map(|r| match r {
            Ok(message) => view! { <p class="notice notice-ok" role="status" data-testid="auto-top-up-saved">{message}</p> }.into_any(),
            Err(e) => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> }.into_any(),
        })
    };
    let card_outcome = move || {
        test_card.value().get().map(|r| match r {
            Ok(message) => {
                view! { <p class="notice notice-ok" role="status">{message}</p> }.into_any()
            }
            Err(e) => {
                view! { <p class="notice notice-error" role="alert">{e.to_string()}</p> }.into_any()
            }
        })
    };
    let s = v.settings.clone();
    let left = cap_left(&s, v.spent_this_month_cents);
    let month = format!(
        "This month (since {}): {} of {} spent on automatic top-ups, {} left.",
        date(v.month_start),
        format_usd(v.spent_this_month_cents),
        format_usd(s.monthly_cap_cents),
        format_usd(left)
    );
    let cap_dollars = {
        let c = s.monthly_cap_cents;
        if c.is_multiple_of(100) {
            (c / 100).to_string()
        } else {
            format!("{}.{:02}", c / 100, c % 100)
        }
    };
    view! {
        <section aria-labelledby="auto-top-up-heading" id="auto-top-up">
            <h2 id="auto-top-up-heading">"Automatic top-ups"</h2>
            <p class="help">"When your available balance falls below the amount you choose, we buy your chosen pack with your saved card: once each time it falls, never more than your monthly cap. Top-up credits never expire."</p>
            {outcome}
            {v.stopped_reason.clone().map(|why| view! {
                <div class="notice notice-warning" role="alert" data-testid="auto-top-up-stopped">
                    <p><strong>"Automatic top-ups are stopped. "</strong>{why}"."</p>
                    <p>"To fix it, "<a href="#save-card-pack">"buy a top-up and save a card"</a>" again below (or, in test mode, make the test card work), then turn them on."</p>
                </div>
            })}
            {v.last_failure.clone().map(|why| view! {
                <p class="notice notice-warning" role="status" data-testid="auto-top-up-failed">{format!("The last automatic top-up could not be charged: {why} We will try again the next time your balance falls below your threshold.")}</p>
            })}
            {match v.card.clone() {
                None => view! {
                    <p class="empty" data-testid="auto-top-up-no-card">"No card saved yet. Buy a top-up here and its card is saved (the checkout says so); then turn them on."</p>
                }.into_any(),
                Some(card) => view! {
                    <p data-testid="auto-top-up-card">{format!("Card: {card}.")}</p>
                    <p data-testid="auto-top-up-month">{month}</p>
                    <ActionForm action=save attr:class="notices-form">
                        <div class="check">
                            <input type="checkbox" id="auto-enabled" name="enabled" value="on" checked=s.enabled />
                            <label for="auto-enabled">"Top up automatically"</label>
                        </div>
                        <div class="field">
                            <label for="auto-threshold">"When my available balance falls below (credits)"</label>
                            <input id="auto-threshold" name="threshold" type="number" min="1" step="1" required value=s.threshold.to_string() />
                        </div>
                        <div class="field">
                            <label for="auto-pack">"Buy"</label>
                            <select id="auto-pack" name="pack">
                                {packs.iter().map(|p| {
                                    let id = p.id.as_str().to_owned();
                                    let selected = id == s.pack;
                                    let label = format!("{} credits for {}", group_thousands(p.credits.get()), format_usd(p.price_cents));
                                    view! { <option value=id selected=selected>{label}</option> }
                                }).collect_view()}
                            </select>
                        </div>
                        <div class="field">
                            <label for="auto-cap">"Spending at most, each month (US dollars)"</label>
                            <input id="auto-cap" name="cap" type="text" inputmode="decimal" required value=cap_dollars />
                        </div>
                        <button type="submit">"Save automatic top-ups"</button>
                    </ActionForm>
                }.into_any(),
            }}
            {card_form}
            {v.test_card.clone().map(|current| view! {
                <div class="test-card" data-testid="test-card">
                    {card_outcome}
                    <ActionForm action=test_card attr:class="notices-form">
                        <fieldset>
                            <legend>"Test mode: the saved test card, on its next charge"</legend>
                            {[("card", "is paid"), ("declined", "is declined"), ("needs_action", "asks for 3-D Secure (fails while you are away)")].into_iter().map(|(value, label)| {
                                let id = format!("test-card-{value}");
                                view! {
                                    <div class="check">
                                        <input type="radio" id=id.clone() name="card" value=value checked=current == value />
                                        <label for=id>{label}</label>
                                    </div>
                                }
                            }).collect_view()}
                        </fieldset>
                        <button type="submit" class="secondary">"Save the test card"</button>
                    </ActionForm>
                </div>
            })}
        </section>
    }
}
