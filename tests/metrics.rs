//! `/metrics` after a scripted stretch of chats shows exact counts.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn metrics_count_offers_messages_abandonment_and_live_state() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "400ms"),
        ("SWITCHBOARD_CONVERSATION_ABANDON_AFTER", "200ms"),
    ])
    .await;
    let (_, token) = server.expert("ada", &["general"], Some(5)).await;
    let mut expert = server.expert_ws(&token).await;

    // A declined offer, offered again and accepted; two more customer messages and a reply.
    let (mut first, a, _) = server.new_chat("one").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "decline", "conversation_id": a})).await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": a})).await;
    for text in ["two", "three"] {
        first.ack(json!({"type": "send", "conversation_id": a, "text": text})).await;
    }
    expert.ack(json!({"type": "send", "conversation_id": a, "text": "hello"})).await;

    // A lapsed offer, offered again and accepted.
    let (_second, b, _) = server.new_chat("four").await;
    expert.event("offer").await;
    expert.expect("the lapse", |f| f["type"] == "offer_withdrawn" && f["reason"] == "expired").await;
    expert.event("offer").await;
    expert.ack(json!({"type": "accept", "conversation_id": b})).await;

    // Nobody available: the third customer gives up.
    expert.ack(json!({"type": "presence", "status": "away"})).await;
    let (mut third, c, _) = server.new_chat("five").await;
    loop {
        let answer = third.request(json!({"type": "end", "conversation_id": c})).await;
        if answer["type"] == "ack" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    third.expect("abandoned", |f| f["type"] == "status" && f["status"] == "abandoned").await;

    let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(sample(&text, "switchboard_offers_total"), 4.0);
    assert_eq!(sample(&text, "switchboard_offers_ended_total{reason=\"declined\"}"), 1.0);
    assert_eq!(sample(&text, "switchboard_offers_ended_total{reason=\"expired\"}"), 1.0);
    assert_eq!(sample(&text, "switchboard_abandoned_total"), 1.0);
    assert_eq!(sample(&text, "switchboard_messages_total{author=\"customer\"}"), 5.0);
    assert_eq!(sample(&text, "switchboard_messages_total{author=\"bot\"}"), 3.0);
    assert_eq!(sample(&text, "switchboard_messages_total{author=\"expert\"}"), 1.0);
    assert_eq!(sample(&text, "switchboard_wait_seconds_count"), 2.0);
    assert_eq!(sample(&text, "switchboard_first_response_seconds_count"), 1.0);
    assert!(sample(&text, "switchboard_store_flush_seconds_count") > 0.0);
    assert_eq!(sample(&text, "switchboard_open_chats"), 2.0);
    assert_eq!(sample(&text, "switchboard_queued_chats{category=\"general\"}"), 0.0);
    assert_eq!(sample(&text, "switchboard_experts{presence=\"away\"}"), 1.0);
    assert_eq!(sample(&text, "switchboard_connected_widgets"), 3.0);
    assert_eq!(sample(&text, "switchboard_connected_consoles"), 1.0);
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let server = TestServer::start(&[("SWITCHBOARD_SERVER_METRICS_TOKEN", "scrape-me")]).await;
    let http = reqwest::Client::new();
    let open = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(open.status(), 401);
    let with = http.get(server.url("/metrics")).bearer_auth("scrape-me").send().await.unwrap();
    assert_eq!(with.status(), 200);
}
