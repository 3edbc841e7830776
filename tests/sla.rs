//! SLA targets against a real server: a breach comes at its target (not before, soon after),
//! warns the owner with `sla_breach`, is counted in `/metrics`, sent as the `sla.breached`
//! webhook and shown in `/api/v1/stats`; a reply in time records none; next-response targets;
//! office hours; a breach deadline that survives `kill -9`; and the owner's views (a fresh
//! console's welcome, the conversation read over HTTP) that show the breach until the reply.

mod common;

use std::time::Duration;

use common::hooks::{next, receive, Delivery, HOOK_SECRET};
use common::*;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// How late after its due time a breach may arrive (timer, store flush, delivery).
const LATE: Duration = Duration::from_millis(1500);

const FIRST_MS: u64 = 800;
const NEXT_MS: u64 = 600;

fn config(port: u16, extra: &str) -> String {
    format!(
        r#"
[webhooks]
allow_private = true
retry_base = "100ms"
retry_max = "400ms"
[[webhooks.endpoints]]
url = "http://127.0.0.1:{port}/hook"
secret = "{HOOK_SECRET}"

[[categories]]
id = "general"
name = "General"
first_response_target = "{FIRST_MS}ms"
next_response_target = "{NEXT_MS}ms"
{extra}
"#
    )
}

/// A server with the SLA config and a webhook receiver.
async fn server(extra: &str) -> (TestServer, UnboundedReceiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let rx = receive(listener);
    (TestServer::start_with_config(&config(port, extra), &[]).await, rx)
}

/// The `sla_breach` of this conversation, waited for.
async fn breach(expert: &mut Ws, id: &str) -> Value {
    let id = id.to_owned();
    expert
        .expect("sla_breach", move |f| f["type"] == "sla_breach" && f["conversation_id"] == id.as_str())
        .await
}

/// Asserts a breach came no sooner than `target` after `sent` (just before the frame that
/// started the clock) and no later than `LATE` after `acked` (just after it).
fn on_time(sent: Instant, acked: Instant, arrived: Instant, target: u64) {
    let target = Duration::from_millis(target);
    assert!(arrived - sent >= target, "breach after {:?}, before the target {target:?}", arrived - sent);
    assert!(
        arrived - acked <= target + LATE,
        "breach after {:?}, long after the target {target:?}",
        arrived - acked
    );
}

/// The next `sla.breached` webhook (other events pass by).
async fn breach_hook(rx: &mut UnboundedReceiver<Delivery>) -> Value {
    loop {
        let d = next(rx).await;
        if d.body["type"] == "sla.breached" {
            assert!(d.signed, "signed: {d:?}");
            return d.body;
        }
    }
}

async fn metrics(server: &TestServer) -> String {
    reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap()
}

async fn sla_stats(server: &TestServer) -> Value {
    let (status, stats) = server.get("/api/v1/stats", ADMIN).await;
    assert_eq!(status, 200, "{stats}");
    stats["total"]["sla"].clone()
}

const BREACHES_FIRST: &str = r#"switchboard_sla_breaches_total{category="general",kind="first_response"}"#;
const BREACHES_NEXT: &str = r#"switchboard_sla_breaches_total{category="general",kind="next_response"}"#;

/// A chat accepted by its owner and left unanswered, once its first-response breach reached
/// the owner on time.
struct Unanswered {
    server: TestServer,
    hooks: UnboundedReceiver<Delivery>,
    expert: Ws,
    /// The owner's login token, for a fresh console.
    token: String,
    customer: Ws,
    visitor: String,
    id: String,
    /// When the live `sla_breach` said it was breached.
    at: String,
}

async fn unanswered_until_breached(extra: &str) -> Unanswered {
    let (server, hooks) = server(extra).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let sent = Instant::now();
    let (customer, id, visitor) = server.new_chat("hello?").await;
    let acked = Instant::now();
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    let frame = breach(&mut expert, &id).await;
    on_time(sent, acked, Instant::now(), FIRST_MS);
    assert_eq!(
        (frame["kind"].as_str(), frame["target_ms"].as_u64()),
        (Some("first_response"), Some(FIRST_MS))
    );
    let at = frame["at"].as_str().expect("when it was breached").to_owned();
    assert!(at.ends_with('Z'), "{frame}");
    Unanswered { server, hooks, expert, token, customer, visitor, id, at }
}

