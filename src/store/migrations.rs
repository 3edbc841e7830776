//! How values written by an older format version read today (see `codec::Persisted`), and
//! what an older store needs rewritten once when it is opened ([`upgrade`]).
//!
//! Format 1 → 2: `Conversation` gained `segments`, the history of its waits and owners that
//! reports measure. A format-1 record knew only its first accept (`accepted_at`), its latest
//! entry into a queue (`queued_at`) and its end (`solved_at`), so its segments are rebuilt
//! from those: as good as the figures format 1 could give, no better.
//!
//! Format 2 → 3: `StoredMessage` gained `client_msg_id`. Formats 1 and 2 kept each client id
//! as an entry of its own beside the messages (`keys::client_message`, holding the seq), a
//! second write for every message; [`upgrade`] folds those entries into their messages. An
//! older message without an entry reads with no client id.
//!
//! Format 3 → 4: `Expert` gained `roles`. An older expert reads with none: no account was an
//! admin before roles existed.
//!
//! Format 4 → 5: `Conversation` gained `lang`, the customer's language. An older conversation
//! reads with none: no widget said one before. Nothing is rewritten on open; a record takes
//! the new shape when it is next written.
//!
//! Format 5 → 6: `Conversation` gained `offline`, the mark and contact of a left message. An
//! older conversation reads as a chat (`None`): nobody could leave a message before. As for
//! format 5, nothing is rewritten on open.
//!
//! Format 6 → 7: `Conversation` gained `consultants` (specialist consult) and `sla` (response
//! targets), `Expert` gained `bot`. An older conversation has no consultant and no target
//! running (its category could set none before); an older expert is a person. Nothing is
//! rewritten on open.
//!
//! Every other type kept its shape, and its older bytes read as they are.

use bincode::Decode;

use super::codec::{decode_body, Persisted};
use super::model::*;
use super::{decode, encode, keys, StoreError};
use crate::clock::Timestamp;
use crate::domain::{Page, Status, Style};
use crate::ids::{ConversationId, CustomerId, ExpertId};

/// Rewrites what a store of format `from` holds that cannot be read in place. The embedded
/// engine runs it (`Engine::upgrade`) before the store is marked as this build's: a crash part
/// way leaves the old mark, and the next open runs it again, so each step may run more than
/// once. sled recovers a prefix of its log, so a mark that survived means everything written
/// here survived too.
pub fn upgrade(messages: &sled::Tree, from: u8) -> Result<(), StoreError> {
    if from < 3 {
        let folded = fold_client_ids(messages)?;
        tracing::info!(folded, "client message ids moved into their messages (format 3)");
    }
    Ok(())
}

/// Moves each idempotency entry of formats 1 and 2 into the message it names, which is written
/// anew in this format, then removes the entry. Returns how many entries there were. The
/// message is written first: a crash in between leaves an entry that the next run folds again.
fn fold_client_ids(messages: &sled::Tree) -> Result<usize, StoreError> {
    let mut folded = 0;
    // sled's iterators tolerate writes behind them: a conversation's messages sort before its
    // entries, and the entry removed is the one just read.
    for entry in messages.iter() {
        let (key, seq) = entry?;
        let Some((conversation, author, client_id)) = client_entry(&key) else { continue };
        let message_key = keys::message(conversation, keys::u64_from(&seq));
        if let Some(bytes) = messages.get(message_key)? {
            let mut m: StoredMessage = decode(&bytes)?;
            // Entries were only written for the message's own author; anything else is not
            // this message's id and is dropped with the entry.
            if m.author.id == Some(author) {
                m.client_msg_id = Some(client_id);
                messages.insert(message_key, encode(&m))?;
            }
        }
        messages.remove(&key)?;
        folded += 1;
    }
    Ok(folded)
}

/// The conversation, author and client id an idempotency entry's key names; `None` for any
/// other key (a message). The key must rebuild to itself, so nothing else passes for one.
fn client_entry(key: &[u8]) -> Option<(ConversationId, u64, String)> {
    // The conversation, a tag byte and the author, then the client id.
    if key.len() < 17 {
        return None;
    }
    let conversation = ConversationId(keys::u64_from(&key[..8]));
    if key.starts_with(&keys::messages_of(conversation)) {
        return None;
    }
    let author = keys::u64_from(&key[9..17]);
    let client_id = std::str::from_utf8(&key[17..]).ok()?.to_owned();
    let rebuilt = keys::client_message(conversation, author, &client_id);
    (rebuilt == key).then_some((conversation, author, client_id))
}

