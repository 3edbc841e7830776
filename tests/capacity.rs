//! Capacity on every path: offers, claims, transfers to a named expert and pushed chats all
//! take their slot from the router's one accounting, atomically; a customer's open chats are
//! counted and created in one step.

mod common;

use common::*;
use serde_json::{json, Value};

async fn reset_chat(server: &TestServer) -> (Ws, String) {
    let (mut ws, _) = server.customer_ws(json!({})).await;
    let ack = ws.ack(json!({"type": "start", "text": "I cannot log in", "category": "reset"})).await;
    (ws, ack["conversation_id"].as_str().unwrap().to_owned())
}

/// Sends every frame before reading any answer; returns the answers in the frames' order.
async fn all_at_once(ws: &mut Ws, frames: Vec<Value>) -> Vec<Value> {
    let refs: Vec<String> = (0..frames.len()).map(|i| format!("at-once-{i}")).collect();
    let frames: Vec<Value> = frames
        .into_iter()
        .zip(&refs)
        .map(|(mut frame, r)| {
            frame["ref"] = json!(r);
            frame
        })
        .collect();
    ws.send_together(&frames).await;
    let mut answers = Vec::new();
    for r in refs {
        answers.push(ws.expect("an answer", move |f| f["ref"] == r.as_str()).await);
    }
    answers
}

fn codes(answers: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = answers
        .iter()
        .map(|a| a["code"].as_str().unwrap_or(a["type"].as_str().unwrap()).to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn claims_take_a_slot_and_need_presence_available() {
    let server = TestServer::start_with_config(GENERAL_AND_RESET, &[]).await;
    let (_, token) = server.certified_expert("ann", &["reset"], &["identity"], Some(1)).await;
    let mut ann = server.expert_ws(&token).await;
    let (_c1, first) = reset_chat(&server).await;
    let (_c2, second) = reset_chat(&server).await;
    ann.expect("claimable", |f| f["type"] == "claimable" && f["conversation"]["id"] == second.as_str()).await;

    // Both claims leave at once: with one slot, exactly one wins.
    let answers = all_at_once(
        &mut ann,
        vec![
            json!({"type": "claim", "conversation_id": first}),
            json!({"type": "claim", "conversation_id": second}),
        ],
    )
    .await;
    assert_eq!(codes(&answers), vec!["ack", "capacity_full"], "{answers:?}");

    // Away, nobody claims.
    let (_, token) = server.certified_expert("ben", &["reset"], &["identity"], None).await;
    let mut ben = server.expert_ws(&token).await;
    let loser = if answers[0]["type"] == "ack" { &second } else { &first };
    ben.ack(json!({"type": "presence", "status": "away"})).await;
    ben.refused(json!({"type": "claim", "conversation_id": loser}), "not_allowed").await;
    ben.ack(json!({"type": "presence", "status": "available"})).await;
    ben.ack(json!({"type": "claim", "conversation_id": loser})).await;
}

#[tokio::test]
async fn a_transfer_by_name_needs_a_free_slot() {
    let server = TestServer::start(&[]).await;
    let (_, ada_token) = server.expert("ada", &["general"], Some(2)).await;
    let (bob_id, bob_token) = server.expert("bob", &["general"], Some(1)).await;
    let mut ada = server.expert_ws(&ada_token).await;
    let (_first, first, _) = server.accepted_chat(&mut ada, "first").await;
    let (_second, second, _) = server.accepted_chat(&mut ada, "second").await;
    let mut bob = server.expert_ws(&bob_token).await;

    // Bob has one slot: of two transfers at once, one lands and the other is refused.
    let answers = all_at_once(
        &mut ada,
        vec![
            json!({"type": "transfer", "conversation_id": first, "to_expert": bob_id}),
            json!({"type": "transfer", "conversation_id": second, "to_expert": bob_id}),
        ],
    )
    .await;
    assert_eq!(codes(&answers), vec!["ack", "capacity_full"], "{answers:?}");
    bob.event("transferred").await;
    let (_, listed) = server.get("/api/v1/conversations?status=open", &bob_token).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "bob holds one chat: {listed}");
}

#[tokio::test]
async fn two_pushes_at_once_never_pass_the_maximum() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], Some(1)).await;
    let mut ada = server.expert_ws(&token).await;
    let (_c1, w1) = server.customer_ws(json!({})).await;
    let (_c2, w2) = server.customer_ws(json!({})).await;
    let answers = all_at_once(
        &mut ada,
        vec![
            json!({"type": "push_chat", "customer_id": w1["customer_id"], "text": "Hello!"}),
            json!({"type": "push_chat", "customer_id": w2["customer_id"], "text": "Hi there!"}),
        ],
    )
    .await;
    assert_eq!(codes(&answers), vec!["ack", "capacity_full"], "{answers:?}");
    // The refused push gave nothing away: the slot is still held by the one chat, and it
    // comes back once that chat is over.
    let open =
        answers.iter().find(|a| a["type"] == "ack").unwrap()["conversation_id"].as_str().unwrap().to_owned();
    ada.ack(json!({"type": "end", "conversation_id": open})).await;
    ada.ack(json!({"type": "push_chat", "customer_id": w2["customer_id"], "text": "Hi again!"})).await;
}

#[tokio::test]
async fn two_tabs_starting_at_once_stay_within_the_open_chats_limit() {
    let server = TestServer::start(&[("SWITCHBOARD_LIMITS_MAX_OPEN_CHATS_PER_CUSTOMER", "1")]).await;
    for round in 0..5 {
        let (mut first, welcome) = server.customer_ws(json!({})).await;
        let token = welcome["visitor_token"].as_str().unwrap().to_owned();
        let (mut second, again) = server.customer_ws(json!({"visitor_token": token})).await;
        assert_eq!(again["customer_id"], welcome["customer_id"]);
        first.send(json!({"type": "start", "text": "tab one", "ref": "a"})).await;
        second.send(json!({"type": "start", "text": "tab two", "ref": "b"})).await;
        let a = first.expect("the first answer", |f| f["ref"] == "a").await;
        let b = second.expect("the second answer", |f| f["ref"] == "b").await;
        assert_eq!(codes(&[a.clone(), b.clone()]), vec!["ack", "not_allowed"], "round {round}: {a} {b}");
    }
}
