//! The plans section of `/subscription`: the plan, what each change means, and the changes,
//! each confirmed on a second step that spells out its dates and credits. The steps are
//! links (`?confirm=...#plans`) and forms, so all of it works without JavaScript.

use crate::api::plans::{ChangeKind, ChangePlan, FixPayment, PlanOption, PlanState, PlanStatus};
use crate::domain::catalog::format_usd;
use crate::domain::credits::group_thousands;
use crate::error::AppError;
use crate::error::FORM_ERROR_ANCHOR;
use crate::model::plans::{LowerTier, PlanAction, PlanChanged};
use crate::ui::components::focus::FocusOnLoad;
use crate::ui::components::format::date;
use crate::ui::components::forms::form_action;
use leptos::prelude::*;
use leptos_meta::Meta;
use leptos_router::hooks::use_query_map;

/// The second step's address: its panel is the fragment, so the browser brings it into
/// view and keyboard focus starts there, with or without JavaScript.
fn confirm_link(what: &str) -> String {
    format!("/subscription?confirm={what}#confirm")
}

#[component]
pub fn PlansSection(plan: PlanState, action: ServerAction<ChangePlan>) -> impl IntoView {
    let query = use_query_map();
    let pending = action.pending();
    let fix = form_action::<FixPayment>();
    // After a change, focus goes to what it did (announced: role status or alert);
    // otherwise to a confirm step the address opened.
    let done = action.value().with_untracked(Option::is_some);
    let outcome = move || {
        action.value().get().map(|r| match r {
            Ok(changed) => view! { <p class="notice notice-ok" role="status" data-testid="plan-message">{said(&changed)}</p> }.into_any(),
            // A declined card: say why, and where to fix it (the portal past-due plans use).
            Err(e @ AppError::CardDeclined { .. }) => view! {
                <div class="notice notice-error" role="alert" data-testid="plan-card-declined" id=FORM_ERROR_ANCHOR tabindex="-1">
                    <p>{e.to_string()}</p>
                    <ActionForm action=fix>
                        <button type="submit">"Update payment method"</button>
                    </ActionForm>
                </div>
            }.into_any(),
            Err(e) => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> }.into_any(),
        })
    };
    let end = plan.period_end.map(date).unwrap_or_default();
    let grace = plan.grace_until.map(date).unwrap_or_default();
    let name = plan.plan_name.clone().unwrap_or_default();
    let current = plan
        .options
        .iter()
        .find(|o| o.kind == ChangeKind::Current)
        .cloned();
    let price_of = |n: &str| {
        plan.options
            .iter()
            .find(|o| o.name == n)
            .map(|o| format_usd(o.monthly_price_cents))
            .unwrap_or_default()
    };
    let renewal_price = current
        .as_ref()
        .map(|o| format_usd(o.monthly_price_cents))
        .unwrap_or_default();
    // Back from paying for a plan: say what happened and when it renews.
    let subscribed = (plan.status == PlanStatus::Active
        && query.with_untracked(|q| q.get("subscribed").is_some()))
    .then(|| current.clone())
    .flatten()
    .map(|o| view! {
        <p class="notice notice-ok" role="status" data-testid="subscribed">{format!(
            "You are subscribed to {}: {} credits are in your balance until {end}. The plan renews on {end} for {} a month.",
            o.name,
            group_thousands(o.credits_per_period),
            format_usd(o.monthly_price_cents)
        )}</p>
    });
    let summary = match plan.status {
        PlanStatus::Active if plan.cancel_at_period_end => view! {
            <div class="notice notice-warning" data-testid="plan-cancelled">
                <p><strong>{format!("Your {name} plan is cancelled and ends on {end}.")}</strong>
                " Until then everything works as before and your credits stay usable."</p>
                <p>{format!("Your projects and audio are kept until {grace} (the grace period); after that they may be deleted. Payments, your credit history and top-up credits are always kept.")}</p>
                {plan.pending_plan_name.clone().map(|next| view! {
                    <p data-testid="resume-leads-to">{format!("If you resume, you stay on {name} until {end}, then move to {next} as you booked.")}</p>
                })}
                <ActionForm action>
                    <input type="hidden" name="action" value=PlanAction::Resume.as_str() />
                    <button type="submit" disabled=pending>"Resume subscription"</button>
                </ActionForm>
            </div>
        }.into_any(),
        PlanStatus::Active => match plan.pending_plan_name.clone() {
            Some(next) => view! {
                <div class="notice" data-testid="plan-pending">
                    <p><strong>{format!("{name} until {end}, then {next}.")}</strong>{format!(" From {end} you pay {} a month.", price_of(&next))}</p>
                    <ActionForm action>
                        <input type="hidden" name="action" value=PlanAction::Keep.as_str() />
                        <button type="submit" class="secondary" disabled=pending>{format!("Keep {name}")}</button>
                    </ActionForm>
                </div>
            }.into_any(),
            None => view! {
                <p data-testid="plan-summary">{format!(
                    "{name}: this period runs {} to {end} and renews on {end} for {renewal_price}.",
                    plan.period_start.map(date).unwrap_or_default()
                )}</p>
            }.into_any(),
        },
        PlanStatus::PastDue => view! {
            <div class="notice notice-error" role="alert" data-testid="plan-past-due">
                <p><strong>"Your renewal payment failed."</strong>" No new subscription credits are added until it is paid. Update your payment method and it is retried."</p>
                <ActionForm action=fix>
                    <button type="submit">"Update payment method"</button>
                </ActionForm>
            </div>
        }.into_any(),
        PlanStatus::Ended => view! {
            <div class="notice notice-warning" data-testid="plan-ended">
                <p><strong>{format!("Your {name} plan ended on {end}.")}</strong>
                {format!(" Your projects and audio are kept until {grace}: subscribe again before then to carry on with everything. Your top-up credits are still here.")}</p>
            </div>
        }.into_any(),
        PlanStatus::Purged => view! {
            <p class="notice" data-testid="plan-purged">"Your plan ended and its grace period is over. Subscribe to start again; your top-up credits and payment history are still here."</p>
        }.into_any(),
        PlanStatus::None => view! { <p data-testid="plan-none">"You have no plan yet. Choose one to get credits every month."</p> }.into_any(),
    };
    // A plan payment under way: said as such, and while it is processing nothing else can
    // be bought (the page checks again by itself, with or without JavaScript).
    let in_progress = plan.payment_in_progress.clone().map(|p| {
        let what = format!(
            "{} plan ({}, {} credits)",
            p.plan_name,
            format_usd(p.amount_cents),
            group_thousands(p.credits)
        );
        if p.processing {
            view! {
                <Meta http_equiv="refresh" content=format!("{}; url=/subscription?checked={}#plans", p.recheck_secs, p.checked_at) />
                <div class="notice" role="status" data-testid="plan-processing">
                    <p><strong>{format!("Your payment for the {what} is processing.")}</strong></p>
                    <p>"Your plan and its credits start as soon as the payment is confirmed; until then no other plan can be bought, so you never pay twice. This page checks again by itself."</p>
                </div>
            }.into_any()
        } else {
            view! {
                <div class="notice" data-testid="plan-checkout-open">
                    <p>{format!("You started a checkout for the {what} and have not paid yet. ")}
                    {p.checkout_url.map(|u| view! { <a href=u>"Continue to payment"</a> })}
                    " Choosing another plan instead closes that checkout."</p>
                </div>
            }.into_any()
        }
    });
    let locked = plan
        .payment_in_progress
        .as_ref()
        .is_some_and(|p| p.processing);
    let active = plan.status == PlanStatus::Active && !plan.cancel_at_period_end;
    let for_confirm = plan.clone();
    // The second step follows the address, so a link opens it with or without JavaScript.
    let asked = query.with_untracked(|q| q.get("confirm"));
    let confirming = asked.is_some() && !locked;
    let confirmation = asked.map(|c| confirmation(&c, &for_confirm, action));
    view! {
        <section aria-labelledby="plans-heading" id="plans">
            <h2 id="plans-heading">"Your plan"</h2>
            {plan.test_mode.then(|| view! { <p class="help">"Test mode: plan payments are recorded by the app itself; no real money moves."</p> })}
            <div class="result" id="plan-result" tabindex="-1">{outcome}</div>
            {subscribed}
            {in_progress}
            {summary}
            {(!locked).then_some(confirmation)}
            <ul class="plans">
                {plan.options.iter().cloned().map(|o| view! { <PlanCard o locked /> }).collect_view()}
            </ul>
            {active.then(|| view! {
                <p><a href=confirm_link("cancel") data-testid="start-cancel">"Cancel subscription…"</a></p>
            })}
            {if done {
                Some(view! { <FocusOnLoad id="plan-result".to_owned() /> })
            } else if confirming {
                Some(view! { <FocusOnLoad id="confirm".to_owned() /> })
            } else {
                None
            }}
        </section>
    }
}

