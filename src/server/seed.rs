//! `studio-billing seed demo`: a demo customer with a realistic month of history, and a
//! support user. Safe to run again: what exists is left as it is.

use crate::domain::account::{Email, Role};
use crate::domain::credits::Credits;
use crate::domain::ledger::GrantKind;
use crate::domain::pricing::Operation;
use crate::server::auth;
use crate::server::db::ledger::{self, NewGrant, NewHold};
use crate::server::db::users;
use crate::server::state::AppState;

pub const DEMO_CUSTOMER_EMAIL: &str = "demo@studio.test";
pub const DEMO_SUPPORT_EMAIL: &str = "support@studio.test";
/// Demo mode only: the sign-in page shows it, production never does (and refuses to
/// start while an account has it).
pub use crate::domain::account::DEMO_PASSWORD;

const DAY: i64 = 86_400;

#[derive(Debug, PartialEq, Eq)]
pub enum Seeded {
    Created,
    AlreadyThere,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "this database already has {0} account(s) that `seed demo` did not create, so it is not a demo database; \
         seed demo adds accounts with a published password and refuses it. Point DATABASE_URL at an empty \
         database for the demo (the default is sqlite://data/studio-billing.db), and make staff accounts with \
         `studio-billing user create`"
    )]
    ForeignDatabase(i64),
}

pub async fn demo(state: &AppState) -> Result<Seeded, Box<dyn std::error::Error>> {
    let customer_email = Email::parse(DEMO_CUSTOMER_EMAIL)?;
    if users::credentials(&state.db, &customer_email)
        .await?
        .is_some()
    {
        return Ok(Seeded::AlreadyThere);
    }
    let foreign = users::count_not_seeded(&state.db).await?;
    if foreign > 0 {
        return Err(SeedError::ForeignDatabase(foreign).into());
    }
    let now = state.clock.now();
    let hash = auth::hash_password(DEMO_PASSWORD.to_owned())
        .await
        .map_err(|e| e.to_string())?;
    let support_email = Email::parse(DEMO_SUPPORT_EMAIL)?;
    if users::credentials(&state.db, &support_email)
        .await?
        .is_none()
    {
        users::create(
            &state.db,
            &support_email,
            &hash,
            Role::Support,
            users::Origin::SeedDemo,
            now,
        )
        .await?;
    }
    let customer = users::create(
        &state.db,
        &customer_email,
        &hash,
        Role::Customer,
        users::Origin::SeedDemo,
        now - 40 * DAY,
    )
    .await?;
    let account = customer.account_id.ok_or("a customer has an account")?;

    // The current period began 20 days ago on the Creator plan.
    let plan = state
        .config
        .catalog
        .plans
        .get(1)
        .or(state.config.catalog.plans.first())
        .ok_or("no plans")?;
    let period_start = now - 20 * DAY;
    // Subscribed then, through the life cycle: the period's grant and its payment.
    crate::server::services::lifecycle::transition(
        &state.db,
        &state.config.catalog,
        crate::server::services::plans::billing(state),
        account,
        &crate::domain::subscription::Command::Subscribe(plan.id.clone()),
        None,
        period_start,
    )
    .await
    .map_err(|e| e.to_string())?;
    let grant = |kind, amount: u64, expires_at, reason: &str| NewGrant {
        kind,
        amount: Credits::new(amount).unwrap_or(Credits::ZERO),
        expires_at,
        reason: reason.to_owned(),
        actor: None,
    };

    // A month of generations of every kind: (days ago, operation, requested, produced).
    let jobs: [(i64, Operation, u64, u64); 12] = [
        (19, Operation::AssistantChat, 12, 12),
        (18, Operation::ScriptGeneration, 8000, 8400),
        (17, Operation::VoiceGeneration, 240, 228),
        (15, Operation::SoundEffects, 6, 6),
        (14, Operation::Music, 90, 95),
        (12, Operation::AudioProcessing, 600, 600),
        (10, Operation::VoiceGeneration, 300, 310),
        (8, Operation::AssistantChat, 30, 27),
        (6, Operation::Music, 120, 120),
        (4, Operation::ScriptGeneration, 5000, 4700),
        (3, Operation::SoundEffects, 4, 4),
        (1, Operation::AudioProcessing, 900, 880),
    ];
    let price = |op: Operation, q: u64| {
        state
            .config
            .catalog
            .price_book
            .rule(op)
            .and_then(|r| r.price(q).ok())
            .unwrap_or(Credits::ZERO)
    };
    // Everything is written in the order of its time, as it would have happened, so the
    // journal's running balance reads the same by time as by sequence.
    let mut topped_up = false;
    let mut failed_done = false;
    for (days_ago, op, requested, produced) in jobs {
        if !topped_up && days_ago <= 12 {
            topped_up = true;
            ledger::grant(
                &state.db,
                account,
                grant(GrantKind::Topup, 1000, None, "Top-up: 1,000 credits"),
                None,
                now - 12 * DAY,
            )
            .await?;
        }
        if !failed_done && days_ago < 2 {
            failed_done = true;
            seed_failed_generation(state, account, now, &price).await?;
        }
        let at = now - days_ago * DAY;
        let estimate = price(op, requested);
        let hold = NewHold {
            operation: op,
            quantity: requested,
            estimate,
            amount: estimate,
            expires_at: at + state.config.hold_ttl_secs,
        };
        let h = ledger::reserve(&state.db, account, hold, None, at).await?;
        ledger::capture(
            &state.db,
            h.hold_id,
            Some(account),
            ledger::Actual {
                quantity: produced,
                cost: price(op, produced),
                tolerance_percent: state.config.capture_tolerance_percent,
            },
            None,
            at + 60,
        )
        .await?;
    }
    Ok(Seeded::Created)
}

/// One voice generation that failed halfway on our side: half its credits came back (P8).
async fn seed_failed_generation(
    state: &AppState,
    account: i64,
    now: i64,
    price: &impl Fn(Operation, u64) -> Credits,
) -> Result<(), Box<dyn std::error::Error>> {
    let at = now - 2 * DAY;
    let estimate = price(Operation::VoiceGeneration, 200);
    let hold = NewHold {
        operation: Operation::VoiceGeneration,
        quantity: 200,
        estimate,
        amount: estimate,
        expires_at: at + state.config.hold_ttl_secs,
    };
    let h = ledger::reserve(&state.db, account, hold, None, at).await?;
    let r = ledger::capture(
        &state.db,
        h.hold_id,
        Some(account),
        ledger::Actual {
            quantity: 200,
            cost: estimate,
            tolerance_percent: state.config.capture_tolerance_percent,
        },
        None,
        at + 60,
    )
    .await?;
    let half = Credits::new(r.charged.get() / 2)?;
    ledger::refund(
        &state.db,
        h.hold_id,
        Some(account),
        half,
        "Narration failed halfway (voice service error)",
        None,
        at + 120,
    )
    .await?;
    Ok(())
}

/// The e-mails of enabled accounts that still have the demo's published password (checked
/// on the accounts `seed demo` made and on every support user). Production refuses to
/// start while there is one.
pub async fn accounts_with_the_demo_password(
    db: &crate::server::db::Db,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut found = Vec::new();
    for (email, hash) in users::hashes_to_check_for_demo_passwords(db).await? {
        if auth::verify_password(DEMO_PASSWORD.to_owned(), Some(hash))
            .await
            .map_err(|e| e.to_string())?
        {
            found.push(email);
        }
    }
    Ok(found)
}
