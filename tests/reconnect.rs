//! Reconnects lose nothing: a console gets its pending offers and whole claim list again; a
//! widget's page on a full page load reaches the owner.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_new_console_is_shown_the_offer_that_stands_with_the_time_left() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "20s")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut old = server.expert_ws(&token).await;
    let (_customer, id, _) = server.new_chat("hello?").await;
    let first = old.expect("the offer", |f| f["type"] == "offer").await;
    assert_eq!(first["conversation"]["id"], id.as_str());

    // The old socket is not yet known dead when the console comes back on a new one.
    let mut new = server.expert_ws(&token).await;
    let again = new.expect("the offer again", |f| f["type"] == "offer").await;
    assert_eq!(again["conversation"]["id"], id.as_str());
    assert_eq!(again["expires_at"], first["expires_at"], "the same offer, not a new one");
    let left = again["expires_in_ms"].as_u64().expect("expires_in_ms");
    assert!(left > 0 && left <= 20_000, "time left: {left}");
    assert_eq!(again["conversation"]["messages"][0]["text"], "hello?");
    new.ack(json!({"type": "accept", "conversation_id": id})).await;
}

#[tokio::test]
async fn a_console_that_reconnects_gets_its_whole_claim_list() {
    let server = TestServer::start_with_config(GENERAL_AND_RESET, &[]).await;
    let (_, token) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let mut ann = server.expert_ws(&token).await;
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let id = customer.ack(json!({"type": "start", "text": "locked out", "category": "reset"})).await
        ["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ann.expect("claimable", |f| f["type"] == "claimable").await;
    ann.close().await;

    let mut ws = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    let welcome = ws.request(json!({"type": "hello", "token": token})).await;
    let listed: Vec<&str> =
        welcome["claimable"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![id.as_str()], "the claim list after a reconnect: {welcome}");
    ws.ack(json!({"type": "claim", "conversation_id": id})).await;
}

#[tokio::test]
async fn a_full_page_load_tells_the_owner_the_new_page() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let (customer, id, visitor) = server.accepted_chat(&mut ada, "which size?").await;
    customer.close().await;

    // The next page of the shop loads the widget anew, with its page in hello.
    let (_widget, welcome) = server
        .customer_ws(json!({"visitor_token": visitor, "page": {"url": "https://shop.example/checkout", "title": "Checkout"}}))
        .await;
    assert_eq!(welcome["conversations"][0]["id"], id.as_str());
    let page = ada.event("page").await;
    assert_eq!(page["conversation_id"], id.as_str());
    assert_eq!(page["url"], "https://shop.example/checkout");
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &token).await;
    assert_eq!(c["page"]["url"], "https://shop.example/checkout");
}
