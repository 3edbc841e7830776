//! Bots (PRODUCT.md v1.1, "Bots"; PROTOCOL.md "Bots"): an admin creates one, it answers new
//! chats of its categories before any human, writes as author kind `bot`, and hands off to
//! humans with the whole transcript, never writing in the chat again. The example bot
//! (`examples/bot.rs`) is driven end to end against the real server.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CONFIG: &str = r#"
[[categories]]
id = "general"
name = "General"

[[categories]]
id = "billing"
name = "Billing"

[[categories]]
id = "reset"
name = "Password reset"
mode = "claim"
certification = "identity"
"#;

const HOURS: &str = "Open every weekday from 8:00 to 18:00.";

/// Long enough for an offer to reach a connected console if one were made.
const QUIET: Duration = Duration::from_millis(400);

/// Creates a bot for `categories`; returns (id, token).
async fn bot(s: &TestServer, name: &str, categories: &[&str]) -> (String, String) {
    let (status, created) =
        s.post("/api/v1/bots", Some(ADMIN), json!({"name": name, "categories": categories})).await;
    assert_eq!(status, 201, "creating bot {name}: {created}");
    (created["id"].as_str().unwrap().to_owned(), created["token"].as_str().unwrap().to_owned())
}

/// Waits until the admin's bot list shows the bot connected (or not): the router has it.
async fn until_connected(s: &TestServer, id: &str, connected: bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, bots) = s.get("/api/v1/bots", ADMIN).await;
        let listed = bots.as_array().unwrap().iter().find(|b| b["id"] == id).cloned();
        if listed.as_ref().is_some_and(|b| b["connected"] == connected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bot {id} never became connected={connected}: {bots}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that chat `id` is open and held by `bot_id`, as the admin reads it.
async fn held_by(s: &TestServer, id: &str, bot_id: &str) {
    let (_, c) = s.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert_eq!((c["status"].as_str(), c["expert"]["id"].as_str()), (Some("open"), Some(bot_id)), "{c}");
}

fn by_bot(m: &Value, name: &str) -> bool {
    m["author"]["kind"] == "bot" && m["author"]["name"] == name
}

#[tokio::test]
async fn only_admins_create_list_and_remove_bots_and_their_categories_are_checked() {
    let s = TestServer::start_with_config(CONFIG, &[]).await;
    let (_, expert) = s.expert("ada", &["general"], None).await;
    let body = json!({"name": "Concierge", "categories": ["general"]});
    assert_eq!(s.post("/api/v1/bots", None, body.clone()).await.0, 401);
    assert_eq!(s.post("/api/v1/bots", Some(&expert), body.clone()).await.0, 403);
    for bad in [
        json!({"name": "Concierge", "categories": ["nope"]}),
        json!({"name": "Concierge", "categories": []}),
        json!({"name": "Concierge", "categories": ["reset"]}),
        json!({"name": " ", "categories": ["general"]}),
    ] {
        let (status, refused) = s.post("/api/v1/bots", Some(ADMIN), bad.clone()).await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}: {refused}"
        );
    }
    let (id, token) = bot(&s, "Concierge", &["general"]).await;
    let (status, bots) = s.get("/api/v1/bots", ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(bots[0]["id"], id.as_str());
    assert_eq!(bots[0]["name"], "Concierge");
    assert_eq!(bots[0]["categories"], json!(["general"]));
    assert_eq!(bots[0]["connected"], false);
    assert!(bots[0].get("token").is_none(), "the token is shown once, at creation: {bots}");
    assert_eq!(s.get("/api/v1/bots", &expert).await.0, 403);
    // A bot is no expert: not listed among them, nor a colleague to transfer to.
    let (_, experts) = s.get("/api/v1/experts", ADMIN).await;
    assert!(experts.as_array().unwrap().iter().all(|e| e["id"] != id.as_str()), "{experts}");
    // Its token opens the expert socket; removal revokes it and closes the socket.
    let mut ws = s.expert_ws(&token).await;
    until_connected(&s, &id, true).await;
    assert_eq!(s.delete(&format!("/api/v1/bots/{id}"), &expert).await, 403);
    assert_eq!(s.delete(&format!("/api/v1/bots/{id}"), ADMIN).await, 204);
    ws.closed().await;
    let mut again = Ws::connect(&format!("{}/ws/expert", s.ws_base)).await;
    let refused = again.request(json!({"type": "hello", "token": token})).await;
    assert_eq!(refused["code"], "unauthorized", "{refused}");
    let (_, bots) = s.get("/api/v1/bots", ADMIN).await;
    assert_eq!(bots, json!([]));
    assert_eq!(s.delete(&format!("/api/v1/bots/{id}"), ADMIN).await, 404);
}

