//! Data rights: an admin exports everything kept about a customer and erases it (their
//! conversations then answer 404, their token is unknown, their files are gone from the store
//! itself, reports count as before, `customer.erased` is posted), and the retention sweep
//! erases closed conversations once they are old enough, across a restart too.

mod common;

use std::time::Duration;

use common::hooks::{next, receive, HOOK_SECRET};
use common::*;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Bytes no other file in a test has, to look for in the store.
const SCAN: &[u8] = b"%PDF passport scan of a customer who asked to be forgotten";

fn config(hook_port: Option<u16>, retention: &str) -> String {
    let hooks = match hook_port {
        Some(port) => format!(
            "[webhooks]\nallow_private = true\nretry_base = \"100ms\"\n[[webhooks.endpoints]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{HOOK_SECRET}\"\n"
        ),
        None => String::new(),
    };
    format!("[conversation]\nstyle = \"live_chat\"\n{retention}\n{hooks}")
}

/// The report's anonymous counts (PROTOCOL.md, Data rights).
async fn counts(server: &TestServer) -> Value {
    let (status, report) = server.get("/api/v1/stats", ADMIN).await;
    assert_eq!(status, 200, "{report}");
    let t = &report["total"];
    json!([t["conversations"], t["answered"], t["abandoned"], t["transfers"], t["rating"]])
}

async fn status_of(server: &TestServer, id: &str) -> u16 {
    server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await.0
}

