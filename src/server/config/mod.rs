//! Typed configuration, read once at start-up from environment variables (and an optional
//! `.env`). Every setting is listed in the README. Production mode refuses to start with a
//! missing or placeholder secret.

use crate::domain::catalog::Catalog;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

/// The built-in plans and price book.
const DEFAULT_CATALOG: &str = include_str!("../default_catalog.toml");
/// The secret used in demo mode only. Production refuses it.
const DEMO_SECRET: &str = "demo-secret-not-for-production-use-0000";
pub const DEFAULT_SUPPORT_EMAIL: &str = "support@brainports.ai";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Local runs: demo data, the local checkout, demo credentials shown on sign-in.
    Demo,
    /// Real customers: every secret must be set.
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// A secret value that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub database_url: String,
    pub database_max_connections: u32,
    pub listen_addr: SocketAddr,
    /// The address customers use, e.g. `https://billing.example.com`. Cross-site checks
    /// and links in e-mails and Stripe redirects use it.
    pub public_url: String,
    pub support_email: String,
    pub secret_key: Secret,
    pub log_format: LogFormat,
    /// Where cargo-leptos put the site (wasm, js, css, assets).
    pub site_root: String,
    /// How long a hold lasts unsettled before the expiry job releases it.
    pub hold_ttl_secs: i64,
    /// Below this share (in percent) of the plan's credits, the balance is shown as low.
    pub low_balance_percent: u64,
    /// A capture charges at most its hold plus this share (in percent) of it; the rest of
    /// the actual cost is reported as not charged.
    pub capture_tolerance_percent: u32,
    /// A support adjustment of more credits than this waits for a second support user.
    pub approval_above_credits: u64,
    /// Automatic top-ups stop after this many failed charges in a row (P16).
    pub auto_top_up_attempts: u32,
    /// The bearer token `/metrics` wants; without one the route does not exist.
    pub metrics_token: Option<Secret>,
    pub catalog: Catalog,
    /// How payments are taken: Stripe when keys are set, else the app's own test checkout.
    pub payments: PaymentsConfig,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed: behind them the
    /// client's address for rate limits comes from that header.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How e-mail notices go out.
    pub mail: MailConfig,
}

/// Where e-mail notices go: an SMTP server, or (demo mode without one) the log and the
/// support console only.
#[derive(Debug, Clone)]
pub enum MailConfig {
    Smtp {
        /// `smtp://host:port`, `smtp://user:pass@host:587?tls=required` (STARTTLS) or
        /// `smtps://user:pass@host:465`; a secret, as it may hold a password.
        url: Secret,
        /// The sender, `Studio Billing <billing@example.com>`.
        from: String,
    },
    Log,
}

/// Stripe's keys, or nothing: without them the app takes payments through its own
/// checkout page, clearly marked as test mode (demo mode only).
#[derive(Debug, Clone)]
pub enum PaymentsConfig {
    Stripe(StripeConfig),
    Local,
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: Secret,
    /// The endpoint's signing secret (`whsec_...`), and the previous one while rotating.
    pub webhook_secrets: Vec<Secret>,
    /// Where the Stripe API is; only tests point it elsewhere.
    pub api_base: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} has an invalid value {value:?}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: String,
    },
    #[error("{0} must be set in production mode")]
    Missing(&'static str),
    #[error(
        "{0} is a placeholder or too short; production needs a random value of at least 32 characters"
    )]
    Placeholder(&'static str),
    #[error(
        "demo mode serves only on a loopback address, and {name}={value} is not one: demo mode takes \
         payments through its own test checkout, shows the demo password and signs sessions with a \
         published secret. To try the demo, use 127.0.0.1 (LEPTOS_SITE_ADDR=127.0.0.1:3000, \
         STUDIO_PUBLIC_URL=http://127.0.0.1:3000); to serve anyone else, set STUDIO_MODE=production \
         with its secrets (README, \"Operating it\")"
    )]
    DemoNotLoopback { name: &'static str, value: String },
    #[error("could not read the catalog file {path}: {why}")]
    CatalogFile { path: String, why: String },
    #[error("the catalog is not valid: {0}")]
    Catalog(String),
}

