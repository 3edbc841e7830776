//! Nothing acknowledged is lost: `kill -9` and restart, and clients that reconnect and sync.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn acknowledged_messages_and_queued_chats_survive_kill_9() {
    let mut server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    // One slot, so exactly one chat is offered when the expert arrives: the oldest.
    let (_, token) = server.expert("ada", &["general"], Some(1)).await;

    // A burst of concurrently sent messages from several customers, every one acknowledged.
    let mut chats = Vec::new();
    for i in 0..4 {
        let (mut ws, id, visitor) = server.new_chat(&format!("customer {i}")).await;
        for n in 0..25 {
            ws.send(json!({"type": "send", "conversation_id": id, "text": format!("m{n}"), "ref": format!("r{n}")}))
                .await;
        }
        chats.push((ws, id, visitor));
    }
    let mut acked = Vec::new();
    for (ws, id, visitor) in &mut chats {
        let mut texts = Vec::new();
        for n in 0..25 {
            let r = format!("r{n}");
            let ack = ws.expect("an ack", |f| f["ref"] == r.as_str()).await;
            assert_eq!(ack["type"], "ack", "{ack}");
            texts.push(ack["message"]["text"].as_str().unwrap().to_owned());
        }
        acked.push((id.clone(), visitor.clone(), texts));
    }

    server.crash_and_restart().await;

    for (id, visitor, texts) in &acked {
        let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), visitor).await;
        assert_eq!(status, 200, "{c}");
        let got = seqs(&c["messages"]);
        assert_eq!(got, (1..=got.len() as u64).collect::<Vec<_>>(), "seqs are gapless");
        let stored: Vec<&str> =
            c["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        for t in texts {
            assert_eq!(stored.iter().filter(|s| **s == t).count(), 1, "{t} is stored exactly once");
        }
        assert_eq!(c["status"], "queued");
    }

    // The chats were queued when the server died; they are still queued, in order, and are
    // offered as soon as an expert comes online.
    let mut expert = server.expert_ws(&token).await;
    let first = expert.event("offer").await;
    assert_eq!(first["conversation"]["id"], acked[0].0.as_str(), "the oldest chat is offered first");
    assert_eq!(seqs(&first["conversation"]["messages"]).len(), 27);
}

#[tokio::test]
async fn a_reconnecting_client_syncs_exactly_what_it_missed() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    let (customer, id, visitor) = server.new_chat("hello").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;

    // The customer goes away; three expert messages arrive while they are gone.
    customer.close().await;
    for text in ["one", "two", "three"] {
        expert.ack(json!({"type": "send", "conversation_id": id, "text": text})).await;
    }
    let note = expert
        .ack(json!({"type": "send", "conversation_id": id, "text": "note to self", "internal": true}))
        .await;
    assert_eq!(note["message"]["internal"], true);

    let (mut back, welcome) = server.customer_ws(json!({"visitor_token": visitor})).await;
    let listed = &welcome["conversations"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["last_seq"], 6);

    let ack = back.request(json!({"type": "sync", "conversation_id": id, "after_seq": 2})).await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["last_seq"], 6);
    let mut replayed = Vec::new();
    while let Some(f) = back.take_ready(|f| f["type"] == "message") {
        replayed.push(f["message"]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(replayed, ["one", "two", "three"], "in order, no internal note, nothing else");

    // The expert's console syncs internal notes too.
    let ack = expert.request(json!({"type": "sync", "conversation_id": id, "after_seq": 5})).await;
    assert_eq!(ack["last_seq"], 6);
    let replayed =
        expert.take_ready(|f| f["type"] == "message" && f["message"]["seq"] == 6).expect("the note");
    assert_eq!(replayed["message"]["text"], "note to self");
}

#[tokio::test]
async fn a_visitor_is_stored_only_once_they_chat_and_keeps_their_identity_across_kill_9() {
    let mut server = TestServer::start(&[]).await;
    let (_, first) = server.customer_ws(json!({})).await;
    let (id, token) = (first["customer_id"].clone(), first["visitor_token"].as_str().unwrap().to_owned());

    // The token names the same customer after a crash, though nothing was flushed for it.
    server.crash_and_restart().await;
    let (_, again) = server.customer_ws(json!({"visitor_token": token})).await;
    assert_eq!(again["customer_id"], id, "a signed token survives a restart");
    let forged = format!("{}0", token);
    let (_, stranger) = server.customer_ws(json!({"visitor_token": forged})).await;
    assert_ne!(stranger["customer_id"], id, "a token that does not verify names nobody");

    // A visitor who never chats leaves no customer record; one who chats does.
    let (mut chatting, welcome) = server.customer_ws(json!({})).await;
    chatting.ack(json!({"type": "start", "text": "hello"})).await;
    assert!(server.terminate().await);
    let store = server.store();
    let stored: Vec<String> = store.customers().unwrap().iter().map(|c| c.id.to_string()).collect();
    assert_eq!(stored, [welcome["customer_id"].as_str().unwrap()], "only the customer who chatted");
}
