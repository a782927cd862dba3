//! Plans and the subscription life cycle: what each change would mean, the changes, the
//! scheduler that renews and ends subscriptions, and the demo clock.

use crate::domain::catalog::PlanId;
use crate::domain::ledger::long_date;
use crate::domain::subscription::{self as rules, Command, DAY, LifecycleError, Status};
use crate::error::AppError;
use crate::model::plans::{
    ChangeKind, LowerTier, PlanAction, PlanChanged, PlanOption, PlanPaymentInProgress, PlanState,
};
use crate::server::config::{Mode, PaymentsConfig, StripeConfig};
use crate::server::db::subscriptions::{self, SubscriptionError};
use crate::server::error::internal;
use crate::server::payments::events::SubscriptionObject;
use crate::server::payments::{self as payments, stripe_api};
use crate::server::services::lifecycle::{self, Billing};
use crate::server::state::AppState;

/// The longest jump of the demo clock in one go.
pub const MAX_CLOCK_DAYS: i64 = 400;
/// Accounts handled per scheduler run.
const BATCH: i64 = 200;

pub(crate) fn billing(state: &AppState) -> Billing {
    match state.config.payments {
        PaymentsConfig::Local => Billing::Local,
        PaymentsConfig::Stripe(_) => Billing::Stripe,
    }
}

fn from_storage(e: SubscriptionError) -> AppError {
    match e {
        SubscriptionError::Rule(r) => match r {
            LifecycleError::UnknownPlan => AppError::bad_request(r.to_string()),
            other => AppError::conflict(other.to_string()),
        },
        other => internal("subscription storage")(other),
    }
}

/// Runs whatever is due for every subscription (renewals, ends, purges). Any number of
/// instances may run it at once.
pub async fn run_due(state: &AppState) -> Result<u32, AppError> {
    let now = state.clock.now();
    let mut steps = 0;
    let mut after = 0;
    // Page through every due account; one that keeps failing is logged and passed over,
    // so it never holds up the others.
    loop {
        let accounts = subscriptions::due_accounts(&state.db, now, after, BATCH)
            .await
            .map_err(from_storage)?;
        for &account in &accounts {
            match lifecycle::run_due_for(
                &state.db,
                &state.config.catalog,
                billing(state),
                account,
                now,
            )
            .await
            {
                Ok(n) => steps += n,
                Err(e) => {
                    tracing::warn!(account, error = %e, "subscription step failed; will retry")
                }
            }
        }
        match accounts.last() {
            Some(&last) if accounts.len() as i64 == BATCH => after = last,
            _ => return Ok(steps),
        }
    }
}

/// Where the account's plan stands and what each plan would mean, in numbers (the page
/// says them in words, in the reader's time zone).
pub async fn state(state: &AppState, account: i64) -> Result<PlanState, AppError> {
    let sub = subscriptions::get(&state.db, account)
        .await
        .map_err(from_storage)?;
    state_of(state, account, sub).await
}