#[tokio::test]
async fn a_new_chat_goes_to_the_connected_bot_first_and_without_it_to_humans() {
    let s = TestServer::start_with_config(CONFIG, &[("SWITCHBOARD_BOTS_RECONNECT_GRACE", "100ms")]).await;
    let (bot_id, token) = bot(&s, "Concierge", &["general"]).await;
    let mut bot_ws = s.expert_ws(&token).await;
    until_connected(&s, &bot_id, true).await;
    // A bot alone is nobody a customer can chat with: they are offered to leave a message.
    let (_, welcome) = s.customer_ws(json!({})).await;
    assert_eq!(welcome["available"], false, "{welcome}");
    let (_, human) = s.expert("ada", &["general"], None).await;
    let mut ada = s.expert_ws(&human).await;

    let (mut customer, id, _) = s.new_chat("Hello there").await;
    let chat = bot_ws.event("chat").await;
    assert_eq!(chat["conversation"]["id"], id.as_str());
    assert_eq!(chat["conversation"]["status"], "open");
    assert_eq!(chat["conversation"]["messages"][0]["text"], "Hello there");
    let assigned = customer.event("assigned").await;
    assert_eq!(assigned["expert"], json!({"id": bot_id, "name": "Concierge"}));
    held_by(&s, &id, &bot_id).await;
    ada.expect_none("an offer of the bot's chat", QUIET, |f| f["type"] == "offer").await;

    // The bot writes as a bot, under its name, and the customer reads it so.
    let sent = bot_ws.ack(json!({"type": "send", "conversation_id": id, "text": "How can I help?"})).await;
    assert!(by_bot(&sent["message"], "Concierge"), "{sent}");
    assert_eq!(sent["message"]["author"]["id"], bot_id.as_str());
    let seen = customer
        .expect("the bot's message", |f| f["type"] == "message" && f["message"]["text"] == "How can I help?")
        .await;
    assert!(by_bot(&seen["message"], "Concierge"), "{seen}");
    // A human does not hand off: that is a bot's frame.
    ada.refused(json!({"type": "handoff", "conversation_id": id}), "forbidden").await;
    bot_ws
        .refused(json!({"type": "handoff", "conversation_id": id, "category": "nope"}), "bad_request")
        .await;

    // Without the bot, new chats go to the humans as before; what it held goes to them too.
    bot_ws.close().await;
    until_connected(&s, &bot_id, false).await;
    let offer = ada
        .expect("the bot's chat, handed on", |f| {
            f["type"] == "offer" && f["conversation"]["id"] == id.as_str()
        })
        .await;
    assert!(
        offer["conversation"]["messages"].as_array().unwrap().iter().any(|m| by_bot(m, "Concierge")),
        "{offer}"
    );
    let (_, next, _) = s.new_chat("Anyone?").await;
    ada.expect("a new chat offered to the human", |f| {
        f["type"] == "offer" && f["conversation"]["id"] == next.as_str()
    })
    .await;
}