/// One plan and its change; `locked` while a plan payment processes (no link to buy).
#[component]
fn PlanCard(o: PlanOption, locked: bool) -> impl IntoView {
    let action_link = match o.kind {
        _ if locked => None,
        ChangeKind::Current => None,
        ChangeKind::PendingDowngrade => None,
        ChangeKind::Subscribe => Some((
            format!("subscribe:{}", o.id),
            format!("Subscribe to {}", o.name),
        )),
        ChangeKind::Upgrade => Some((format!("change:{}", o.id), format!("Upgrade to {}", o.name))),
        ChangeKind::Downgrade => {
            Some((format!("change:{}", o.id), format!("Switch to {}", o.name)))
        }
    };
    let badge = match o.kind {
        ChangeKind::Current => Some("Current plan"),
        ChangeKind::PendingDowngrade => Some("From your next renewal"),
        _ => None,
    };
    view! {
        <li class="card plan" data-testid=format!("plan-{}", o.id)>
            <h3>{o.name.clone()}</h3>
            {badge.map(|b| view! { <p class="badge">{b}</p> })}
            <p class="pack-price">{format!("{} a month", format_usd(o.monthly_price_cents))}</p>
            <p>{format!("{} credits each period", group_thousands(o.credits_per_period))}</p>
            <p class="help">{effect(&o)}</p>
            {action_link.map(|(what, label)| view! { <a class="button-link" href=confirm_link(&what)>{label}"…"</a> })}
        </li>
    }
}

