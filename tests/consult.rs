//! Specialist consult (PRODUCT.md v1.1): the owner invites another expert to advise; the
//! specialist reads the chat and writes internal notes only, uses no capacity, keeps the
//! consult over a reconnect, and loses all access when it ends.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// How long a test watches for something that must not arrive.
const QUIET: Duration = Duration::from_millis(300);

fn consult_of(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "consult" && f["conversation"]["id"] == id
}

fn text_is(text: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "message" && f["message"]["text"] == text
}

/// Ada (available, serving `general`) owns a chat; Bob serves nothing, so no offer reaches
/// him. Returns the server, both consoles, Bob's id and token, the widget and the chat's id.
async fn ada_owns_a_chat() -> (TestServer, Ws, Ws, String, String, Ws, String) {
    let server = TestServer::start(&[]).await;
    let (_, t1) = server.expert("ada", &["general"], None).await;
    let (bob_id, t2) = server.expert("bob", &[], None).await;
    let mut ada = server.expert_ws(&t1).await;
    let bob = server.expert_ws(&t2).await;
    ada.ack(json!({"type": "presence", "status": "available"})).await;
    let (customer, id, _) = server.accepted_chat(&mut ada, "my parcel never came").await;
    (server, ada, bob, bob_id, t2, customer, id)
}

#[tokio::test]
async fn a_specialist_reads_the_chat_and_writes_notes_the_customer_never_sees() {
    let (server, mut ada, mut bob, bob_id, t2, mut customer, id) = ada_owns_a_chat().await;
    // Before the invite the chat does not exist for Bob.
    bob.refused(json!({"type": "sync", "conversation_id": id, "after_seq": 0}), "not_found").await;

    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id, "note": "carrier claim?"}))
        .await;
    let consult = bob.expect("the consult", consult_of(&id)).await;
    assert_eq!(consult["note"], "carrier claim?");
    assert_eq!(consult["from"]["name"], "Expert ada");
    let transcript: Vec<&str> = consult["conversation"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(transcript.contains(&"my parcel never came"), "{transcript:?}");

    // Bob follows the chat live and can read it.
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "any news?"})).await;
    bob.expect("the customer's live message", text_is("any news?")).await;
    bob.ack(json!({"type": "sync", "conversation_id": id, "after_seq": 0})).await;
    let replayed = bob.expect("the replayed opening", text_is("my parcel never came")).await;
    assert_eq!(replayed["message"]["seq"], 1);
    let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), &t2).await;
    assert_eq!(status, 200, "{c}");

    // Notes only: his note reaches Ada, never the customer; a reply is refused.
    let note = bob
        .ack(json!({"type": "send", "conversation_id": id, "text": "file a carrier claim", "internal": true}))
        .await;
    assert_eq!(note["message"]["internal"], true);
    let seen = ada.expect("the specialist's note", text_is("file a carrier claim")).await;
    assert_eq!(seen["message"]["author"]["name"], "Expert bob");
    bob.refused(json!({"type": "send", "conversation_id": id, "text": "hello customer"}), "forbidden").await;
    // Ada's own note and reply reach Bob too.
    ada.ack(json!({"type": "send", "conversation_id": id, "text": "thanks, on it", "internal": true})).await;
    bob.expect("the owner's note", text_is("thanks, on it")).await;
    ada.ack(json!({"type": "send", "conversation_id": id, "text": "We are filing a claim."})).await;
    customer.expect("the owner's reply", text_is("We are filing a claim.")).await;
    bob.expect("the owner's reply, live", text_is("We are filing a claim.")).await;
    customer.ack(json!({"type": "sync", "conversation_id": id, "after_seq": 0})).await;
    customer.expect_none("a note", QUIET, |f| f["message"]["internal"] == true).await;
    customer
        .expect_none("the specialist's words", QUIET, |f| {
            f["message"]["text"] == "file a carrier claim" || f["message"]["text"] == "hello customer"
        })
        .await;
    // Bob may not act as the owner either.
    bob.refused(json!({"type": "end", "conversation_id": id}), "forbidden").await;
}

