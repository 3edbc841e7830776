//! Leaving a message (`leave_message`): with nobody available or the office closed, a customer
//! leaves a message with an optional name and email; it waits as an `offline` conversation
//! however long they are away, is offered once an expert is available, and the customer reads
//! the answer when they come back.

mod common;

use std::time::Duration;

use common::hooks::{next, receive};
use common::*;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Short customer windows: a chat whose customer left is resolved within a fraction of a second.
const SHORT: [(&str, &str); 2] = [
    ("SWITCHBOARD_CONVERSATION_LEFT_SITE_AFTER", "150ms"),
    ("SWITCHBOARD_CONVERSATION_ABANDON_AFTER", "50ms"),
];

const MO: &str = "mo@shop.example";

fn left(text: &str) -> Value {
    json!({"text": text, "name": "Mo Ali", "email": MO})
}

async fn conversation(server: &TestServer, id: &str) -> Value {
    let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert_eq!(status, 200, "{c}");
    c
}

/// Waits until conversation `id` has `status`, as an admin reads it.
async fn until_status(server: &TestServer, id: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c = conversation(server, id).await;
        if c["status"] == status {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} never became {status}: {c}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A customer widget whose welcome says an expert is available: the router counts a console
/// coming online a moment after its hello.
async fn widget_seeing_an_expert(server: &TestServer) -> Ws {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (ws, welcome) = server.customer_ws(json!({})).await;
        if welcome["available"] == true {
            return ws;
        }
        assert!(tokio::time::Instant::now() < deadline, "no expert became available: {welcome}");
        ws.close().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_message_left_while_nobody_is_available_waits_is_answered_and_read_on_return() {
    let server = TestServer::start(&SHORT).await;
    let (id, visitor) = {
        let (mut widget, id, visitor) = server.left_message(left("My parcel never came.")).await;
        // Kept as a waiting conversation, marked offline, with the name and email given.
        let c = conversation(&server, &id).await;
        assert_eq!((&c["status"], &c["offline"]), (&json!("queued"), &json!(true)), "{c}");
        assert_eq!((&c["customer"]["name"], &c["customer"]["email"]), (&json!("Mo Ali"), &json!(MO)));
        let texts: Vec<&Value> = c["messages"].as_array().unwrap().iter().map(|m| &m["text"]).collect();
        assert_eq!(texts, vec!["My parcel never came."], "no greeting as if someone were about to answer");
        let (_, queue) = server.get("/api/v1/queue", ADMIN).await;
        assert_eq!(
            (&queue[0]["conversation_id"], &queue[0]["offline"]),
            (&json!(id), &json!(true)),
            "{queue}"
        );
        widget.hang_up().await;
        (id, visitor)
    };

    // A chat whose customer left after the message's customer did is abandoned, and the
    // message still waits: leaving the site does not resolve it.
    let (mut control, control_id, _) = server.new_chat("Hello?").await;
    control.hang_up().await;
    until_status(&server, &control_id, "abandoned").await;
    let c = conversation(&server, &id).await;
    assert_eq!(c["status"], "queued", "past left_site_after and abandon_after, still waiting: {c}");

    // An expert comes online: the message is offered, marked, and answered while its customer
    // is away.
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let offer =
        ada.expect("the offer", |f| f["type"] == "offer" && f["conversation"]["id"] == id.as_str()).await;
    assert_eq!(offer["conversation"]["offline"], true, "{offer}");
    assert_eq!(offer["conversation"]["customer"]["email"], MO);
    ada.ack(json!({"type": "accept", "conversation_id": id})).await;
    ada.ack(json!({"type": "send", "conversation_id": id, "text": "It is on its way again."})).await;

    // An answered chat whose customer left is resolved; the answered message is not.
    let (mut control, control_id, _) = server.new_chat("Another question").await;
    ada.expect("the control offer", |f| {
        f["type"] == "offer" && f["conversation"]["id"] == control_id.as_str()
    })
    .await;
    ada.ack(json!({"type": "accept", "conversation_id": control_id})).await;
    ada.ack(json!({"type": "send", "conversation_id": control_id, "text": "Yes?"})).await;
    control.hang_up().await;
    ada.expect("the control resolved", |f| {
        f["type"] == "status" && f["conversation_id"] == control_id.as_str() && f["reason"] == "left_site"
    })
    .await;
    assert_eq!(conversation(&server, &id).await["status"], "open", "the answer waits for its reader");

    // The customer comes back: welcome lists the conversation, sync replays the answer.
    let (mut widget, welcome) = server.customer_ws(json!({"visitor_token": visitor})).await;
    let listed =
        welcome["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).cloned();
    let listed = listed.unwrap_or_else(|| panic!("welcome lists the left message: {welcome}"));
    assert_eq!(
        (&listed["status"], &listed["offline"], &listed["last_seq"]),
        (&json!("open"), &json!(true), &json!(2))
    );
    assert_eq!(listed["expert"]["name"], "Expert ada");
    widget.send(json!({"type": "sync", "conversation_id": id, "after_seq": 0, "ref": "s"})).await;
    assert_eq!(widget.message(1).await["message"]["text"], "My parcel never came.");
    assert_eq!(widget.message(2).await["message"]["text"], "It is on its way again.");
    let ack = widget.expect("the sync's ack", |f| f["ref"] == "s").await;
    assert_eq!(ack["last_seq"], 2, "{ack}");

    // From here it is a chat: the customer replies, the expert ends it, and it stays open to
    // the customer's reply for the messaging style's delay (4 days by default).
    widget.ack(json!({"type": "send", "conversation_id": id, "text": "Thank you!"})).await;
    ada.expect("the reply", |f| f["type"] == "message" && f["message"]["text"] == "Thank you!").await;
    ada.ack(json!({"type": "end", "conversation_id": id})).await;
    widget.expect("solved", |f| f["type"] == "status" && f["status"] == "solved").await;
    assert_eq!(conversation(&server, &id).await["status"], "solved");
}

#[tokio::test]
async fn with_an_expert_available_the_widget_is_told_to_start_a_chat() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let mut widget = widget_seeing_an_expert(&server).await;
    let refused = widget.refused(json!({"type": "leave_message", "text": "hello"}), "not_allowed").await;
    assert!(refused["message"].as_str().unwrap().contains("start a chat"), "{refused}");
    let (status, list) = server.get("/api/v1/conversations", ADMIN).await;
    assert_eq!((status, list), (200, json!([])), "nothing kept");
    // What the widget then does.
    let id = widget.ack(json!({"type": "start", "text": "hello"})).await["conversation_id"].clone();
    let offer =
        ada.expect("the chat's offer", |f| f["type"] == "offer" && f["conversation"]["id"] == id).await;
    assert!(offer["conversation"].get("offline").is_none(), "a chat carries no offline mark: {offer}");
}

/// Outside office hours a start is refused and a message is left, even with an expert online
/// (working late); such an expert is offered it at once rather than when the office opens.
#[tokio::test]
async fn outside_office_hours_a_message_is_left_and_offered_to_an_available_expert() {
    let server = TestServer::start_with_config(CLOSED_HOURS, &[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let mut widget = widget_seeing_an_expert(&server).await;
    widget.refused(json!({"type": "start", "text": "hello"}), "unavailable").await;
    let mut frame = left("Can you open on Sunday?");
    frame["type"] = json!("leave_message");
    let id = widget.ack(frame).await["conversation_id"].as_str().unwrap().to_owned();
    let offer =
        ada.expect("the offer", |f| f["type"] == "offer" && f["conversation"]["id"] == id.as_str()).await;
    assert_eq!(offer["conversation"]["offline"], true);
    let texts: Vec<&Value> =
        offer["conversation"]["messages"].as_array().unwrap().iter().map(|m| &m["text"]).collect();
    assert_eq!(texts, vec!["Can you open on Sunday?"]);
}

#[tokio::test]
async fn a_left_message_keeps_the_guard_rails_of_a_start() {
    let server = TestServer::start(&[
        ("SWITCHBOARD_LIMITS_NEW_CHATS_PER_MINUTE", "2"),
        ("SWITCHBOARD_LIMITS_MAX_OPEN_CHATS_PER_CUSTOMER", "1"),
        ("SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES", "64"),
    ])
    .await;
    let (mut first, _) = server.customer_ws(json!({})).await;
    let leave = |fields: Value| {
        let mut frame = fields;
        frame["type"] = json!("leave_message");
        frame
    };
    first.refused(leave(json!({"text": "   "})), "bad_request").await;
    first.refused(leave(json!({"text": "x".repeat(65)})), "too_large").await;
    first.refused(leave(json!({"text": "hi", "email": "mo at shop"})), "bad_request").await;
    first.refused(leave(json!({"text": "hi", "name": "n".repeat(101)})), "bad_request").await;
    first.refused(leave(json!({"text": "hi", "category": "nope"})), "bad_request").await;
    // Refusals took nothing: the first message is kept, and sent again it is the same one.
    let once = json!({"text": "hi", "email": MO, "client_msg_id": "leave-1"});
    let id = first.ack(leave(once.clone())).await["conversation_id"].clone();
    assert_eq!(first.ack(leave(once)).await["conversation_id"], id, "a resent frame, not a second message");
    // The customer's open chats are limited, then the address's new chats per minute.
    first.refused(leave(json!({"text": "again"})), "not_allowed").await;
    let (mut second, _) = server.customer_ws(json!({})).await;
    second.ack(leave(json!({"text": "hi"}))).await;
    let (mut third, _) = server.customer_ws(json!({})).await;
    third.refused(leave(json!({"text": "hi"})), "rate_limited").await;
}

/// For teams that answer by e-mail: `message.left` carries the text, name, email and
/// conversation; the answer reaches them in `conversation.ended`, with the name and email.
#[tokio::test]
async fn the_webhook_carries_a_left_message_and_its_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut rx = receive(listener);
    let config = format!(
        "[webhooks]\nallow_private = true\n[[webhooks.endpoints]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{}\"\n",
        common::hooks::HOOK_SECRET
    );
    let server = TestServer::start_with_config(&config, &[]).await;
    let (_, id, _) = server.left_message(left("Where is my refund?")).await;
    let mut seen = std::collections::HashMap::new();
    while !seen.contains_key("message.left") {
        let d = next(&mut rx).await;
        assert!(d.signed, "{d:?}");
        seen.insert(d.body["type"].as_str().unwrap().to_owned(), d.body);
    }
    let data = &seen["message.left"]["data"];
    assert_eq!(
        (&data["conversation_id"], &data["text"], &data["name"], &data["email"]),
        (&json!(id), &json!("Where is my refund?"), &json!("Mo Ali"), &json!(MO)),
        "{data}"
    );
    assert_eq!(data["conversation"]["offline"], true);

    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    ada.expect("the offer", |f| f["type"] == "offer").await;
    ada.ack(json!({"type": "accept", "conversation_id": id})).await;
    ada.ack(json!({"type": "send", "conversation_id": id, "text": "Refunded today."})).await;
    ada.ack(json!({"type": "end", "conversation_id": id})).await;
    while !seen.contains_key("conversation.ended") {
        let d = next(&mut rx).await;
        seen.insert(d.body["type"].as_str().unwrap().to_owned(), d.body);
    }
    let ended = &seen["conversation.ended"]["data"]["conversation"];
    assert_eq!((&ended["offline"], &ended["customer"]["email"]), (&json!(true), &json!(MO)), "{ended}");
    let texts: Vec<&Value> = ended["messages"].as_array().unwrap().iter().map(|m| &m["text"]).collect();
    assert_eq!(texts, vec!["Where is my refund?", "Refunded today."]);
}

#[tokio::test]
async fn a_left_message_survives_a_crash_and_is_offered_after_the_restart() {
    let mut server = TestServer::start(&SHORT).await;
    let (widget, id, _) = server.left_message(left("Still there after a crash?")).await;
    drop(widget);
    server.crash_and_restart().await;
    // After a restart nobody is connected and the left-site clocks start again: a chat would
    // be resolved within the window; the message waits.
    let (mut control, control_id, _) = server.new_chat("Hello?").await;
    control.hang_up().await;
    until_status(&server, &control_id, "abandoned").await;
    let c = conversation(&server, &id).await;
    assert_eq!(
        (&c["status"], &c["offline"], &c["customer"]["name"]),
        (&json!("queued"), &json!(true), &json!("Mo Ali"))
    );
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let offer =
        ada.expect("the offer", |f| f["type"] == "offer" && f["conversation"]["id"] == id.as_str()).await;
    assert_eq!(offer["conversation"]["offline"], true);
}
