//! Credentials: argon2 password hashes, random bearer tokens stored only as SHA-256
//! digests, HMAC-signed customer identities and visitor tokens, and constant-time
//! comparisons throughout.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::CustomerId;

type HmacSha256 = Hmac<Sha256>;

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password with a generated salt")
        .to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A fresh random bearer token (256 bits, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A fresh one-time setup code (128 bits), in groups of four hex digits so that it can be
/// read off a log and typed: `1a2b-3c4d-...`.
pub fn new_setup_code() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let digits = hex::encode(bytes);
    let groups: Vec<&str> = (0..digits.len()).step_by(4).map(|i| &digits[i..i + 4]).collect();
    groups.join("-")
}

/// Whether two secrets are equal, in constant time; surrounding spaces in `presented` (from a
/// copy and paste) do not count.
pub fn same_secret(kept: &str, presented: &str) -> bool {
    bool::from(kept.as_bytes().ct_eq(presented.trim().as_bytes()))
}

/// The form in which a token is stored and looked up.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `presented` is the admin token; an empty configured token admits nobody.
pub fn is_admin_token(configured: &str, presented: &str) -> bool {
    !configured.is_empty() && bool::from(configured.as_bytes().ct_eq(presented.as_bytes()))
}

/// Lowercase hex HMAC-SHA256 of `data` keyed with `secret`.
pub fn sign(secret: &str, data: &str) -> String {
    sign_bytes(secret, data.as_bytes())
}

pub fn sign_bytes(secret: &str, data: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Fills a tool's URL template for a customer and signs it so the tool can trust the link:
/// `{customer_id}` (and `{external_id}`, the company's own user id) are replaced, then `ts`
/// (Unix seconds) is added and `sig`, the HMAC-SHA256 of everything before `&sig=`.
pub fn tool_link(
    secret: &str,
    template: &str,
    customer_id: &str,
    external_id: Option<&str>,
    now: crate::clock::Timestamp,
) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    /// Everything but RFC 3986's unreserved characters.
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    let filled = template
        .replace("{customer_id}", &utf8_percent_encode(customer_id, COMPONENT).to_string())
        .replace("{external_id}", &utf8_percent_encode(external_id.unwrap_or(""), COMPONENT).to_string());
    let separator = if filled.contains('?') { '&' } else { '?' };
    let unsigned = format!("{filled}{separator}ts={}", now.0.div_euclid(1000));
    let sig = sign(secret, &unsigned);
    format!("{unsigned}&sig={sig}")
}

/// The deployment's forwarding key: what an edge node shows the core so the client address
/// it passes on is believed. Derived from the visitor key, the secret every node of a
/// deployment reads from the shared store.
pub fn forwarding_key(visitor_key: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(visitor_key).expect("HMAC takes any key length");
    mac.update(b"switchboard: a client address passed on by a node");
    hex::encode(mac.finalize().into_bytes())
}

/// A visitor's token: their customer id, signed with the store's visitor key. It needs no
/// storage, so a page view that never turns into a chat writes nothing.
pub fn visitor_token(key: &[u8], customer: CustomerId) -> String {
    let id = customer.to_string();
    format!("{id}.{}", visitor_signature(key, &id))
}

/// The customer a visitor token names, if the signature holds.
pub fn visitor_of(key: &[u8], token: &str) -> Option<CustomerId> {
    let (id, signature) = token.split_once('.')?;
    let expected = visitor_signature(key, id);
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return None;
    }
    id.parse().ok()
}

fn visitor_signature(key: &[u8], id: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"visitor:");
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks an identified customer's `hash` in constant time. Without a configured secret
/// no identity can be trusted.
pub fn verify_identity(secret: &str, user_id: &str, hash: &str) -> bool {
    let Ok(given) = hex::decode(hash.trim()) else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(user_id.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn identities_are_checked_against_the_secret() {
        let hash = sign("s3cret", "user-42");
        assert!(verify_identity("s3cret", "user-42", &hash));
        assert!(!verify_identity("s3cret", "user-43", &hash));
        assert!(!verify_identity("other", "user-42", &hash));
        assert!(!verify_identity("", "user-42", &sign("", "user-42")));
    }

    #[test]
    fn tool_links_are_filled_and_signed() {
        let t = crate::clock::Timestamp(1_700_000_000_500);
        let link = tool_link("k", "https://t.example/reset?user={customer_id}", "u_7", None, t);
        let unsigned = "https://t.example/reset?user=u_7&ts=1700000000";
        assert_eq!(link, format!("{unsigned}&sig={}", sign("k", unsigned)));
        let bare = tool_link("k", "https://t.example/{external_id}", "u_7", Some("a b"), t);
        assert!(bare.starts_with("https://t.example/a%20b?ts=1700000000&sig="));
    }

    #[test]
    fn visitor_tokens_name_their_customer_only_under_their_key() {
        let token = visitor_token(b"key one", CustomerId(42));
        assert_eq!(visitor_of(b"key one", &token), Some(CustomerId(42)));
        assert_eq!(visitor_of(b"key two", &token), None);
        let forged = token.replacen("42", "43", 1);
        assert_eq!(visitor_of(b"key one", &forged), None);
        assert_eq!(visitor_of(b"key one", "no-dot"), None);
        assert_eq!(visitor_of(b"key one", ""), None);
    }

    #[test]
    fn setup_codes_are_fresh_and_compared_whole() {
        let code = new_setup_code();
        assert_eq!(code.len(), 39, "{code}");
        assert_ne!(code, new_setup_code());
        assert!(same_secret(&code, &format!(" {code}\n")));
        assert!(!same_secret(&code, &code[..38]));
        assert!(!same_secret(&code, ""));
    }

    #[test]
    fn admin_token_needs_a_configured_value() {
        assert!(is_admin_token("abc", "abc"));
        assert!(!is_admin_token("abc", "abd"));
        assert!(!is_admin_token("", ""));
    }
}
