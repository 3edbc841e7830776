//! Experts working together and with care: internal notes, transfers, pushed chats,
//! a customer's history, and the duplicate guard.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn texts(messages: &Value) -> Vec<String> {
    messages.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn internal_notes_never_reach_the_customer() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, id, visitor) = server.accepted_chat(&mut expert, "hello").await;
    let note = expert
        .ack(json!({"type": "send", "conversation_id": id, "text": "customer seems upset", "internal": true}))
        .await;
    assert_eq!(note["message"]["internal"], true);
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Sorry for the trouble!"})).await;

    customer.message(4).await;
    assert!(
        customer.take_ready(|f| f["type"] == "message" && f["message"]["seq"] == 3).is_none(),
        "no note over the socket"
    );
    customer.ack(json!({"type": "sync", "conversation_id": id, "after_seq": 0})).await;
    while let Some(m) = customer.take_ready(|f| f["type"] == "message") {
        assert_eq!(m["message"]["internal"], false, "sync never replays a note: {m}");
    }
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    assert!(
        !texts(&c["messages"]).contains(&"customer seems upset".to_owned()),
        "REST hides notes from the customer"
    );
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &token).await;
    assert!(texts(&c["messages"]).contains(&"customer seems upset".to_owned()), "the expert sees the note");
    // A customer cannot write one either.
    customer
        .ack(json!({"type": "send", "conversation_id": id, "text": "am I internal?", "internal": true}))
        .await;
    let m = expert
        .expect("the message", |f| f["type"] == "message" && f["message"]["text"] == "am I internal?")
        .await;
    assert_eq!(m["message"]["internal"], false);
}

#[tokio::test]
async fn a_transfer_gives_the_new_owner_the_whole_history_and_the_note() {
    let server = TestServer::start(&[]).await;
    let (_, t1) = server.expert("ada", &["general"], None).await;
    let (bob_id, t2) = server.expert("bob", &["general"], None).await;
    let mut ada = server.expert_ws(&t1).await;
    let mut bob = server.expert_ws(&t2).await;
    ada.ack(json!({"type": "presence", "status": "available"})).await;
    let (mut customer, id, _) = server.accepted_chat(&mut ada, "my invoice is wrong").await;
    ada.ack(json!({"type": "send", "conversation_id": id, "text": "Let me find a billing specialist."}))
        .await;

    ada.ack(json!({"type": "transfer", "conversation_id": id, "to_expert": bob_id, "note": "invoice 77, double charge"})).await;
    let told = customer
        .expect("told of the transfer", |f| f["type"] == "status" && f["reason"] == "transferred")
        .await;
    assert_eq!(told["status"], "open");
    let handed = bob.event("transferred").await;
    assert_eq!(handed["conversation_id"], id.as_str());
    assert_eq!(handed["note"], "invoice 77, double charge");
    assert_eq!(handed["from"]["name"], "Expert ada");
    let history = texts(&handed["conversation"]["messages"]);
    assert!(
        history.contains(&"my invoice is wrong".to_owned())
            && history.contains(&"Let me find a billing specialist.".to_owned())
    );
    assert!(history.iter().any(|t| t.contains("invoice 77")), "the note is kept with the transcript");

    // Bob owns it now: the customer hears from him, Ada can no longer write.
    bob.ack(json!({"type": "send", "conversation_id": id, "text": "Hi, I'm on the invoice."})).await;
    let m = customer
        .expect("bob's message", |f| f["type"] == "message" && f["message"]["author"]["name"] == "Expert bob")
        .await;
    assert_eq!(m["message"]["text"], "Hi, I'm on the invoice.");
    ada.refused(json!({"type": "send", "conversation_id": id, "text": "me again"}), "forbidden").await;
    // To a category: back in the queue there, not offered to the one who sent it.
    bob.ack(json!({"type": "transfer", "conversation_id": id, "to_category": "general"})).await;
    let offer = ada.expect("the offer after a category transfer", |f| f["type"] == "offer").await;
    assert_eq!(offer["conversation"]["id"], id.as_str());
    bob.refused(json!({"type": "transfer", "conversation_id": id, "to_category": "general"}), "forbidden")
        .await;
}

