//! Every window of the conversation lifecycle against a real server with millisecond-scale
//! windows: missed offers, nudges, pending, styles, customer end, abandonment, inactivity,
//! left site, office hours and callbacks.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn status_of<'a>(id: &'a str, status: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |f| f["type"] == "status" && f["conversation_id"] == id && f["status"] == status
}

#[tokio::test]
async fn two_lapsed_offers_set_an_expert_away_and_no_further_offers_reach_them() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "300ms"),
        ("SWITCHBOARD_ROUTING_MISSED_OFFERS_BEFORE_AWAY", "2"),
    ])
    .await;
    let (expert_id, token) = server.expert("absent", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (_c, id, _) = server.new_chat("hello?").await;
    for _ in 0..2 {
        expert.event("offer").await;
        let w = expert.event("offer_withdrawn").await;
        assert_eq!(
            (w["conversation_id"].as_str(), w["reason"].as_str()),
            (Some(id.as_str()), Some("expired"))
        );
    }
    let presence = expert.event("presence").await;
    assert_eq!(presence["status"], "away");
    assert_eq!(presence["reason"], "missed_offers");
    let (_, list) = server.get("/api/v1/experts", ADMIN).await;
    let me = list.as_array().unwrap().iter().find(|e| e["id"] == expert_id.as_str()).unwrap();
    assert_eq!(me["presence"], "away");

    let (_c2, _, _) = server.new_chat("anyone?").await;
    expert.expect_none("an offer while away", Duration::from_millis(800), |f| f["type"] == "offer").await;
}

#[tokio::test]
async fn a_nudge_arrives_after_nudge_after_repeats_and_stops_after_a_reply() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_NUDGE_AFTER", "300ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, _) = server.accepted_chat(&mut expert, "hi").await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Hello, how can I help?"})).await;
    // Nudges owed for the opening wait are void once the expert has replied.
    while expert.take_ready(|f| f["type"] == "nudge").is_some() {}

    let sent = Instant::now();
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "My parcel is lost"})).await;
    let first = expert.event("nudge").await;
    assert!(sent.elapsed() >= Duration::from_millis(300), "not before nudge_after");
    assert_eq!(first["conversation_id"], id.as_str());
    assert!(first["waiting_ms"].as_u64().unwrap() >= 300);
    let second = expert.event("nudge").await;
    assert!(second["waiting_ms"].as_u64().unwrap() >= 600, "repeated every nudge_after: {second}");

    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Let me check."})).await;
    while expert.take_ready(|f| f["type"] == "nudge").is_some() {}
    expert.expect_none("a nudge after the reply", Duration::from_millis(900), |f| f["type"] == "nudge").await;
}

#[tokio::test]
async fn pending_frees_a_slot_and_the_customer_reopens_with_the_same_expert() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("solo", &["general"], Some(1)).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut first, a, _) = server.accepted_chat(&mut expert, "first").await;
    expert.ack(json!({"type": "set_status", "conversation_id": a, "status": "pending"})).await;
    first.expect("pending", status_of(&a, "pending")).await;

    // The slot is free: a new chat is offered and taken.
    let (_second, b, _) = server.accepted_chat(&mut expert, "second").await;
    // The pending customer writes: their chat is open again with the same expert, above capacity.
    first.ack(json!({"type": "send", "conversation_id": a, "text": "I'm back"})).await;
    let reopened = status_of(&a, "open");
    first.expect("reopened", |f| reopened(f) && f["reason"] == "reopened").await;
    expert.expect("the message", |f| f["type"] == "message" && f["message"]["text"] == "I'm back").await;
    expert.expect("open again", |f| reopened(f) && f["reason"] == "reopened").await;
    // Now at two open chats with a maximum of one: nothing more is offered.
    let (_third, c, _) = server.new_chat("third").await;
    expert
        .expect_none("an offer above capacity", Duration::from_millis(500), |f| {
            f["type"] == "offer" && f["conversation"]["id"] == c.as_str()
        })
        .await;
    assert_ne!(a, b);
}

const STYLES: &str = r#"
[conversation]
style = "returning"
returning_close_after = "1500ms"
messaging_close_after = "700ms"