/// What a plan change did, in words, with its dates in the reader's time zone. The plan's
/// summary beside it says what is booked, so a booked switch is not said a second time.
pub fn said(c: &PlanChanged) -> String {
    match c {
        PlanChanged::Subscribed { plan, period_end } => format!(
            "You are on {plan} until {}; it renews each month.",
            date(*period_end)
        ),
        PlanChanged::SwitchBooked { next, on } => format!(
            "Switch booked: you move to {next} on {}. Nothing changes before then.",
            date(*on)
        ),
        PlanChanged::Upgraded { plan } => format!("You are now on {plan}."),
        PlanChanged::Cancelled {
            ends,
            booked: Some(booked),
        } => format!(
            "Your subscription ends on {}. The switch to {booked} you booked happens only if you resume before then.",
            date(*ends)
        ),
        PlanChanged::Cancelled { ends, booked: None } => {
            format!("Your subscription ends on {}.", date(*ends))
        }
        PlanChanged::Resumed {
            plan,
            until,
            booked: Some(booked),
        } => format!(
            "Your subscription continues: {plan} until {}, then {booked} from that renewal, as you booked.",
            date(*until)
        ),
        PlanChanged::Resumed {
            until,
            booked: None,
            ..
        } => format!(
            "Your subscription continues and renews on {}.",
            date(*until)
        ),
        PlanChanged::Stayed { plan } => format!("You stay on {plan}."),
        PlanChanged::Checkout => "Taking you to the checkout…".to_owned(),
    }
}