/// The example bot, started against the server; it prints `bot connected` once welcomed.
struct ExampleBot {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl ExampleBot {
    async fn start(s: &TestServer, token: &str) -> ExampleBot {
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
        // `cargo test` builds the examples next to the binaries of the same profile.
        let exe = bin.parent().expect("target dir").join("examples").join("bot");
        assert!(exe.exists(), "{} is missing: the examples are built by `cargo test`", exe.display());
        let mut child = Command::new(exe)
            .args([s.base.as_str(), token, "--hours", HOURS])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the example bot");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut bot = ExampleBot { child, lines };
        bot.line("bot connected").await;
        bot
    }

    /// Waits for the bot to print a line starting with `prefix`.
    async fn line(&mut self, prefix: &str) -> String {
        let read = async {
            while let Some(line) = self.lines.next_line().await.expect("bot output") {
                if line.starts_with(prefix) {
                    return line;
                }
            }
            panic!("the bot ended before printing {prefix:?}");
        };
        tokio::time::timeout(WAIT, read).await.unwrap_or_else(|_| panic!("the bot never printed {prefix:?}"))
    }
}

#[tokio::test]
async fn the_example_bot_answers_opening_hours_and_hands_the_rest_to_a_human_who_sees_it_all() {
    let s = TestServer::start_with_config(CONFIG, &[]).await;
    let (bot_id, token) = bot(&s, "Concierge", &["general"]).await;
    let (_, human) = s.expert("ada", &["general", "billing"], None).await;
    let mut ada = s.expert_ws(&human).await;
    let mut example = ExampleBot::start(&s, &token).await;
    until_connected(&s, &bot_id, true).await;

    // Opening hours: the bot answers, as a bot; no human is offered the chat.
    let (mut customer, id, _) = s.new_chat("What are your opening hours?").await;
    let answer = customer
        .expect("the bot's answer", |f| f["type"] == "message" && f["message"]["text"] == HOURS)
        .await;
    assert!(by_bot(&answer["message"], "Concierge"), "{answer}");
    ada.expect_none("an offer while the bot answers", QUIET, |f| f["type"] == "offer").await;

    // Anything else: the bot hands off, and Ada is offered the whole chat.
    customer.ack(json!({"type": "send", "conversation_id": id, "text": "My invoice is wrong"})).await;
    example.line("handed off").await;
    let offer = ada
        .expect("the handed-off chat", |f| f["type"] == "offer" && f["conversation"]["id"] == id.as_str())
        .await;
    assert_eq!(offer["conversation"]["category"], "general");
    let accepted = ada.ack(json!({"type": "accept", "conversation_id": id})).await;
    let messages = accepted["conversation"]["messages"].as_array().unwrap().clone();
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"What are your opening hours?"), "{texts:?}");
    assert!(messages.iter().any(|m| by_bot(m, "Concierge") && m["text"] == HOURS), "{texts:?}");
    let note = messages.iter().find(|m| m["internal"] == true).expect("the handoff note");
    assert!(by_bot(note, "Concierge"), "{note}");
    assert!(note["text"].as_str().unwrap().contains("My invoice is wrong"), "{note}");
    // The same from the REST view and a sync, for the expert who now holds it.
    let (_, c) = s.get(&format!("/api/v1/conversations/{id}"), &human).await;
    assert_eq!(c["messages"], json!(messages), "the REST view shows the same transcript");
    ada.ack(json!({"type": "sync", "conversation_id": id, "after_seq": 0})).await;
    // The customer never sees the note.
    let note_text = |f: &Value| f["type"] == "message" && f["message"]["internal"] == true;
    customer.expect_none("the handoff note at the customer's", QUIET, note_text).await;

    // The bot never writes in a chat a human holds, nor hands it off again.
    let mut bot_ws = s.expert_ws(&token).await;
    bot_ws.refused(json!({"type": "send", "conversation_id": id, "text": "Still here!"}), "forbidden").await;
    bot_ws.refused(json!({"type": "handoff", "conversation_id": id}), "forbidden").await;
    bot_ws.close().await;

    // With the example bot stopped, a new chat goes to the human as before.
    example.child.kill().await.expect("stop the bot");
    until_connected(&s, &bot_id, false).await;
    let (_, next, _) = s.new_chat("What are your opening hours?").await;
    ada.expect("a new chat for the human", |f| {
        f["type"] == "offer" && f["conversation"]["id"] == next.as_str()
    })
    .await;
}

