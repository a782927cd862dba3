//! Who uses the product: e-mail addresses, roles and the password rule.

use serde::{Deserialize, Serialize};

/// A normalised e-mail address: trimmed, lower-case, one `@`, a dot in the domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountInputError {
    #[error("Enter an e-mail address like name@example.com.")]
    BadEmail,
    #[error("Use a password of at least {MIN_PASSWORD} characters.")]
    ShortPassword,
    #[error("That password is too long (at most {MAX_PASSWORD} characters).")]
    LongPassword,
    #[error("That password is published (it is the demo's); choose another.")]
    PublishedPassword,
}

/// The demo's password, printed in the README and on the demo's sign-in page: never a
/// real account's.
pub const DEMO_PASSWORD: &str = "demo-password";

pub const MIN_PASSWORD: usize = 10;
pub const MAX_PASSWORD: usize = 256;

impl Email {
    pub fn parse(raw: &str) -> Result<Email, AccountInputError> {
        let e = raw.trim().to_lowercase();
        let ok = e.len() <= 254
            && !e.contains(char::is_whitespace)
            && !e.contains(char::is_control)
            && match e.split_once('@') {
                Some((user, domain)) => {
                    !user.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if ok {
            Ok(Email(e))
        } else {
            Err(AccountInputError::BadEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = AccountInputError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Email::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A new password must be long enough; anything else is the user's choice.
pub fn check_new_password(password: &str) -> Result<(), AccountInputError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AccountInputError::ShortPassword);
    }
    if n > MAX_PASSWORD {
        return Err(AccountInputError::LongPassword);
    }
    if password == DEMO_PASSWORD {
        return Err(AccountInputError::PublishedPassword);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Support,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Support => "support",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "support" => Some(Role::Support),
            _ => None,
        }
    }
}

/// The signed-in person, as the pages see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub email: String,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
            "ada\0@example.com",
            "ada@exa\u{7f}mple.com",
            "ada@example.com\u{0}",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(AccountInputError::BadEmail),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn passwords_need_ten_characters() {
        assert_eq!(
            check_new_password("short"),
            Err(AccountInputError::ShortPassword)
        );
        assert!(check_new_password("long enough pw").is_ok());
        assert_eq!(
            check_new_password(DEMO_PASSWORD),
            Err(AccountInputError::PublishedPassword)
        );
    }
}