#[tokio::test]
async fn only_the_owner_invites_and_only_an_existing_expert() {
    let (server, mut ada, mut bob, bob_id, _, _customer, id) = ada_owns_a_chat().await;
    let (carol_id, t3) = server.expert("carol", &[], None).await;
    let mut carol = server.expert_ws(&t3).await;
    // Carol cannot see the chat: to her it does not exist.
    carol.refused(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id}), "not_found").await;
    ada.refused(json!({"type": "invite", "conversation_id": id, "expert_id": "e_999999"}), "not_found").await;
    assert_eq!(server.delete(&format!("/api/v1/experts/{carol_id}"), ADMIN).await / 100, 2);
    ada.refused(json!({"type": "invite", "conversation_id": id, "expert_id": carol_id}), "not_found").await;
    ada.refused(
        json!({"type": "invite", "conversation_id": id, "expert_id": ada_id(&server).await}),
        "bad_request",
    )
    .await;

    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id})).await;
    bob.expect("the consult", consult_of(&id)).await;
    ada.refused(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id}), "conflict").await;
    // Bob sees the chat now, but he is not its owner: he may not invite anyone.
    let (dan_id, _) = server.expert("dan", &[], None).await;
    bob.refused(json!({"type": "invite", "conversation_id": id, "expert_id": dan_id}), "forbidden").await;
}

async fn ada_id(server: &TestServer) -> String {
    let (_, experts) = server.get("/api/v1/experts", ADMIN).await;
    let ada = experts.as_array().unwrap().iter().find(|e| e["username"] == "ada").expect("ada is listed");
    ada["id"].as_str().unwrap().to_owned()
}

/// Waits for the end of `specialist`'s consult on chat `id`.
async fn consult_ended(ws: &mut Ws, id: &str, specialist: &str) {
    let ended = ws.event("consult_ended").await;
    assert_eq!(
        (ended["conversation_id"].as_str(), ended["expert_id"].as_str()),
        (Some(id), Some(specialist))
    );
}

/// The chat is to the expert (`ws`, `token`) as one that does not exist.
async fn no_access(server: &TestServer, ws: &mut Ws, token: &str, id: &str) {
    ws.refused(json!({"type": "sync", "conversation_id": id, "after_seq": 0}), "not_found").await;
    let (status, _) = server.get(&format!("/api/v1/conversations/{id}"), token).await;
    assert_eq!(status, 404);
}

/// Ends a consult with `by`'s frame and checks that it leaves Bob with no trace of the chat.
async fn ending_removes_access(by_owner: bool) {
    let (server, mut ada, mut bob, bob_id, t2, mut customer, id) = ada_owns_a_chat().await;
    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id})).await;
    bob.expect("the consult", consult_of(&id)).await;
    let ender = if by_owner { &mut ada } else { &mut bob };
    ender.ack(json!({"type": "end_consult", "conversation_id": id})).await;
    for ws in [&mut ada, &mut bob] {
        consult_ended(ws, &id, &bob_id).await;
    }
    no_access(&server, &mut bob, &t2, &id).await;
    bob.refused(
        json!({"type": "send", "conversation_id": id, "text": "one more idea", "internal": true}),
        "not_found",
    )
    .await;
    bob.refused(json!({"type": "end_consult", "conversation_id": id}), "not_found").await;
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "still there?"})).await;
    ada.expect("the owner still follows the chat", text_is("still there?")).await;
    bob.expect_none("live messages after the consult", QUIET, text_is("still there?")).await;
}

#[tokio::test]
async fn the_owner_ending_the_consult_removes_the_specialists_access() {
    ending_removes_access(true).await;
}

#[tokio::test]
async fn the_specialist_ending_the_consult_removes_their_access() {
    ending_removes_access(false).await;
}

