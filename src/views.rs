//! Conversations as clients see them, read from the store: one place for every summary.

use crate::ids::{ConversationId, CustomerId};
use crate::protocol::{ConversationView, CustomerView, MessageView};
use crate::store::model::{AuthorKind, Conversation};
use crate::store::{Store, StoreError};

/// Characters of the customer's first message shown in a claim list.
const PREVIEW_CHARS: usize = 200;

pub fn customer_view(store: &Store, id: CustomerId) -> Result<CustomerView, StoreError> {
    Ok(match store.customer(id)? {
        Some(c) => CustomerView::new(&c),
        None => CustomerView { id: id.to_string(), name: None, email: None, external_id: None },
    })
}

/// The conversation without its transcript.
pub fn summary(store: &Store, c: &Conversation) -> Result<ConversationView, StoreError> {
    Ok(ConversationView::new(c, customer_view(store, c.customer)?, store.last_seq(c.id)?))
}

/// A claim-list summary: no transcript, but the customer's opening words.
pub fn claim_summary(store: &Store, c: &Conversation) -> Result<ConversationView, StoreError> {
    let mut view = summary(store, c)?;
    view.preview = preview(store, c.id)?;
    Ok(view)
}

fn preview(store: &Store, id: ConversationId) -> Result<Option<String>, StoreError> {
    let first = store.transcript(id, 0)?.into_iter().find(|m| m.author.kind == AuthorKind::Customer);
    Ok(first.map(|m| m.text.chars().take(PREVIEW_CHARS).collect()))
}

/// The conversation with its transcript; internal notes only for experts and admins.
pub fn with_transcript(
    store: &Store,
    c: &Conversation,
    for_expert: bool,
) -> Result<ConversationView, StoreError> {
    let messages = store
        .transcript(c.id, 0)?
        .iter()
        .filter(|m| for_expert || !m.internal)
        .map(|m| MessageView::new(c.id, m))
        .collect();
    Ok(summary(store, c)?.with_messages(messages))
}
