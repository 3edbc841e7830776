//! A whole chat over real sockets: start, greeting, offer, accept, messages both ways,
//! typing and read receipts, the REST transcript, end.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_customer_and_an_expert_hold_a_whole_chat() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_CONVERSATION_STYLE", "live_chat"),
        ("SWITCHBOARD_CONVERSATION_GREETING", "Hi! An expert will be right with you."),
    ])
    .await;
    let (expert_id, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;

    let (mut customer, welcome) =
        server.customer_ws(json!({"page": {"url": "https://shop.example/cart", "title": "Cart"}})).await;
    assert_eq!(welcome["available"], true, "an expert is online: {welcome}");
    assert_eq!(welcome["office_hours_open"], true);
    assert_eq!(welcome["customer_may_end"], "restricted", "the configured default, by its name: {welcome}");
    let visitor = welcome["visitor_token"].as_str().unwrap().to_owned();
    assert!(!visitor.is_empty());

    let started = customer.ack(json!({"type": "start", "text": "My order is late"})).await;
    let id = started["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(started["message"]["seq"], 1);
    assert_eq!(started["message"]["author"]["kind"], "customer");
    let greeting = customer.message(2).await;
    assert_eq!(greeting["message"]["author"]["kind"], "bot");
    assert_eq!(greeting["message"]["text"], "Hi! An expert will be right with you.");
    let queue = customer.event("queue").await;
    assert_eq!(queue["position"], 1);

    // The offer carries the transcript so far and the customer's page.
    let offer = expert.event("offer").await;
    assert_eq!(offer["conversation"]["id"], id.as_str());
    assert_eq!(seqs(&offer["conversation"]["messages"]), vec![1, 2]);
    assert_eq!(offer["conversation"]["page"]["url"], "https://shop.example/cart");
    assert!(offer["accept_window_ms"].as_u64().unwrap() > 0);
    assert!(offer["expires_at"].as_str().unwrap().ends_with('Z'));

    let accepted = expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    assert_eq!(accepted["conversation"]["status"], "open");
    assert_eq!(seqs(&accepted["conversation"]["messages"]), vec![1, 2]);
    let assigned = customer.event("assigned").await;
    assert_eq!(assigned["expert"]["id"], expert_id.as_str());
    assert_eq!(assigned["expert"]["name"], "Expert ada");
    customer.expect("status open", |f| f["type"] == "status" && f["status"] == "open").await;

    // Messages both ways, with typing indicators and read receipts.
    customer.ack(json!({"type": "typing", "conversation_id": id, "on": true})).await;
    assert_eq!(expert.event("typing").await["on"], true);
    let sent = customer.ack(json!({"type": "send", "conversation_id": id, "text": "Order 1234"})).await;
    assert_eq!(sent["message"]["seq"], 3);
    assert_eq!(expert.message(3).await["message"]["text"], "Order 1234");
    expert.ack(json!({"type": "read", "conversation_id": id, "seq": 3})).await;
    assert_eq!(customer.event("read").await["seq"], 3);
    expert.ack(json!({"type": "typing", "conversation_id": id, "on": true})).await;
    assert_eq!(customer.event("typing").await["on"], true);
    let reply = expert.ack(json!({"type": "send", "conversation_id": id, "text": "It ships today."})).await;
    assert_eq!(reply["message"]["seq"], 4);
    let got = customer.message(4).await;
    assert_eq!(got["message"]["author"]["kind"], "expert");
    assert_eq!(got["message"]["author"]["name"], "Expert ada");

    // The REST transcript is what both sides saw, for the customer, the expert and an admin.
    for who in [visitor.as_str(), token.as_str(), ADMIN] {
        let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), who).await;
        assert_eq!(status, 200, "{c}");
        assert_eq!(seqs(&c["messages"]), vec![1, 2, 3, 4]);
        let texts: Vec<&str> =
            c["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(
            texts,
            ["My order is late", "Hi! An expert will be right with you.", "Order 1234", "It ships today."]
        );
    }

    // After the expert ends it, the customer is told and can no longer send.
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    let ended = customer.expect("status solved", |f| f["type"] == "status" && f["status"] == "solved").await;
    assert_eq!(ended["reason"], "expert_ended");
    customer.expect("status closed", |f| f["type"] == "status" && f["status"] == "closed").await;
    customer
        .refused(json!({"type": "send", "conversation_id": id, "text": "one more thing"}), "closed")
        .await;
    expert.ack(json!({"type": "leave", "conversation_id": id})).await;
}