/// The caller's plan and what each change would mean, from their subscription as just read
/// (`/subscription` reads it once for the overview and this section).
pub async fn state_of(
    state: &AppState,
    account: i64,
    sub: Option<rules::Subscription>,
) -> Result<PlanState, AppError> {
    let catalog = &state.config.catalog;
    let name_of = |id: &PlanId| catalog.plan(id).map(|p| p.name.clone());
    let live = sub.as_ref().filter(|s| s.status.is_live());
    let current_rank = live.and_then(|s| catalog.plans.iter().position(|p| p.id == s.plan));
    let options = catalog
        .plans
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let now = state.clock.now();
            // (kind, date, charge today, extra credits): the page says them in words.
            let (kind, date, charge, extra) = match (live, current_rank) {
                (Some(s), Some(r)) if i == r => (
                    ChangeKind::Current,
                    s.pending_plan.as_ref().map(|_| s.period_end),
                    0,
                    0,
                ),
                (Some(s), Some(r)) if i > r => {
                    // Paid now for the rest of the period, and credited alike.
                    let g = rules::upgrade_grant(
                        &catalog.plans[r],
                        p,
                        s.period_start,
                        s.period_end,
                        now,
                    );
                    let (extra, charge) = g.map_or((0, 0), |g| (g.credits, g.price_cents));
                    (ChangeKind::Upgrade, Some(s.period_end), charge, extra)
                }
                (Some(s), Some(_)) if s.pending_plan.as_ref() == Some(&p.id) => {
                    (ChangeKind::PendingDowngrade, Some(s.period_end), 0, 0)
                }
                (Some(s), Some(_)) => (ChangeKind::Downgrade, Some(s.period_end), 0, 0),
                _ => (ChangeKind::Subscribe, Some(rules::add_month(now)), 0, 0),
            };
            PlanOption {
                id: p.id.as_str().to_owned(),
                name: p.name.clone(),
                monthly_price_cents: p.monthly_price_cents,
                credits_per_period: p.credits_per_period.get(),
                grace_period_days: p.grace_period_days,
                kind,
                date,
                charge_today_cents: charge,
                extra_credits: extra,
            }
        })
        .collect();
    // P15: the tier below what the next period will be (below a booked downgrade, not
    // the booked plan again).
    let lower_tier = live
        .and_then(|s| rules::lower_tier(catalog, s.pending_plan.as_ref().unwrap_or(&s.plan)))
        .map(|p| LowerTier {
            id: p.id.as_str().to_owned(),
            name: p.name.clone(),
            credits_per_period: p.credits_per_period.get(),
        });
    let grace_until = match &sub {
        Some(s) if s.status == Status::Ended => s.grace_until,
        // If cancelled now: when the grace period would end.
        Some(s) => catalog
            .plan(&s.plan)
            .map(|p| s.period_end + i64::from(p.grace_period_days) * DAY),
        None => None,
    };
    let payment_in_progress = match live {
        Some(_) => None,
        None => plan_payment_in_progress(state, account).await?,
    };
    Ok(PlanState {
        payment_in_progress,
        status: sub.as_ref().map(|s| s.status).into(),
        plan_name: sub.as_ref().and_then(|s| name_of(&s.plan)),
        period_start: sub.as_ref().map(|s| s.period_start),
        period_end: sub.as_ref().map(|s| s.period_end),
        cancel_at_period_end: sub.as_ref().is_some_and(|s| s.cancel_at_period_end),
        pending_plan_name: sub
            .as_ref()
            .and_then(|s| s.pending_plan.as_ref())
            .and_then(name_of),
        grace_until,
        lower_tier,
        options,
        test_mode: billing(state) == Billing::Local,
    })
}

/// While there is no live plan: a plan payment under way. The local checkout records its
/// sessions from the start; Stripe's plan checkouts are on record once they complete
/// (a bank debit completes unpaid and clears days later).
async fn plan_payment_in_progress(
    state: &AppState,
    account: i64,
) -> Result<Option<PlanPaymentInProgress>, AppError> {
    let catalog = &state.config.catalog;
    let plan_of = |product: &str| PlanId::parse(product).ok().and_then(|id| catalog.plan(&id));
    let name_of =
        |product: &str| plan_of(product).map_or_else(|| product.to_owned(), |p| p.name.clone());
    let now = state.clock.now();
    let recheck = |since: i64| crate::domain::payments::recheck_after(now - since);
    let local = crate::server::db::payments::plan_payment_in_progress(&state.db, account)
        .await
        .map_err(internal("reading a plan payment in progress"))?
        .map(|p| PlanPaymentInProgress {
            plan_name: name_of(&p.product),
            amount_cents: p.amount_cents,
            credits: p.credits.get(),
            processing: p.status == crate::domain::payments::PaymentStatus::Processing,
            checkout_url: p.checkout_url,
            recheck_secs: recheck(p.created_at),
            checked_at: state.clock.wall(),
        });
    // A payment processing is what matters most (it blocks another plan); a checkout only
    // opened comes after it, whichever checkout each is.
    if local.as_ref().is_some_and(|p| p.processing) {
        return Ok(local);
    }
    let stripe = crate::server::db::plan_checkouts::processing(&state.db, account, now)
        .await
        .map_err(internal("reading a Stripe plan checkout in progress"))?
        .map(|c| PlanPaymentInProgress {
            plan_name: name_of(&c.plan),
            amount_cents: u64::try_from(c.amount_cents).unwrap_or(0),
            credits: plan_of(&c.plan).map_or(0, |p| p.credits_per_period.get()),
            processing: true,
            checkout_url: None,
            recheck_secs: recheck(c.created_at),
            checked_at: state.clock.wall(),
        });
    Ok(stripe.or(local))
}