#[tokio::test]
async fn a_claimed_chat_is_transferred_only_to_certified_experts() {
    let server = TestServer::start_with_config(GENERAL_AND_RESET, &[]).await;
    let (_, t1) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let (plain_id, t2) = server.expert("dan", &["general"], None).await;
    let (cert_id, t3) = server.certified_expert("cat", &["reset"], &["identity"], None).await;
    let mut ann = server.expert_ws(&t1).await;
    let _dan = server.expert_ws(&t2).await;
    let mut cat = server.expert_ws(&t3).await;
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let id = customer.ack(json!({"type": "start", "text": "reset please", "category": "reset"})).await
        ["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ann.event("claimable").await;
    ann.ack(json!({"type": "claim", "conversation_id": id})).await;
    ann.refused(json!({"type": "transfer", "conversation_id": id, "to_expert": plain_id}), "forbidden").await;
    ann.ack(json!({"type": "transfer", "conversation_id": id, "to_expert": cert_id})).await;
    assert_eq!(cat.event("transferred").await["conversation_id"], id.as_str());
}

#[tokio::test]
async fn a_pushed_chat_reaches_an_online_customer_only() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], Some(1)).await;
    let mut expert = server.expert_ws(&token).await;
    let (mut customer, welcome) = server.customer_ws(json!({})).await;
    let customer_id = welcome["customer_id"].as_str().unwrap().to_owned();

    let ack = expert.ack(json!({"type": "push_chat", "customer_id": customer_id, "text": "Hi! Can I help you finish your order?"})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    let pushed = customer.event("push_chat").await;
    assert_eq!(pushed["conversation_id"], id.as_str());
    assert_eq!(pushed["expert"]["name"], "Expert ada");
    let first = customer.message(1).await;
    assert_eq!(first["message"]["text"], "Hi! Can I help you finish your order?");
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "Yes please"})).await;
    expert.expect("the reply", |f| f["type"] == "message" && f["message"]["text"] == "Yes please").await;
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &token).await;
    assert_eq!(c["status"], "open");

    // It counts against capacity: with one slot, a second push is refused...
    let (_other, other) = server.customer_ws(json!({})).await;
    expert
        .refused(
            json!({"type": "push_chat", "customer_id": other["customer_id"], "text": "Hello"}),
            "capacity_full",
        )
        .await;
    // ...and a customer who has gone is unavailable.
    let (gone, bye) = server.customer_ws(json!({})).await;
    gone.close().await;
    let gone_id = bye["customer_id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer =
            expert.request(json!({"type": "push_chat", "customer_id": gone_id, "text": "Hello?"})).await;
        if answer["code"] == "unavailable" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "an offline customer must be unavailable: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn history_is_for_the_expert_serving_the_customer() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_STYLE", "live_chat")]).await;
    let (_, t1) = server.expert("ada", &["general"], None).await;
    let (_, t2) = server.expert("bob", &["general"], None).await;
    let mut ada = server.expert_ws(&t1).await;
    let (mut customer, first, visitor) = server.accepted_chat(&mut ada, "first visit").await;
    ada.ack(json!({"type": "end", "conversation_id": first})).await;
    customer.expect("closed", |f| f["type"] == "status" && f["status"] == "closed").await;
    let second = customer.ack(json!({"type": "start", "text": "second visit"})).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ada.expect("offer", |f| f["type"] == "offer").await;
    ada.ack(json!({"type": "accept", "conversation_id": second})).await;

    let (_, c) = server.get(&format!("/api/v1/conversations/{second}"), &visitor).await;
    let customer_id = c["customer"]["id"].as_str().unwrap().to_owned();
    let ack = ada.ack(json!({"type": "history", "customer_id": customer_id})).await;
    let conversations = ack["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 2);
    assert_eq!(conversations[0]["id"], first.as_str());
    assert_eq!(conversations[0]["status"], "closed");
    assert_eq!(conversations[0]["messages"][0]["text"], "first visit");
    assert!(conversations[0]["ended_at"].is_string());
    let mut bob = server.expert_ws(&t2).await;
    bob.refused(json!({"type": "history", "customer_id": customer_id}), "forbidden").await;
}

#[tokio::test]
async fn the_duplicate_guard_refuses_repeats_unless_forced() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_GREETING", "Thanks for waiting!")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (_customer, id, _) = server.accepted_chat(&mut expert, "hello").await;
    expert
        .ack(json!({"type": "send", "conversation_id": id, "text": "Could you send your order number?"}))
        .await;
    let e = expert
        .refused(
            json!({"type": "send", "conversation_id": id, "text": "  could you SEND your   order number? "}),
            "duplicate_message",
        )
        .await;
    assert!(e["message"].as_str().unwrap().contains("force"));
    expert
        .refused(
            json!({"type": "send", "conversation_id": id, "text": "thanks for waiting!"}),
            "duplicate_message",
        )
        .await;
    let forced = expert
        .ack(json!({"type": "send", "conversation_id": id, "text": "thanks for waiting!", "force": true}))
        .await;
    assert_eq!(forced["message"]["text"], "thanks for waiting!");
    // Internal notes are not guarded.
    for _ in 0..2 {
        expert
            .ack(json!({"type": "send", "conversation_id": id, "text": "check later", "internal": true}))
            .await;
    }
}

#[tokio::test]
async fn a_pushed_chat_whose_customer_leaves_is_answered_not_abandoned() {
    let server = TestServer::start(&[("SWITCHBOARD_CONVERSATION_LEFT_SITE_AFTER", "300ms")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let (customer, welcome) = server.customer_ws(json!({})).await;
    let ack = ada
        .ack(json!({"type": "push_chat", "customer_id": welcome["customer_id"], "text": "Need a hand?"}))
        .await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    customer.close().await;

    let ended = ada
        .expect("the chat resolved", |f| f["type"] == "status" && f["conversation_id"] == id.as_str())
        .await;
    assert_eq!(
        (ended["status"].as_str(), ended["reason"].as_str()),
        (Some("solved"), Some("left_site")),
        "{ended}"
    );
    let (_, abandoned) = server.get("/api/v1/abandoned", &token).await;
    assert!(
        !abandoned.as_array().unwrap().iter().any(|c| c["id"] == id.as_str()),
        "the push was the first response; the chat is not for follow-up: {abandoned}"
    );
}
