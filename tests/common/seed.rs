//! One of everything a store keeps, put there through the API, and the check that a server
//! serves it all back: shared by the export/import tests and the upgrade fixtures.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;

/// Every conversation as an admin reads it, by id.
pub async fn conversations(server: &TestServer) -> BTreeMap<String, Value> {
    let (status, list) = server.get("/api/v1/conversations", ADMIN).await;
    assert_eq!(status, 200, "{list}");
    let mut out = BTreeMap::new();
    for c in list.as_array().unwrap() {
        let id = c["id"].as_str().unwrap().to_owned();
        let (status, full) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
        assert_eq!(status, 200, "{full}");
        out.insert(id, full);
    }
    out
}

/// What `populate` stored, as the API served it before the move; serializable, so an
/// upgrade fixture keeps it beside its data directory.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    pub before: BTreeMap<String, Value>,
    pub callbacks: Value,
    pub canned: Value,
    pub file_id: String,
    pub visitor: String,
    pub id1: String,
    pub id2: Value,
}

/// Fills a store through the API with one of everything an export carries: experts (one
/// removed), a closed chat with a file, a note and a rating, an identified customer's open
/// chat, a queued chat, a message left with a name and email, a callback and a canned response.
/// The clients come back with it: they stay connected until the server stops, as in real use.
pub async fn populate(server: &TestServer) -> (Seeded, Vec<Ws>) {
    let (_, ada_token) = server.expert("ada", &["general"], None).await;
    server.expert("bob", &["general"], Some(2)).await;
    let (carl_id, _) = server.expert("carl", &["general"], None).await;
    let http = reqwest::Client::new();
    let removed = http
        .delete(server.url(&format!("/api/v1/experts/{carl_id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success());
    let mut ada = server.expert_ws(&ada_token).await;

    // A whole chat: a file, an internal note, an end and a rating.
    let (mut customer, id1, visitor) = server.new_chat("My parcel is lost").await;
    ada.expect("the offer", |f| f["type"] == "offer").await;
    ada.ack(json!({"type": "accept", "conversation_id": id1})).await;
    let (status, file) = server
        .upload(
            &format!("/api/v1/attachments?conversation_id={id1}"),
            &visitor,
            "image/png",
            vec![0, 1, 2, 255],
        )
        .await;
    assert_eq!(status, 201, "{file}");
    customer
        .ack(
            json!({"type": "send", "conversation_id": id1, "text": "The label", "attachments": [file["id"]]}),
        )
        .await;
    ada.ack(
        json!({"type": "send", "conversation_id": id1, "text": "Carrier is slow again", "internal": true}),
    )
    .await;
    ada.ack(json!({"type": "send", "conversation_id": id1, "text": "I've sent a new one."})).await;
    ada.ack(json!({"type": "end", "conversation_id": id1})).await;
    customer.expect("closed", |f| f["type"] == "status" && f["status"] == "closed").await;
    customer.ack(json!({"type": "rate", "conversation_id": id1, "score": 4, "comment": "Quick ✓"})).await;
    customer
        .ack(json!({"type": "callback", "phone": "+33 1 23 45 67 89", "message": "About my invoice"}))
        .await;

    // An identified customer's chat, still open; and one waiting in the queue.
    let user = json!({"id": "crm-9", "hash": sign("crm-9"), "name": "Grace", "email": "grace@example.com"});
    let (mut grace, _) = server.customer_ws(json!({ "user": user })).await;
    let id2 = grace.ack(json!({"type": "start", "text": "Change my plan"})).await["conversation_id"].clone();
    ada.expect("the second offer", |f| f["type"] == "offer" && f["conversation"]["id"] == id2).await;
    ada.ack(json!({"type": "accept", "conversation_id": id2})).await;
    ada.ack(json!({"type": "send", "conversation_id": id2, "text": "Which plan?"})).await;
    ada.ack(json!({"type": "presence", "status": "away"})).await;
    let (waiting, _, _) = server.new_chat("Anyone there?").await;
    let left = json!({"text": "Is my refund through?", "name": "Mo", "email": "mo@example.com"});
    let (leaver, _, _) = server.left_message(left).await;

    let body = json!({"title": "Refunds", "shortcut": "refund", "text": "Within 30 days."});
    assert_eq!(server.post("/api/v1/canned", Some(ADMIN), body).await.0, 201);

    let before = conversations(server).await;
    assert_eq!(before.len(), 4);
    let (_, callbacks) = server.get("/api/v1/callbacks", ADMIN).await;
    let (_, canned) = server.get("/api/v1/canned", ADMIN).await;
    let file_id = file["id"].as_str().unwrap().to_owned();
    (
        Seeded { before, callbacks, canned, file_id, visitor, id1, id2 },
        vec![ada, customer, grace, waiting, leaver],
    )
}

/// The server on the moved store serves what `populate` stored, and goes on from there.
pub async fn assert_serves(server: &TestServer, seeded: &Seeded) {
    let Seeded { before, callbacks, canned, file_id, visitor, id1, id2, .. } = seeded;
    assert_eq!(&conversations(server).await, before);
    assert_eq!(&server.get("/api/v1/callbacks", ADMIN).await.1, callbacks);
    assert_eq!(&server.get("/api/v1/canned", ADMIN).await.1, canned);
    let login = |username: &str| json!({"username": username, "password": "password-1"});
    assert_eq!(server.post("/api/v1/login", None, login("ada")).await.0, 200);
    assert_eq!(server.post("/api/v1/login", None, login("carl")).await.0, 401, "still removed");
    let attachment = format!("/api/v1/attachments/{file_id}");
    assert_eq!(server.fetch(&attachment, ADMIN).await.2, vec![0, 1, 2, 255]);

    // Customers come back as themselves; new records get new ids.
    let (_, welcome) = server.customer_ws(json!({"visitor_token": visitor})).await;
    assert_eq!(welcome["conversations"][0]["id"], id1.as_str(), "{welcome}");
    let user = json!({"id": "crm-9", "hash": sign("crm-9")});
    let (_, welcome) = server.customer_ws(json!({ "user": user })).await;
    assert_eq!(&welcome["conversations"][0]["id"], id2, "{welcome}");
    let (_, id4, _) = server.new_chat("Hello again").await;
    assert!(!before.contains_key(&id4), "{id4} is new");
}
