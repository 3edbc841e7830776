//! Crash safety: many customers and experts chatting while the server is `kill -9`ed at
//! random moments and restarted, several times. Afterwards every acknowledged message
//! exists exactly once, seqs are gapless and never reused, and no chat has two owners.
//! On the JetStream back end (`SWITCHBOARD_TEST_STORE=jetstream`) each round also kills one
//! of the three NATS servers (a different one each round) just before the server, and
//! starts it again once the round is over.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rand::Rng;
use serde_json::json;

const CUSTOMERS: usize = 8;
const EXPERTS: usize = 2;
const ROUNDS: usize = 6;

/// (conversation, seq) → text of every acknowledged message.
type Acked = Arc<Mutex<HashMap<(String, u64), String>>>;

fn record(acked: &Acked, ack: &serde_json::Value) {
    let m = &ack["message"];
    let key = (m["conversation_id"].as_str().unwrap().to_owned(), m["seq"].as_u64().unwrap());
    let text = m["text"].as_str().unwrap().to_owned();
    if let Some(earlier) = acked.lock().unwrap().insert(key.clone(), text.clone()) {
        assert_eq!(earlier, text, "seq {key:?} was acknowledged for two different messages");
    }
}

/// A customer: hello with their visitor token, (re)start their chat idempotently, then send
/// until the server dies.
async fn customer(
    base: String,
    n: usize,
    visitor: Option<String>,
    round: usize,
    acked: Acked,
) -> Option<String> {
    let Ok(mut ws) = Ws::try_connect(&format!("{base}/ws/customer"), &[], None).await else {
        return visitor;
    };
    if !ws.offer(json!({"type": "hello", "visitor_token": visitor, "ref": "hello"})).await {
        return visitor;
    }
    let Some(welcome) = next_answer(&mut ws, "hello").await else { return visitor };
    let visitor = welcome["visitor_token"].as_str().map(str::to_owned);
    let start = json!({"type": "start", "text": format!("customer {n} here"), "client_msg_id": format!("start-{n}"), "ref": "start"});
    if !ws.offer(start).await {
        return visitor;
    }
    let Some(started) = next_answer(&mut ws, "start").await else { return visitor };
    let id = started["conversation_id"].as_str().unwrap().to_owned();
    send_until_gone(&mut ws, &id, &format!("c{n}-{round}"), |ack| record(&acked, ack)).await;
    visitor
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_across_repeated_kill_9() {
    let mut server = TestServer::start(&[("SWITCHBOARD_ROUTING_MAX_CONCURRENT", "10")]).await;
    let mut tokens = Vec::new();
    for e in 0..EXPERTS {
        tokens.push(server.expert(&format!("expert{e}"), &["general"], Some(10)).await.1);
    }
    let acked: Acked = Arc::default();
    let mut visitors: Vec<Option<String>> = vec![None; CUSTOMERS];
    for round in 0..ROUNDS {
        let mut experts = Vec::new();
        for token in &tokens {
            experts.push(tokio::spawn(expert(server.ws_base.clone(), token.clone(), acked.clone())));
        }
        let mut customers = Vec::new();
        for (n, visitor) in visitors.iter().enumerate() {
            customers.push(tokio::spawn(customer(
                server.ws_base.clone(),
                n,
                visitor.clone(),
                round,
                acked.clone(),
            )));
        }
        // The crash comes at a random moment of the traffic.
        let pause = rand::thread_rng().gen_range(300..1200);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let nats_down = backend::jetstream().then_some(round % 3);
        if let Some(i) = nats_down {
            backend::kill9_nats(i).await;
            let pause = rand::thread_rng().gen_range(0..500);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        server.crash_and_restart().await;
        for (n, task) in customers.into_iter().enumerate() {
            let visitor =
                tokio::time::timeout(WAIT, task).await.expect("a customer hung").expect("customer task");
            visitors[n] = visitor.or(visitors[n].take());
        }
        for task in experts {
            tokio::time::timeout(WAIT, task).await.expect("an expert hung").expect("expert task");
        }
        if let Some(i) = nats_down {
            backend::restart_nats(i).await;
        }
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the test produced real traffic: {} acknowledged", acked.len());
    for c in assert_acknowledged_kept(&server, &acked).await {
        // One owner at most, and one of ours.
        if let Some(name) = c["expert"]["name"].as_str() {
            assert!(name.starts_with("Expert expert"), "{name}");
        }
    }
}

/// An expert who accepts every offer and answers every customer message.
async fn expert(base: String, token: String, acked: Acked) {
    answering_expert(format!("{base}/ws/expert"), token, |f| record(&acked, f)).await;
}
