//! The embedded engine's transcript keys. Ids are big-endian so sled's byte order is numeric
//! order, and a conversation's messages sit under one prefix in seq order: a transcript is one
//! range scan. (Every other key is built from `engine::Part`s.)

use crate::ids::ConversationId;

/// Messages share their tree with the idempotency entries formats 1 and 2 wrote beside them.
const MESSAGE: u8 = 0;
const CLIENT_ID: u8 = 1;

pub fn message(conversation: ConversationId, seq: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[..8].copy_from_slice(&conversation.to_be_bytes());
    k[8] = MESSAGE;
    k[9..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn messages_of(conversation: ConversationId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&conversation.to_be_bytes());
    k[8] = MESSAGE;
    k
}

pub fn seq_of_message_key(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[9..17]);
    u64::from_be_bytes(b)
}

/// Formats 1 and 2 only, read by `migrations::upgrade`: an author's `client_msg_id`, holding
/// the seq it was sent as. Since format 3 the message itself holds it.
pub fn client_message(conversation: ConversationId, author: u64, client_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(17 + client_id.len());
    k.extend_from_slice(&conversation.to_be_bytes());
    k.push(CLIENT_ID);
    k.extend_from_slice(&author.to_be_bytes());
    k.extend_from_slice(client_id.as_bytes());
    k
}

pub fn u64_from(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_sort_by_conversation_then_seq() {
        let a = message(ConversationId(1), 2);
        let b = message(ConversationId(1), 10);
        let c = message(ConversationId(2), 1);
        assert!(a < b && b < c);
        assert!(a.starts_with(&messages_of(ConversationId(1))));
        assert_eq!(seq_of_message_key(&b), 10);
        // An idempotency entry never falls inside the message range.
        assert!(!client_message(ConversationId(1), 5, "x").starts_with(&messages_of(ConversationId(1))));
    }
}
