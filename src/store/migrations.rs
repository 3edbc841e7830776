//! How values written by an older format version read today (see `codec::Persisted`).
//!
//! Format 1 → 2: `Conversation` gained `segments`, the history of its waits and owners that
//! reports measure. A format-1 record knew only its first accept (`accepted_at`), its latest
//! entry into a queue (`queued_at`) and its end (`solved_at`), so its segments are rebuilt
//! from those: as good as the figures format 1 could give, no better. Every other type kept
//! its shape, and its format-1 bytes read as they are.

use bincode::Decode;

use super::codec::{decode_body, Persisted};
use super::model::*;
use super::StoreError;
use crate::clock::Timestamp;
use crate::domain::{Page, Status, Style};
use crate::ids::{ConversationId, CustomerId, ExpertId};

impl Persisted for Expert {}
impl Persisted for LoginToken {}
impl Persisted for Customer {}
impl Persisted for StoredMessage {}
impl Persisted for Attachment {}
impl Persisted for Callback {}
impl Persisted for Canned {}
impl Persisted for WebhookEntry {}

impl Persisted for Conversation {
    fn decode_older(version: u8, body: &[u8]) -> Result<Self, StoreError> {
        match version {
            1 => Ok(decode_body::<ConversationV1>(body)?.into()),
            v => Err(StoreError::Corrupt(format!("no migration for a conversation of format {v}"))),
        }
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

impl From<ConversationV1> for Conversation {
    fn from(v1: ConversationV1) -> Conversation {
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
        } = v1;
        let mut c = Conversation {
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
        };
        c.segments = v1_segments(&c);
        c
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