impl Persisted for Expert {
    fn decode_older(version: u8, body: &[u8]) -> Result<Self, StoreError> {
        match version {
            1..=3 => Ok(decode_body::<ExpertV3>(body)?.into()),
            // Formats 4 and 5 wrote today's shape.
            4..=6 => Ok(decode_body::<ExpertV6>(body)?.into()),
            v => Err(StoreError::Corrupt(format!("no migration for an expert of format {v}"))),
        }
    }
}

/// `Expert` as formats 1 to 3 stored it: the same fields, without `roles`.
#[derive(Decode)]
struct ExpertV3 {
    id: ExpertId,
    username: String,
    name: String,
    password_hash: String,
    categories: Vec<String>,
    certifications: Vec<String>,
    max_concurrent: Option<u32>,
    created_at: Timestamp,
    removed: bool,
}

impl From<ExpertV3> for Expert {
    fn from(v3: ExpertV3) -> Expert {
        let ExpertV3 {
            id,
            username,
            name,
            password_hash,
            categories,
            certifications,
            max_concurrent,
            created_at,
            removed,
        } = v3;
        Expert {
            id,
            username,
            name,
            password_hash,
            categories,
            certifications,
            max_concurrent,
            created_at,
            removed,
            roles: Vec::new(),
            bot: false,
        }
    }
}

#[derive(Decode)]
struct ExpertV6 {
    v3: ExpertV3,
    roles: Vec<Role>,
}

impl From<ExpertV6> for Expert {
    fn from(v6: ExpertV6) -> Expert {
        Expert { roles: v6.roles, ..v6.v3.into() }
    }
}
impl Persisted for LoginToken {}
impl Persisted for Customer {}
impl Persisted for Attachment {}
impl Persisted for Callback {}
impl Persisted for Canned {}
impl Persisted for WebhookEntry {}

impl Persisted for Conversation {
    fn decode_older(version: u8, body: &[u8]) -> Result<Self, StoreError> {
        match version {
            1 => Ok(decode_body::<ConversationV1>(body)?.into()),
            // Formats 2 to 4 wrote today's shape without `lang`, format 5 without `offline`.
            2..=4 => Ok(decode_body::<ConversationV4>(body)?.into()),
            5 => Ok(decode_body::<ConversationV5>(body)?.into()),
            6 => Ok(decode_body::<ConversationV6>(body)?.into()),
            v => Err(StoreError::Corrupt(format!("no migration for a conversation of format {v}"))),
        }
    }
}

impl Persisted for StoredMessage {
    fn decode_older(version: u8, body: &[u8]) -> Result<Self, StoreError> {
        match version {
            1 | 2 => Ok(decode_body::<StoredMessageV2>(body)?.into()),
            // Formats 3 to 5 wrote today's shape.
            3..=6 => decode_body(body),
            v => Err(StoreError::Corrupt(format!("no migration for a message of format {v}"))),
        }
    }
}

/// `StoredMessage` as formats 1 and 2 stored it: the same fields, without `client_msg_id`.
#[derive(Decode)]
struct StoredMessageV2 {
    seq: u64,
    author: Author,
    text: String,
    internal: bool,
    at: Timestamp,
    attachments: Vec<AttachmentRef>,
}

impl From<StoredMessageV2> for StoredMessage {
    fn from(v2: StoredMessageV2) -> StoredMessage {
        let StoredMessageV2 { seq, author, text, internal, at, attachments } = v2;
        // Its client id, if it had one, is folded in by `upgrade`.
        StoredMessage { seq, author, text, internal, at, attachments, client_msg_id: None }
    }
}

/// `Conversation` as format 1 stored it: the same fields, without `segments`.
#[derive(Decode)]
struct ConversationV1 {
    id: ConversationId,
    customer: CustomerId,
    category: String,
    style: Style,
    status: Status,
    owner: Option<Owner>,
    past_owners: Vec<ExpertId>,
    offer: Option<Offer>,
    declined: Vec<ExpertId>,
    page: Option<Page>,
    created_at: Timestamp,
    queued_at: Timestamp,
    accepted_at: Option<Timestamp>,
    first_response_at: Option<Timestamp>,
    last_customer_at: Option<Timestamp>,
    last_expert_at: Option<Timestamp>,
    last_activity_at: Timestamp,
    awaiting_reply_since: Option<Timestamp>,
    nudges: u32,
    customer_left_at: Option<Timestamp>,
    first_response_due: Option<Timestamp>,
    solved_at: Option<Timestamp>,
    close_at: Option<Timestamp>,
    closed_at: Option<Timestamp>,
    left: bool,
    rating: Option<Rating>,
    transfers: u32,
}