/// The refusal of a plan checkout while another plan's payment is processing.
fn still_processing(plan_name: &str) -> AppError {
    AppError::conflict(format!(
        "Your payment for the {plan_name} plan is still being processed. The plan starts as soon as it clears; until then no other plan can be bought, so you never pay twice."
    ))
}

/// What a plan change did, or a checkout to send the browser to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Done(PlanChanged),
    Checkout(String),
}

/// A plan change asked for from the Subscription page.
pub async fn change(
    state: &AppState,
    account: i64,
    email: &str,
    action: &str,
    plan: Option<&str>,
    reason: Option<&str>,
) -> Result<Changed, AppError> {
    let plan_id = || {
        plan.and_then(|p| PlanId::parse(p).ok())
            .filter(|p| state.config.catalog.plan(p).is_some())
            .ok_or_else(|| AppError::bad_request("Pick one of the plans shown."))
    };
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(AppError::bad_request(
            "Please keep the reason under 500 characters.",
        ));
    }
    let cmd = match PlanAction::parse(action) {
        Some(PlanAction::Subscribe) => Command::Subscribe(plan_id()?),
        Some(PlanAction::Change) => Command::ChangePlan(plan_id()?),
        Some(PlanAction::Keep) => Command::KeepPlan,
        Some(PlanAction::Cancel) => Command::Cancel,
        Some(PlanAction::Resume) => Command::Resume,
        None => {
            return Err(AppError::bad_request(
                "That plan change is not one this page offers.",
            ));
        }
    };
    let now = state.clock.now();
    if let PaymentsConfig::Stripe(config) = &state.config.payments {
        return change_with_stripe(state, config, account, email, &cmd, now).await;
    }
    // Bring the subscription up to date with the clock first (a renewal may be due).
    lifecycle::run_due_for(
        &state.db,
        &state.config.catalog,
        billing(state),
        account,
        now,
    )
    .await
    .map_err(from_storage)?;
    if let Command::Subscribe(plan) = &cmd {
        return local_plan_checkout(state, account, plan, now).await;
    }
    let o = lifecycle::transition(
        &state.db,
        &state.config.catalog,
        billing(state),
        account,
        &cmd,
        if cmd == Command::Cancel { reason } else { None },
        now,
    )
    .await
    .map_err(from_storage)?;
    Ok(Changed::Done(said(state, &cmd, &o)))
}

/// Without Stripe, a new plan is bought through the local (test-mode) checkout: its "Pay"
/// sends the signed event that starts the plan, as Stripe's would.
async fn local_plan_checkout(
    state: &AppState,
    account: i64,
    plan: &PlanId,
    now: i64,
) -> Result<Changed, AppError> {
    let catalog = &state.config.catalog;
    // The rules say now whether the plan can start (not while another is active).
    let current = subscriptions::get(&state.db, account)
        .await
        .map_err(from_storage)?;
    rules::apply(
        current.as_ref(),
        &Command::Subscribe(plan.clone()),
        catalog,
        now,
    )
    .map_err(|e| from_storage(e.into()))?;
    let p = catalog
        .plan(plan)
        .ok_or_else(|| AppError::bad_request("Pick one of the plans shown."))?;
    let id = crate::server::payments::local::new_session_id();
    let url = crate::server::payments::local::checkout_path(&id);
    let key = format!("plan-{}", uuid::Uuid::new_v4().simple());
    use crate::server::services::payment_events::{PlanCheckout, start_plan_checkout};
    let started = start_plan_checkout(
        &state.db,
        crate::server::db::payments::NewCheckout {
            account_id: account,
            kind: crate::domain::payments::PaymentKind::Subscription,
            provider: crate::domain::payments::Provider::Local,
            external_id: &id,
            product: plan.as_str(),
            credits: p.credits_per_period,
            amount_cents: p.monthly_price_cents,
            currency: "usd",
            checkout_url: &url,
            request_key: &key,
            saves_card: false,
        },
        now,
    )
    .await
    .map_err(internal("recording a plan checkout"))?;
    match started {
        PlanCheckout::Started(p) | PlanCheckout::Open(p) => {
            Ok(Changed::Checkout(p.checkout_url.unwrap_or(url)))
        }
        PlanCheckout::Processing(p) => Err(still_processing(
            &PlanId::parse(&p.product)
                .ok()
                .and_then(|id| catalog.plan(&id).map(|plan| plan.name.clone()))
                .unwrap_or_else(|| p.product.clone()),
        )),
    }
}

