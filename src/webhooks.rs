//! Webhooks: lifecycle events posted as signed JSON to the configured endpoints, from a
//! durable outbox. An event is written in the same store step as the transition it reports,
//! so it survives whatever the transition survives, and it is delivered at least once:
//! retried with exponential backoff, across restarts, with an event id for de-duplication.

use std::net::ToSocketAddrs;
use std::time::Duration;

use actix_web::http::Uri;
use serde_json::{json, Value};

use crate::auth;
use crate::clock::Timestamp;
use crate::net::internal;
use crate::views;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::WebhooksConfig;
use crate::domain::{EventKind, Status};
use crate::store::model::{Conversation, WebhookEntry};
use crate::store::{Store, StoreError};

/// How many due deliveries one pass takes on; the rest wait for the next pass.
const BATCH: usize = 64;
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the outbox is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_millis(250);

/// The webhook outbox: events are written to the store with the change they report, and
/// delivered from there by `run`.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    settings: WebhooksConfig,
    /// Wakes the delivery worker when an event is written.
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: Store, settings: WebhooksConfig) -> Outbox {
        Outbox { store, settings, wake: Arc::new(Notify::new()) }
    }

    /// Writes `kind` with `data` to the outbox, once per endpoint. Call before the store step
    /// whose flush must carry it.
    pub fn enqueue(&self, kind: EventKind, data: Value) -> Result<(), StoreError> {
        if self.settings.endpoints.is_empty() {
            return Ok(());
        }
        let id = self.store.next_id()?;
        let now = Timestamp::now();
        let body =
            json!({ "id": format!("evt_{id}"), "type": kind, "created_at": now.rfc3339(), "data": data });
        let body = serde_json::to_vec(&body).expect("JSON values serialize");
        for endpoint in 0..self.settings.endpoints.len() {
            let entry = WebhookEntry {
                id,
                endpoint: endpoint as u16,
                kind: kind.as_str().into(),
                body: body.clone(),
                attempts: 0,
                next_attempt_at: now,
            };
            self.store.put_webhook(&entry)?;
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Writes the events a conversation's change makes (`for_transition`); call before the
    /// store step that writes the change, so they share its flush.
    pub fn announce(&self, before: Option<&Conversation>, after: &Conversation) -> Result<(), StoreError> {
        if self.settings.endpoints.is_empty() {
            return Ok(());
        }
        for (kind, data) in for_transition(&self.store, before, after)? {
            self.enqueue(kind, data)?;
        }
        Ok(())
    }

    /// Writes `message.left` for a left message about to be stored with `text` as its first
    /// words: what a team that answers by e-mail needs (the text, the name and email given,
    /// the conversation). Call before the store step that writes the conversation.
    pub fn announce_left(&self, c: &Conversation, text: &str) -> Result<(), StoreError> {
        let Some(contact) = c.offline.as_ref().filter(|_| !self.settings.endpoints.is_empty()) else {
            return Ok(());
        };
        let data = json!({
            "conversation_id": c.id.to_string(),
            "text": text,
            "name": contact.name,
            "email": contact.email,
            "conversation": views::summary(&self.store, c)?,
        });
        self.enqueue(EventKind::MessageLeft, data)
    }

    /// Delivers the outbox until the server stops.
    pub async fn run(self) {
        if self.settings.endpoints.is_empty() {
            return;
        }
        let client = awc::Client::builder().timeout(POST_TIMEOUT).finish();
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            if let Err(e) = self.deliver_due(&client).await {
                tracing::error!(error = %e, "webhook outbox");
            }
        }
    }

    async fn deliver_due(&self, client: &awc::Client) -> Result<(), StoreError> {
        // Only what is on disk goes out: an event never reports a change a crash could undo.
        self.store.sync().await?;
        let settings = &self.settings;
        for mut entry in self.store.due_webhooks(Timestamp::now(), BATCH)? {
            let Some(endpoint) = settings.endpoints.get(entry.endpoint as usize) else {
                self.store.remove_webhook(&entry)?;
                continue;
            };
            match post(client, &endpoint.url, &endpoint.secret, settings.allow_private, &entry).await {
                Ok(()) => {
                    tracing::info!(event = entry.id, kind = %entry.kind, url = %endpoint.url, "webhook delivered");
                    self.store.remove_webhook(&entry)?;
                }
                Err(why) => {
                    entry.attempts += 1;
                    if entry.attempts >= settings.max_attempts {
                        tracing::error!(event = entry.id, kind = %entry.kind, url = %endpoint.url, %why, "webhook given up");
                        self.store.remove_webhook(&entry)?;
                        continue;
                    }
                    let backoff = settings
                        .retry_base
                        .saturating_mul(1 << entry.attempts.min(20))
                        .min(settings.retry_max);
                    entry.next_attempt_at = Timestamp::now().plus(backoff);
                    tracing::warn!(event = entry.id, attempts = entry.attempts, %why, "webhook failed; will retry");
                    self.store.put_webhook(&entry)?;
                }
            }
        }
        Ok(())
    }
}