[[categories]]
id = "general"
name = "General"

[[categories]]
id = "quick"
name = "Quick questions"
style = "live_chat"

[[categories]]
id = "mail"
name = "By message"
style = "messaging"
"#;

async fn accepted_in(server: &TestServer, expert: &mut Ws, category: &str) -> (Ws, String) {
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let ack = customer.ack(json!({"type": "start", "text": "hello", "category": category})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    let wanted = id.clone();
    expert
        .expect("the offer", move |f| f["type"] == "offer" && f["conversation"]["id"] == wanted.as_str())
        .await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Hi there"})).await;
    (customer, id)
}

#[tokio::test]
async fn each_conversational_style_closes_as_configured() {
    let server = TestServer::start_with_config(STYLES, &[]).await;
    let (_, token) = server.expert("ada", &["general", "quick", "mail"], Some(5)).await;
    let mut expert = server.expert_ws(&token).await;

    // live_chat: closed at once.
    let (mut c, id) = accepted_in(&server, &mut expert, "quick").await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    c.expect("solved", status_of(&id, "solved")).await;
    let closed = c.expect("closed at once", status_of(&id, "closed")).await;
    assert_eq!(closed["reason"], "closed_after_solved");
    c.refused(json!({"type": "send", "conversation_id": id, "text": "wait"}), "closed").await;

    // returning: a customer message inside the window reopens it with the same expert...
    let (mut c, id) = accepted_in(&server, &mut expert, "general").await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    c.expect("solved", status_of(&id, "solved")).await;
    c.ack(json!({"type": "send", "conversation_id": id, "text": "one more question"})).await;
    let open = status_of(&id, "open");
    c.expect("reopened", |f| open(f) && f["reason"] == "reopened").await;
    expert
        .expect("the message", |f| f["type"] == "message" && f["message"]["text"] == "one more question")
        .await;
    // ...and after it, the chat closes.
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    let ended = Instant::now();
    c.expect("closed after the window", status_of(&id, "closed")).await;
    assert!(ended.elapsed() >= Duration::from_millis(1400), "closed no sooner than returning_close_after");
    c.refused(json!({"type": "send", "conversation_id": id, "text": "too late"}), "closed").await;

    // messaging: closed after its own (shortened) delay.
    let (mut c, id) = accepted_in(&server, &mut expert, "mail").await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    let ended = Instant::now();
    c.expect("solved", status_of(&id, "solved")).await;
    c.expect("closed", status_of(&id, "closed")).await;
    assert!(ended.elapsed() >= Duration::from_millis(650));
    c.refused(json!({"type": "send", "conversation_id": id, "text": "too late"}), "closed").await;
}

#[tokio::test]
async fn customer_end_is_refused_while_answered_and_allowed_once_unanswered() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_ABANDON_AFTER", "400ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut answered, id, _) = server.accepted_chat(&mut expert, "hi").await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "I'm on it"})).await;
    answered.refused(json!({"type": "end", "conversation_id": id}), "not_allowed").await;

    // Nobody is free for this one: after abandon_after without an answer the customer may end it.
    expert.ack(json!({"type": "presence", "status": "away"})).await;
    let user = json!({"id": "crm-7", "hash": sign("crm-7"), "name": "Grace", "email": "grace@example.com"});
    let (mut waiting, _) = server.customer_ws(json!({ "user": user })).await;
    let started = Instant::now();
    let ack = waiting.ack(json!({"type": "start", "text": "hello?"})).await;
    let lone = ack["conversation_id"].as_str().unwrap().to_owned();
    waiting.refused(json!({"type": "end", "conversation_id": lone}), "not_allowed").await;
    loop {
        let answer = waiting.request(json!({"type": "end", "conversation_id": lone})).await;
        if answer["type"] == "ack" {
            break;
        }
        assert_eq!(answer["code"], "not_allowed", "{answer}");
        assert!(started.elapsed() < WAIT, "ending never became allowed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(400), "not before abandon_after");
    let abandoned = waiting.expect("abandoned", status_of(&lone, "abandoned")).await;
    assert_eq!(abandoned["reason"], "abandoned", "PROTOCOL.md's reason for an abandoned chat");

    let (status, list) = server.get("/api/v1/abandoned", &token).await;
    assert_eq!(status, 200, "{list}");
    let entry =
        list.as_array().unwrap().iter().find(|e| e["conversation"]["id"] == lone.as_str()).expect("listed");
    assert_eq!(entry["conversation"]["customer"]["name"], "Grace");
    assert_eq!(entry["conversation"]["customer"]["email"], "grace@example.com");
    assert_eq!(entry["conversation"]["customer"]["external_id"], "crm-7");
    assert_eq!(entry["online"], true);
}

#[tokio::test]
async fn inactivity_ends_a_chat_and_tells_both_sides() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_INACTIVITY_END", "600ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, _) = server.accepted_chat(&mut expert, "hi").await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Hello!"})).await;
    let quiet = Instant::now();
    for side in [&mut customer, &mut expert] {
        let s = side.expect("solved by inactivity", status_of(&id, "solved")).await;
        assert_eq!(s["reason"], "inactivity");
    }
    assert!(quiet.elapsed() >= Duration::from_millis(550));
}

