//! One-to-one certified help: claim lists, the atomic first claim, signed tools, the
//! first-response window, and the privacy of a claimed chat.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The shared general + claim categories, a short first-response window, and a tool for the
/// claim category.
fn claim_config() -> String {
    let tools = "[[categories.tools]]\nname = \"Reset tool\"\nurl = \"https://tools.example/reset?customer={customer_id}\"\n";
    format!("[conversation]\nfirst_response_window = \"800ms\"\n{GENERAL_AND_RESET}\n{tools}")
}

async fn reset_chat(server: &TestServer) -> (Ws, String, String) {
    let (mut ws, welcome) = server.customer_ws(json!({})).await;
    let ack = ws.ack(json!({"type": "start", "text": "I cannot log in", "category": "reset"})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    (ws, id, welcome["visitor_token"].as_str().unwrap().to_owned())
}

fn claimable(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "claimable" && f["conversation"]["id"] == id
}

/// Checks a tool link's signature: HMAC-SHA256 of everything before `&sig=`.
fn assert_signed(url: &str) {
    let (unsigned, sig) = url.rsplit_once("&sig=").expect("a sig parameter");
    assert!(unsigned.contains("ts="), "{url}");
    assert_eq!(sig, sign(unsigned), "the tool link is signed with the identity secret");
}

#[tokio::test]
async fn three_certified_experts_claim_at_once_and_exactly_one_wins() {
    let server = TestServer::start_with_config(&claim_config(), &[]).await;
    let mut certified = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let (_, token) = server.certified_expert(name, &["reset"], &["identity"], None).await;
        certified.push(server.expert_ws(&token).await);
    }
    let (_, plain) = server.expert("dan", &["reset", "general"], None).await;
    let mut uncertified = server.expert_ws(&plain).await;

    let (_customer, id, _) = reset_chat(&server).await;
    for ws in certified.iter_mut() {
        let listed = ws.expect("claimable", claimable(&id)).await;
        let summary = &listed["conversation"];
        assert!(
            summary.get("messages").is_none() && summary.get("tools").is_none(),
            "summary only: {summary}"
        );
        assert_eq!(summary["preview"], "I cannot log in");
    }
    uncertified
        .expect_none("a claimable chat without the certification", Duration::from_millis(300), |f| {
            f["type"] == "claimable"
        })
        .await;
    uncertified.refused(json!({"type": "claim", "conversation_id": id}), "forbidden").await;

    // All three claims leave before any answer comes back.
    for (i, ws) in certified.iter_mut().enumerate() {
        ws.send(json!({"type": "claim", "conversation_id": id, "ref": format!("claim-{i}")})).await;
    }
    let mut winners = Vec::new();
    for (i, ws) in certified.iter_mut().enumerate() {
        let r = format!("claim-{i}");
        let answer = ws.expect("the claim's answer", |f| f["ref"] == r.as_str()).await;
        match answer["type"].as_str() {
            Some("ack") => winners.push((i, answer)),
            _ => assert_eq!(answer["code"], "conflict", "{answer}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    let (winner, ack) = &winners[0];
    assert_eq!(ack["conversation"]["messages"][0]["text"], "I cannot log in");
    let tools = ack["tools"].as_array().unwrap();
    assert_eq!(tools[0]["name"], "Reset tool");
    let customer_id = ack["conversation"]["customer"]["id"].as_str().unwrap();
    let url = tools[0]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("https://tools.example/reset?customer={customer_id}&ts=")), "{url}");
    assert_signed(url);
    for (i, ws) in certified.iter_mut().enumerate().filter(|(i, _)| i != winner) {
        let gone = ws.event("claimed").await;
        assert_eq!(gone["conversation_id"], id.as_str(), "expert {i} sees it disappear");
    }
}

#[tokio::test]
async fn a_claimed_chat_is_private_to_its_claimer_and_admins() {
    let server = TestServer::start_with_config(&claim_config(), &[]).await;
    let (_, t1) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let (_, t2) = server.certified_expert("ben", &["reset"], &["identity"], None).await;
    let mut ann = server.expert_ws(&t1).await;
    let mut ben = server.expert_ws(&t2).await;
    let (mut customer, id, visitor) = reset_chat(&server).await;
    let (status, file) = server
        .upload(
            &format!("/api/v1/attachments?conversation_id={id}&name=id-card.png"),
            &visitor,
            "image/png",
            vec![137, 80, 78, 71],
        )
        .await;
    assert_eq!(status, 201, "{file}");
    let file_id = file["id"].as_str().unwrap().to_owned();
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "here is my card", "attachments": [file_id]})).await;

    ann.expect("claimable", claimable(&id)).await;
    let ack = ann.ack(json!({"type": "claim", "conversation_id": id})).await;
    assert_eq!(ack["attachments"][0]["id"], file_id.as_str(), "the claimer gets the attachments");
    assert_eq!(ack["conversation"]["messages"][2]["attachments"][0]["name"], "id-card.png");

    // The other certified expert cannot read, sync, send or fetch anything of it: to them it
    // does not exist.
    let (status, _) = server.get(&format!("/api/v1/conversations/{id}"), &t2).await;
    assert_eq!(status, 404);
    ben.refused(json!({"type": "sync", "conversation_id": id, "after_seq": 0}), "not_found").await;
    ben.refused(json!({"type": "send", "conversation_id": id, "text": "hi"}), "not_found").await;
    ben.refused(json!({"type": "claim", "conversation_id": id}), "conflict").await;
    let (status, _, _) = server.fetch(&format!("/api/v1/attachments/{file_id}"), &t2).await;
    assert_eq!(status, 404);

    // The claimer and an admin can.
    for token in [t1.as_str(), ADMIN, visitor.as_str()] {
        let (status, headers, bytes) = server.fetch(&format!("/api/v1/attachments/{file_id}"), token).await;
        assert_eq!(status, 200);
        assert_eq!(bytes, vec![137, 80, 78, 71]);
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert_eq!((status, c["expert"]["name"].as_str()), (200, Some("Expert ann")));
}