#[tokio::test]
async fn a_first_response_breach_warns_the_owner_and_is_counted_announced_and_reported() {
    let Unanswered { server, mut hooks, mut expert, id, at, .. } = unanswered_until_breached("").await;
    let hook = breach_hook(&mut hooks).await;
    let data = &hook["data"];
    assert_eq!(data["conversation_id"], id.as_str());
    assert_eq!((data["category"].as_str(), data["kind"].as_str()), (Some("general"), Some("first_response")));
    assert_eq!(data["target_ms"], FIRST_MS);
    assert_eq!(data["breached_at"], at.as_str(), "the frame and the webhook name one moment");

    // The late reply stops nothing more: one breach, no second warning.
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "sorry for the wait"})).await;
    expert
        .expect_none("a second sla_breach", Duration::from_millis(300), |f| f["type"] == "sla_breach")
        .await;
    assert_eq!(sample(&metrics(&server).await, BREACHES_FIRST), 1.0);
    let sla = sla_stats(&server).await;
    assert_eq!(sla["first_response"], json!({"met": 0, "breached": 1, "breach_rate": 1.0}), "{sla}");
}

#[tokio::test]
async fn a_reply_in_time_meets_the_target_and_a_late_next_response_is_breached() {
    let (server, mut hooks) = server("").await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, _) = server.accepted_chat(&mut expert, "hello?").await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Hi, how can I help?"})).await;
    // Past the first-response target: nothing comes, it was met.
    let quiet = Duration::from_millis(FIRST_MS + 400);
    expert.expect_none("a breach of a met target", quiet, |f| f["type"] == "sla_breach").await;
    let text = metrics(&server).await;
    assert!(!text.contains("switchboard_sla_breaches_total"), "no breach counted:\n{text}");
    let met = r#"switchboard_sla_response_seconds_count{category="general",kind="first_response"}"#;
    assert_eq!(sample(&text, met), 1.0);
    assert_eq!(
        sla_stats(&server).await["first_response"],
        json!({"met": 1, "breached": 0, "breach_rate": 0.0})
    );

    // The customer writes again after the answer: a next reply is due within its target.
    let sent = Instant::now();
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "one more thing"})).await;
    let acked = Instant::now();
    let frame = breach(&mut expert, &id).await;
    on_time(sent, acked, Instant::now(), NEXT_MS);
    assert_eq!((frame["kind"].as_str(), frame["target_ms"].as_u64()), (Some("next_response"), Some(NEXT_MS)));
    assert_eq!(breach_hook(&mut hooks).await["data"]["kind"], "next_response");
    assert_eq!(sample(&metrics(&server).await, BREACHES_NEXT), 1.0);
    let sla = sla_stats(&server).await;
    assert_eq!(sla["next_response"], json!({"met": 0, "breached": 1, "breach_rate": 1.0}), "{sla}");
    assert_eq!(sla["first_response"]["met"], 1);
}

#[tokio::test]
async fn an_ended_chat_stops_its_clock() {
    let (server, _hooks) = server("").await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (_customer, id, _) = server.accepted_chat(&mut expert, "hello?").await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    let quiet = Duration::from_millis(FIRST_MS + 400);
    expert.expect_none("a breach of an ended chat", quiet, |f| f["type"] == "sla_breach").await;
    assert!(!metrics(&server).await.contains("switchboard_sla_breaches_total"));
    let sla = sla_stats(&server).await;
    assert_eq!(sla["first_response"], json!({"met": 0, "breached": 0, "breach_rate": 0.0}), "{sla}");
}

/// Open every hour of every day in UTC: the clock counts as without a schedule.
const ALWAYS_OPEN: &str = r#"
[office_hours]
enabled = true
timezone = "UTC"
monday = ["00:00-24:00"]
tuesday = ["00:00-24:00"]
wednesday = ["00:00-24:00"]
thursday = ["00:00-24:00"]
friday = ["00:00-24:00"]
saturday = ["00:00-24:00"]
sunday = ["00:00-24:00"]
"#;

#[tokio::test]
async fn within_open_office_hours_a_breach_comes_at_its_target() {
    // The server is kept until the webhook came: the owner's frame may arrive first.
    let Unanswered { server: _server, mut hooks, id, .. } = unanswered_until_breached(ALWAYS_OPEN).await;
    assert_eq!(breach_hook(&mut hooks).await["data"]["conversation_id"], id.as_str());
}