#[tokio::test]
async fn a_customer_who_left_the_site_is_resolved_and_leaves_the_console() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_LEFT_SITE_AFTER", "500ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (customer, id, visitor) = server.accepted_chat(&mut expert, "hi").await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Hello!"})).await;
    customer.close().await;
    let s = expert.expect("resolved", status_of(&id, "solved")).await;
    assert_eq!(s["reason"], "left_site");
    // Gone from the console: a fresh session does not list it.
    let mut console = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    let welcome = console.request(json!({"type": "hello", "token": token})).await;
    assert!(welcome["conversations"].as_array().unwrap().iter().all(|c| c["id"] != id.as_str()), "{welcome}");
    // The customer sees why when they come back.
    let (_, welcome) = server.customer_ws(json!({"visitor_token": visitor})).await;
    assert_eq!(welcome["conversations"][0]["status"], "solved");

    // A chat nobody answered is abandoned when its customer leaves.
    expert.ack(json!({"type": "presence", "status": "away"})).await;
    let (lone, lone_id, _) = server.new_chat("hello?").await;
    lone.close().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, list) = server.get("/api/v1/abandoned", ADMIN).await;
        if list.as_array().unwrap().iter().any(|e| e["conversation"]["id"] == lone_id.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "the chat was never abandoned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn outside_office_hours_chats_are_refused_and_callbacks_taken() {
    let server = TestServer::start_with_config(CLOSED_HOURS, &[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let (mut customer, welcome) = server.customer_ws(json!({})).await;
    assert_eq!(welcome["office_hours_open"], false);
    assert_eq!(welcome["office_hours"]["timezone"], "Europe/Paris");
    customer.refused(json!({"type": "start", "text": "hello"}), "unavailable").await;
    customer.refused(json!({"type": "callback", "phone": "call me maybe"}), "bad_request").await;
    let ack = customer
        .ack(json!({"type": "callback", "phone": "+33 1 23 45 67 89", "message": "About my invoice"}))
        .await;
    let callback_id = ack["callback_id"].as_str().unwrap().to_owned();

    let (status, list) = server.get("/api/v1/callbacks", &token).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], callback_id.as_str());
    assert_eq!(list[0]["phone"], "+33 1 23 45 67 89");
    assert_eq!(list[0]["message"], "About my invoice");
    assert_eq!(list[0]["done"], false);
    let (status, _) = server.get("/api/v1/callbacks", welcome["visitor_token"].as_str().unwrap()).await;
    assert_eq!(status, 403, "customers do not read the callback list");

    let (status, done) =
        server.post(&format!("/api/v1/callbacks/{callback_id}/done"), Some(&token), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(done["done"], true);
    let (_, open) = server.get("/api/v1/callbacks?status=open", &token).await;
    assert!(open.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_rating_is_stored_with_the_conversation() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_STYLE", "live_chat")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, visitor) = server.accepted_chat(&mut expert, "hi").await;
    customer.refused(json!({"type": "rate", "conversation_id": id, "score": 5}), "not_allowed").await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    customer.expect("closed", status_of(&id, "closed")).await;
    customer.refused(json!({"type": "rate", "conversation_id": id, "score": 0}), "bad_request").await;
    customer
        .ack(json!({"type": "rate", "conversation_id": id, "score": 4, "comment": "Quick and kind"}))
        .await;
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    assert_eq!(c["rating"]["score"], 4);
    assert_eq!(c["rating"]["comment"], "Quick and kind");
}

#[tokio::test]
async fn a_solved_chat_is_rated_and_the_rating_acknowledged() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, visitor) = server.accepted_chat(&mut expert, "hi").await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    customer.expect("solved", status_of(&id, "solved")).await;
    // A change that queues nothing but its answer must still be answered once durable.
    customer.ack(json!({"type": "rate", "conversation_id": id, "score": 5, "comment": "thanks"})).await;
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    assert_eq!(c["rating"]["score"], 5);
}

