//! The one access rule on every path: history, REST, attachments, transfers; what a caller may
//! not see answers exactly like what does not exist.

mod common;

use common::*;
use serde_json::{json, Value};

/// `general`, `reset` (claim mode) and `billing`.
fn config() -> String {
    format!("{GENERAL_AND_RESET}\n[[categories]]\nid = \"billing\"\nname = \"Billing\"\n")
}

/// An identified customer's widget, with its welcome.
async fn identified(server: &TestServer, user: &str) -> (Ws, Value) {
    server.customer_ws(json!({"user": {"id": user, "hash": sign(user), "name": "Grace"}})).await
}

async fn start(ws: &mut Ws, text: &str, category: &str) -> String {
    let ack = ws.ack(json!({"type": "start", "text": text, "category": category})).await;
    ack["conversation_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn history_leaves_out_another_experts_claimed_chat() {
    let server = TestServer::start_with_config(&config(), &[]).await;
    let (_, ann_token) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let (_, dan_token) = server.expert("dan", &["general"], None).await;
    let mut ann = server.expert_ws(&ann_token).await;
    let mut dan = server.expert_ws(&dan_token).await;

    let (mut customer, welcome) = identified(&server, "crm-1").await;
    let customer_id = welcome["customer_id"].as_str().unwrap().to_owned();
    let private = start(&mut customer, "my passport number is 123", "reset").await;
    ann.expect("claimable", |f| f["type"] == "claimable").await;
    ann.ack(json!({"type": "claim", "conversation_id": private})).await;
    ann.ack(json!({"type": "send", "conversation_id": private, "text": "Thanks, resetting."})).await;

    let general = start(&mut customer, "and where is my parcel?", "general").await;
    dan.expect("offer", |f| f["type"] == "offer").await;
    dan.ack(json!({"type": "accept", "conversation_id": general})).await;

    // Dan serves this customer: he sees their history, but not Ann's 1-to-1 chat.
    let ack = dan.ack(json!({"type": "history", "customer_id": customer_id})).await;
    let ids: Vec<&str> =
        ack["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![general.as_str()], "history lists only what Dan may read: {ack}");
    let (status, listed) =
        server.get(&format!("/api/v1/conversations?customer_id={customer_id}"), &dan_token).await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![general.as_str()]);
    let (status, body) = server.get(&format!("/api/v1/conversations/{private}"), &dan_token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    dan.refused(json!({"type": "sync", "conversation_id": private, "after_seq": 0}), "not_found").await;

    // Ann, its owner, and admins still read it.
    let (status, _) = server.get(&format!("/api/v1/conversations/{private}"), &ann_token).await;
    assert_eq!(status, 200);
    let (status, _) = server.get(&format!("/api/v1/conversations/{private}"), ADMIN).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn what_a_caller_may_not_see_answers_like_what_does_not_exist() {
    let server = TestServer::start_with_config(&config(), &[]).await;
    let (_, ada_token) = server.expert("ada", &["general"], None).await;
    let (_, bob_token) = server.expert("bob", &["general"], None).await;
    let mut ada = server.expert_ws(&ada_token).await;
    let (mut customer, id, visitor) = server.accepted_chat(&mut ada, "my invoice").await;
    let (status, file) = server
        .upload(
            &format!("/api/v1/attachments?conversation_id={id}&name=invoice.pdf"),
            &visitor,
            "application/pdf",
            b"%PDF".to_vec(),
        )
        .await;
    assert_eq!(status, 201, "{file}");
    let file_id = file["id"].as_str().unwrap().to_owned();
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "attached"})).await;
    let (_, stranger) = server.customer_ws(json!({})).await;
    let stranger = stranger["visitor_token"].as_str().unwrap().to_owned();

    let missing = server.get("/api/v1/conversations/c_987654", &bob_token).await;
    assert_eq!(missing.0, 404);
    for token in [bob_token.as_str(), stranger.as_str()] {
        let foreign = server.get(&format!("/api/v1/conversations/{id}"), token).await;
        assert_eq!(
            foreign.0, missing.0,
            "someone else's conversation answers like a missing one: {}",
            foreign.1
        );
        assert_eq!(foreign.1["error"]["code"], missing.1["error"]["code"]);
        assert_eq!(foreign.1["error"]["message"], missing.1["error"]["message"]);

        let missing_file = server.fetch("/api/v1/attachments/a_987654", token).await;
        let foreign_file = server.fetch(&format!("/api/v1/attachments/{file_id}"), token).await;
        assert_eq!(
            (foreign_file.0, &foreign_file.2),
            (404, &missing_file.2),
            "a foreign file answers like a missing one"
        );
        let upload = format!("/api/v1/attachments?conversation_id={id}&name=x.txt");
        let (status, body) = server.upload(&upload, token, "text/plain", b"hi".to_vec()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    }
    let mut bob = server.expert_ws(&bob_token).await;
    for frame in [
        json!({"type": "send", "conversation_id": id, "text": "hi"}),
        json!({"type": "sync", "conversation_id": id, "after_seq": 0}),
        json!({"type": "end", "conversation_id": id}),
        json!({"type": "typing", "conversation_id": id, "on": true}),
    ] {
        bob.refused(frame, "not_found").await;
    }
}

#[tokio::test]
async fn an_identified_customer_gets_a_working_visitor_token() {
    let server = TestServer::start_with_config(&config(), &[]).await;
    let (mut customer, welcome) = identified(&server, "crm-7").await;
    let token = welcome["visitor_token"].as_str().unwrap().to_owned();
    assert!(!token.is_empty(), "an identified customer needs a token for the REST API: {welcome}");
    let id = start(&mut customer, "hello", "general").await;
    let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), &token).await;
    assert_eq!((status, c["id"].as_str()), (200, Some(id.as_str())), "{c}");
    let (status, file) = server
        .upload(
            &format!("/api/v1/attachments?conversation_id={id}&name=a.txt"),
            &token,
            "text/plain",
            b"a".to_vec(),
        )
        .await;
    assert_eq!(status, 201, "{file}");
    // The same user on another device is the same customer, with a token that works as well.
    let (_, again) = identified(&server, "crm-7").await;
    assert_eq!(again["customer_id"], welcome["customer_id"]);
    let (status, _) =
        server.get(&format!("/api/v1/conversations/{id}"), again["visitor_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_claimed_chat_goes_to_a_category_only_if_everyone_there_is_certified() {
    let server = TestServer::start_with_config(&config(), &[]).await;
    let (_, ann_token) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let (_, _) = server.certified_expert("cid", &["billing"], &["identity"], None).await;
    let (_, dan_token) = server.expert("dan", &["general"], None).await;
    let mut ann = server.expert_ws(&ann_token).await;
    let mut dan = server.expert_ws(&dan_token).await;
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let id = start(&mut customer, "reset my account", "reset").await;
    ann.expect("claimable", |f| f["type"] == "claimable").await;
    ann.ack(json!({"type": "claim", "conversation_id": id})).await;

    // Dan serves `general` without the certification: the chat may not go there.
    ann.refused(json!({"type": "transfer", "conversation_id": id, "to_category": "general"}), "forbidden")
        .await;
    dan.expect_none("an offer of a certified chat", std::time::Duration::from_millis(300), |f| {
        f["type"] == "offer"
    })
    .await;
    // Everyone serving `billing` is certified: it may.
    ann.ack(json!({"type": "transfer", "conversation_id": id, "to_category": "billing"})).await;
    customer.expect("queued in billing", |f| f["type"] == "status" && f["status"] == "queued").await;
}
