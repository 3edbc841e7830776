//! Waiting, seen from both sides: the customer's `estimated_wait_ms` (in `queue` events and
//! `welcome`) and the staff's queue view, `GET /api/v1/queue`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const GENERAL_AND_BILLING: &str = r#"
[[categories]]
id = "general"
name = "General"

[[categories]]
id = "billing"
name = "Billing"
"#;

fn offer_for(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "offer" && f["conversation"]["id"] == id
}

fn queue_event(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "queue" && f["conversation_id"] == id
}

/// The queue as `token` sees it: (conversation id, category, position) in the order listed.
async fn queue_of(server: &TestServer, token: &str) -> Vec<(String, String, u64)> {
    let (status, body) = server.get("/api/v1/queue", token).await;
    assert_eq!(status, 200, "GET /api/v1/queue: {body}");
    body.as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            let id = e["conversation_id"].as_str().unwrap().to_owned();
            (id, e["category"].as_str().unwrap().to_owned(), e["position"].as_u64().unwrap())
        })
        .collect()
}

/// Polls the queue view until `pred` holds of it: the router learns of a chat just after its
/// `start` or `accept` is acknowledged.
async fn queue_until(server: &TestServer, token: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = server.get("/api/v1/queue", token).await;
        assert_eq!(status, 200, "GET /api/v1/queue: {body}");
        if pred(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}; the queue: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a chat in `category` from a new customer; returns (widget, conversation id, visitor token).
async fn chat_in(server: &TestServer, category: &str, text: &str) -> (Ws, String, String) {
    let (mut ws, welcome) = server.customer_ws(json!({})).await;
    let ack = ws.ack(json!({"type": "start", "text": text, "category": category})).await;
    let id = ack["conversation_id"].as_str().expect("conversation_id").to_owned();
    (ws, id, welcome["visitor_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_estimated_wait_is_null_until_chats_were_accepted_then_grows_with_the_position() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (_, token) = server.expert("solo", &["general"], Some(1)).await;
    let mut expert = server.expert_ws(&token).await;

    // Nothing was accepted yet: the first chat's queue event says the estimate is unknown.
    let (mut c1, first, _) = server.new_chat("first").await;
    let told = c1.expect("the first queue event", queue_event(&first)).await;
    assert_eq!(told["position"], 1);
    assert!(told.get("estimated_wait_ms").is_some_and(Value::is_null), "{told}");

    // The first chat waits at least this long before it is accepted: one sample, from place 1.
    let held = Duration::from_millis(300);
    expert.expect("the offer", offer_for(&first)).await;
    tokio::time::sleep(held).await;
    expert.ack(json!({"type": "accept", "conversation_id": first})).await;

    // The expert is full: the next two chats queue, told 1 and 2 places' worth.
    let (mut c2, second, visitor2) = server.new_chat("second").await;
    let told = c2.expect("the second chat's queue event", queue_event(&second)).await;
    assert_eq!(told["position"], 1);
    let one_place = told["estimated_wait_ms"].as_u64().unwrap_or_else(|| panic!("a number: {told}"));
    assert!(one_place >= held.as_millis() as u64 && one_place < WAIT.as_millis() as u64, "{told}");
    let (mut c3, third, _) = server.new_chat("third").await;
    let told = c3.expect("the third chat's queue event", queue_event(&third)).await;
    assert_eq!(told["position"], 2);
    assert_eq!(told["estimated_wait_ms"], 2 * one_place, "{told}");

    // A widget that comes back to its queued chat is told the estimate in `welcome`.
    let (_again, welcome) = server.customer_ws(json!({"visitor_token": visitor2})).await;
    assert_eq!(welcome["estimated_wait_ms"], one_place, "{welcome}");
    // A visitor without a queued chat has none.
    let (_new, welcome) = server.customer_ws(json!({})).await;
    assert!(welcome.get("estimated_wait_ms").is_some_and(Value::is_null), "{welcome}");

    // Once the first chat ends and the second is accepted, the third moves up and is told
    // an estimate made from both samples.
    expert.ack(json!({"type": "end", "conversation_id": first})).await;
    expert.expect("the second offer", offer_for(&second)).await;
    expert.ack(json!({"type": "accept", "conversation_id": second})).await;
    let told = c3.expect("the third chat at place 1", |f| f["type"] == "queue" && f["position"] == 1).await;
    assert!(told["estimated_wait_ms"].as_u64().is_some_and(|ms| ms < 2 * one_place), "{told}");
}

#[tokio::test]
async fn the_estimate_is_unknown_again_after_a_restart() {
    let mut server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (_, token) = server.expert("solo", &["general"], Some(1)).await;
    let mut expert = server.expert_ws(&token).await;
    let (_c1, _first, _) = server.accepted_chat(&mut expert, "first").await;
    let (mut c2, second, visitor2) = server.new_chat("second").await;
    let told = c2.expect("the second chat's queue event", queue_event(&second)).await;
    assert!(told["estimated_wait_ms"].is_u64(), "{told}");
    drop((expert, c2));

    server.restart().await;
    let (_again, welcome) = server.customer_ws(json!({"visitor_token": visitor2})).await;
    assert!(welcome["conversations"].as_array().unwrap().iter().any(|c| c["id"] == second.as_str()));
    assert!(welcome.get("estimated_wait_ms").is_some_and(Value::is_null), "{welcome}");
}

#[tokio::test]
async fn the_queue_view_lists_waiting_chats_in_order_with_offers_for_the_callers_categories() {
    let server =
        TestServer::start_with_config(GENERAL_AND_BILLING, &[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")])
            .await;
    let (ada_id, ada_token) = server.expert("ada", &["general"], Some(1)).await;
    let (_, bob_token) = server.expert("bob", &["billing"], None).await;
    let mut ada = server.expert_ws(&ada_token).await;
    ada.ack(json!({"type": "presence", "status": "away"})).await;

    let (mut c1, g1, _) = server.new_chat("general one").await;
    let (mut c2, b1, visitor) = chat_in(&server, "billing", "billing one").await;
    let (mut c3, g2, _) = server.new_chat("general two").await;
    // Each customer told their place: the router has every chat.
    for (c, id) in [(&mut c1, &g1), (&mut c2, &b1), (&mut c3, &g2)] {
        c.expect("a queue event", queue_event(id)).await;
    }

    let general = vec![(g1.clone(), "general".to_owned(), 1), (g2.clone(), "general".to_owned(), 2)];
    assert_eq!(queue_of(&server, &ada_token).await, general);
    assert_eq!(queue_of(&server, &bob_token).await, vec![(b1.clone(), "billing".to_owned(), 1)]);
    let all = vec![general[0].clone(), (b1.clone(), "billing".to_owned(), 1), general[1].clone()];
    assert_eq!(queue_of(&server, ADMIN).await, all);
    // An admin expert sees every category, whatever they serve.
    let (status, _) = server
        .post(
            "/api/v1/experts",
            Some(ADMIN),
            json!({"username": "root", "password": "password-1", "name": "Root",
                   "categories": [], "certifications": [], "roles": ["admin"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, login) =
        server.post("/api/v1/login", None, json!({"username": "root", "password": "password-1"})).await;
    assert_eq!(queue_of(&server, login["token"].as_str().unwrap()).await, all);

    // Waiting times are real and the oldest has waited longest.
    let (_, body) = server.get("/api/v1/queue", ADMIN).await;
    let waited: Vec<u64> =
        body.as_array().unwrap().iter().map(|e| e["waiting_ms"].as_u64().unwrap()).collect();
    assert!(waited.windows(2).all(|w| w[0] >= w[1]), "{body}");
    assert!(body.as_array().unwrap().iter().all(|e| e.get("offered_to").is_none()), "{body}");

    // Ada comes back: the oldest general chat is offered to her, by id and name.
    ada.ack(json!({"type": "presence", "status": "available"})).await;
    ada.expect("the offer", offer_for(&g1)).await;
    let body =
        queue_until(&server, &ada_token, "the offer to ada", |b| b[0].get("offered_to").is_some()).await;
    assert_eq!(body[0]["conversation_id"], g1.as_str(), "{body}");
    assert_eq!(body[0]["offered_to"], json!({"id": ada_id, "name": "Expert ada"}), "{body}");
    assert!(body[1].get("offered_to").is_none(), "{body}");

    // Accepted, it leaves the queue; the next moves up.
    ada.ack(json!({"type": "accept", "conversation_id": g1})).await;
    c3.expect("the second general chat at place 1", |f| f["type"] == "queue" && f["position"] == 1).await;
    assert_eq!(queue_of(&server, &ada_token).await, vec![(g2.clone(), "general".to_owned(), 1)]);

    // Without a token, with a wrong one, or as a customer.
    let bare = reqwest::get(server.url("/api/v1/queue")).await.expect("GET");
    let status = bare.status().as_u16();
    let body: Value = bare.json().await.expect("a JSON error");
    assert_eq!((status, &body["error"]["code"]), (401, &json!("unauthorized")), "{body}");
    let (status, body) = server.get("/api/v1/queue", "not-a-token").await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!("unauthorized")), "{body}");
    let (status, body) = server.get("/api/v1/queue", &visitor).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "{body}");
}

#[tokio::test]
async fn the_live_view_counts_queued_and_open_chats_and_each_experts_presence_and_load() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (ada_id, ada_token) = server.expert("ada", &["general"], Some(2)).await;
    let (bob_id, _) = server.expert("bob", &["general"], None).await;
    let mut ada = server.expert_ws(&ada_token).await;
    let (_c1, _open, _) = server.accepted_chat(&mut ada, "first").await;
    ada.ack(json!({"type": "presence", "status": "away"})).await;
    let (mut c2, waiting, _) = server.new_chat("second").await;
    c2.expect("a queue event", queue_event(&waiting)).await;

    let (status, live) = server.get("/api/v1/live", ADMIN).await;
    assert_eq!(status, 200, "{live}");
    assert_eq!((live["queued"].as_u64(), live["open"].as_u64()), (Some(1), Some(1)), "{live}");
    assert_eq!(live["queued_by_category"], json!({"general": 1}), "{live}");
    let expert =
        |id: &str| live["experts"].as_array().unwrap().iter().find(|e| e["id"] == id).cloned().unwrap();
    let a = expert(&ada_id);
    assert_eq!(
        (&a["name"], &a["presence"], &a["load"], &a["max_concurrent"]),
        (&json!("Expert ada"), &json!("away"), &json!(1), &json!(2))
    );
    let b = expert(&bob_id);
    assert_eq!((&b["presence"], &b["load"]), (&json!("offline"), &json!(0)));

    // Admins only.
    let (status, _) = server.get("/api/v1/live", &ada_token).await;
    assert_eq!(status, 403);
    let (status, _) = server.get("/api/v1/live", "not-a-token").await;
    assert_eq!(status, 401);

    // The chart of the day groups by UTC hour.
    let (status, stats) = server.get("/api/v1/stats?group_by=hour", ADMIN).await;
    assert_eq!(status, 200, "{stats}");
    let groups = stats["groups"].as_array().unwrap();
    let counted: u64 = groups.iter().map(|g| g["conversations"].as_u64().unwrap()).sum();
    assert_eq!(counted, 2, "{stats}");
    assert!(groups.iter().all(|g| g["key"].as_str().unwrap().len() == "2024-05-01T13".len()), "{stats}");
}