/// Returning style, a short first-response window, and a claim category.
fn claim_returning() -> String {
    format!(
        "[conversation]\nstyle = \"returning\"\nfirst_response_window = \"800ms\"\nreturning_close_after = \"60s\"\n{GENERAL_AND_RESET}"
    )
}

#[tokio::test]
async fn a_claimed_chat_reopened_after_an_unanswered_end_gets_a_fresh_first_response_window() {
    let server = TestServer::start_with_config(&claim_returning(), &[]).await;
    let (_, token) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let mut ann = server.expert_ws(&token).await;
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let ack = customer.ack(json!({"type": "start", "text": "I cannot log in", "category": "reset"})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    ann.expect("claimable", |f| f["type"] == "claimable" && f["conversation"]["id"] == id.as_str()).await;
    ann.ack(json!({"type": "claim", "conversation_id": id})).await;
    // Ended at once, without a word to the customer.
    ann.ack(json!({"type": "end", "conversation_id": id})).await;
    customer.expect("solved", status_of(&id, "solved")).await;
    // Time passing is the point here, not an event: the claim's window runs out while the
    // chat is solved, so the deadline it left behind lies in the past.
    tokio::time::sleep(Duration::from_millis(900)).await;

    customer.ack(json!({"type": "send", "conversation_id": id, "text": "It still fails"})).await;
    let reopened_at = Instant::now();
    let open = status_of(&id, "open");
    ann.expect("reopened with her", |f| open(f) && f["reason"] == "reopened").await;
    let released = |f: &Value| f["type"] == "released";
    ann.expect_none("a release at the reopen", Duration::from_millis(500), released).await;
    // Still unanswered: released a whole window after the reopen, not before.
    let gone = ann.expect("released", released).await;
    assert_eq!(gone["reason"], "no_response");
    assert!(
        reopened_at.elapsed() >= Duration::from_millis(750),
        "released {:?} after the reopen, inside the fresh window",
        reopened_at.elapsed()
    );
}

#[tokio::test]
async fn a_chat_is_rated_once_whether_solved_or_closed() {
    let server = TestServer::start_with_config(STYLES, &[]).await;
    let (_, token) = server.expert("ada", &["general", "quick"], Some(5)).await;
    let mut expert = server.expert_ws(&token).await;
    // "general" is returning (solved, its actor still live), "quick" is live chat (closed at once).
    for (category, ended) in [("general", "solved"), ("quick", "closed")] {
        let (mut c, id) = accepted_in(&server, &mut expert, category).await;
        expert.ack(json!({"type": "end", "conversation_id": id})).await;
        c.expect(ended, status_of(&id, ended)).await;
        c.ack(json!({"type": "rate", "conversation_id": id, "score": 5, "comment": "great"})).await;
        let again = json!({"type": "rate", "conversation_id": id, "score": 1, "comment": "changed my mind"});
        let refused = c.refused(again, "conflict").await;
        assert!(refused["message"].as_str().unwrap().contains("already rated"), "{category}: {refused}");
        let (_, stored) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
        assert_eq!(
            (stored["rating"]["score"].as_u64(), stored["rating"]["comment"].as_str()),
            (Some(5), Some("great")),
            "{category}: the first rating stands"
        );
    }
}
