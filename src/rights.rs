//! Data rights (PRODUCT.md, "Data rights"): everything kept about one customer as one
//! document, the erasure of all of it, and the retention sweep that erases closed
//! conversations once they are older than `[retention] closed_conversations`.
//!
//! An erasure first revokes the customer (their visitor token answers as an unknown one, their
//! widgets are closed), then ends each live chat through its actor, which stops once the end
//! is durable, so no actor writes the conversation back; then the store erases transcripts,
//! files (bytes too), callbacks, webhook deliveries naming them, and the record last
//! (`store::erasure`). Reports keep an anonymized copy of each conversation, so
//! `/api/v1/stats` counts stay as they were.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::app::AppState;
use crate::clock::{self, Timestamp};
use crate::domain::{ErrorCode, EventKind, Refusal};
use crate::ids::{self, ConversationId, CustomerId};
use crate::messages::Erase;
use crate::store::model::{Conversation, Customer};
use crate::store::{Store, StoreError};
use crate::views::{self, AttachmentView, CallbackView, ConversationView, CustomerView};

/// `GET /api/v1/customers/{id}/export`: the contract's shape, with a few fields added.
#[derive(Debug, Serialize)]
pub struct CustomerExport {
    pub customer: CustomerRecord,
    pub conversations: Vec<ConversationExport>,
    pub callbacks: Vec<CallbackView>,
    pub ratings: Vec<RatingExport>,
}

#[derive(Debug, Serialize)]
pub struct CustomerRecord {
    #[serde(flatten)]
    pub view: CustomerView,
    /// When their record was first kept; none for a visitor known only by id.
    #[serde(with = "clock::rfc3339::option")]
    pub created_at: Option<Timestamp>,
}

/// A conversation with its whole transcript (internal notes too: they are kept about the
/// customer) and the files in it.
#[derive(Debug, Serialize)]
pub struct ConversationExport {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Serialize)]
pub struct RatingExport {
    #[serde(with = "ids::wire")]
    pub conversation_id: ConversationId,
    pub score: u8,
    pub comment: Option<String>,
    #[serde(with = "clock::rfc3339")]
    pub at: Timestamp,
}

/// What the store keeps about one customer that names them: read once for an export or an
/// erasure.
struct Kept {
    record: Option<Customer>,
    conversations: Vec<Conversation>,
    callbacks: Vec<crate::store::model::Callback>,
}

/// What is kept about `customer`; `None` when nothing is.
fn kept(store: &Store, customer: CustomerId) -> Result<Option<Kept>, StoreError> {
    let record = store.customer(customer)?;
    let conversations = store.conversations_of_customer(customer)?;
    let callbacks = store.callbacks_of(customer)?;
    if record.is_none() && conversations.is_empty() && callbacks.is_empty() {
        return Ok(None);
    }
    Ok(Some(Kept { record, conversations, callbacks }))
}

/// Everything kept about `customer`; `None` when nothing is.
pub fn export(store: &Store, customer: CustomerId) -> Result<Option<CustomerExport>, StoreError> {
    let Some(Kept { record, conversations, callbacks }) = kept(store, customer)? else {
        return Ok(None);
    };
    let mut out = CustomerExport {
        customer: CustomerRecord {
            view: views::customer_view(store, customer)?,
            created_at: record.map(|r| r.created_at),
        },
        conversations: Vec::with_capacity(conversations.len()),
        callbacks: callbacks.iter().map(|c| views::callback(store, c)).collect::<Result<_, _>>()?,
        ratings: Vec::new(),
    };
    for c in &conversations {
        if let Some(r) = &c.rating {
            let rating =
                RatingExport { conversation_id: c.id, score: r.score, comment: r.comment.clone(), at: r.at };
            out.ratings.push(rating);
        }
        let attachments =
            store.attachments_of(c.id)?.iter().map(|a| AttachmentView::new(&a.summary)).collect();
        let conversation = views::with_transcript(store, c, true)?;
        out.conversations.push(ConversationExport { conversation, attachments });
    }
    Ok(Some(out))
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A live chat's actor could not end it (its store write failed).
    #[error("{}", .0.message)]
    Refused(Refusal),
}

impl From<ErasureError> for Refusal {
    fn from(e: ErasureError) -> Refusal {
        match e {
            ErasureError::Store(e) => crate::conversation::internal_error(e),
            ErasureError::Refused(r) => r,
        }
    }
}

/// Erases everything kept about `customer` and announces `customer.erased`; false when
/// nothing was kept. Safe to run again after a failure part way: it picks up what is left.
pub async fn erase_customer(app: &AppState, customer: CustomerId) -> Result<bool, ErasureError> {
    let store = &app.store;
    let Some(Kept { record, conversations, .. }) = kept(store, customer)? else { return Ok(false) };
    let record = record.unwrap_or_else(|| Customer::anonymous(customer, Timestamp::now()));
    store.revoke_customer(customer, record.external_id.as_deref())?;
    app.hub.close_customer(customer, actix_web_actors::ws::CloseCode::Policy, "erased");
    let ids: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
    erase_conversations(app, &ids).await?;
    let mut named: HashSet<String> = ids.iter().map(|c| c.to_string()).collect();
    named.insert(customer.to_string());
    scrub_webhooks(store, &named)?;
    store.erase_customer_records(&record)?;
    let data = json!({
        "customer_id": customer.to_string(),
        // What the company's own systems know them by, so they can erase theirs too.
        "external_id": record.external_id,
        "conversation_ids": ids.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "erased_at": Timestamp::now().rfc3339(),
    });
    app.webhooks.enqueue(EventKind::CustomerErased, data)?;
    store.sync().await?;
    tracing::info!(%customer, conversations = ids.len(), "customer erased");
    Ok(true)
}