#[tokio::test]
async fn a_resent_client_msg_id_returns_the_same_message_and_stores_nothing_new() {
    let server = TestServer::start(&[]).await;
    let (mut customer, id, visitor) = server.new_chat("hello").await;
    let first = customer
        .ack(json!({"type": "send", "conversation_id": id, "text": "only once", "client_msg_id": "m-1"}))
        .await;
    let again = customer
        .ack(json!({"type": "send", "conversation_id": id, "text": "only once", "client_msg_id": "m-1"}))
        .await;
    assert_eq!(first["message"], again["message"]);
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), &visitor).await;
    let texts: Vec<&str> =
        c["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts.iter().filter(|t| **t == "only once").count(), 1, "{c}");
    assert_eq!(seqs(&c["messages"]), vec![1, 2, 3]);

    // A resent start opens no second conversation.
    let a = customer.ack(json!({"type": "start", "text": "new", "client_msg_id": "s-1"})).await;
    let b = customer.ack(json!({"type": "start", "text": "new", "client_msg_id": "s-1"})).await;
    assert_eq!(a["conversation_id"], b["conversation_id"]);
    assert_eq!(a["message"], b["message"]);
}

/// A photo sent without a word: `send` takes an empty text when it carries files, on both
/// sides, and the expert sending two such messages is not asked to confirm a duplicate. Both
/// welcomes tell the clients the largest file they may upload.
#[tokio::test]
async fn a_message_may_carry_files_without_words() {
    let server = TestServer::start(&[("SWITCHBOARD_LIMITS_MAX_ATTACHMENT_BYTES", "2048")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut console = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    let welcome = console.request(json!({"type": "hello", "token": token})).await;
    assert_eq!(welcome["max_attachment_bytes"], 2048, "{welcome}");
    let (_, customer_welcome) = server.customer_ws(json!({})).await;
    assert_eq!(customer_welcome["max_attachment_bytes"], 2048, "{customer_welcome}");

    let (mut customer, id, visitor) = server.accepted_chat(&mut console, "hello").await;
    let upload = |token: String, name: &'static str| {
        let path = format!("/api/v1/attachments?conversation_id={id}&name={name}");
        let server = &server;
        async move {
            let (status, file) = server.upload(&path, &token, "image/png", vec![137, 80, 78, 71]).await;
            assert_eq!(status, 201, "{file}");
            file["id"].as_str().unwrap().to_owned()
        }
    };

    // Without files an empty text is still refused.
    customer.refused(json!({"type": "send", "conversation_id": id, "text": " "}), "bad_request").await;
    let photo = upload(visitor.clone(), "photo.png").await;
    let ack = customer
        .ack(json!({"type": "send", "conversation_id": id, "text": "", "attachments": [photo]}))
        .await;
    assert_eq!(
        (ack["message"]["text"].as_str(), ack["message"]["attachments"][0]["name"].as_str()),
        (Some(""), Some("photo.png"))
    );
    let seen = console.message(ack["message"]["seq"].as_u64().unwrap()).await;
    assert_eq!(seen["message"]["attachments"][0]["id"], photo.as_str());

    for name in ["one.png", "two.png"] {
        let file = upload(token.clone(), name).await;
        let ack = console
            .ack(json!({"type": "send", "conversation_id": id, "text": "", "attachments": [file]}))
            .await;
        assert_eq!(ack["message"]["attachments"][0]["name"], name, "no duplicate question for files");
    }
}
