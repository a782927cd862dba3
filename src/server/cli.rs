//! The `studio-billing` command line.

use crate::server::bench;
use crate::server::clock::Clock;
use crate::server::config::{Config, Mode};
use crate::server::db::{Db, ledger, tokens};
use crate::server::http;
use crate::server::jobs;
use crate::server::seed;
use crate::server::state::AppState;
use crate::server::telemetry;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "studio-billing",
    version,
    about = "Credits and billing for Studio: the web app, its ledger and its tools."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web app (the default): applies pending migrations, then serves the pages,
    /// server functions and API on LEPTOS_SITE_ADDR until Ctrl-C or SIGTERM.
    Serve,
    /// Apply pending database migrations to DATABASE_URL and exit. Running it twice is safe.
    Migrate,
    /// Manage the people who sign in: support staff exist only through this. Every change is
    /// in the support console's audit list.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage the service tokens the generation services call the usage API with.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Check the credits ledger.
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
    },
    /// Fill the database with example data.
    Seed {
        #[command(subcommand)]
        action: SeedAction,
    },
    /// Measure performance against DATABASE_URL (writes benchmark accounts to it).
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
    /// Set up, check and reconcile the Stripe account (needs STRIPE_SECRET_KEY).
    Stripe {
        #[command(subcommand)]
        action: StripeAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum StripeAction {
    /// Make the Stripe account match the catalogue: a product and a monthly price per plan
    /// (found by lookup key = plan id; a changed price makes a new price), and the webhook
    /// endpoint at STUDIO_PUBLIC_URL/webhooks/stripe with the events the app handles,
    /// pinned to the API version it is tested for. Prints a new endpoint's signing secret
    /// once. Running it again changes nothing.
    Setup {
        /// Replace an endpoint pinned to another API version (it gets a new secret).
        #[arg(long)]
        recreate_endpoint: bool,
    },
    /// Report how the Stripe account differs from what the app needs, changing nothing.
    /// Exits non-zero on any difference.
    Check,
    /// Compare Stripe's paid checkouts, invoices and automatic top-ups with the ledger's
    /// grants over the last DAYS days: each paid once, and no grant without a payment.
    /// Exits non-zero on any difference. Without Stripe keys it checks the local test
    /// payments the same way.
    Reconcile {
        #[arg(long, default_value_t = 35)]
        since: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum SeedAction {
    /// A demo customer (demo@studio.test) with a month of history and a support user
    /// (support@studio.test), both with the password `demo-password`. Demo mode only;
    /// running it again changes nothing.
    Demo,
}

#[derive(Debug, Subcommand)]
pub enum BenchAction {
    /// Reserve -> capture cycles: W workers over A accounts for D seconds; prints cycles
    /// per second and p50/p99 latency of each operation.
    Ledger {
        #[arg(long, short = 'w', default_value_t = 20)]
        workers: usize,
        #[arg(long, short = 'a', default_value_t = 50)]
        accounts: usize,
        #[arg(long, short = 'd', default_value_t = 30)]
        seconds: u64,
        /// PostgreSQL: reserve and capture in Rust steps, as on SQLite, instead of the
        /// PL/pgSQL functions (to compare the two; the app always uses the functions).
        #[arg(long)]
        rules_in_rust: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user. The password is read from the terminal (asked twice, not shown) or,
    /// when standard input is not a terminal, from its first line; never from the command
    /// line.
    Create {
        #[arg(long)]
        email: String,
        /// `support` (the support console) or `customer` (with an empty ledger account).
        #[arg(long)]
        role: String,
    },
    /// Change a user's role; their sessions end.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Set a new password (read as for `create`); the user's sessions end.
    SetPassword {
        #[arg(long)]
        email: String,
    },
    /// Stop a user signing in and end their sessions. Nothing of theirs is deleted.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Let a disabled user sign in again.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Every user: e-mail, role, how they were made, when, and whether disabled.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it. It is shown only this once; only its hash is stored.
    Create {
        /// A name for the service that will use it, e.g. `voice-worker`.
        #[arg(long)]
        name: String,
        /// What it may do, comma-separated: estimate, reserve (and release), capture,
        /// refund, read (balance and journal); or `all`.
        #[arg(long)]
        scopes: String,
    },
    /// Every active token: name, scopes and when it was made (never the token itself).
    List,
    /// Revoke the active token with this name; requests with it get a 401 from then on.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerAction {
    /// Recompute every account's balance from its journal, grants and holds and report any
    /// difference. Exits non-zero when there is one.
    Verify,
}

pub async fn run(cli: Cli) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("studio-billing: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::User { action } => user(config, action).await,
        Command::Token { action } => token(config, action).await,
        Command::Ledger {
            action: LedgerAction::Verify,
        } => verify(config).await,
        Command::Seed {
            action: SeedAction::Demo,
        } => seed_demo(config).await,
        Command::Bench {
            action:
                BenchAction::Ledger {
                    workers,
                    accounts,
                    seconds,
                    rules_in_rust,
                },
        } => {
            bench_ledger(
                config,
                bench::LedgerBench {
                    workers,
                    accounts,
                    seconds,
                },
                rules_in_rust,
            )
            .await
        }
        Command::Stripe { action } => stripe(config, action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("studio-billing: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

async fn open(config: &Config) -> Result<Db, Box<dyn std::error::Error>> {
    let db = Db::connect(&config.database_url, config.database_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

async fn migrate(config: Config) -> CliResult {
    let db = open(&config).await?;
    let applied = db.applied_migrations().await?;
    println!(
        "{} database is at migration {} ({} applied)",
        db.backend_name(),
        applied.last().copied().unwrap_or(0),
        applied.len()
    );
    db.close().await;
    Ok(())
}

async fn token(config: Config, action: TokenAction) -> CliResult {
    let db = open(&config).await?;
    let now = Clock::system().now();
    match action {
        TokenAction::Create { name, scopes } => {
            let scopes = tokens::Scope::parse_list(&scopes)?;
            let token = tokens::create(&db, &name, &scopes, now).await?;
            eprintln!(
                "Created service token {name:?} with the scopes {}. Store it now: it is not shown again.",
                tokens::Scope::join(&scopes)
            );
            println!("{token}");
        }
        TokenAction::List => {
            for t in tokens::list(&db).await? {
                println!(
                    "{}\t{}\tcreated {}",
                    t.name,
                    tokens::Scope::join(&t.scopes),
                    crate::domain::ledger::long_date(t.created_at)
                );
            }
        }
        TokenAction::Revoke { name } => {
            tokens::revoke(&db, &name, now).await?;
            eprintln!("Revoked service token {name:?}.");
        }
    }
    db.close().await;
    Ok(())
}

/// A password from the terminal (asked twice, not echoed) or from standard input's first
/// line, checked by the same rule as sign-up.
fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if first != again {
            return Err("the two passwords differ; nothing changed".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    crate::domain::account::check_new_password(&password).map_err(|e| e.to_string())?;
    Ok(password)
}

fn role(s: &str) -> Result<crate::domain::account::Role, Box<dyn std::error::Error>> {
    crate::domain::account::Role::parse(s)
        .ok_or_else(|| format!("unknown role {s:?}: use support or customer").into())
}

fn email(s: &str) -> Result<crate::domain::account::Email, Box<dyn std::error::Error>> {
    crate::domain::account::Email::parse(s).map_err(|e| format!("{s:?}: {e}").into())
}

async fn user(config: Config, action: UserAction) -> CliResult {
    use crate::server::auth;
    use crate::server::db::users::{self, OPERATOR, Origin, UserChange};
    // Validate everything given before touching the database or asking for a password.
    let db = open(&config).await?;
    let now = Clock::system().now();
    let result: CliResult = async {
        let (who, what) = match action {
            UserAction::Create { email: e, role: r } => {
                let (e, r) = (email(&e)?, role(&r)?);
                let hash = auth::hash_password(read_password()?).await?;
                users::create(&db, &e, &hash, r, Origin::Operator, now).await?;
                println!("created {} ({})", e.as_str(), r.as_str());
                return Ok(());
            }
            UserAction::SetRole { email: e, role: r } => (email(&e)?, UserChange::Role(role(&r)?)),
            UserAction::SetPassword { email: e } => {
                let e = email(&e)?;
                let hash = auth::hash_password(read_password()?).await?;
                (e, UserChange::Password(hash))
            }
            UserAction::Disable { email: e } => (email(&e)?, UserChange::Disable),
            UserAction::Enable { email: e } => (email(&e)?, UserChange::Enable),
            UserAction::List => {
                for u in users::list(&db).await? {
                    println!(
                        "{}\t{}\t{}\tcreated {}{}",
                        u.email,
                        u.role.as_str(),
                        u.origin,
                        crate::domain::ledger::long_date(u.created_at),
                        u.disabled_at
                            .map(|t| format!("\tdisabled {}", crate::domain::ledger::long_date(t)))
                            .unwrap_or_default()
                    );
                }
                return Ok(());
            }
        };
        let label = match &what {
            UserChange::Role(r) => format!("role set to {}", r.as_str()),
            UserChange::Disable => "disabled".to_owned(),
            UserChange::Enable => "enabled".to_owned(),
            UserChange::Password(_) => "password set".to_owned(),
        };
        if users::change(&db, &who, what, OPERATOR, now).await? {
            println!("{}: {label}", who.as_str());
        } else {
            println!("{}: already so; nothing changed", who.as_str());
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

async fn verify(config: Config) -> CliResult {
    let db = open(&config).await?;
    let problems = ledger::verify(&db).await?;
    db.close().await;
    if problems.is_empty() {
        println!("ledger verify: every balance matches its journal");
        return Ok(());
    }
    for p in &problems {
        println!("account {}: {}", p.account_id, p.what);
    }
    Err(format!("ledger verify found {} difference(s)", problems.len()).into())
}

async fn seed_demo(config: Config) -> CliResult {
    if config.mode != Mode::Demo {
        return Err("seed demo runs in demo mode only (STUDIO_MODE=demo)".into());
    }
    let db = open(&config).await?;
    let state = AppState::new(config, db.clone(), Clock::system());
    match seed::demo(&state).await? {
        seed::Seeded::Created => println!(
            "seeded the demo customer {} and the support user {}",
            seed::DEMO_CUSTOMER_EMAIL,
            seed::DEMO_SUPPORT_EMAIL
        ),
        seed::Seeded::AlreadyThere => println!("the demo data is already there; nothing changed"),
    }
    db.close().await;
    Ok(())
}

async fn bench_ledger(mut config: Config, b: bench::LedgerBench, rules_in_rust: bool) -> CliResult {
    if b.workers == 0 || b.accounts == 0 || b.seconds == 0 {
        return Err("workers, accounts and seconds must each be at least 1".into());
    }
    // One connection per worker, so the pool is not what is measured.
    config.database_max_connections = config.database_max_connections.max(b.workers as u32 + 2);
    let mut db = open(&config).await?;
    if rules_in_rust {
        db = db.with_rules_in_rust();
    }
    let mut report = bench::run(&db, b, Clock::system().now()).await?;
    let name = match (db.backend_name(), rules_in_rust) {
        ("postgres", true) => "postgres (rules in Rust)",
        (name, _) => name,
    };
    report.print(name, &b);
    db.close().await;
    Ok(())
}

fn stripe_config(
    config: &Config,
) -> Result<&crate::server::config::StripeConfig, Box<dyn std::error::Error>> {
    match &config.payments {
        crate::server::config::PaymentsConfig::Stripe(s) => Ok(s),
        crate::server::config::PaymentsConfig::Local => {
            Err("this needs Stripe: set STRIPE_SECRET_KEY (and STRIPE_WEBHOOK_SECRET)".into())
        }
    }
}

async fn stripe(config: Config, action: StripeAction) -> CliResult {
    use crate::server::services::{reconcile, stripe_setup as setup};
    let db = open(&config).await?;
    let result: CliResult = async {
        match action {
            StripeAction::Setup { recreate_endpoint } => {
                let s = stripe_config(&config)?;
                let done = setup::setup(
                    s,
                    &db,
                    &config.catalog,
                    &config.public_url,
                    recreate_endpoint,
                )
                .await?;
                for c in &done.created {
                    println!("created: {c}");
                }
                for u in &done.updated {
                    println!("updated: {u}");
                }
                if done.created.is_empty() && done.updated.is_empty() {
                    println!("stripe setup: the account already matches; nothing changed");
                }
                if let Some(secret) = &done.new_webhook_secret {
                    println!();
                    println!("The new endpoint's signing secret (shown only now):");
                    println!("{secret}");
                    println!("Set STRIPE_WEBHOOK_SECRET to it (keep the old one in STRIPE_WEBHOOK_SECRET_PREVIOUS while events signed with it may still arrive), then restart the app.");
                }
                for l in &done.left {
                    println!("left for you: {l}");
                }
                if done.left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("stripe setup left {} thing(s) to do", done.left.len()).into())
                }
            }
            StripeAction::Check => {
                let s = stripe_config(&config)?;
                let report = setup::check(s, &db, &config.catalog, &config.public_url).await?;
                for n in &report.notes {
                    println!("note: {n}");
                }
                for d in &report.drift {
                    println!("drift: {d}");
                }
                if report.drift.is_empty() {
                    println!("stripe check: the Stripe account matches the catalogue and the webhook endpoint");
                    Ok(())
                } else {
                    Err(format!(
                        "stripe check found {} difference(s); `studio-billing stripe setup` puts most of them right",
                        report.drift.len()
                    )
                    .into())
                }
            }
            StripeAction::Reconcile { since } => {
                let now = Clock::system().now();
                let from = now - i64::from(since) * 86_400;
                let report = match &config.payments {
                    crate::server::config::PaymentsConfig::Stripe(s) => {
                        reconcile::with_stripe(s, &db, from, now).await?
                    }
                    crate::server::config::PaymentsConfig::Local => {
                        reconcile::local(&db, from, now).await?
                    }
                };
                print!("{}", report.table());
                crate::server::db::reconcile::record_run(
                    &db,
                    &crate::server::db::reconcile::Run {
                        at: now,
                        since_days: i64::from(since),
                        differences: i64::try_from(report.differences.len()).unwrap_or(i64::MAX),
                        report: report.table(),
                    },
                )
                .await?;
                if report.differences.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "stripe reconcile found {} difference(s)",
                        report.differences.len()
                    )
                    .into())
                }
            }
        }
    }
    .await;
    db.close().await;
    result
}

async fn serve(mut config: Config) -> CliResult {
    // An SMTP address lettre cannot use stops the start, not the first notice.
    let mailer = crate::server::mail::Mailer::new(&config.mail)?;
    let db = open(&config).await?;
    if config.mode == Mode::Production {
        let published = seed::accounts_with_the_demo_password(&db).await?;
        if !published.is_empty() {
            db.close().await;
            return Err(format!(
                "production will not start while an account has the demo's published password: {}. \
                 For each, set a new password (studio-billing user set-password --email E) or disable it \
                 (studio-billing user disable --email E)",
                published.join(", ")
            )
            .into());
        }
    }
    // With Stripe: plans without an explicit price id take the one their lookup key names,
    // and the account's drift is logged (`stripe check` says the same).
    if let crate::server::config::PaymentsConfig::Stripe(s) = config.payments.clone() {
        use crate::server::services::stripe_setup as setup;
        match setup::resolve_prices(&s, &mut config.catalog).await {
            Ok(unsold) if unsold.is_empty() => {}
            Ok(unsold) => tracing::warn!(
                plans = ?unsold,
                "these plans have no Stripe price matching the catalogue and cannot be bought online; run `studio-billing stripe setup`"
            ),
            Err(e) => {
                tracing::error!(error = %e, "looking up the plans' Stripe prices failed; plans keep their configured price ids")
            }
        }
        match setup::check(&s, &db, &config.catalog, &config.public_url).await {
            Ok(report) if report.drift.is_empty() => {
                tracing::info!(
                    "stripe check: the account matches the catalogue and the webhook endpoint"
                )
            }
            Ok(report) => {
                for d in &report.drift {
                    tracing::warn!(drift = %d, "stripe check");
                }
                tracing::warn!(
                    differences = report.drift.len(),
                    "the Stripe account differs from what the app needs; run `studio-billing stripe setup`"
                );
            }
            Err(e) => tracing::error!(error = %e, "stripe check could not run"),
        }
    }
    let addr = config.listen_addr;
    if config.metrics_token.is_some() && crate::server::metrics::handle().is_none() {
        tracing::warn!("/metrics will answer 503: the metrics recorder could not be installed");
    }
    tracing::info!(mode = ?config.mode, database = db.backend_name(), "starting");
    let state = AppState::new(config, db.clone(), Clock::system());
    jobs::spawn(state.clone(), mailer);
    let app = http::router(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