/// Ends each conversation still live (through its actor, which stops), then erases them.
async fn erase_conversations(app: &AppState, ids: &[ConversationId]) -> Result<(), ErasureError> {
    for &id in ids {
        stop_actor(app, id).await?;
    }
    for &id in ids {
        // Read again: ending a live chat changed its record.
        if let Some(c) = app.store.conversation(id)? {
            app.store.erase_conversation(&c)?;
        }
    }
    Ok(())
}

/// Ends a live conversation and stops its actor; a closed one's actor, still answering late
/// frames, is stopped too. Nothing to do for a conversation without one.
async fn stop_actor(app: &AppState, id: ConversationId) -> Result<(), ErasureError> {
    let live = app.store.conversation(id)?.is_some_and(|c| !c.status.is_terminal());
    let actor = match live {
        true => app.conversation(id)?,
        false => app.hub.conversation(id),
    };
    let Some(actor) = actor else { return Ok(()) };
    let (done, stopped) = tokio::sync::oneshot::channel();
    if actor.send(Erase { done }).await.is_err() {
        // It stopped on its own meanwhile; a stopped actor writes nothing more.
        return Ok(());
    }
    match stopped.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => Err(ErasureError::Refused(refusal)),
        // Its flush failed and it stopped: what it wrote is not known to be durable.
        Err(_) => Err(ErasureError::Refused(Refusal::new(
            ErrorCode::Internal,
            "a live conversation could not be ended; please retry",
        ))),
    }
}

/// Removes webhook deliveries still owed whose body names any of `named` (wire ids of the
/// customer and their conversations): they carry the data being erased.
fn scrub_webhooks(store: &Store, named: &HashSet<String>) -> Result<(), StoreError> {
    for entry in store.webhooks()? {
        let body: serde_json::Value = serde_json::from_slice(&entry.body).unwrap_or_default();
        if names_any(&body, named) {
            store.remove_webhook(&entry)?;
        }
    }
    Ok(())
}

/// Whether any string in `value` is one of `named`.
fn names_any(value: &serde_json::Value, named: &HashSet<String>) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => named.contains(s),
        Value::Array(items) => items.iter().any(|v| names_any(v, named)),
        Value::Object(fields) => fields.values().any(|v| names_any(v, named)),
        _ => false,
    }
}

/// Closed conversations whose retention ran out at `now`: closed (or abandoned) more than
/// `keep` ago.
pub fn expired(conversations: Vec<Conversation>, keep: Duration, now: Timestamp) -> Vec<Conversation> {
    conversations
        .into_iter()
        .filter(|c| c.status.is_terminal())
        .filter(|c| c.closed_at.unwrap_or(c.created_at).plus(keep) <= now)
        .collect()
}

/// One retention sweep: erases every closed conversation older than `keep`, as an erasure
/// would; the number erased.
pub async fn sweep(app: &AppState, keep: Duration) -> Result<usize, ErasureError> {
    let old = expired(app.store.conversations()?, keep, Timestamp::now());
    if old.is_empty() {
        return Ok(0);
    }
    let ids: Vec<ConversationId> = old.iter().map(|c| c.id).collect();
    erase_conversations(app, &ids).await?;
    scrub_webhooks(&app.store, &ids.iter().map(|c| c.to_string()).collect())?;
    app.store.sync().await?;
    tracing::info!(erased = ids.len(), "retention sweep");
    Ok(ids.len())
}

/// Sweeps at start (a restart never skips one) and then every `sweep_every`, while
/// `closed_conversations` is not 0 (keep forever).
pub async fn keep_sweeping(app: AppState) {
    let retention = app.config.retention.clone();
    if retention.closed_conversations.is_zero() {
        return;
    }
    loop {
        if let Err(e) = sweep(&app, retention.closed_conversations).await {
            tracing::error!(error = %e, "retention sweep failed; trying again at the next one");
        }
        tokio::time::sleep(retention.sweep_every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Status, Style};

    fn closed(id: u64, at: i64) -> Conversation {
        let mut c = Conversation::new(
            ConversationId(id),
            CustomerId(1),
            "general".into(),
            Style::LiveChat,
            Timestamp(0),
        );
        c.status = Status::Closed;
        c.closed_at = Some(Timestamp(at));
        c
    }

    #[test]
    fn only_conversations_closed_longer_than_the_period_expire() {
        let mut live = closed(3, 0);
        live.status = Status::Solved;
        let all = vec![closed(1, 1_000), closed(2, 5_000), live];
        let expired = expired(all, Duration::from_secs(2), Timestamp(3_000));
        assert_eq!(
            expired.iter().map(|c| c.id.0).collect::<Vec<_>>(),
            [1],
            "closed 2 s before, not 1 s; never a live one"
        );
    }

    #[test]
    fn webhook_bodies_are_matched_by_any_id_they_carry() {
        let named: HashSet<String> = ["u_5".to_string(), "c_9".to_string()].into();
        assert!(names_any(&json!({"data": {"conversation": {"id": "c_9"}}}), &named));
        assert!(names_any(&json!({"data": {"callback": {"customer": {"id": "u_5"}}}}), &named));
        assert!(!names_any(
            &json!({"data": {"conversation": {"id": "c_90", "customer": {"id": "u_50"}}}}),
            &named
        ));
    }
}