#[tokio::test]
async fn a_handoff_may_name_another_category_and_its_experts_get_the_chat() {
    let s = TestServer::start_with_config(CONFIG, &[]).await;
    let (bot_id, token) = bot(&s, "Concierge", &["general"]).await;
    let (_, human) = s.expert("bea", &["billing"], None).await;
    let mut bea = s.expert_ws(&human).await;
    let mut bot_ws = s.expert_ws(&token).await;
    until_connected(&s, &bot_id, true).await;
    let (_, id, _) = s.new_chat("About my invoice").await;
    bot_ws.event("chat").await;
    let frame =
        json!({"type": "handoff", "conversation_id": id, "category": "billing", "note": "Billing question"});
    bot_ws.ack(frame).await;
    let offer = bea
        .expect("the billing chat", |f| f["type"] == "offer" && f["conversation"]["id"] == id.as_str())
        .await;
    assert_eq!(offer["conversation"]["category"], "billing");
    let messages = offer["conversation"]["messages"].as_array().unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m["internal"] == true && m["text"].as_str().unwrap().contains("Billing question")),
        "{offer}"
    );
    bot_ws.refused(json!({"type": "send", "conversation_id": id, "text": "hello?"}), "forbidden").await;
}

/// A bot holding a chat, a human serving its category, and the customer: (server, bot id,
/// token, bot socket, human socket, customer, chat id).
async fn bot_holds_a_chat(grace: &str) -> (TestServer, String, String, Ws, Ws, Ws, String) {
    let s = TestServer::start_with_config(CONFIG, &[("SWITCHBOARD_BOTS_RECONNECT_GRACE", grace)]).await;
    let (bot_id, token) = bot(&s, "Concierge", &["general"]).await;
    let (_, human) = s.expert("ada", &["general"], None).await;
    let ada = s.expert_ws(&human).await;
    let mut bot_ws = s.expert_ws(&token).await;
    until_connected(&s, &bot_id, true).await;
    let (customer, id, _) = s.new_chat("Hello there").await;
    bot_ws.expect("the chat", |f| f["type"] == "chat" && f["conversation"]["id"] == id.as_str()).await;
    (s, bot_id, token, bot_ws, ada, customer, id)
}

#[tokio::test]
async fn a_bot_that_reconnects_within_its_grace_keeps_its_chats() {
    let (s, bot_id, token, bot_ws, mut ada, mut customer, id) = bot_holds_a_chat("3s").await;
    // A restart for a deploy: the connection drops and comes back.
    bot_ws.close().await;
    until_connected(&s, &bot_id, false).await;
    ada.expect_none("the bot's chat, during its grace", QUIET, |f| f["type"] == "offer").await;
    let mut bot_ws = s.expert_ws(&token).await;
    until_connected(&s, &bot_id, true).await;
    // Its chat is still its own: it answers, and the customer reads it.
    bot_ws.ack(json!({"type": "send", "conversation_id": id, "text": "Back again!"})).await;
    customer
        .expect("the bot's answer", |f| f["type"] == "message" && f["message"]["text"] == "Back again!")
        .await;
    held_by(&s, &id, &bot_id).await;
    ada.expect_none("the bot's chat, after it came back", QUIET, |f| f["type"] == "offer").await;
}

