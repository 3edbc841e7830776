//! Several nodes serving one deployment (docs/CLUSTER.md): 3 NATS servers and 3 Switchboard
//! nodes on loopback. One node, the core, holds the deployment's lease and runs the router
//! and every live conversation; the others are edges that forward their clients to it and
//! take over when its lease lapses.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::nats::Nats;
use common::*;
use serde_json::{json, Value};

/// The bound this deployment promises for a dead core: its lease lapses 5 s after its last
/// renewal, an edge notices within 0.5 s and restores the live chats.
const FAILOVER: Duration = Duration::from_secs(10);

fn prefix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("c{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One deployment's nodes, all on the same NATS cluster and prefix.
struct Deployment {
    urls: String,
    prefix: String,
    extra: Vec<(String, String)>,
    config: String,
}

impl Deployment {
    fn new(nats: &Nats, extra: &[(&str, &str)]) -> Deployment {
        Deployment {
            urls: nats.urls_env(),
            prefix: prefix(),
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            config: String::new(),
        }
    }

    async fn node(&self, name: &str) -> TestServer {
        let mut env: Vec<(&str, &str)> = vec![
            ("SWITCHBOARD_CLUSTER_NATS_URLS", &self.urls),
            ("SWITCHBOARD_CLUSTER_PREFIX", &self.prefix),
            ("SWITCHBOARD_CLUSTER_NODE_NAME", name),
        ];
        env.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        TestServer::start_with_config(&self.config, &env).await
    }

    /// The core first, then two edges.
    async fn three(&self) -> [TestServer; 3] {
        let core = self.node("core").await;
        [core, self.node("edge-1").await, self.node("edge-2").await]
    }
}

async fn health(node: &TestServer) -> Value {
    node.get("/healthz", ADMIN).await.1
}

fn offer_for(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "offer" && f["conversation"]["id"] == id
}

fn status_of<'a>(id: &'a str, status: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |f| f["type"] == "status" && f["conversation_id"] == id && f["status"] == status
}