#[tokio::test]
async fn a_consult_ends_when_the_chat_ends() {
    let (server, mut ada, mut bob, bob_id, t2, _customer, id) = ada_owns_a_chat().await;
    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id})).await;
    bob.expect("the consult", consult_of(&id)).await;
    ada.ack(json!({"type": "end", "conversation_id": id})).await;
    let ended = bob.event("consult_ended").await;
    assert_eq!(ended["conversation_id"], id.as_str());
    let (status, _) = server.get(&format!("/api/v1/conversations/{id}"), &t2).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_consult_uses_no_capacity_of_either_expert() {
    let server = TestServer::start(&[]).await;
    let (bob_id, t2) = server.expert("bob", &["general"], Some(1)).await;
    let mut bob = server.expert_ws(&t2).await;
    bob.ack(json!({"type": "presence", "status": "available"})).await;
    // Bob is full with a chat of his own before Ada comes online.
    let (_c1, bobs, _) = server.accepted_chat(&mut bob, "first customer").await;
    let (_, t1) = server.expert("ada", &["general"], Some(2)).await;
    let mut ada = server.expert_ws(&t1).await;
    ada.ack(json!({"type": "presence", "status": "available"})).await;
    let (_c2, adas, _) = server.accepted_chat(&mut ada, "second customer").await;

    // A full specialist can still be invited.
    ada.ack(json!({"type": "invite", "conversation_id": adas, "expert_id": bob_id})).await;
    bob.expect("the consult", consult_of(&adas)).await;

    // Ada had one slot left and still has: the next chat is offered to her, not to full Bob.
    let (_c3, third, _) = server.accepted_chat(&mut ada, "third customer").await;
    bob.expect_none("an offer while full", QUIET, |f| f["type"] == "offer").await;
    // Once Bob's own chat is parked he has a free slot again: the consult holds none of it.
    bob.ack(json!({"type": "set_status", "conversation_id": bobs, "status": "pending"})).await;
    let (_c4, fourth, _) = server.new_chat("fourth customer").await;
    let offer = bob.event("offer").await;
    assert_eq!(offer["conversation"]["id"], fourth.as_str());
    ada.expect_none("an offer past her capacity", QUIET, |f| f["type"] == "offer").await;
    assert_ne!(third, fourth);
}

/// A customer starts a chat in the claim-mode category `reset`; `claimer` claims it.
async fn claimed_reset_chat(server: &TestServer, claimer: &mut Ws) -> (Ws, String) {
    let (mut ws, _) = server.customer_ws(json!({})).await;
    let ack = ws.ack(json!({"type": "start", "text": "I cannot log in", "category": "reset"})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    claimer.expect("claimable", |f| f["type"] == "claimable" && f["conversation"]["id"] == id.as_str()).await;
    claimer.ack(json!({"type": "claim", "conversation_id": id})).await;
    (ws, id)
}

#[tokio::test]
async fn a_claimed_chat_is_consulted_by_certified_experts_only() {
    let server = TestServer::start_with_config(GENERAL_AND_RESET, &[]).await;
    let (_, t1) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let (plain_id, t2) = server.expert("pat", &["general"], None).await;
    let (certified_id, t3) = server.certified_expert("cid", &["general"], &["identity"], None).await;
    let mut ann = server.expert_ws(&t1).await;
    let mut pat = server.expert_ws(&t2).await;
    let mut cid = server.expert_ws(&t3).await;
    let (_customer, id) = claimed_reset_chat(&server, &mut ann).await;

    ann.refused(json!({"type": "invite", "conversation_id": id, "expert_id": plain_id}), "forbidden").await;
    pat.expect_none("a consult without the certification", QUIET, |f| f["type"] == "consult").await;
    pat.refused(json!({"type": "sync", "conversation_id": id, "after_seq": 0}), "not_found").await;

    ann.ack(json!({"type": "invite", "conversation_id": id, "expert_id": certified_id})).await;
    cid.expect("the consult", consult_of(&id)).await;
    cid.ack(json!({"type": "sync", "conversation_id": id, "after_seq": 0})).await;
}

#[tokio::test]
async fn a_reconnecting_specialist_gets_the_consult_back() {
    let (_server, mut ada, bob, bob_id, t2, mut customer, id) = ada_owns_a_chat().await;
    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id, "note": "look at this"}))
        .await;
    let mut bob = bob;
    bob.expect("the consult", consult_of(&id)).await;
    bob.close().await;

    let mut bob = _server.expert_ws(&t2).await;
    let again = bob.expect("the consult again", consult_of(&id)).await;
    assert_eq!(again["from"]["name"], "Expert ada");
    let transcript = again["conversation"]["messages"].as_array().unwrap();
    assert!(
        transcript
            .iter()
            .any(|m| m["internal"] == true && m["text"].as_str().unwrap().contains("look at this")),
        "the invite's note is kept in the transcript: {transcript:?}"
    );
    // And the consult goes on: live messages and notes.
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "hello again"})).await;
    bob.expect("a live message after the reconnect", text_is("hello again")).await;
    bob.ack(json!({"type": "send", "conversation_id": id, "text": "still here", "internal": true})).await;
    ada.expect("the note", text_is("still here")).await;
}