#[tokio::test]
async fn a_breach_deadline_survives_kill_9_and_fires_after_restart() {
    const TARGET_MS: u64 = 3000;
    let extra = format!(
        "[[categories]]\nid = \"slow\"\nname = \"Slow\"\nfirst_response_target = \"{TARGET_MS}ms\"\n"
    );
    let (mut server, mut hooks) = server(&extra).await;
    let (_, token) = server.expert("ada", &["slow"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, welcome) = server.customer_ws(json!({})).await;
    let visitor = welcome["visitor_token"].as_str().unwrap().to_owned();
    let sent = Instant::now();
    let ack = customer.ack(json!({"type": "start", "text": "hello?", "category": "slow"})).await;
    let acked = Instant::now();
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;

    server.crash_and_restart().await;
    assert!(acked.elapsed() < Duration::from_millis(TARGET_MS), "restarted in time to watch the deadline");
    let mut expert = server.expert_ws(&token).await;
    // The customer comes back, so the chat is not resolved as left-site meanwhile.
    let (_customer, _) = server.customer_ws(json!({"visitor_token": visitor})).await;
    let frame = breach(&mut expert, &id).await;
    on_time(sent, acked, Instant::now(), TARGET_MS);
    assert_eq!(
        (frame["kind"].as_str(), frame["target_ms"].as_u64()),
        (Some("first_response"), Some(TARGET_MS))
    );
    let hook = breach_hook(&mut hooks).await;
    assert_eq!(
        (hook["data"]["conversation_id"].as_str(), hook["data"]["category"].as_str()),
        (Some(id.as_str()), Some("slow"))
    );
    let breached = r#"switchboard_sla_breaches_total{category="slow",kind="first_response"}"#;
    assert_eq!(sample(&metrics(&server).await, breached), 1.0);
}

// ----- the breach in the owner's views -----

/// A fresh console of the expert with `token`: the socket, and its welcome's view of `id`.
async fn console(server: &TestServer, token: &str, id: &str) -> (Ws, Value) {
    let mut ws = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    let welcome = ws.request(json!({"type": "hello", "token": token})).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let view = welcome["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned();
    (ws, view.unwrap_or_else(|| panic!("the welcome lists {id}: {welcome}")))
}

/// The conversation as `GET /api/v1/conversations/{id}` shows it to the holder of `token`.
async fn read(server: &TestServer, token: &str, id: &str) -> Value {
    let (status, view) = server.get(&format!("/api/v1/conversations/{id}"), token).await;
    assert_eq!(status, 200, "{view}");
    view
}

fn breached_kind(view: &Value) -> Option<&str> {
    let b = &view["sla_breached"];
    assert!(b.is_null() || b["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{view}");
    b["kind"].as_str()
}

#[tokio::test]
async fn a_reconnected_console_shows_the_breach_until_the_reply() {
    let Unanswered { server, token, mut customer, visitor, id, .. } = unanswered_until_breached("").await;
    // A fresh console (a reload): the welcome says the chat is in breach, and no clock runs.
    let (mut console1, view) = console(&server, &token, &id).await;
    assert_eq!(breached_kind(&view), Some("first_response"), "{view}");
    assert!(view.get("sla").is_none(), "{view}");
    assert_eq!(breached_kind(&read(&server, &token, &id).await), Some("first_response"));
    // Staff only: the customer's own view of the chat says nothing of targets.
    let theirs = read(&server, &visitor, &id).await;
    assert!(theirs.get("sla_breached").is_none() && theirs.get("sla").is_none(), "{theirs}");

    // The reply answers it: no view shows it any more.
    console1.ack(json!({"type": "send", "conversation_id": id, "text": "sorry for the wait"})).await;
    let (_, view) = console(&server, &token, &id).await;
    assert_eq!(breached_kind(&view), None, "{view}");
    assert_eq!(breached_kind(&read(&server, &token, &id).await), None);

    // The customer writes again: the next-response clock shows while it runs, then its breach.
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "and now?"})).await;
    let (_, view) = console(&server, &token, &id).await;
    assert_eq!(view["sla"]["kind"], "next_response", "{view}");
    assert_eq!(view["sla"]["target_ms"], NEXT_MS, "{view}");
    assert!(view["sla"]["due"].as_str().is_some_and(|t| t.ends_with('Z')), "{view}");
    assert_eq!(breached_kind(&view), None, "{view}");
    breach(&mut console1, &id).await;
    let (_, view) = console(&server, &token, &id).await;
    assert_eq!(breached_kind(&view), Some("next_response"), "{view}");
    assert!(view.get("sla").is_none(), "{view}");
    // This reply changes only activity times, which are not written to the record with each
    // message: the views read the transcript to know it was answered.
    console1.ack(json!({"type": "send", "conversation_id": id, "text": "here it is"})).await;
    let (_, view) = console(&server, &token, &id).await;
    assert_eq!(breached_kind(&view), None, "{view}");
    assert_eq!(breached_kind(&read(&server, &token, &id).await), None);
}

#[tokio::test]
async fn an_owner_offline_at_the_breach_sees_it_when_connecting() {
    let (server, mut hooks) = server("").await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (_customer, id, _) = server.accepted_chat(&mut expert, "hello?").await;
    expert.close().await;
    // The target passes while no console of hers is connected: the breach is recorded (the
    // webhook is written with the record) but no frame reaches her.
    assert_eq!(breach_hook(&mut hooks).await["data"]["conversation_id"], id.as_str());
    let (_, view) = console(&server, &token, &id).await;
    assert_eq!(breached_kind(&view), Some("first_response"), "{view}");
}