/// The events a conversation's change makes, with their data.
pub fn for_transition(
    store: &Store,
    before: Option<&Conversation>,
    after: &Conversation,
) -> Result<Vec<(EventKind, Value)>, StoreError> {
    let mut events = Vec::new();
    let summary = || views::summary(store, after).map(|v| json!({ "conversation": v }));
    let Some(before) = before else {
        events.push((EventKind::ConversationStarted, summary()?));
        return Ok(events);
    };
    if after.transfers > before.transfers {
        events.push((EventKind::ConversationTransferred, summary()?));
    } else if after.owner.is_some()
        && before.owner.as_ref().map(|o| o.id) != after.owner.as_ref().map(|o| o.id)
    {
        events.push((EventKind::ConversationAssigned, summary()?));
    }
    let ended = |s: Status| matches!(s, Status::Solved | Status::Closed);
    if ended(after.status) && !ended(before.status) {
        // The ticket's chat log: the whole transcript, internal notes marked as such.
        let chat = views::with_transcript(store, after, true)?;
        events.push((EventKind::ConversationEnded, json!({ "conversation": chat })));
    }
    if after.status == Status::Closed && before.status != Status::Closed {
        events.push((EventKind::ConversationClosed, summary()?));
    }
    if after.status == Status::Abandoned && before.status != Status::Abandoned {
        events.push((EventKind::ConversationAbandoned, summary()?));
    }
    if after.rating != before.rating && after.rating.is_some() {
        events.push((EventKind::ConversationRated, summary()?));
    }
    if let Some((clock, at)) = crate::sla::breached(&before.sla, &after.sla) {
        let data = json!({
            "conversation_id": after.id.to_string(),
            "category": after.category,
            "kind": clock.kind,
            "target_ms": clock.target_ms,
            "breached_at": at.rfc3339(),
            "owner_id": after.owner.as_ref().map(|o| o.id.to_string()),
        });
        events.push((EventKind::SlaBreached, data));
    }
    Ok(events)
}

async fn post(
    client: &awc::Client,
    url: &str,
    secret: &str,
    allow_private: bool,
    entry: &WebhookEntry,
) -> Result<(), String> {
    if !allow_private {
        // Names are checked as they resolve now, not only as configured.
        let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let addrs = actix_web::rt::task::spawn_blocking(move || {
            (host.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        if addrs.iter().any(|a| internal(a.ip())) {
            return Err("the endpoint resolves to a private address".into());
        }
    }
    let signature = format!("sha256={}", auth::sign_bytes(secret, &entry.body));
    let response = client
        .post(url)
        .insert_header(("content-type", "application/json"))
        .insert_header(("x-switchboard-event", entry.kind.as_str()))
        .insert_header(("x-switchboard-event-id", format!("evt_{}", entry.id)))
        .insert_header(("x-switchboard-signature", signature))
        .send_body(entry.body.clone())
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered {}", response.status()))
    }
}