#[tokio::test]
async fn a_bot_that_stays_away_past_its_grace_hands_its_chats_to_humans() {
    let grace = Duration::from_millis(700);
    let (s, bot_id, token, bot_ws, mut ada, _customer, id) = bot_holds_a_chat("700ms").await;
    let gone = tokio::time::Instant::now();
    bot_ws.close().await;
    until_connected(&s, &bot_id, false).await;
    let offer = ada
        .expect("the bot's chat, after its grace", |f| {
            f["type"] == "offer" && f["conversation"]["id"] == id.as_str()
        })
        .await;
    assert!(gone.elapsed() >= grace, "offered {:?} after the bot left, within its grace", gone.elapsed());
    assert!(offer["conversation"]["messages"].as_array().unwrap().iter().any(|m| m["text"] == "Hello there"));
    // Too late now: the bot that comes back does not write in it.
    let mut bot_ws = s.expert_ws(&token).await;
    bot_ws.refused(json!({"type": "send", "conversation_id": id, "text": "Back again!"}), "forbidden").await;
}

#[tokio::test]
async fn reports_by_expert_mark_a_bots_row_as_a_bot() {
    let (s, bot_id, _token, _bot_ws, mut ada, _customer, _id) = bot_holds_a_chat("0s").await;
    // A chat a person answers, from the bot's hands.
    let (_, handed) = {
        let (c, id, _) = s.new_chat("Second question").await;
        (c, id)
    };
    let mut bot_ws = _bot_ws;
    bot_ws
        .expect("the second chat", |f| f["type"] == "chat" && f["conversation"]["id"] == handed.as_str())
        .await;
    bot_ws.ack(json!({"type": "handoff", "conversation_id": handed})).await;
    ada.expect("the handed-off chat", |f| f["type"] == "offer" && f["conversation"]["id"] == handed.as_str())
        .await;
    ada.ack(json!({"type": "accept", "conversation_id": handed})).await;

    let (status, report) = s.get("/api/v1/stats?group_by=expert", ADMIN).await;
    assert_eq!(status, 200, "{report}");
    let groups = report["groups"].as_array().unwrap();
    let row =
        |key: &str| groups.iter().find(|g| g["key"] == key).unwrap_or_else(|| panic!("no {key}: {report}"));
    let bot_row = row(&bot_id);
    assert_eq!(
        (bot_row["label"].as_str(), bot_row["bot"].as_bool()),
        (Some("Concierge"), Some(true)),
        "{report}"
    );
    let person = groups.iter().find(|g| g["label"] == "Expert ada").expect("Ada's row");
    assert_eq!(person["bot"], false, "{report}");
    // Other groupings name no experts, and carry no such mark.
    let (_, by_category) = s.get("/api/v1/stats?group_by=category", ADMIN).await;
    assert!(
        by_category["groups"].as_array().unwrap().iter().all(|g| g.get("bot").is_none()),
        "{by_category}"
    );
}

#[tokio::test]
async fn a_bot_is_never_invited_as_a_specialist_nor_handed_a_chat_by_transfer() {
    let s = TestServer::start_with_config(CONFIG, &[]).await;
    let (bot_id, token) = bot(&s, "Concierge", &["billing"]).await;
    let _bot_ws = s.expert_ws(&token).await;
    until_connected(&s, &bot_id, true).await;
    let (ada_id, human) = s.expert("ada", &["general"], None).await;
    let mut ada = s.expert_ws(&human).await;
    let (_, id, _) = s.new_chat("Hello").await;
    ada.event("offer").await;
    ada.ack(json!({"type": "accept", "conversation_id": id})).await;
    // A bot writes to customers only: it cannot advise in notes, nor take a human's chat.
    let invite = json!({"type": "invite", "conversation_id": id, "expert_id": bot_id});
    ada.refused(invite, "forbidden").await;
    let transfer = json!({"type": "transfer", "conversation_id": id, "to_expert": bot_id});
    ada.refused(transfer, "forbidden").await;
    let (_, c) = s.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert!(c["consultants"].as_array().is_none_or(|a| a.is_empty()), "no specialist: {c}");
    assert_eq!(c["expert"]["id"], ada_id.as_str(), "{c}");
}