#[tokio::test]
async fn a_reconnecting_owner_sees_who_is_consulting() {
    let (server, mut ada, mut bob, bob_id, _, _customer, id) = ada_owns_a_chat().await;
    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id})).await;
    bob.expect("the consult", consult_of(&id)).await;
    let (_, ada_token) =
        server.post("/api/v1/login", None, json!({"username": "ada", "password": "password-1"})).await;
    let ada_token = ada_token["token"].as_str().unwrap().to_owned();
    let mut again = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    let welcome = again.request(json!({"type": "hello", "token": ada_token})).await;
    let chat = welcome["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("her chat");
    assert_eq!(chat["consultants"], json!([{"id": bob_id, "name": "Expert bob"}]), "{welcome}");
    // Only the owner's welcome lists them: other views (a customer's among them) never do.
    let (_, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert!(c.get("consultants").is_none(), "{c}");
}

/// Ada's welcome on a fresh console: the consultants listed on chat `id`.
async fn consultants_seen_by_ada(server: &TestServer, id: &str) -> Value {
    let (_, login) =
        server.post("/api/v1/login", None, json!({"username": "ada", "password": "password-1"})).await;
    let mut again = Ws::connect(&format!("{}/ws/expert", server.ws_base)).await;
    let welcome = again.request(json!({"type": "hello", "token": login["token"]})).await;
    let chats = welcome["conversations"].as_array().unwrap();
    chats.iter().find(|c| c["id"] == id).expect("her chat")["consultants"].clone()
}

#[tokio::test]
async fn removing_a_specialist_ends_their_consults() {
    let (server, mut ada, mut bob, bob_id, _, mut customer, id) = ada_owns_a_chat().await;
    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id})).await;
    bob.expect("the consult", consult_of(&id)).await;
    assert_eq!(server.delete(&format!("/api/v1/experts/{bob_id}"), ADMIN).await, 204);
    consult_ended(&mut ada, &id, &bob_id).await;
    // The record no longer lists him, and nothing of the chat goes his way.
    assert_eq!(consultants_seen_by_ada(&server, &id).await, json!([]));
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "hello?"})).await;
    ada.expect("the owner still follows the chat", text_is("hello?")).await;
}

#[tokio::test]
async fn a_specialist_who_loses_the_certification_loses_the_consult() {
    let server = TestServer::start_with_config(GENERAL_AND_RESET, &[]).await;
    let (_, t1) = server.certified_expert("ann", &["reset"], &["identity"], None).await;
    let (cid_id, t3) = server.certified_expert("cid", &["general"], &["identity"], None).await;
    let mut ann = server.expert_ws(&t1).await;
    let mut cid = server.expert_ws(&t3).await;
    let (_customer, id) = claimed_reset_chat(&server, &mut ann).await;
    ann.ack(json!({"type": "invite", "conversation_id": id, "expert_id": cid_id})).await;
    cid.expect("the consult", consult_of(&id)).await;

    let patch = |body: Value| {
        let url = server.url(&format!("/api/v1/experts/{cid_id}"));
        async move {
            reqwest::Client::new().patch(url).bearer_auth(ADMIN).json(&body).send().await.unwrap().status()
        }
    };
    // A change that keeps the certification keeps the consult.
    assert_eq!(patch(json!({"name": "Cid"})).await, 200);
    cid.expect_none("the consult's end", QUIET, |f| f["type"] == "consult_ended").await;
    cid.ack(json!({"type": "sync", "conversation_id": id, "after_seq": 0})).await;
    // Without the certification the claimed chat needs, the consult ends for both.
    assert_eq!(patch(json!({"certifications": []})).await, 200);
    for ws in [&mut ann, &mut cid] {
        consult_ended(ws, &id, &cid_id).await;
    }
    no_access(&server, &mut cid, &t3, &id).await;
}

#[tokio::test]
async fn a_specialist_gets_the_consult_back_after_a_restart() {
    let (mut server, mut ada, mut bob, bob_id, t2, _customer, id) = ada_owns_a_chat().await;
    ada.ack(json!({"type": "invite", "conversation_id": id, "expert_id": bob_id})).await;
    bob.expect("the consult", consult_of(&id)).await;
    server.restart().await;
    // The index of consults is rebuilt from the stored chats as they come back.
    let mut bob = server.expert_ws(&t2).await;
    let again = bob.expect("the consult after the restart", consult_of(&id)).await;
    assert_eq!(again["from"]["name"], "Expert ada");
    bob.ack(json!({"type": "sync", "conversation_id": id, "after_seq": 0})).await;
}
