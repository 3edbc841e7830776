//! Typed identifiers. On the wire they are opaque strings with a kind prefix (`c_12`);
//! in storage they are big-endian `u64`s so that range scans come out in order.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize, bincode::Encode, bincode::Decode)]
        pub struct $name(pub u64);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn to_be_bytes(self) -> [u8; 8] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                s.strip_prefix($prefix)
                    .and_then(|n| n.parse().ok())
                    .map($name)
                    .ok_or(())
            }
        }
    };
}

id_type!(
    /// A conversation between one customer and, at any time, at most one owning expert.
    ConversationId, "c_"
);
id_type!(
    /// An expert account.
    ExpertId, "e_"
);
id_type!(
    /// A customer, anonymous or identified.
    CustomerId, "u_"
);

id_type!(
    /// A customer's request to be called back.
    CallbackId, "cb_"
);

id_type!(
    /// A file a customer or expert attached to a conversation.
    AttachmentId, "a_"
);

id_type!(
    /// A canned response (macro) experts pick from.
    CannedId, "k_"
);

/// A message is addressed by its conversation and its sequence number there.
pub fn message_id(conversation: ConversationId, seq: u64) -> String {
    format!("m_{}_{}", conversation.0, seq)
}

/// Serde helpers that write a typed id as its wire string.
pub mod wire {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::fmt::Display;
    use std::str::FromStr;

    pub fn serialize<T: Display, S: Serializer>(id: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        T::from_str(&s).map_err(|_| D::Error::custom("unknown id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_wire_form() {
        let c = ConversationId(42);
        assert_eq!(c.to_string(), "c_42");
        assert_eq!("c_42".parse::<ConversationId>(), Ok(c));
        assert!("e_42".parse::<ConversationId>().is_err());
        assert!("c_x".parse::<ConversationId>().is_err());
        assert_eq!(message_id(c, 7), "m_42_7");
    }
}
