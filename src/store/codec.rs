//! The one place where persisted values become bytes: a format version byte, then bincode.

use bincode::{config, Decode, Encode};

use super::StoreError;

/// Bumped whenever a persisted type changes shape; `migrations` says how to move up.
pub const FORMAT_VERSION: u8 = 1;

pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    // Encoding into a Vec cannot fail for our types: they hold no foreign encoders.
    bincode::encode_into_std_write(value, &mut out, config::standard())
        .expect("bincode encodes plain data into a Vec");
    out
}

pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, rest)) => {
            let (value, _) = bincode::decode_from_slice(rest, config::standard())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(value)
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown format version {v}"))),
        None => Err(StoreError::Corrupt("empty value".into())),
    }
}