/// What choosing a plan means, in words, e.g. "From 1 July 2026: 1,000 credits each period
/// for $9 a month. ...", with its dates in the reader's time zone.
pub fn effect(o: &PlanOption) -> String {
    let credits = group_thousands(o.credits_per_period);
    let price = format_usd(o.monthly_price_cents);
    let on = o.date.map(date).unwrap_or_default();
    match o.kind {
        ChangeKind::Current if o.date.is_some() => format!("Your plan until {on}."),
        ChangeKind::Current => "Your plan.".to_owned(),
        ChangeKind::Upgrade => format!(
            "Starts now: {} charged today for the rest of this period and {} more credits until {on}, then {credits} credits each period for {price} a month.",
            format_usd(o.charge_today_cents),
            group_thousands(o.extra_credits)
        ),
        ChangeKind::PendingDowngrade => {
            format!("Starts {on}: {credits} credits each period for {price} a month.")
        }
        ChangeKind::Downgrade => format!(
            "From {on}: {credits} credits each period for {price} a month. You keep your current plan and its credits until then; this period's fee is not refunded."
        ),
        ChangeKind::Subscribe => {
            format!("Starts now: {credits} credits until {on}, renewed each month for {price}.")
        }
    }
}

/// The second step of a change: what exactly happens, and the button that does it.
fn confirmation(what: &str, plan: &PlanState, action: ServerAction<ChangePlan>) -> AnyView {
    let pending = action.pending();
    let end = plan.period_end.map(date).unwrap_or_default();
    let grace = plan.grace_until.map(date).unwrap_or_default();
    let name = plan.plan_name.clone().unwrap_or_default();
    let option = |id: &str| plan.options.iter().find(|o| o.id == id).cloned();
    let (verb, id) = what.split_once(':').unwrap_or((what, ""));
    let verb = verb.to_owned();
    match verb.as_str() {
        "subscribe" | "change" => {
            let Some(o) = option(id) else { return ().into_any() };
            let title = match o.kind {
                ChangeKind::Upgrade => format!("Upgrade to {}?", o.name),
                ChangeKind::Downgrade => format!("Switch to {} at your next renewal?", o.name),
                _ => format!("Subscribe to {}?", o.name),
            };
            view! {
                <div class="card confirm" role="region" aria-labelledby="confirm-heading" data-testid="confirm-change" id="confirm" tabindex="-1">
                    <h3 id="confirm-heading">{title}</h3>
                    <p>{effect(&o)}</p>
                    <ActionForm action attr:class="button-row">
                        <input type="hidden" name="action" value=verb.clone() />
                        <input type="hidden" name="plan" value=o.id.clone() />
                        <button type="submit" disabled=pending>"Confirm"</button>
                        <a href="/subscription#plans">"Not now"</a>
                    </ActionForm>
                </div>
            }
            .into_any()
        }
        // P15: starting to cancel first offers the next tier down (below a booked
        // downgrade, which is said to be booked already).
        "cancel" => match plan.lower_tier.clone() {
            Some(LowerTier { id: lower_id, name: lower_name, credits_per_period: credits }) => view! {
                <div class="card confirm" role="region" aria-labelledby="confirm-heading" data-testid="downgrade-offer" id="confirm" tabindex="-1">
                    <h3 id="confirm-heading">{format!("Before you go: switch to {lower_name} instead?")}</h3>
                    {plan.pending_plan_name.clone().map(|booked| view! {
                        <p>{format!("You have already booked {booked} from {end}; {lower_name} costs less still.")}</p>
                    })}
                    <p>{format!(
                        "You keep all your projects and audio, and get {} credits each period from {end} at {lower_name}'s lower price. Until then nothing changes.",
                        group_thousands(credits)
                    )}</p>
                    <ActionForm action attr:class="button-row">
                        <input type="hidden" name="action" value=PlanAction::Change.as_str() />
                        <input type="hidden" name="plan" value=lower_id />
                        <button type="submit" disabled=pending>{format!("Switch to {lower_name}")}</button>
                    </ActionForm>
                    <p><a href=confirm_link("cancel-final")>"No thanks, cancel my subscription"</a></p>
                </div>
            }
            .into_any(),
            None => cancel_final(&name, &end, &grace, plan.pending_plan_name.as_deref(), action),
        },
        "cancel-final" => cancel_final(&name, &end, &grace, plan.pending_plan_name.as_deref(), action),
        _ => ().into_any(),
    }
}