impl Config {
    /// Reads the process environment (after loading `.env` if there is one).
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one should not be silently ignored.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => {
                return Err(ConfigError::Invalid {
                    name: ".env",
                    value: String::new(),
                    why: e.to_string(),
                });
            }
        }
        Self::from_vars(&std::env::vars().collect())
    }

    /// Builds the configuration from a map of variables, so tests can pass their own.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let mode = match get("STUDIO_MODE").as_deref() {
            None | Some("demo") => Mode::Demo,
            Some("production") => Mode::Production,
            Some(other) => {
                return Err(invalid("STUDIO_MODE", other, "expected demo or production"));
            }
        };
        let production = mode == Mode::Production;

        let database_url = match get("DATABASE_URL") {
            Some(url) => url,
            None if production => return Err(ConfigError::Missing("DATABASE_URL")),
            None => "sqlite://data/studio-billing.db".to_owned(),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "DATABASE_URL",
                &redact_password(&database_url),
                "expected a sqlite: or postgres:// URL",
            ));
        }
        let database_max_connections = match get("DATABASE_MAX_CONNECTIONS") {
            None => 10,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid("DATABASE_MAX_CONNECTIONS", &v, "expected a positive number")
            })?,
        };
        let addr = get("LEPTOS_SITE_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let listen_addr: SocketAddr = addr
            .parse()
            .map_err(|_| invalid("LEPTOS_SITE_ADDR", &addr, "expected host:port"))?;

        let public_url = match get("STUDIO_PUBLIC_URL") {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if production => return Err(ConfigError::Missing("STUDIO_PUBLIC_URL")),
            None => format!("http://{listen_addr}"),
        };
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(invalid(
                "STUDIO_PUBLIC_URL",
                &public_url,
                "expected an http:// or https:// address",
            ));
        }
        if !production {
            if !listen_addr.ip().is_loopback() {
                return Err(ConfigError::DemoNotLoopback {
                    name: "LEPTOS_SITE_ADDR",
                    value: addr,
                });
            }
            if !is_loopback_url(&public_url) {
                return Err(ConfigError::DemoNotLoopback {
                    name: "STUDIO_PUBLIC_URL",
                    value: public_url,
                });
            }
        }
        if production && !public_url.starts_with("https://") {
            return Err(invalid(
                "STUDIO_PUBLIC_URL",
                &public_url,
                "production must be served over https",
            ));
        }

        let support_email =
            get("STUDIO_SUPPORT_EMAIL").unwrap_or_else(|| DEFAULT_SUPPORT_EMAIL.to_owned());
        if !looks_like_email(&support_email) {
            return Err(invalid(
                "STUDIO_SUPPORT_EMAIL",
                &support_email,
                "expected an e-mail address",
            ));
        }

        let secret_key = match get("STUDIO_SECRET_KEY") {
            Some(s) if production && is_placeholder(&s) => {
                return Err(ConfigError::Placeholder("STUDIO_SECRET_KEY"));
            }
            Some(s) => Secret::new(s),
            None if production => return Err(ConfigError::Missing("STUDIO_SECRET_KEY")),
            None => Secret::new(DEMO_SECRET),
        };

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT", other, "expected human or json")),
        };

        let hold_ttl_secs = match get("STUDIO_HOLD_TTL_SECS") {
            None => 900,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (10..=86_400).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "STUDIO_HOLD_TTL_SECS",
                        &v,
                        "expected seconds between 10 and 86400",
                    )
                })?,
        };

        let low_balance_percent = match get("STUDIO_LOW_BALANCE_PERCENT") {
            None => 10,
            Some(v) => v.parse::<u64>().ok().filter(|n| *n <= 100).ok_or_else(|| {
                invalid(
                    "STUDIO_LOW_BALANCE_PERCENT",
                    &v,
                    "expected a percentage from 0 to 100",
                )
            })?,
        };

        let capture_tolerance_percent = match get("STUDIO_CAPTURE_TOLERANCE_PERCENT") {
            None => 10,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 100).ok_or_else(|| {
                invalid(
                    "STUDIO_CAPTURE_TOLERANCE_PERCENT",
                    &v,
                    "expected a percentage from 0 to 100",
                )
            })?,
        };

        let auto_top_up_attempts = match get("STUDIO_AUTO_TOP_UP_ATTEMPTS") {
            None => crate::domain::auto_top_up::DEFAULT_ATTEMPTS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "STUDIO_AUTO_TOP_UP_ATTEMPTS",
                        &v,
                        "expected a number of failed charges from 1 to 10",
                    )
                })?,
        };

        let approval_above_credits = match get("STUDIO_APPROVAL_ABOVE_CREDITS") {
            None => 10_000,
            Some(v) => v.parse::<u64>().ok().ok_or_else(|| {
                invalid(
                    "STUDIO_APPROVAL_ABOVE_CREDITS",
                    &v,
                    "expected a whole number of credits",
                )
            })?,
        };

        let metrics_token = match get("STUDIO_METRICS_TOKEN") {
            None => None,
            Some(t) if t.len() < 24 || (production && is_placeholder(&t)) => {
                return Err(invalid(
                    "STUDIO_METRICS_TOKEN",
                    "[redacted]",
                    "expected a random value of at least 24 characters (32+ in production)",
                ));
            }
            Some(t) => Some(Secret::new(t)),
        };

        let site_root = get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".to_owned());

        let catalog_text = match get("STUDIO_CATALOG_FILE") {
            None => DEFAULT_CATALOG.to_owned(),
            Some(path) => std::fs::read_to_string(&path).map_err(|e| ConfigError::CatalogFile {
                path: path.clone(),
                why: e.to_string(),
            })?,
        };
        let catalog = parse_catalog(&catalog_text)?;

        let payments = match get("STRIPE_SECRET_KEY") {
            None if production => return Err(ConfigError::Missing("STRIPE_SECRET_KEY")),
            None => PaymentsConfig::Local,
            Some(key) => {
                if !is_stripe_key(&key) {
                    return Err(invalid(
                        "STRIPE_SECRET_KEY",
                        "[redacted]",
                        "expected a Stripe secret or restricted key (sk_test_..., sk_live_..., rk_live_...), as the dashboard shows it",
                    ));
                }
                let Some(current) = get("STRIPE_WEBHOOK_SECRET") else {
                    return Err(ConfigError::Missing("STRIPE_WEBHOOK_SECRET"));
                };
                let mut webhook_secrets = vec![Secret::new(webhook_secret(
                    "STRIPE_WEBHOOK_SECRET",
                    current,
                )?)];
                if let Some(previous) = get("STRIPE_WEBHOOK_SECRET_PREVIOUS") {
                    webhook_secrets.push(Secret::new(webhook_secret(
                        "STRIPE_WEBHOOK_SECRET_PREVIOUS",
                        previous,
                    )?));
                }
                let api_base =
                    get("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com/".to_owned());
                if production && !api_base.starts_with("https://") {
                    return Err(invalid(
                        "STRIPE_API_BASE",
                        &api_base,
                        "production must reach Stripe over https",
                    ));
                }
                PaymentsConfig::Stripe(StripeConfig {
                    secret_key: Secret::new(key),
                    webhook_secrets,
                    api_base,
                })
            }
        };

        let trusted_proxies = match get("STUDIO_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|ip| {
                    ip.trim().parse::<std::net::IpAddr>().map_err(|_| {
                        invalid(
                            "STUDIO_TRUSTED_PROXIES",
                            &list,
                            "expected IP addresses separated by commas",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let mail = match (get("STUDIO_SMTP_URL"), get("STUDIO_MAIL_FROM")) {
            (None, _) if production => return Err(ConfigError::Missing("STUDIO_SMTP_URL")),
            (None, _) => MailConfig::Log,
            (Some(_), None) => return Err(ConfigError::Missing("STUDIO_MAIL_FROM")),
            (Some(url), Some(from)) => {
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    return Err(invalid(
                        "STUDIO_SMTP_URL",
                        &redact_password(&url),
                        "expected smtp://host:port or smtps://user:password@host:465",
                    ));
                }
                // A password never crosses the network in the clear: with credentials,
                // production wants TLS (smtps://, or STARTTLS required).
                if production
                    && url.starts_with("smtp://")
                    && url_has_credentials(&url)
                    && !url.contains("tls=required")
                {
                    return Err(invalid(
                        "STUDIO_SMTP_URL",
                        &redact_password(&url),
                        "with a user and password, production needs TLS: smtps://user:password@host:465, or smtp://user:password@host:587?tls=required",
                    ));
                }
                if !looks_like_mailbox(&from) {
                    return Err(invalid(
                        "STUDIO_MAIL_FROM",
                        &from,
                        "expected an e-mail address, or a name and one: Studio Billing <billing@example.com>",
                    ));
                }
                MailConfig::Smtp {
                    url: Secret::new(url),
                    from,
                }
            }
        };

        Ok(Config {
            mode,
            database_url,
            database_max_connections,
            listen_addr,
            public_url,
            support_email,
            secret_key,
            log_format,
            site_root,
            hold_ttl_secs,
            low_balance_percent,
            capture_tolerance_percent,
            approval_above_credits,
            auto_top_up_attempts,
            metrics_token,
            catalog,
            payments,
            trusted_proxies,
            mail,
        })
    }

    /// The demo configuration with the given database, as tests and tools start from.
    pub fn demo(database_url: &str) -> Self {
        let vars = HashMap::from([("DATABASE_URL".to_owned(), database_url.to_owned())]);
        Self::from_vars(&vars).expect("the built-in demo configuration is valid")
    }
}

pub fn parse_catalog(text: &str) -> Result<Catalog, ConfigError> {
    let catalog: Catalog =
        toml::from_str(text).map_err(|e| ConfigError::Catalog(e.message().to_owned()))?;
    catalog
        .validate()
        .map_err(|e| ConfigError::Catalog(e.to_string()))?;
    Ok(catalog)
}

/// `sk_` or `rk_`, `test_` or `live_`, then at least 8 letters, digits or underscores.
fn is_stripe_key(key: &str) -> bool {
    let rest = key
        .strip_prefix("sk_")
        .or_else(|| key.strip_prefix("rk_"))
        .and_then(|r| r.strip_prefix("test_").or_else(|| r.strip_prefix("live_")));
    rest.is_some_and(|r| r.len() >= 8 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// A webhook endpoint's signing secret: `whsec_` and at least 8 letters, digits or
/// underscores (a value such as `x` is refused at start-up, not at the first event).
fn webhook_secret(name: &'static str, value: String) -> Result<String, ConfigError> {
    let ok = value
        .strip_prefix("whsec_")
        .is_some_and(|r| r.len() >= 8 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if ok {
        Ok(value)
    } else {
        Err(invalid(
            name,
            "[redacted]",
            "expected the endpoint's signing secret (whsec_...), as Stripe shows it or `studio-billing stripe setup` prints it",
        ))
    }
}

/// `url` with the password (if any) replaced, for error messages and logs.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            let hidden = if user_info.contains(':') {
                ":[redacted]"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Whether an http(s) address names this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn invalid(name: &'static str, value: &str, why: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_owned(),
        why: why.to_owned(),
    }
}

/// Whether a URL names a user (and so, most likely, a password) before its host.
fn url_has_credentials(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or("").contains('@'))
        .unwrap_or(false)
}

/// An address, or a name and an address, as an e-mail's `From:` takes it.
fn looks_like_mailbox(s: &str) -> bool {
    s.parse::<lettre::message::Mailbox>().is_ok()
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn is_placeholder(secret: &str) -> bool {
    let lower = secret.to_lowercase();
    secret.len() < 32
        || secret == DEMO_SECRET
        || [
            "changeme",
            "change-me",
            "placeholder",
            "example",
            "secret",
            "xxxx",
            "demo",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests;