fn stripe_failed(e: stripe_api::StripeCallError) -> AppError {
    if let Some(message) = e.card_declined() {
        tracing::info!(error = %e, "Stripe declined the card for a plan change");
        return AppError::CardDeclined { message };
    }
    if matches!(e, stripe_api::StripeCallError::Timeout(_)) {
        // The change (and its charge) may still have gone through on Stripe's side.
        tracing::error!(error = %e, "Stripe did not answer a plan change in time");
        return AppError::PaymentProviderTimeout;
    }
    tracing::error!(error = %e, "Stripe call for a plan change failed");
    AppError::PaymentProvider
}

/// With Stripe, Stripe's subscription is the source of truth: a new plan goes through
/// Checkout (the first paid invoice grants the credits, by webhook); a change is made on
/// Stripe's subscription and the object Stripe returns is applied at once, exactly as its
/// webhook would be.
async fn change_with_stripe(
    state: &AppState,
    config: &StripeConfig,
    account: i64,
    email: &str,
    cmd: &Command,
    now: i64,
) -> Result<Changed, AppError> {
    let catalog = &state.config.catalog;
    let current = subscriptions::get(&state.db, account)
        .await
        .map_err(from_storage)?;
    // A plan checkout that completed and has not cleared (a bank debit): nobody pays twice,
    // and the customer is told why, without asking Stripe.
    if matches!(cmd, Command::Subscribe(_))
        && !current.as_ref().is_some_and(|s| s.status.is_live())
        && let Some(p) = plan_payment_in_progress(state, account).await?
        && p.processing
    {
        return Err(still_processing(&p.plan_name));
    }
    // The same rules decide what is allowed, and what it will mean.
    let expected =
        rules::apply(current.as_ref(), cmd, catalog, now).map_err(|e| from_storage(e.into()))?;
    let price_of = |id: &PlanId| {
        catalog
            .plan(id)
            .and_then(|p| p.stripe_price_id.clone())
            .ok_or_else(|| {
                AppError::conflict("This plan cannot be bought online yet. Please contact support.")
            })
    };
    let customer =
        crate::server::services::payments::stripe_customer(state, config, account, email).await?;
    let all = stripe_api::subscriptions_of(config, &customer)
        .await
        .map_err(stripe_failed)?;
    // Newest first: the key of a new checkout changes once any subscription was made.
    let newest = all
        .first()
        .map_or_else(|| "none".to_owned(), |s| s.id.clone());
    let live = all.into_iter().find(|s| s.is_live());
    if let Command::Subscribe(plan) = cmd {
        // One Stripe subscription per customer: a second checkout (another tab, a retry
        // before the first invoice's event) would bill twice.
        if live.is_some() {
            return Err(AppError::conflict(
                "Your subscription is being set up with our payment provider. Reload the page in a minute.",
            ));
        }
        // One open plan checkout at a time, so only one can be paid: back to the open one
        // for this plan, and any other closed (expired) before a new one is made.
        let open = stripe_api::open_plan_sessions(config, &customer)
            .await
            .map_err(stripe_failed)?;
        if let Some(url) = open
            .iter()
            .find(|s| s.plan_id.as_deref() == Some(plan.as_str()))
            .and_then(|s| s.url.clone())
        {
            return Ok(Changed::Checkout(url));
        }
        let mut closed = String::new();
        for s in &open {
            let key = payments::stripe_key(state, &format!("expire-{}", s.id)).await?;
            stripe_api::expire_session(config, &s.id, key)
                .await
                .map_err(stripe_failed)?;
            closed.push_str(&s.id);
        }
        // The sessions just closed change the key (a key of at most 255 characters), so
        // coming back to a plan whose session was closed makes a new one.
        let closed = if closed.is_empty() {
            closed
        } else {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(closed.as_bytes());
            format!("-closed-{}", hex::encode(&digest[..8]))
        };
        let public = &state.config.public_url;
        let url = stripe_api::create_plan_session(
            config,
            stripe_api::PlanSession {
                account_id: account,
                customer: &customer,
                price: &price_of(plan)?,
                plan_id: plan.as_str(),
                success_url: &format!("{public}/subscription?subscribed=1#plans"),
                cancel_url: &format!("{public}/subscription#plans"),
                // The same session however often the button is pressed within the hour,
                // until a subscription comes of it: then a new one (the hour alone sent a
                // returning customer to the first, completed session). The hour bounds
                // how long Stripe replays a failed answer for this key.
                idempotency_key: payments::stripe_key(
                    state,
                    &format!(
                        "plan-{account}-{}-after-{newest}-{}{closed}",
                        plan.as_str(),
                        now / 3600
                    ),
                )
                .await?,
            },
        )
        .await
        .map_err(stripe_failed)?;
        return Ok(Changed::Checkout(url));
    }
    let mut live = live.ok_or_else(|| {
        AppError::conflict(
            "We couldn't find your subscription with our payment provider. Please contact support.",
        )
    })?;
    let key = payments::stripe_key(
        state,
        &format!("change-{account}-{}", uuid::Uuid::new_v4().simple()),
    )
    .await?;
    // An upgrade moves the plan at once (a downgrade only sets the pending plan).
    let upgrade = matches!(cmd, Command::ChangePlan(_))
        && current
            .as_ref()
            .is_some_and(|s| s.plan != expected.next.plan);
    let mut restored = false;
    if let Some(paid_for) = current
        .as_ref()
        .filter(|s| upgrade && s.pending_plan.is_some())
    {
        // A pending downgrade already put the lower price on Stripe's subscription, and
        // Stripe prorates an upgrade from the price it has: the customer would pay the
        // difference between the lower plan and the new one, though this period's higher
        // plan is already paid. Put back the plan paid for (not prorated) first.
        let price = price_of(&paid_for.plan)?;
        live = stripe_api::update_subscription(
            config,
            &live,
            stripe_api::Change::Price {
                price: &price,
                prorate: false,
            },
            format!("{key}-restore"),
        )
        .await
        .map_err(stripe_failed)?;
        restored = true;
    }
    let price: String;
    let change = match cmd {
        Command::Cancel => stripe_api::Change::CancelAtPeriodEnd(true),
        Command::Resume => stripe_api::Change::CancelAtPeriodEnd(false),
        Command::ChangePlan(p) => {
            price = price_of(p)?;
            // An upgrade moves the plan now (prorated); a downgrade waits (not prorated).
            stripe_api::Change::Price {
                price: &price,
                prorate: upgrade,
            }
        }
        Command::KeepPlan => {
            price = price_of(&expected.next.plan)?;
            stripe_api::Change::Price {
                price: &price,
                prorate: false,
            }
        }
        _ => {
            return Err(AppError::bad_request(
                "That plan change is not one this page offers.",
            ));
        }
    };
    let updated = match stripe_api::update_subscription(config, &live, change, key).await {
        Ok(updated) => updated,
        Err(e) => {
            // The pending downgrade is already undone on Stripe: show that here too (the
            // customer asked for more than the downgrade anyway), then report the failure.
            if restored {
                apply_stripe_answer(state, &live, now).await?;
            }
            return Err(stripe_failed(e));
        }
    };
    apply_stripe_answer(state, &updated, now).await?;
    Ok(Changed::Done(said(state, cmd, &expected)))
}