fn cancel_final(
    name: &str,
    end: &str,
    grace: &str,
    booked: Option<&str>,
    action: ServerAction<ChangePlan>,
) -> AnyView {
    let pending = action.pending();
    let booked = booked.map(|b| format!(
        "Your switch to {b} from {end} is already booked: you can keep it instead of cancelling, and pay {b}'s lower price from then."
    ));
    view! {
        <div class="card confirm" role="region" aria-labelledby="confirm-heading" data-testid="confirm-cancel" id="confirm" tabindex="-1">
            <h3 id="confirm-heading">{format!("Cancel {name}?")}</h3>
            {booked.map(|b| view! {
                <p data-testid="switch-booked">{b}" "<a href="/subscription#plans">"Keep the switch"</a></p>
            })}
            <dl class="pairs" data-testid="cancel-dates">
                <dt>"Your plan and its credits last until"</dt><dd>{end.to_owned()}</dd>
                <dt>"Your projects and audio are kept until"</dt><dd>{grace.to_owned()}</dd>
                <dt>"After that"</dt><dd>"they may be deleted for good; payments, credit history and top-up credits are kept"</dd>
            </dl>
            <p class="help">"Fees already paid are not refunded. You can resume any time before the plan ends."</p>
            <ActionForm action attr:class="stack-form">
                <input type="hidden" name="action" value=PlanAction::Cancel.as_str() />
                <label for="cancel-reason">"Why are you leaving? (optional)"</label>
                <textarea id="cancel-reason" name="reason" maxlength="500" rows="3"></textarea>
                <div class="button-row">
                    <button type="submit" disabled=pending>"Cancel subscription"</button>
                    <a href="/subscription#plans">"Keep my plan"</a>
                </div>
            </ActionForm>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(kind: ChangeKind, date: Option<i64>) -> PlanOption {
        PlanOption {
            id: "studio".into(),
            name: "Studio".into(),
            monthly_price_cents: 9900,
            credits_per_period: 20_000,
            grace_period_days: 90,
            kind,
            date,
            charge_today_cents: 4666,
            extra_credits: 10_000,
        }
    }

    /// The words the confirm step and the plan cards show (dates in UTC without a reader's
    /// zone): an upgrade says both of its numbers.
    #[test]
    fn each_change_and_what_it_did_is_said_with_its_numbers_and_dates() {
        const JULY_1: i64 = 1_782_864_000;
        assert_eq!(
            effect(&option(ChangeKind::Upgrade, Some(JULY_1))),
            "Starts now: $46.66 charged today for the rest of this period and 10,000 more credits until 1 July 2026, then 20,000 credits each period for $99 a month."
        );
        assert_eq!(
            effect(&option(ChangeKind::Downgrade, Some(JULY_1))),
            "From 1 July 2026: 20,000 credits each period for $99 a month. You keep your current plan and its credits until then; this period's fee is not refunded."
        );
        assert_eq!(
            effect(&option(ChangeKind::PendingDowngrade, Some(JULY_1))),
            "Starts 1 July 2026: 20,000 credits each period for $99 a month."
        );
        assert_eq!(
            effect(&option(ChangeKind::Subscribe, Some(JULY_1))),
            "Starts now: 20,000 credits until 1 July 2026, renewed each month for $99."
        );
        assert_eq!(effect(&option(ChangeKind::Current, None)), "Your plan.");
        assert_eq!(
            said(&PlanChanged::SwitchBooked {
                next: "Starter".into(),
                on: JULY_1
            }),
            "Switch booked: you move to Starter on 1 July 2026. Nothing changes before then."
        );
        assert_eq!(
            said(&PlanChanged::Resumed {
                plan: "Studio".into(),
                until: JULY_1,
                booked: Some("Creator".into())
            }),
            "Your subscription continues: Studio until 1 July 2026, then Creator from that renewal, as you booked."
        );
        assert_eq!(
            said(&PlanChanged::Cancelled {
                ends: JULY_1,
                booked: None
            }),
            "Your subscription ends on 1 July 2026."
        );
        assert_eq!(
            effect(&option(ChangeKind::Current, Some(JULY_1))),
            "Your plan until 1 July 2026."
        );
    }
}
