//! Offer routing: lapses, declines, capacity, queue positions.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn offer_for(id: &str) -> impl Fn(&serde_json::Value) -> bool + '_ {
    move |f| f["type"] == "offer" && f["conversation"]["id"] == id
}

#[tokio::test]
async fn a_lapsed_offer_moves_to_the_second_expert_and_a_late_accept_conflicts() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "400ms")]).await;
    let (_, t1) = server.expert("first", &["general"], None).await;
    let (_, t2) = server.expert("second", &["general"], None).await;
    let mut experts = [server.expert_ws(&t1).await, server.expert_ws(&t2).await];
    let (_customer, id, _) = server.new_chat("anyone there?").await;

    // Whoever is offered first lets it lapse; the offer moves to the other expert.
    let first = {
        let [a, b] = &mut experts;
        tokio::select! {
            _ = a.expect("offer", offer_for(&id)) => 0,
            _ = b.expect("offer", offer_for(&id)) => 1,
        }
    };
    let other = 1 - first;
    let withdrawn = experts[first].event("offer_withdrawn").await;
    assert_eq!(withdrawn["conversation_id"], id.as_str());
    assert_eq!(withdrawn["reason"], "expired");
    experts[other].expect("the second offer", offer_for(&id)).await;
    experts[first].refused(json!({"type": "accept", "conversation_id": id}), "conflict").await;
    experts[other].ack(json!({"type": "accept", "conversation_id": id})).await;
}

#[tokio::test]
async fn a_decline_moves_the_offer_on_at_once() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (_, t1) = server.expert("first", &["general"], None).await;
    let mut a = server.expert_ws(&t1).await;
    let (_customer, id, _) = server.new_chat("hello").await;
    a.expect("offer", offer_for(&id)).await;
    // A second expert arrives while the first holds the offer, then the first declines.
    let (_, t2) = server.expert("second", &["general"], None).await;
    let mut b = server.expert_ws(&t2).await;
    a.ack(json!({"type": "decline", "conversation_id": id})).await;
    // Well inside the 30 s accept window: the decline, not a lapse, moved it.
    b.expect_within("the offer after a decline", Duration::from_secs(5), offer_for(&id)).await;
    a.refused(json!({"type": "accept", "conversation_id": id}), "conflict").await;
}

#[tokio::test]
async fn a_full_expert_gets_no_offer_and_the_queue_moves_when_a_slot_frees() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (_, token) = server.expert("solo", &["general"], Some(1)).await;
    let mut expert = server.expert_ws(&token).await;

    let (_c1, first, _) = server.new_chat("first").await;
    expert.expect("offer", offer_for(&first)).await;
    expert.ack(json!({"type": "accept", "conversation_id": first})).await;

    let (mut c2, second, _) = server.new_chat("second").await;
    let (mut c3, third, _) = server.new_chat("third").await;
    assert_eq!(c2.event("queue").await["position"], 1);
    assert_eq!(c3.event("queue").await["position"], 2);
    expert
        .expect_none("an offer beyond capacity", Duration::from_millis(300), |f| f["type"] == "offer")
        .await;

    // Ending the first chat frees the slot: the second is offered, the third moves up.
    expert.ack(json!({"type": "end", "conversation_id": first})).await;
    expert.expect("offer of the second chat", offer_for(&second)).await;
    expert.ack(json!({"type": "accept", "conversation_id": second})).await;
    let moved = c3.expect("position 1", |f| f["type"] == "queue" && f["position"] == 1).await;
    assert_eq!(moved["conversation_id"], third.as_str());
    assert_eq!(c2.event("assigned").await["conversation_id"], second.as_str());
}

#[tokio::test]
async fn a_chat_waits_for_an_expert_of_its_category() {
    let server = TestServer::start(&[]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut expert = server.expert_ws(&token).await;
    // Away experts get nothing; coming back makes the waiting chat's offer arrive.
    expert.ack(json!({"type": "presence", "status": "away"})).await;
    let (_c, id, _) = server.new_chat("waiting").await;
    expert.expect_none("an offer while away", Duration::from_millis(300), |f| f["type"] == "offer").await;
    expert.ack(json!({"type": "presence", "status": "available"})).await;
    expert.expect("offer after coming back", offer_for(&id)).await;
}

#[tokio::test]
async fn removing_an_expert_re_routes_their_chats_and_withdraws_their_offers() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (ada_id, ada_token) = server.expert("ada", &["general"], Some(1)).await;
    let mut ada = server.expert_ws(&ada_token).await;
    let (mut customer, open, _) = server.accepted_chat(&mut ada, "help with my order").await;
    let (_, bob_token) = server.expert("bob", &["general"], Some(1)).await;

    assert_eq!(server.delete(&format!("/api/v1/experts/{ada_id}"), ADMIN).await, 204);
    let back =
        customer.expect("back in the queue", |f| f["type"] == "status" && f["status"] == "queued").await;
    assert_eq!(back["reason"], "expert_removed");
    let mut bob = server.expert_ws(&bob_token).await;
    let offer = bob.expect("the chat offered to bob", offer_for(&open)).await;
    assert_eq!(offer["conversation"]["messages"][0]["text"], "help with my order");
    bob.ack(json!({"type": "accept", "conversation_id": open})).await;
    let (_, c) = server.get(&format!("/api/v1/conversations/{open}"), ADMIN).await;
    assert_eq!(c["expert"]["name"], "Expert bob");
}

#[tokio::test]
async fn a_removed_experts_offer_goes_to_the_next_expert() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]).await;
    let (ada_id, ada_token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&ada_token).await;
    let (_customer, id, _) = server.new_chat("anyone?").await;
    ada.expect("the offer", offer_for(&id)).await;
    let (_, bob_token) = server.expert("bob", &["general"], None).await;
    let mut bob = server.expert_ws(&bob_token).await;
    assert_eq!(server.delete(&format!("/api/v1/experts/{ada_id}"), ADMIN).await, 204);
    bob.expect("the offer moves on", offer_for(&id)).await;
}