/// Waits until conversation `id` answers 404: a sweep erased it.
async fn until_gone(server: &TestServer, id: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while status_of(server, id).await != 404 {
        assert!(tokio::time::Instant::now() < deadline, "{id} was never swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A chat accepted by the expert behind `expert`, answered and ended (closed at once:
/// `live_chat`); returns the customer's widget and the conversation id.
async fn closed_chat(server: &TestServer, expert: &mut Ws, text: &str) -> (Ws, String) {
    let (mut customer, id, _) = server.accepted_chat(expert, text).await;
    expert.ack(json!({"type": "send", "conversation_id": id, "text": "Sorted."})).await;
    expert.ack(json!({"type": "end", "conversation_id": id})).await;
    customer.expect("closed", |f| f["type"] == "status" && f["status"] == "closed").await;
    (customer, id)
}

#[tokio::test]
async fn an_erased_customer_is_gone_from_api_and_store_while_reports_keep_their_counts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut hooks = receive(listener);
    let mut server = TestServer::start_with_config(&config(Some(port), ""), &[]).await;
    let (_, ada_token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&ada_token).await;

    // Mo: a closed chat with a file, a rating with a comment and a callback, then a live one.
    let (mut mo, first, mo_token) = server.accepted_chat(&mut ada, "Please delete my account").await;
    let path = format!("/api/v1/attachments?conversation_id={first}&name=passport.pdf");
    let (status, file) = server.upload(&path, &mo_token, "application/pdf", SCAN.to_vec()).await;
    assert_eq!(status, 201, "{file}");
    let file_id = file["id"].as_str().unwrap().to_owned();
    ada.ack(json!({"type": "send", "conversation_id": first, "text": "Will do."})).await;
    ada.ack(json!({"type": "end", "conversation_id": first})).await;
    mo.expect("closed", |f| f["type"] == "status" && f["status"] == "closed").await;
    mo.ack(json!({"type": "rate", "conversation_id": first, "score": 4, "comment": "Mo was pleased"})).await;
    mo.ack(json!({"type": "callback", "phone": "+41 44 555 01 00", "message": "call me"})).await;
    let ack = mo.ack(json!({"type": "start", "text": "One more thing"})).await;
    let live = ack["conversation_id"].as_str().unwrap().to_owned();
    let wanted = live.clone();
    ada.expect("the offer", move |f| f["type"] == "offer" && f["conversation"]["id"] == wanted.as_str())
        .await;
    ada.ack(json!({"type": "accept", "conversation_id": live})).await;
    // Someone else's chat, which stays.
    let (_kim, kept) = closed_chat(&server, &mut ada, "Kim here").await;
    let before = counts(&server).await;

    let (_, welcome) = server.customer_ws(json!({"visitor_token": mo_token})).await;
    let mo_id = welcome["customer_id"].as_str().unwrap().to_owned();

    // The export: admins only (an admin expert's login counts), everything kept about Mo.
    let (status, _) = server.get(&format!("/api/v1/customers/{mo_id}/export"), &ada_token).await;
    assert_eq!(status, 403, "a plain expert may not export");
    let admin = json!({"username": "root", "password": "password-1", "name": "Root", "categories": ["general"], "roles": ["admin"]});
    assert_eq!(server.post("/api/v1/experts", Some(ADMIN), admin).await.0, 201);
    let (_, login) =
        server.post("/api/v1/login", None, json!({"username": "root", "password": "password-1"})).await;
    let root = login["token"].as_str().unwrap().to_owned();
    let (status, export) = server.get(&format!("/api/v1/customers/{mo_id}/export"), &root).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["customer"]["id"], mo_id.as_str());
    let conversations = export["conversations"].as_array().unwrap();
    let ids: Vec<&str> = conversations.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.as_str(), live.as_str()], "both of Mo's conversations, nobody else's");
    let texts: Vec<&str> = conversations[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"Please delete my account") && texts.contains(&"Will do."), "{texts:?}");
    assert_eq!(
        conversations[0]["attachments"],
        json!([{"id": file_id, "name": "passport.pdf", "size": SCAN.len(), "content_type": "application/pdf"}])
    );
    assert_eq!(export["callbacks"][0]["phone"], "+41 44 555 01 00");
    assert_eq!(
        (&export["ratings"][0]["score"], &export["ratings"][0]["comment"]),
        (&json!(4), &json!("Mo was pleased"))
    );

    // The erasure: admins only; the live chat ends first (its expert is told), Mo's widget closes.
    assert_eq!(server.delete(&format!("/api/v1/customers/{mo_id}"), &ada_token).await, 403);
    assert_eq!(server.delete(&format!("/api/v1/customers/{mo_id}"), ADMIN).await, 204);
    let wanted = live.clone();
    let ended = ada
        .expect("the live chat ends", move |f| {
            f["type"] == "status" && f["status"] == "closed" && f["conversation_id"] == wanted.as_str()
        })
        .await;
    assert_eq!(ended["reason"], "erased", "{ended}");
    assert!(mo.closed().await.is_some(), "Mo's widget is closed");
    assert_eq!(server.delete(&format!("/api/v1/customers/{mo_id}"), ADMIN).await, 404, "nothing is left");

    for id in [&first, &live] {
        assert_eq!(status_of(&server, id).await, 404, "{id} answers like one that never was");
    }
    // Nothing writes the live chat back: its expert's send finds nothing, and it stays gone.
    let late = ada.request(json!({"type": "send", "conversation_id": live, "text": "still there?"})).await;
    assert_eq!(late["type"], "error", "{late}");
    assert_eq!(status_of(&server, &live).await, 404);
    assert_eq!(status_of(&server, &kept).await, 200, "another customer's chat stays");
    assert_eq!(server.get(&format!("/api/v1/attachments/{file_id}"), ADMIN).await.0, 404);
    assert_eq!(server.get(&format!("/api/v1/customers/{mo_id}/export"), ADMIN).await.0, 404);
    let (status, _) = server.get("/api/v1/conversations", &mo_token).await;
    assert_eq!(status, 401, "Mo's token answers as an unknown one");
    let (_, again) = server.customer_ws(json!({"visitor_token": mo_token})).await;
    assert_ne!(again["customer_id"], mo_id.as_str(), "the widget is greeted as a new visitor");
    assert!(again["conversations"].as_array().unwrap().is_empty());
    assert_eq!(counts(&server).await, before, "the reports' anonymous counts stay");
    let (_, callbacks) = server.get("/api/v1/callbacks", ADMIN).await;
    assert_eq!(callbacks, json!([]), "the callback is gone");

    let erased = loop {
        let d = next(&mut hooks).await;
        if d.body["type"] == "customer.erased" {
            break d;
        }
    };
    assert!(erased.signed);
    assert_eq!(erased.body["data"]["customer_id"], mo_id.as_str());
    assert_eq!(erased.body["data"]["conversation_ids"], json!([first, live]));

    // In the store itself, with the server stopped: no file bytes, transcript, record.
    assert!(server.terminate().await);
    let store = server.store();
    let number = |wire: &str| wire.split('_').next_back().unwrap().parse::<u64>().unwrap();
    let file = switchboard::ids::AttachmentId(number(&file_id));
    assert_eq!(store.attachment_bytes(file).unwrap(), None, "the file's bytes are gone");
    assert_eq!(store.attachment(file).unwrap(), None);
    let mo_number = switchboard::ids::CustomerId(number(&mo_id));
    assert_eq!(store.customer(mo_number).unwrap(), None);
    assert!(store.customer_erased(mo_number).unwrap());
    for id in [&first, &live] {
        let c = switchboard::ids::ConversationId(number(id));
        assert!(store.transcript(c, 0).unwrap().is_empty(), "{id}'s transcript is gone");
        assert_eq!(store.conversation(c).unwrap(), None);
    }
    assert!(store.callbacks_of(mo_number).unwrap().is_empty());
    for entry in store.webhooks().unwrap() {
        let body = String::from_utf8_lossy(&entry.body);
        assert!(!body.contains("Mo was pleased") && !body.contains(&first), "an owed delivery: {body}");
    }
}

