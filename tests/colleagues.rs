//! The transfer dialog's source, `GET /api/v1/colleagues`: who serves the caller's categories,
//! with presence, load and certifications as the router sees them now; the server alone still
//! decides whether a transfer may go ahead.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// `general`, `reset` (claim mode, needs `identity`) and `billing`.
fn config() -> String {
    format!("{GENERAL_AND_RESET}\n[[categories]]\nid = \"billing\"\nname = \"Billing\"\n")
}

fn colleague<'a>(body: &'a Value, id: &str) -> Option<&'a Value> {
    body["colleagues"].as_array().expect("a colleagues list").iter().find(|c| c["id"] == id)
}

/// Polls the list as `token` sees it until `pred` holds of `id`'s entry: the router learns of
/// a connection, an offer or a presence change just after it is acknowledged.
async fn until(
    server: &TestServer,
    token: &str,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = server.get("/api/v1/colleagues", token).await;
        assert_eq!(status, 200, "GET /api/v1/colleagues: {body}");
        let entry = colleague(&body, id).unwrap_or_else(|| panic!("{id} listed: {body}")).clone();
        if pred(&entry) {
            return entry;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {entry}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn colleagues_of_the_callers_categories_are_listed_with_presence_load_and_certifications() {
    let server =
        TestServer::start_with_config(&config(), &[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (ada, ada_token) =
        server.certified_expert("ada", &["general", "reset"], &["identity"], Some(3)).await;
    let (bob, bob_token) = server.expert("bob", &["general"], Some(1)).await;
    let (cid, _) = server.expert("cid", &["billing"], None).await;
    let (dora, _) = server.certified_expert("dora", &["reset"], &["identity"], None).await;

    let (status, body) = server.get("/api/v1/colleagues", &ada_token).await;
    assert_eq!(status, 200, "{body}");
    // Those who share a category with Ada, by name; never Ada herself, nor Cid (billing only).
    let names: Vec<&str> =
        body["colleagues"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Expert bob", "Expert dora"], "{body}");
    assert!(colleague(&body, &ada).is_none() && colleague(&body, &cid).is_none(), "{body}");
    let b = colleague(&body, &bob).unwrap();
    assert_eq!(
        (&b["presence"], &b["load"], &b["max_concurrent"], &b["free"]),
        (&json!("offline"), &json!(0), &json!(1), &json!(1)),
        "{b}"
    );
    assert_eq!(b["categories"], json!(["general"]));
    assert_eq!(b["certifications"], json!([]));
    assert_eq!(colleague(&body, &dora).unwrap()["certifications"], json!(["identity"]));
    // Nothing secret: the entry has exactly these keys.
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["categories", "certifications", "free", "id", "load", "max_concurrent", "name", "presence"]
    );
    let text = body.to_string();
    assert!(!text.contains("password") && !text.contains("$argon2") && !text.contains(&bob_token), "{text}");
    // Every configured category, and what a 1-to-1 chat of one needs.
    assert_eq!(
        body["categories"],
        json!([
            {"id": "general", "name": "General", "mode": "offer"},
            {"id": "reset", "name": "Password reset", "mode": "claim", "certification": "identity"},
            {"id": "billing", "name": "Billing", "mode": "offer"},
        ])
    );

    // Bob connects: available, nothing held.
    let mut bob_ws = server.expert_ws(&bob_token).await;
    until(&server, &ada_token, &bob, "bob available", |c| c["presence"] == "available").await;
    // A chat is offered to him (Ada is not connected): his one slot is taken, and stays taken
    // once he accepts.
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let ack = customer.ack(json!({"type": "start", "text": "hello", "category": "general"})).await;
    let chat = ack["conversation_id"].as_str().unwrap().to_owned();
    bob_ws.expect("the offer", |f| f["type"] == "offer").await;
    until(&server, &ada_token, &bob, "the offer on bob's load", |c| c["load"] == 1).await;
    bob_ws.ack(json!({"type": "accept", "conversation_id": chat})).await;
    let b = until(&server, &ada_token, &bob, "bob full", |c| c["load"] == 1).await;
    assert_eq!((&b["free"], &b["presence"]), (&json!(0), &json!("available")), "{b}");
    // Ending the chat frees it; going away shows.
    bob_ws.ack(json!({"type": "end", "conversation_id": chat})).await;
    until(&server, &ada_token, &bob, "bob's slot free again", |c| c["load"] == 0 && c["free"] == 1).await;
    bob_ws.ack(json!({"type": "presence", "status": "away"})).await;
    until(&server, &ada_token, &bob, "bob away", |c| c["presence"] == "away").await;
    drop(bob_ws);
    until(&server, &ada_token, &bob, "bob offline", |c| c["presence"] == "offline").await;

    // Bob sees Ada (general) but not Dora (reset only); the admin token sees everyone.
    let (_, body) = server.get("/api/v1/colleagues", &bob_token).await;
    assert!(colleague(&body, &ada).is_some() && colleague(&body, &dora).is_none(), "{body}");
    let (_, body) = server.get("/api/v1/colleagues", ADMIN).await;
    assert_eq!(body["colleagues"].as_array().unwrap().len(), 4, "{body}");
}

#[tokio::test]
async fn the_list_marks_who_may_take_a_one_to_one_chat_as_the_server_decides() {
    let server = TestServer::start_with_config(&config(), &[]).await;
    let (_, ann_token) = server.certified_expert("ann", &["general", "reset"], &["identity"], None).await;
    let (ben, ben_token) = server.expert("ben", &["general", "reset"], None).await;
    let (dee, dee_token) = server.certified_expert("dee", &["reset"], &["identity"], None).await;
    let mut ann = server.expert_ws(&ann_token).await;
    let _ben = server.expert_ws(&ben_token).await;
    let _dee = server.expert_ws(&dee_token).await;

    let (mut customer, _) = server.customer_ws(json!({})).await;
    let ack = customer.ack(json!({"type": "start", "text": "reset my password", "category": "reset"})).await;
    let chat = ack["conversation_id"].as_str().unwrap().to_owned();
    ann.expect("claimable", |f| f["type"] == "claimable").await;
    ann.ack(json!({"type": "claim", "conversation_id": chat})).await;

    let (_, body) = server.get("/api/v1/colleagues", &ann_token).await;
    let needed = body["categories"].as_array().unwrap().iter().find(|c| c["id"] == "reset").unwrap();
    assert_eq!(needed["certification"], "identity");
    let holds = |id: &str| {
        colleague(&body, id).unwrap()["certifications"].as_array().unwrap().contains(&json!("identity"))
    };
    assert!(!holds(&ben) && holds(&dee), "{body}");
    // Both available with room; the server refuses the one without the certification.
    until(&server, &ann_token, &ben, "ben available", |c| {
        c["presence"] == "available" && c["free"] == c["max_concurrent"]
    })
    .await;
    until(&server, &ann_token, &dee, "dee available", |c| {
        c["presence"] == "available" && c["free"] == c["max_concurrent"]
    })
    .await;
    ann.refused(json!({"type": "transfer", "conversation_id": chat, "to_expert": ben}), "forbidden").await;
    ann.ack(json!({"type": "transfer", "conversation_id": chat, "to_expert": dee})).await;
    until(&server, &ann_token, &dee, "the chat on dee's load", |c| c["load"] == 1).await;
}

#[tokio::test]
async fn colleagues_need_a_staff_token() {
    let server = TestServer::start(&[]).await;
    let r = reqwest::get(server.url("/api/v1/colleagues")).await.expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    let (status, body) = server.get("/api/v1/colleagues", "not-a-token").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    let (_, welcome) = server.customer_ws(json!({})).await;
    let (status, _) = server.get("/api/v1/colleagues", welcome["visitor_token"].as_str().unwrap()).await;
    assert_eq!(status, 403);
}