/// Opens `path` on `node` and says `hello`, retrying while the deployment has no core (the
/// edges answer 503 then) until `until`; the welcome comes back with the socket.
async fn hello_until(node: &TestServer, path: &str, hello: Value, until: Instant) -> (Ws, Value) {
    loop {
        assert!(Instant::now() < until, "no welcome on {path} before the bound");
        if let Some(mut ws) = Ws::try_open(&format!("{}{path}", node.ws_base)).await {
            let mut frame = hello.clone();
            frame["type"] = json!("hello");
            ws.send(frame).await;
            if let Some(welcome) = ws.closed_or_frame().await {
                if welcome["type"] == "welcome" {
                    return (ws, welcome);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_runs_across_nodes_and_offers_follow_load_and_capacity_across_them() {
    let nats = Nats::start(3).await;
    let deployment = Deployment::new(&nats, &[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]);
    let [core, edge1, edge2] = deployment.three().await;
    assert_eq!(health(&core).await["role"], "core");
    for edge in [&edge1, &edge2] {
        let h = health(edge).await;
        assert_eq!((h["role"].as_str(), h["core"].as_str()), (Some("edge"), Some("core")), "{h}");
    }

    // Accounts made through an edge are the core's: the API is forwarded whole.
    let (_, ada) = edge2.expert("ada", &["general"], Some(2)).await;
    let (_, bob) = edge1.expert("bob", &["general"], Some(1)).await;
    let mut ada_ws = edge2.expert_ws(&ada).await;

    // A customer on edge 1 and an expert on edge 2 hold a whole chat.
    let (mut first, id1, visitor) = edge1.new_chat("my order is late").await;
    ada_ws.expect("the offer", offer_for(&id1)).await;
    ada_ws.ack(json!({"type": "accept", "conversation_id": id1})).await;
    first.event("assigned").await;
    ada_ws.ack(json!({"type": "send", "conversation_id": id1, "text": "Let me look."})).await;
    first
        .expect("the expert's answer", |f| f["type"] == "message" && f["message"]["text"] == "Let me look.")
        .await;
    first.ack(json!({"type": "send", "conversation_id": id1, "text": "Thanks"})).await;
    ada_ws
        .expect("the customer's reply", |f| f["type"] == "message" && f["message"]["text"] == "Thanks")
        .await;
    first.send(json!({"type": "typing", "conversation_id": id1, "on": true})).await;
    ada_ws.expect("typing", |f| f["type"] == "typing" && f["conversation_id"] == id1.as_str()).await;
    let (status, read) = core.get(&format!("/api/v1/conversations/{id1}"), &visitor).await;
    assert_eq!(status, 200, "{read}");

    // A second expert, on the core, gets the next offer: fewest active chats first.
    let mut bob_ws = core.expert_ws(&bob).await;
    let (_second, id2, _) = edge2.new_chat("second").await;
    bob_ws.expect("the next offer goes to the expert with fewer chats", offer_for(&id2)).await;
    bob_ws.ack(json!({"type": "accept", "conversation_id": id2})).await;

    // Bob is full (1 of 1): the third goes to ada (1 of 2), the fourth waits for a slot.
    let (_third, id3, _) = edge1.new_chat("third").await;
    ada_ws.expect("the third offer", offer_for(&id3)).await;
    ada_ws.ack(json!({"type": "accept", "conversation_id": id3})).await;
    let (mut fourth, id4, _) = edge2.new_chat("fourth").await;
    assert_eq!(fourth.event("queue").await["position"], 1);
    for console in [&mut ada_ws, &mut bob_ws] {
        console
            .expect_none("an offer past capacity", Duration::from_millis(300), |f| f["type"] == "offer")
            .await;
    }
    bob_ws.ack(json!({"type": "end", "conversation_id": id2})).await;
    bob_ws.expect("the freed slot takes the queued chat", offer_for(&id4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_core_moves_the_deployment_to_an_edge_and_loses_nothing() {
    let nats = Nats::start(3).await;
    let deployment = Deployment::new(
        &nats,
        &[
            ("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "1500ms"),
            ("SWITCHBOARD_CONVERSATION_RETURNING_CLOSE_AFTER", "1500ms"),
        ],
    );
    let [mut core, edge1, edge2] = deployment.three().await;
    let (_, ada) = edge1.expert("ada", &["general"], Some(5)).await;
    let mut expert = edge1.expert_ws(&ada).await;

    // A chat in full swing, from a customer on edge 2.
    let (mut customer, id, visitor) = edge2.new_chat("hello").await;
    expert.expect("offer", offer_for(&id)).await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    let mut acknowledged = vec![1];
    for i in 0..5 {
        let ack = customer.ack(json!({"type": "send", "conversation_id": id, "text": format!("c{i}")})).await;
        acknowledged.push(ack["message"]["seq"].as_u64().expect("seq"));
        let ack = expert.ack(json!({"type": "send", "conversation_id": id, "text": format!("e{i}")})).await;
        acknowledged.push(ack["message"]["seq"].as_u64().expect("seq"));
    }
    // A chat solved just before the kill: its solved -> closed deadline must still fire.
    let (_solved_customer, solved, solved_visitor) = edge2.new_chat("solved soon").await;
    expert.expect("offer", offer_for(&solved)).await;
    expert.ack(json!({"type": "accept", "conversation_id": solved})).await;
    expert.ack(json!({"type": "end", "conversation_id": solved})).await;
    let close_due = SystemTime::now() + Duration::from_millis(1500);
    // A chat offered when the core dies: its accept window must still lapse.
    let (_waiting, offered, _) = edge2.new_chat("anyone?").await;
    expert.expect("offer", offer_for(&offered)).await;

    core.kill9().await;
    let killed = Instant::now();
    // Both clients were forwarded to the dead core: their connections end.
    customer.closed().await;
    expert.closed().await;

    let until = killed + FAILOVER;
    let (mut customer, _) =
        hello_until(&edge2, "/ws/customer", json!({"visitor_token": visitor}), until).await;
    let (mut expert, welcome) = hello_until(&edge1, "/ws/expert", json!({"token": ada}), until).await;
    let took = killed.elapsed();
    assert!(took < FAILOVER, "clients were back after {took:?}");
    eprintln!("failover: a customer and an expert were back {took:?} after the core was killed");
    let roles = [health(&edge1).await, health(&edge2).await];
    let cores: Vec<_> = roles.iter().filter(|h| h["role"] == "core").collect();
    assert_eq!(cores.len(), 1, "one edge took over: {roles:?}");
    let new_core = cores[0]["node"].as_str().unwrap();
    assert!(roles.iter().all(|h| h["core"] == new_core), "both name the new core: {roles:?}");
    assert!(welcome["conversations"].to_string().contains(&id), "the expert still holds the chat: {welcome}");

    // Every acknowledged message is there once, seqs gapless.
    customer.send(json!({"type": "sync", "conversation_id": id, "after_seq": 0, "ref": "s"})).await;
    let mut seqs = Vec::new();
    loop {
        let f = customer.expect("the replay", |f| f["type"] == "message" || f["type"] == "ack").await;
        if f["type"] == "ack" {
            break;
        }
        seqs.push(f["message"]["seq"].as_u64().unwrap());
    }
    let expected: Vec<u64> = (1..=*seqs.last().unwrap()).collect();
    assert_eq!(seqs, expected, "gapless, each once");
    assert!(acknowledged.iter().all(|s| seqs.contains(s)), "acknowledged {acknowledged:?}, kept {seqs:?}");

    // The chat goes on through the new core.
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "still there?"})).await;
    expert.expect("the message after the failover", |f| f["message"]["text"] == "still there?").await;

    // Deadlines stored before the kill fired on the new core.
    let withdrawn = expert
        .expect("the lapsed offer", |f| {
            f["type"] == "offer_withdrawn" && f["conversation_id"] == offered.as_str()
        })
        .await;
    assert_eq!(withdrawn["reason"], "expired");
    let (mut solved_widget, _) =
        hello_until(&edge2, "/ws/customer", json!({"visitor_token": solved_visitor}), Instant::now() + WAIT)
            .await;
    let (status, c) = edge2.get(&format!("/api/v1/conversations/{solved}"), &solved_visitor).await;
    if c["status"] != "closed" {
        solved_widget.expect("closed after solved", status_of(&solved, "closed")).await;
    }
    assert_eq!(status, 200);
    assert!(SystemTime::now() >= close_due, "the close came no earlier than its deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_chats_keep_their_order_when_the_core_is_killed() {
    let nats = Nats::start(3).await;
    let deployment = Deployment::new(&nats, &[("SWITCHBOARD_ROUTING_ACCEPT_WINDOW", "30s")]);
    let [mut core, edge1, edge2] = deployment.three().await;
    let (_, ada) = edge1.expert("ada", &["general"], Some(1)).await;
    let mut expert = edge1.expert_ws(&ada).await;
    let (_busy, busy, _) = edge2.new_chat("the chat that fills her").await;
    expert.expect("offer", offer_for(&busy)).await;
    expert.ack(json!({"type": "accept", "conversation_id": busy})).await;
    let mut queued = Vec::new();
    for (i, node) in [&edge1, &edge2, &edge1].into_iter().enumerate() {
        let (mut ws, id, visitor) = node.new_chat(&format!("waiting {i}")).await;
        assert_eq!(ws.event("queue").await["position"], i + 1);
        queued.push((id, visitor));
    }

    core.kill9().await;
    let until = Instant::now() + FAILOVER;
    let (mut expert, _) = hello_until(&edge1, "/ws/expert", json!({"token": ada}), until).await;
    // The new core's router has them in line as before (asked through the node that just
    // answered: the other one may take another half second to learn where the core is).
    let (status, line) = edge1.get("/api/v1/queue", ADMIN).await;
    assert_eq!(status, 200, "{line}");
    let order: Vec<(&str, u64)> = line
        .as_array()
        .expect("the queue")
        .iter()
        .map(|q| (q["conversation_id"].as_str().unwrap(), q["position"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(&str, u64)> = queued.iter().zip(1..).map(|((id, _), p)| (id.as_str(), p)).collect();
    assert_eq!(order, expected, "the queue after the failover");
    // And they are offered in that order as the slot frees.
    expert.ack(json!({"type": "end", "conversation_id": busy})).await;
    for (id, _) in &queued {
        expert.expect("the next in line", offer_for(id)).await;
        expert.ack(json!({"type": "accept", "conversation_id": id})).await;
        expert.ack(json!({"type": "end", "conversation_id": id})).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_nodes_racing_for_a_deployment_one_serves_and_the_other_forwards() {
    let nats = Nats::start(3).await;
    let deployment = Deployment::new(&nats, &[]);
    let (a, b) = tokio::join!(deployment.node("a"), deployment.node("b"));
    let (ha, hb) = (health(&a).await, health(&b).await);
    let roles = [ha["role"].as_str().unwrap(), hb["role"].as_str().unwrap()];
    assert!(roles.contains(&"core") && roles.contains(&"edge"), "{ha} {hb}");
    assert_eq!(ha["core"], hb["core"], "both name the same core");
    let (mut core, edge) = if roles[0] == "core" { (a, b) } else { (b, a) };

    // Writes through either node land in the one store the core writes.
    let (_, token) = edge.expert("ada", &["general"], None).await;
    let mut expert = core.expert_ws(&token).await;
    let (mut customer, id, _) = edge.new_chat("hi").await;
    expert.expect("offer", offer_for(&id)).await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    customer.event("assigned").await;

    // A clean stop gives the lease up: the edge takes over at once, not after a lapse. (As
    // it does, it drops the connections it held as an edge: a health check on one of them
    // fails, as it would a load balancer's, and the next one is answered.)
    assert!(core.terminate().await);
    let stopped = Instant::now();
    loop {
        if edge.try_get("/healthz", ADMIN).await.is_ok_and(|(_, h)| h["role"] == "core") {
            break;
        }
        assert!(stopped.elapsed() < Duration::from_secs(3), "the edge did not take the released lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_pushes_from_consoles_on_different_nodes_never_pass_capacity() {
    let nats = Nats::start(3).await;
    let mut deployment = Deployment::new(&nats, &[]);
    deployment.config = GENERAL_AND_RESET.into();
    let [core, edge1, edge2] = deployment.three().await;
    let (_, ada) = edge1.certified_expert("ada", &["reset", "general"], &["identity"], Some(2)).await;
    let mut consoles = [edge1.expert_ws(&ada).await, edge2.expert_ws(&ada).await, core.expert_ws(&ada).await];
    let mut claimable = Vec::new();
    for _ in 0..4 {
        let (mut ws, _) = edge2.customer_ws(json!({})).await;
        let ack = ws.ack(json!({"type": "start", "text": "reset my password", "category": "reset"})).await;
        claimable.push(ack["conversation_id"].as_str().unwrap().to_owned());
    }
    let mut online = Vec::new();
    for node in [&edge1, &core] {
        let (ws, welcome) = node.customer_ws(json!({})).await;
        online.push((ws, welcome["customer_id"].clone()));
    }
    // Every console claims every chat and pushes a chat to every online customer, at once.
    let mut asked = Vec::new();
    for (n, console) in consoles.iter_mut().enumerate() {
        for id in &claimable {
            let reference = format!("claim-{n}-{id}");
            console.send(json!({"type": "claim", "conversation_id": id, "ref": reference})).await;
            asked.push((n, reference));
        }
        for (i, (_, customer)) in online.iter().enumerate() {
            let reference = format!("push-{n}-{i}");
            console
                .send(
                    json!({"type": "push_chat", "customer_id": customer, "text": "Hello!", "ref": reference}),
                )
                .await;
            asked.push((n, reference));
        }
    }
    let mut taken = 0;
    for (n, reference) in &asked {
        let answer = consoles[*n]
            .expect("an answer", |f| {
                (f["type"] == "ack" || f["type"] == "error") && f["ref"] == reference.as_str()
            })
            .await;
        if answer["type"] == "ack" {
            taken += 1;
        } else {
            assert!(
                ["capacity_full", "conflict", "not_allowed"].contains(&answer["code"].as_str().unwrap_or("")),
                "{answer}"
            );
        }
    }
    assert_eq!(taken, 2, "one expert's capacity of 2, taken from three nodes at once");
}