#[tokio::test]
async fn an_identified_customer_erased_comes_back_as_someone_new() {
    let server =
        TestServer::start_with_config(&config(None, ""), &[("SWITCHBOARD_SERVER_IDENTITY_SECRET", SECRET)])
            .await;
    let user = json!({"id": "crm-42", "hash": sign("crm-42"), "name": "Mo Ali", "email": "mo@shop.example"});
    let (mut mo, welcome) = server.customer_ws(json!({"user": user})).await;
    let mo_id = welcome["customer_id"].as_str().unwrap().to_owned();
    mo.ack(json!({"type": "callback", "phone": "+41 44 555 01 00"})).await;
    let (_, export) = server.get(&format!("/api/v1/customers/{mo_id}/export"), ADMIN).await;
    assert_eq!(
        (&export["customer"]["name"], &export["customer"]["external_id"]),
        (&json!("Mo Ali"), &json!("crm-42"))
    );

    assert_eq!(server.delete(&format!("/api/v1/customers/{mo_id}"), ADMIN).await, 204);
    let user = json!({"id": "crm-42", "hash": sign("crm-42")});
    let (_, again) = server.customer_ws(json!({"user": user})).await;
    let new_id = again["customer_id"].as_str().unwrap();
    assert_ne!(new_id, mo_id, "the company's user id names a new customer");
    let (_, export) = server.get(&format!("/api/v1/customers/{new_id}/export"), ADMIN).await;
    assert_eq!(
        export["customer"]["name"],
        Value::Null,
        "nothing of the erased record carries over: {export}"
    );
    assert_eq!(export["callbacks"], json!([]));
}

#[tokio::test]
async fn the_retention_sweep_erases_only_closed_conversations_old_enough() {
    let retention = "[retention]\nclosed_conversations = \"300ms\"\nsweep_every = \"50ms\"";
    let server = TestServer::start_with_config(&config(None, retention), &[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let (_, old) = closed_chat(&server, &mut ada, "old news").await;
    let (_customer, open, _) = server.accepted_chat(&mut ada, "still talking").await;
    let before = counts(&server).await;

    until_gone(&server, &old).await;
    assert_eq!(status_of(&server, &open).await, 200, "an open chat is never swept, however old");
    assert_eq!(counts(&server).await, before, "reports count swept conversations as before");
}

#[tokio::test]
async fn the_retention_sweep_runs_at_start_so_a_restart_skips_none() {
    // One sweep a day: only the one at start can erase anything within this test.
    let retention = "[retention]\nclosed_conversations = \"3s\"\nsweep_every = \"24h\"";
    let mut server = TestServer::start_with_config(&config(None, retention), &[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;
    let (_, old) = closed_chat(&server, &mut ada, "closed long ago").await;
    let old_enough = tokio::time::Instant::now() + Duration::from_secs(3);
    let (_customer, open, _) = server.accepted_chat(&mut ada, "still talking").await;
    tokio::time::sleep_until(old_enough).await;
    let (_, recent) = closed_chat(&server, &mut ada, "closed just now").await;
    drop(ada);

    server.restart().await;
    until_gone(&server, &old).await;
    assert_eq!(status_of(&server, &recent).await, 200, "closed less than 3 s ago: kept");
    assert_eq!(status_of(&server, &open).await, 200, "open: kept");
}