impl ConversationV1 {
    /// Today's conversation with these fields, no segments, no language, and a chat rather than a left message.
    fn into_current(self) -> Conversation {
        let ConversationV1 {
            id,
            customer,
            category,
            style,
            status,
            owner,
            past_owners,
            offer,
            declined,
            page,
            created_at,
            queued_at,
            accepted_at,
            first_response_at,
            last_customer_at,
            last_expert_at,
            last_activity_at,
            awaiting_reply_since,
            nudges,
            customer_left_at,
            first_response_due,
            solved_at,
            close_at,
            closed_at,
            left,
            rating,
            transfers,
        } = self;
        Conversation {
            id,
            customer,
            category,
            style,
            status,
            owner,
            past_owners,
            offer,
            declined,
            page,
            created_at,
            queued_at,
            accepted_at,
            first_response_at,
            last_customer_at,
            last_expert_at,
            last_activity_at,
            awaiting_reply_since,
            nudges,
            customer_left_at,
            first_response_due,
            solved_at,
            close_at,
            closed_at,
            left,
            rating,
            transfers,
            segments: Vec::new(),
            lang: None,
            offline: None,
            consultants: Vec::new(),
            sla: Sla::default(),
        }
    }
}

impl From<ConversationV1> for Conversation {
    fn from(v1: ConversationV1) -> Conversation {
        let mut c = v1.into_current();
        c.segments = v1_segments(&c);
        c
    }
}

/// `Conversation` as formats 2 to 4 stored it: format 1's fields, then `segments`; no `lang`.
/// bincode writes a nested struct's fields in order with nothing around them, so these are
/// the same bytes as the flat record.
#[derive(Decode)]
struct ConversationV4 {
    v1: ConversationV1,
    segments: Vec<Segment>,
}

impl From<ConversationV4> for Conversation {
    fn from(v4: ConversationV4) -> Conversation {
        Conversation { segments: v4.segments, ..v4.v1.into_current() }
    }
}

/// `Conversation` as format 5 stored it: format 4's fields, then `lang`; no `offline`.
#[derive(Decode)]
struct ConversationV5 {
    v4: ConversationV4,
    lang: Option<String>,
}

impl From<ConversationV5> for Conversation {
    fn from(v5: ConversationV5) -> Conversation {
        Conversation { lang: v5.lang, ..v5.v4.into() }
    }
}

#[derive(Decode)]
struct ConversationV6 {
    v5: ConversationV5,
    offline: Option<Contact>,
}

impl From<ConversationV6> for Conversation {
    fn from(v6: ConversationV6) -> Conversation {
        Conversation { offline: v6.offline, ..v6.v5.into() }
    }
}

/// The segments of a record that had none (format 1, or an export written by it): one wait
/// until the first accept, one spell for the owner reports named (the current owner, else
/// the last one) until the end, and a wait still running if the chat is back in a queue.
pub fn v1_segments(c: &Conversation) -> Vec<Segment> {
    use Status::*;
    let Some(accepted) = c.accepted_at else {
        // Never taken: waiting still, or given up waiting.
        return vec![Segment::Waiting { since: c.queued_at, taken_at: None }];
    };
    let mut out = Vec::new();
    // `queued_at` moves when the chat re-enters a queue; the first wait began at its creation.
    // A pushed chat was accepted as it was created: nobody waited for it.
    if accepted != c.created_at {
        out.push(Segment::Waiting { since: c.created_at, taken_at: Some(accepted) });
    }
    // Taken once and waiting now: back in a queue since `queued_at`.
    let requeued_at = c.queued_at.max(accepted);
    if let Some(expert) = c.owner.as_ref().map(|o| o.id).or_else(|| c.past_owners.last().copied()) {
        let until = match c.status {
            Open | Pending | OnHold => None,
            Queued | Offered => Some(requeued_at),
            Solved | Closed | Abandoned => c.solved_at.or(c.closed_at),
        };
        out.push(Segment::Owned { expert, since: accepted, until });
    }
    if c.status.is_waiting() {
        out.push(Segment::Waiting { since: requeued_at, taken_at: None });
    }
    out
}
