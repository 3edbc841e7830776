//! Keys as NATS tokens. A key becomes dot-separated tokens, each safe in a KV key and an
//! object name (`[0-9a-f]` plus a kind letter): ids as 16 hex digits, shorts as 4, text and
//! bytes as a letter then their bytes in hex (so "" is a token too, and dots, spaces or
//! non-ASCII in client-chosen text never reach a subject). Fixed-width hex keeps the tokens'
//! byte order the keys' order; scans still sort by the decoded parts, since NATS lists
//! subjects in no particular order.

use crate::store::engine::{Kind, Part, Tree};
use crate::store::StoreError;

/// The tokens of `key` (a whole key, or a prefix of one when `whole` is false).
pub fn token(tree: Tree, key: &[Part], whole: bool) -> Result<String, StoreError> {
    if !tree.fits(key, whole) {
        return Err(StoreError::Corrupt(format!("a key {key:?} that does not fit {}", tree.name())));
    }
    let parts: Vec<String> = key
        .iter()
        .map(|part| match part {
            Part::Id(id) => format!("{id:016x}"),
            Part::Short(n) => format!("{n:04x}"),
            Part::Text(t) => format!("t{}", hex::encode(t.as_bytes())),
            Part::Bytes(b) => format!("b{}", hex::encode(b)),
        })
        .collect();
    Ok(parts.join("."))
}

/// The key that `token` names in `tree`.
pub fn parts(tree: Tree, token: &str) -> Result<Vec<Part>, StoreError> {
    let corrupt =
        || StoreError::Corrupt(format!("a key {token:?} in {} that does not fit its shape", tree.name()));
    let tokens: Vec<&str> = token.split('.').collect();
    if tokens.len() != tree.shape().len() {
        return Err(corrupt());
    }
    tree.shape()
        .iter()
        .zip(tokens)
        .map(|(kind, t)| match kind {
            Kind::Id if t.len() == 16 => u64::from_str_radix(t, 16).map(Part::Id).map_err(|_| corrupt()),
            Kind::Short if t.len() == 4 => u16::from_str_radix(t, 16).map(Part::Short).map_err(|_| corrupt()),
            Kind::Text => {
                let bytes = t.strip_prefix('t').and_then(|h| hex::decode(h).ok()).ok_or_else(corrupt)?;
                String::from_utf8(bytes).map(Part::Text).map_err(|_| corrupt())
            }
            Kind::Bytes => {
                t.strip_prefix('b').and_then(|h| hex::decode(h).ok()).map(Part::Bytes).ok_or_else(corrupt)
            }
            _ => Err(corrupt()),
        })
        .collect()
}

/// The subject of transcript `log` under `prefix`.
pub fn log_subject(prefix: &str, log: u64) -> String {
    format!("{prefix}.msg.{log:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_subject_safe() {
        let key = [Part::Id(3), Part::Text("a.b c/é*>".into())];
        let t = token(Tree::Starts, &key, true).unwrap();
        assert_eq!(t, "0000000000000003.t612e6220632fc3a92a3e");
        assert_eq!(parts(Tree::Starts, &t).unwrap(), key);
        let empty = [Part::Id(1), Part::Text(String::new())];
        assert_eq!(parts(Tree::Starts, &token(Tree::Starts, &empty, true).unwrap()).unwrap(), empty);
        let hook = [Part::Id(9), Part::Short(300)];
        assert_eq!(token(Tree::WebhookOutbox, &hook, true).unwrap(), "0000000000000009.012c");
        assert_eq!(token(Tree::CustomerConversations, &[Part::Id(2)], false).unwrap(), "0000000000000002");
    }

    #[test]
    fn tokens_that_do_not_fit_are_refused() {
        assert!(token(Tree::Experts, &[Part::Text("x".into())], true).is_err());
        assert!(parts(Tree::Experts, "zz").is_err());
        assert!(parts(Tree::Starts, "0000000000000003").is_err());
        assert!(parts(Tree::Starts, "0000000000000003.tzz").is_err());
    }
}
