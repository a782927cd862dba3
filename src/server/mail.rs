//! Sending one e-mail: through SMTP (`lettre`), or, in demo mode without an SMTP server,
//! to the log (the support console lists every notice either way). What to send and when
//! is `services::notices`.

use crate::server::config::MailConfig;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long each step of a sending may take (connecting, each command, the message). A
/// claim on a notice lasts longer than a whole sending can (`services::notices`).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest a whole sending can take: connect, greet, EHLO, (STARTTLS, EHLO, AUTH),
/// MAIL, RCPT, DATA, the message and QUIT, each within `SEND_TIMEOUT`.
pub const SEND_LIMIT_SECS: i64 = 12 * SEND_TIMEOUT.as_secs() as i64;

#[derive(Clone)]
pub enum Mailer {
    Smtp(Box<Smtp>),
    Log,
}

/// The SMTP transport and the sender it sends as.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp(smtp) => write!(f, "Mailer::Smtp(from {})", smtp.from),
            Mailer::Log => f.write_str("Mailer::Log"),
        }
    }
}

/// One e-mail to send.
#[derive(Debug, Clone, Copy)]
pub struct Mail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// Stable across tries (`<notice-7@host>`): a copy sent again (when a sender stopped
    /// between the server's "accepted" and recording it) is recognisably the same notice.
    pub message_id: &'a str,
}

/// Why an e-mail did not go.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: the server is down, busy or said "try later", or it
    /// refused for a reason an operator can fix (credentials).
    #[error("{0}")]
    Later(String),
    /// The server refused this message for good (no such mailbox, a bad address).
    #[error("{0}")]
    Never(String),
}

impl Mailer {
    /// The mailer the configuration asks for. Fails on an SMTP address lettre cannot use.
    pub fn new(config: &MailConfig) -> Result<Mailer, String> {
        match config {
            MailConfig::Log => Ok(Mailer::Log),
            MailConfig::Smtp { url, from } => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| format!("STUDIO_SMTP_URL cannot be used: {e}"))?
                    .timeout(Some(SEND_TIMEOUT))
                    .build();
                let from = from
                    .parse::<Mailbox>()
                    .map_err(|e| format!("STUDIO_MAIL_FROM cannot be used: {e}"))?;
                Ok(Mailer::Smtp(Box::new(Smtp { transport, from })))
            }
        }
    }

    /// Where the sent notices go, for the support console: `smtp` or `log`.
    pub fn name(&self) -> &'static str {
        match self {
            Mailer::Smtp(_) => "smtp",
            Mailer::Log => "log",
        }
    }

    pub async fn send(&self, mail: Mail<'_>) -> Result<(), SendError> {
        let (transport, from) = match self {
            Mailer::Log => {
                tracing::info!(
                    to = mail.to,
                    subject = mail.subject,
                    message_id = mail.message_id,
                    "e-mail notice (demo mode: written to the log, not sent)"
                );
                return Ok(());
            }
            Mailer::Smtp(smtp) => (&smtp.transport, &smtp.from),
        };
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|e| SendError::Never(format!("the address {:?}: {e}", mail.to)))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(Some(mail.message_id.to_owned()))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.to_owned())
            .map_err(|e| SendError::Never(format!("the message: {e}")))?;
        // A connection for each e-mail (no pool: a sending cut short must never leave a
        // connection half-way through its dialogue for the next one), each step of it
        // limited by the transport's own timeout, which closes it on expiry.
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let why = e.to_string();
                // Only a refusal of the address itself (an enhanced status 5.1.x: no such
                // mailbox, a bad address) is final. A 5xx for anything else (relaying
                // denied, a sender not allowed, a policy) is most often the settings' and
                // is tried again, as is every 4xx and a server that does not answer.
                if e.is_permanent() && why.contains(" 5.1.") {
                    Err(SendError::Never(why))
                } else {
                    Err(SendError::Later(why))
                }
            }
        }
    }
}
