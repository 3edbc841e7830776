//! A frame sent again under the same `client_msg_id` is answered with what it did the first
//! time and stores nothing new (PROTOCOL.md, `start` and `send`), also after a restart, when
//! each conversation rebuilds what was sent under which id from its transcript.

mod common;

use common::*;
use serde_json::{json, Value};

/// Every seq of a conversation, internal notes included, as an admin reads it.
async fn seqs(server: &TestServer, id: &str) -> Vec<u64> {
    let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert_eq!(status, 200, "{c}");
    c["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn resent_frames_are_answered_with_their_first_result_after_a_restart() {
    // At its limit of one open chat, a customer's resent start still finds its chat.
    let env = [("SWITCHBOARD_LIMITS_MAX_OPEN_CHATS_PER_CUSTOMER", "1")];
    let mut server = TestServer::start(&env).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, welcome) = server.customer_ws(json!({})).await;
    let visitor = welcome["visitor_token"].as_str().unwrap().to_owned();

    let started = customer.ack(json!({"type": "start", "text": "hello", "client_msg_id": "s-1"})).await;
    let id = started["conversation_id"].as_str().unwrap().to_owned();
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    let send = |text: &str, client_id: &str| json!({"type": "send", "conversation_id": id, "text": text, "client_msg_id": client_id});
    let note = json!({"type": "send", "conversation_id": id, "text": "VIP", "internal": true, "client_msg_id": "n-1"});
    let asked = customer.ack(send("where is my parcel?", "m-1")).await;
    let noted = expert.ack(note.clone()).await;
    // Another author's id may be the same: it names another message.
    let answered = expert.ack(send("On its way.", "m-1")).await;
    assert_ne!(answered["message"]["seq"], asked["message"]["seq"]);
    let before = seqs(&server, &id).await;

    server.restart().await;
    let (mut customer, _) = server.customer_ws(json!({"visitor_token": visitor})).await;
    let mut expert = server.expert_ws(&token).await;
    let same = |first: &Value, again: &Value| assert_eq!(first["message"], again["message"], "{again}");
    same(&asked, &customer.ack(send("where is my parcel?", "m-1")).await);
    same(&noted, &expert.ack(note).await);
    same(&answered, &expert.ack(send("On its way.", "m-1")).await);
    let again = customer.ack(json!({"type": "start", "text": "hello", "client_msg_id": "s-1"})).await;
    assert_eq!(again["conversation_id"], started["conversation_id"]);
    same(&started, &again);
    assert_eq!(seqs(&server, &id).await, before, "nothing new was stored");

    // A new id is a new message, numbered after the rest.
    let next = customer.ack(send("thanks", "m-2")).await;
    assert_eq!(next["message"]["seq"], before.last().unwrap() + 1);
}
