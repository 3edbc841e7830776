//! Webhooks: lifecycle events posted as signed JSON to the configured endpoints, from a
//! durable outbox. An event is written in the same store step as the transition it reports,
//! so it survives whatever the transition survives, and it is delivered at least once:
//! retried with exponential backoff, across restarts, with an event id for de-duplication.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use actix_web::http::Uri;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth;
use crate::clock::Timestamp;
use crate::conversation::views;
use crate::store::model::{Conversation, Status, WebhookEntry};
use crate::store::{Store, StoreError};

/// How many due deliveries one pass takes on; the rest wait for the next pass.
const BATCH: usize = 64;
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the outbox is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_millis(250);

/// Refuses endpoints that would let the server be pointed at itself or its network.
pub fn check_endpoint(url: &str, allow_private: bool) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("webhook url {url:?}: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("webhook url {url:?} must be http or https"));
    }
    let host = uri.host().ok_or_else(|| format!("webhook url {url:?} has no host"))?;
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        if !allow_private && internal(ip) {
            return Err(format!(
                "webhook url {url:?} points into a private range (set webhooks.allow_private)"
            ));
        }
    }
    Ok(())
}

/// Loopback, private, link-local, shared and other non-public addresses.
fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

/// Writes `kind` with `data` to the outbox, once per endpoint. Call before the store step
/// whose flush must carry it.
pub fn enqueue(app: &AppState, kind: &'static str, data: Value) -> Result<(), StoreError> {
    if app.config.webhooks.endpoints.is_empty() {
        return Ok(());
    }
    let id = app.store.next_id()?;
    let now = Timestamp::now();
    let body = json!({ "id": format!("evt_{id}"), "type": kind, "created_at": now.rfc3339(), "data": data });
    let body = serde_json::to_vec(&body).expect("JSON values serialize");
    for endpoint in 0..app.config.webhooks.endpoints.len() {
        let entry = WebhookEntry {
            id,
            endpoint: endpoint as u16,
            kind: kind.into(),
            body: body.clone(),
            attempts: 0,
            next_attempt_at: now,
        };
        app.store.put_webhook(&entry)?;
    }
    app.webhook_wake.notify_one();
    Ok(())
}

/// The events a conversation's change makes, with their data.
pub fn for_transition(
    store: &Store,
    before: Option<&Conversation>,
    after: &Conversation,
) -> Result<Vec<(&'static str, Value)>, StoreError> {
    let mut events = Vec::new();
    let summary = || views::summary(store, after).map(|v| json!({ "conversation": v }));
    let Some(before) = before else {
        events.push(("conversation.started", summary()?));
        return Ok(events);
    };
    if after.transfers > before.transfers {
        events.push(("conversation.transferred", summary()?));
    } else if after.owner.is_some()
        && before.owner.as_ref().map(|o| o.id) != after.owner.as_ref().map(|o| o.id)
    {
        events.push(("conversation.assigned", summary()?));
    }
    let ended = |s: Status| matches!(s, Status::Solved | Status::Closed);
    if ended(after.status) && !ended(before.status) {
        // The ticket's chat log: the whole transcript, internal notes marked as such.
        let chat = views::with_transcript(store, after, true)?;
        events.push(("conversation.ended", json!({ "conversation": chat })));
    }
    if after.status == Status::Closed && before.status != Status::Closed {
        events.push(("conversation.closed", summary()?));
    }
    if after.status == Status::Abandoned && before.status != Status::Abandoned {
        events.push(("conversation.abandoned", summary()?));
    }
    if after.rating != before.rating && after.rating.is_some() {
        events.push(("conversation.rated", summary()?));
    }
    Ok(events)
}

/// Delivers the outbox until the server stops.
pub async fn run(app: AppState) {
    if app.config.webhooks.endpoints.is_empty() {
        return;
    }
    let client = awc::Client::builder().timeout(POST_TIMEOUT).finish();
    loop {
        tokio::select! {
            _ = app.webhook_wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        if let Err(e) = deliver_due(&app, &client).await {
            tracing::error!(error = %e, "webhook outbox");
        }
    }
}

async fn deliver_due(app: &AppState, client: &awc::Client) -> Result<(), StoreError> {
    // Only what is on disk goes out: an event never reports a change a crash could undo.
    app.store.sync().await?;
    let settings = &app.config.webhooks;
    for mut entry in app.store.due_webhooks(Timestamp::now(), BATCH)? {
        let Some(endpoint) = settings.endpoints.get(entry.endpoint as usize) else {
            app.store.remove_webhook(&entry)?;
            continue;
        };
        match post(client, &endpoint.url, &endpoint.secret, settings.allow_private, &entry).await {
            Ok(()) => {
                tracing::info!(event = entry.id, kind = %entry.kind, url = %endpoint.url, "webhook delivered");
                app.store.remove_webhook(&entry)?;
            }
            Err(why) => {
                entry.attempts += 1;
                if entry.attempts >= settings.max_attempts {
                    tracing::error!(event = entry.id, kind = %entry.kind, url = %endpoint.url, %why, "webhook given up");
                    app.store.remove_webhook(&entry)?;
                    continue;
                }
                let backoff =
                    settings.retry_base.saturating_mul(1 << entry.attempts.min(20)).min(settings.retry_max);
                entry.next_attempt_at = Timestamp::now().plus(backoff);
                tracing::warn!(event = entry.id, attempts = entry.attempts, %why, "webhook failed; will retry");
                app.store.put_webhook(&entry)?;
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_endpoints_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1/h",
            "http://10.1.2.3/h",
            "http://192.168.0.9/h",
            "http://169.254.1.1/h",
            "http://[::1]/h",
            "http://100.64.0.1/h",
        ] {
            assert!(check_endpoint(url, false).is_err(), "{url}");
            assert!(check_endpoint(url, true).is_ok(), "{url}");
        }
        assert!(check_endpoint("https://crm.example.com/hooks", false).is_ok());
        assert!(check_endpoint("https://93.184.216.34/hooks", false).is_ok());
        assert!(check_endpoint("ftp://crm.example.com/", false).is_err());
    }
}