#[tokio::test]
async fn a_claim_without_a_first_response_is_released_to_the_others() {
    let server = TestServer::start_with_config(&claim_config(), &[]).await;
    let (_, t1) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let (_, t2) = server.certified_expert("ben", &["reset"], &["identity"], None).await;
    let mut ann = server.expert_ws(&t1).await;
    let mut ben = server.expert_ws(&t2).await;
    let (mut customer, id, _) = reset_chat(&server).await;
    ann.expect("claimable", claimable(&id)).await;
    ben.expect("claimable", claimable(&id)).await;
    ann.ack(json!({"type": "claim", "conversation_id": id})).await;
    ben.event("claimed").await;

    let released = ann.event("released").await;
    assert_eq!(
        (released["conversation_id"].as_str(), released["reason"].as_str()),
        (Some(id.as_str()), Some("no_response"))
    );
    ben.expect("listed again", claimable(&id)).await;
    let back =
        customer.expect("back in the queue", |f| f["type"] == "status" && f["status"] == "queued").await;
    assert_eq!(back["reason"], "no_response");
    // The former claimer has lost it entirely.
    ann.refused(json!({"type": "send", "conversation_id": id, "text": "sorry, here now"}), "not_found").await;
    ann.refused(json!({"type": "claim", "conversation_id": id}), "forbidden").await;
    let (status, _) = server.get(&format!("/api/v1/conversations/{id}"), &t1).await;
    assert_eq!(status, 404);
    // The next claimer answers in time and keeps it.
    ben.ack(json!({"type": "claim", "conversation_id": id})).await;
    ben.ack(json!({"type": "send", "conversation_id": id, "text": "Hi, I can help with the reset."})).await;
    ben.expect_none("a release after answering", Duration::from_millis(1200), |f| f["type"] == "released")
        .await;
}

