//! The one place where persisted values become bytes: a format version byte, then bincode.

use bincode::{config, Decode, Encode};

use super::StoreError;

/// Bumped whenever a persisted type changes shape; `migrations` says how to move up.
/// 2: `Conversation` gained `segments`.
/// 3: `StoredMessage` gained `client_msg_id`, which replaced the separate idempotency entries.
/// 4: `Expert` gained `roles`.
/// 5: `Conversation` gained `lang`.
/// 6: `Conversation` gained `offline`.
pub const FORMAT_VERSION: u8 = 7;

/// The oldest format whose values this build still reads, through [`Persisted::decode_older`].
pub const OLDEST_FORMAT_VERSION: u8 = 1;

/// A type the store persists, and how it reads from the bytes an older format version wrote.
pub trait Persisted: Encode + Decode<()> {
    /// `body` as format `version` (older than [`FORMAT_VERSION`]) wrote it. Most types have
    /// kept their shape, so by default the old bytes read as they are.
    fn decode_older(version: u8, body: &[u8]) -> Result<Self, StoreError> {
        let _ = version;
        decode_body(body)
    }
}

pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    // Encoding into a Vec cannot fail for our types: they hold no foreign encoders.
    bincode::encode_into_std_write(value, &mut out, config::standard())
        .expect("bincode encodes plain data into a Vec");
    out
}

pub fn decode<T: Persisted>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, rest)) => decode_body(rest),
        Some((&v, rest)) if (OLDEST_FORMAT_VERSION..FORMAT_VERSION).contains(&v) => T::decode_older(v, rest),
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown format version {v}"))),
        None => Err(StoreError::Corrupt("empty value".into())),
    }
}

/// The bincode body of a value, which must use every byte: bytes left over mean they were
/// written for another shape, which must not pass for this one.
pub(super) fn decode_body<T: Decode<()>>(body: &[u8]) -> Result<T, StoreError> {
    let (value, used) = bincode::decode_from_slice(body, config::standard())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if used != body.len() {
        return Err(StoreError::Corrupt(format!("{} bytes left over after the value", body.len() - used)));
    }
    Ok(value)
}