/// Applies a subscription as Stripe's API returned it, just as its webhook would.
async fn apply_stripe_answer(
    state: &AppState,
    subscription: &SubscriptionObject,
    now: i64,
) -> Result<(), AppError> {
    let catalog = &state.config.catalog;
    let fact = crate::server::payments::facts::subscription_fact(subscription, catalog)
        .ok_or_else(|| {
            tracing::error!(subscription = %subscription.id, "Stripe returned a subscription of a price no plan sells");
            AppError::PaymentProvider
        })?;
    // Stripe's answer is its state as of the end of this second. Events carry whole
    // seconds, so an event created in this second (this change's own, or the restore's
    // before an upgrade) is no newer, and is not applied over it.
    let effect = crate::server::services::payment_events::EventEffect::Subscription {
        catalog,
        customer: &subscription.customer,
        fact,
        invoice: None,
        at: Some(state.clock.wall() + 1),
    };
    crate::server::services::payment_events::apply_direct(&state.db, effect, now)
        .await
        .map_err(internal("applying Stripe's subscription"))?;
    Ok(())
}

/// What a change did (the page says it in words).
fn said(state: &AppState, cmd: &Command, o: &rules::Outcome) -> PlanChanged {
    let name = |id: &PlanId| {
        state
            .config
            .catalog
            .plan(id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    let s = &o.next;
    let booked = s.pending_plan.as_ref().map(name);
    match cmd {
        Command::Subscribe(_) => PlanChanged::Subscribed {
            plan: name(&s.plan),
            period_end: s.period_end,
        },
        Command::ChangePlan(_) if booked.is_some() => PlanChanged::SwitchBooked {
            next: booked.unwrap_or_default(),
            on: s.period_end,
        },
        Command::ChangePlan(_) if o.grant.is_some() => PlanChanged::Upgraded {
            plan: name(&s.plan),
        },
        Command::Cancel => PlanChanged::Cancelled {
            ends: s.period_end,
            booked,
        },
        Command::Resume => PlanChanged::Resumed {
            plan: name(&s.plan),
            until: s.period_end,
            booked,
        },
        _ => PlanChanged::Stayed {
            plan: name(&s.plan),
        },
    }
}

/// Where a customer with Stripe fixes the payment of a past-due plan: Stripe's portal.
pub async fn fix_payment_url(state: &AppState, account: i64) -> Result<String, AppError> {
    let PaymentsConfig::Stripe(config) = &state.config.payments else {
        return Err(AppError::conflict("There is no payment to fix here."));
    };
    let customer = subscriptions::customer_of(&state.db, account)
        .await
        .map_err(from_storage)?
        .ok_or_else(|| AppError::conflict("There is no payment to fix here."))?;
    let back = format!("{}/subscription#plans", state.config.public_url);
    // One portal session per account and minute, however often the button is pressed.
    let key = payments::stripe_key(
        state,
        &format!("portal-{account}-{}", state.clock.wall() / 60),
    )
    .await?;
    stripe_api::portal_session(config, &customer, &back, key)
        .await
        .map_err(stripe_failed)
}

/// Demo mode only: moves the clock and runs what became due.
/// Demo mode: the app's time now, and how many whole days it is ahead of real time.
/// `None` outside demo mode (the clock is real time there).
pub fn demo_clock(state: &AppState) -> Option<(i64, i64)> {
    (state.config.mode == Mode::Demo).then(|| (state.clock.now(), state.clock.ahead() / DAY))
}

pub async fn advance_clock(state: &AppState, days: &str) -> Result<String, AppError> {
    if state.config.mode != Mode::Demo {
        return Err(AppError::not_found("This page"));
    }
    let days = days
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=MAX_CLOCK_DAYS).contains(d))
        .ok_or_else(|| {
            AppError::bad_request(format!(
                "Enter a whole number of days from 1 to {MAX_CLOCK_DAYS}."
            ))
        })?;
    state.clock.advance(days * DAY);
    let steps = run_due(state).await?;
    Ok(format!(
        "The app's clock now reads {}. {steps} subscription step{} ran.",
        long_date(state.clock.now()),
        if steps == 1 { "" } else { "s" }
    ))
}