#[tokio::test]
async fn attachments_are_checked_and_never_served_as_active_content() {
    let server = TestServer::start_with_config(
        &claim_config(),
        &[("SWITCHBOARD_LIMITS_MAX_ATTACHMENT_BYTES", "1000")],
    )
    .await;
    let (_customer, id, visitor) = reset_chat(&server).await;
    let path = format!("/api/v1/attachments?conversation_id={id}&name=page.html");
    let (status, e) = server.upload(&path, &visitor, "text/plain", vec![b'x'; 1001]).await;
    assert_eq!((status, e["error"]["code"].as_str()), (413, Some("too_large")));
    let (status, file) =
        server.upload(&path, &visitor, "text/html", b"<script>alert(1)</script>".to_vec()).await;
    assert_eq!(status, 201);
    let (status, headers, _) =
        server.fetch(&format!("/api/v1/attachments/{}", file["id"].as_str().unwrap()), &visitor).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (_, stranger) = server.customer_ws(json!({})).await;
    let (status, _) =
        server.upload(&path, stranger["visitor_token"].as_str().unwrap(), "text/plain", b"hi".to_vec()).await;
    assert_eq!(status, 404);
}

/// Every claim-mode chat started is listed, however many start at once: a chat's note to the
/// router is queued last, after its greeting, and goes out even when the commit covering
/// everything before it settles first (on the flusher's thread, as the chat's actor writes).
#[tokio::test]
async fn every_new_claimable_chat_is_listed() {
    let server = TestServer::start_with_config(&claim_config(), &[]).await;
    let (_, token) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let mut ann = server.expert_ws(&token).await;
    let mut unlisted = std::collections::HashSet::new();
    for _ in 0..5 {
        let chats = futures_util::future::join_all((0..20).map(|_| reset_chat(&server))).await;
        unlisted.extend(chats.into_iter().map(|(_, id, _)| id));
    }
    while !unlisted.is_empty() {
        let listed = ann.expect("every chat listed", |f| f["type"] == "claimable").await;
        unlisted.remove(listed["conversation"]["id"].as_str().unwrap());
    }
}

/// Certified experts choosing which chat to take see each one's response target: counting
/// while it runs (kind, length, due time), and once it passes unclaimed, the breach, so the
/// customer who has waited longest past it can be taken first.
#[tokio::test]
async fn a_claimable_chat_is_listed_with_its_response_target() {
    const TARGET_MS: u64 = 700;
    // GENERAL_AND_RESET ends in the claim category: the target is the reset category's.
    let config = format!("{GENERAL_AND_RESET}first_response_target = \"{TARGET_MS}ms\"\n");
    let server = TestServer::start_with_config(&config, &[]).await;
    let (_, token) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let mut console = server.expert_ws(&token).await;
    let (_customer, id, _) = reset_chat(&server).await;

    let listed = console.expect("claimable", claimable(&id)).await;
    let summary = &listed["conversation"];
    assert_eq!(summary["sla"]["kind"], "first_response", "{summary}");
    assert_eq!(summary["sla"]["target_ms"], TARGET_MS, "{summary}");
    assert!(summary["sla"]["due"].as_str().is_some_and(|t| t.ends_with('Z')), "{summary}");
    assert!(summary.get("sla_breached").is_none(), "{summary}");

    // Nobody claims it: a console connecting after the target lists it as missed.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(TARGET_MS + 3000);
    let listed = loop {
        let mut fresh = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
        let welcome = fresh.request(json!({"type": "hello", "token": token})).await;
        let all = welcome["claimable"].as_array().unwrap_or_else(|| panic!("{welcome}"));
        let summary = all.iter().find(|c| c["id"] == id.as_str()).cloned();
        let summary = summary.unwrap_or_else(|| panic!("{id} is still listed: {welcome}"));
        if !summary["sla_breached"].is_null() {
            break summary;
        }
        assert!(tokio::time::Instant::now() < deadline, "no breach listed: {summary}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed["sla_breached"]["kind"], "first_response", "{listed}");
    assert!(listed["sla_breached"]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");
    assert!(listed.get("sla").is_none(), "no clock runs once it is breached: {listed}");
}
