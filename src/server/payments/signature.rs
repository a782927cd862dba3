//! Stripe's webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`
//! where each `v1` is HMAC-SHA256 of `"<t>.<raw body>"` under an endpoint's signing secret.
//! A delivery is genuine when any `v1` matches any of our secrets (two during a rotation)
//! and `t` is within the tolerance of now.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's own default: five minutes.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The `v1` signature of `payload` at `timestamp`, as hex.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, payload).finalize().into_bytes())
}

/// A whole `Stripe-Signature` header value, as Stripe (or the local checkout) sends it.
pub fn header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

/// Checks a `Stripe-Signature` header against the raw body.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[&str],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            // A malformed v1 is simply not a match; another one may be.
            "v1" => signatures.extend(hex::decode(value).ok()),
            // v0 and any future schemes are ignored, as Stripe advises.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    if now.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let matched = secrets.iter().any(|secret| {
        signatures.iter().any(|sig| {
            // Constant-time comparison.
            mac(secret, timestamp, payload).verify_slice(sig).is_ok()
        })
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    const NOW: i64 = 1_780_272_000;

    #[test]
    fn matches_stripes_documented_scheme() {
        // HMAC-SHA256("whsec_test", "1780272000.{body}"), computed independently with
        // Python's hmac module.
        assert_eq!(
            sign("whsec_test", NOW, BODY),
            "a82ff01206efe2b25141c2e0291a4acc64787d9f8987000fc1f02370d7e59c99"
        );
    }

    #[test]
    fn accepts_a_genuine_signature() {
        let h = header("whsec_a", NOW, BODY);
        assert_eq!(verify(Some(&h), BODY, &["whsec_a"], NOW + 10, 300), Ok(()));
    }

    #[test]
    fn accepts_any_of_several_signatures_and_secrets() {
        let h = format!(
            "t={NOW},v1={},v1={},v0=ignored",
            sign("whsec_other", NOW, BODY),
            sign("whsec_old", NOW, BODY)
        );
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_new", "whsec_old"], NOW, 300),
            Ok(())
        );
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_new"], NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_a_wrong_secret_a_tampered_body_and_a_stale_time() {
        let h = header("whsec_a", NOW, BODY);
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_b"], NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), b"{\"id\":\"evt_2\"}", &["whsec_a"], NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_a"], NOW + 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_a"], NOW - 301, 300),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn refuses_missing_and_malformed_headers() {
        assert_eq!(
            verify(None, BODY, &["k"], NOW, 300),
            Err(SignatureError::Missing)
        );
        for bad in ["", "garbage", "t=abc,v1=00", "v1=00"] {
            assert_eq!(
                verify(Some(bad), BODY, &["k"], NOW, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        let far = format!("t={},v1=00", i64::MIN);
        assert_eq!(
            verify(Some(&far), BODY, &["k"], NOW, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&format!("t={NOW}")), BODY, &["k"], NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&format!("t={NOW},v1=zz")), BODY, &["k"], NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }
}
