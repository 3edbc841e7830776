//! Deadlines are stored as absolute times: after `kill -9` and a restart each timer fires at
//! its stored deadline, or at once if the deadline passed while the server was down.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{json, Value};

fn at(rfc3339: &Value) -> SystemTime {
    humantime::parse_rfc3339(rfc3339.as_str().expect("a timestamp")).expect("RFC 3339")
}

fn status_of<'a>(id: &'a str, status: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |f| f["type"] == "status" && f["conversation_id"] == id && f["status"] == status
}

/// Fails unless `deadline` has been reached (a little clock slack allowed for rounding).
fn assert_not_before(deadline: SystemTime, what: &str) {
    let now = SystemTime::now() + Duration::from_millis(5);
    assert!(now >= deadline, "{what} fired {:?} early", deadline.duration_since(now).unwrap_or_default());
}

#[tokio::test]
async fn an_accept_window_survives_kill_9() {
    let mut server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "1500ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (_c, id, _) = server.new_chat("hello").await;
    let offer = expert.event("offer").await;
    let expires_at = at(&offer["expires_at"]);

    server.crash_and_restart().await;
    let mut expert = server.expert_ws(&token).await;
    let withdrawn = expert.event("offer_withdrawn").await;
    assert_eq!(
        (withdrawn["conversation_id"].as_str(), withdrawn["reason"].as_str()),
        (Some(id.as_str()), Some("expired"))
    );
    assert_not_before(expires_at, "the accept window");
    let again = expert.event("offer").await;
    assert_eq!(again["conversation"]["id"], id.as_str(), "the chat is offered again after the lapse");
}

#[tokio::test]
async fn an_inactivity_end_survives_kill_9() {
    let mut server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_INACTIVITY_END", "1500ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (_customer, id, visitor) = server.new_chat("hello").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    let reply = expert.ack(json!({"type": "send", "conversation_id": id, "text": "Hi!"})).await;
    let deadline = at(&reply["message"]["at"]) + Duration::from_millis(1500);

    server.crash_and_restart().await;
    let (mut customer, _) = server.customer_ws(json!({"visitor_token": visitor})).await;
    let mut expert = server.expert_ws(&token).await;
    for side in [&mut customer, &mut expert] {
        let s = side.expect("the inactivity end", status_of(&id, "solved")).await;
        assert_eq!(s["reason"], "inactivity");
    }
    assert_not_before(deadline, "the inactivity end");
}

#[tokio::test]
async fn solved_to_closed_survives_kill_9_and_fires_at_once_if_it_passed_while_down() {
    let mut server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_RETURNING_CLOSE_AFTER", "1500ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;

    // Restarted before the deadline: it fires at the stored time.
    let (_c1, first, visitor) = server.new_chat("first").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": first})).await;
    expert.ack(json!({"type": "end", "conversation_id": first})).await;
    let deadline = SystemTime::now() + Duration::from_millis(1500);
    server.crash_and_restart().await;
    let (mut customer, _) = server.customer_ws(json!({"visitor_token": visitor})).await;
    let closed = customer.expect("closed", status_of(&first, "closed")).await;
    assert_eq!(closed["reason"], "closed_after_solved");
    assert_not_before(deadline - Duration::from_millis(50), "the close");

    // The deadline passes while the server is down: it fires as soon as it is back.
    let mut expert = server.expert_ws(&token).await;
    let (_c2, second, visitor) = server.new_chat("second").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": second})).await;
    expert.ack(json!({"type": "end", "conversation_id": second})).await;
    server.kill9().await;
    // The server is down: nothing can be awaited, the point is to let the deadline pass.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    server.crash_and_restart().await;
    let (mut customer, _) = server.customer_ws(json!({"visitor_token": visitor})).await;
    let started = std::time::Instant::now();
    let (status, c) = loop {
        let (status, c) = server.get(&format!("/api/v1/conversations/{second}"), &visitor).await;
        if c["status"] == "closed" || started.elapsed() > Duration::from_secs(2) {
            break (status, c);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (status, c["status"].as_str()),
        (200, Some("closed")),
        "closed at once after the restart: {c}"
    );
    customer.refused(json!({"type": "send", "conversation_id": second, "text": "hello?"}), "closed").await;
}

const CLAIM: &str = r#"
[conversation]
first_response_window = "1500ms"

[[categories]]
id = "reset"
name = "Password reset"
mode = "claim"
certification = "identity"
"#;

#[tokio::test]
async fn a_claims_first_response_window_survives_kill_9() {
    let mut server = TestServer::start_with_config(CLAIM, &[]).await;
    let (_, token) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let ack = customer.ack(json!({"type": "start", "text": "reset please", "category": "reset"})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    expert.event("claimable").await;
    expert.ack(json!({"type": "claim", "conversation_id": id})).await;
    let deadline = SystemTime::now() + Duration::from_millis(1500);

    server.crash_and_restart().await;
    let mut expert = server.expert_ws(&token).await;
    let released = expert.event("released").await;
    assert_eq!(
        (released["conversation_id"].as_str(), released["reason"].as_str()),
        (Some(id.as_str()), Some("no_response"))
    );
    assert_not_before(deadline - Duration::from_millis(50), "the first-response window");
    expert.refused(json!({"type": "send", "conversation_id": id, "text": "too late"}), "not_found").await;
}
