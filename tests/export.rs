//! `switchboard export` and `switchboard import`: a store moved through JSON lines comes back
//! whole: every conversation reads the same, experts log in with their passwords, customers
//! keep their visitor tokens, and exporting the copy gives the same bytes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

/// Runs `switchboard <args>` on the data dir `data`, from an empty working directory so that
/// no config.toml is picked up.
fn switchboard(data: &Path, args: &[&str]) -> Output {
    switchboard_on(data, &[], args)
}

/// `switchboard <args>` as above, with `env` added (e.g. a cluster's `SWITCHBOARD_CLUSTER_*`).
fn switchboard_on(data: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(cwd.path())
        .env("SWITCHBOARD_SERVER_DATA_DIR", data)
        .envs(env.iter().copied())
        .output()
        .expect("run switchboard")
}

/// Exports the store `env` names into `file`; its text.
fn export(data: &Path, env: &[(&str, &str)], file: &Path) -> String {
    let out = switchboard_on(data, env, &["export", "--output", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read_to_string(file).unwrap()
}

/// Imports `file` into the (empty) store `env` names.
fn import(data: &Path, env: &[(&str, &str)], file: &Path) {
    let out = switchboard_on(data, env, &["import", "--input", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every conversation as an admin reads it, by id.
async fn conversations(server: &TestServer) -> BTreeMap<String, Value> {
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

/// What `populate` stored, as the API served it before the move.
struct Seeded {
    before: BTreeMap<String, Value>,
    callbacks: Value,
    canned: Value,
    file_id: String,
    visitor: String,
    id1: String,
    id2: Value,
    /// The clients stay connected until the server stops, as in real use.
    _sockets: Vec<Ws>,
}

/// Fills a store through the API with one of everything an export carries: experts (one
/// removed), a closed chat with a file, a note and a rating, an identified customer's open
/// chat, a queued chat, a callback and a canned response.
async fn populate(server: &TestServer) -> Seeded {
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

    let body = json!({"title": "Refunds", "shortcut": "refund", "text": "Within 30 days."});
    assert_eq!(server.post("/api/v1/canned", Some(ADMIN), body).await.0, 201);

    let before = conversations(server).await;
    assert_eq!(before.len(), 3);
    let (_, callbacks) = server.get("/api/v1/callbacks", ADMIN).await;
    let (_, canned) = server.get("/api/v1/canned", ADMIN).await;
    let file_id = file["id"].as_str().unwrap().to_owned();
    Seeded {
        before,
        callbacks,
        canned,
        file_id,
        visitor,
        id1,
        id2,
        _sockets: vec![ada, customer, grace, waiting],
    }
}

/// The server on the moved store serves what `populate` stored, and goes on from there.
async fn assert_serves(server: &TestServer, seeded: &Seeded) {
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

#[tokio::test]
async fn a_store_exported_and_imported_elsewhere_serves_the_same_data() {
    let env = [("SWITCHBOARD_CONVERSATION_STYLE", "live_chat")];
    let mut server = TestServer::start(&env).await;
    let seeded = populate(&server).await;

    // Not while a server holds the data dir.
    let busy = switchboard(&server.data_dir(), &["export"]);
    assert!(!busy.status.success());
    assert!(stderr(&busy).contains("in use by another switchboard process"), "{}", stderr(&busy));

    assert!(server.terminate().await, "a clean stop");
    let work = tempfile::tempdir().unwrap();
    let dump = work.path().join("dump.jsonl");
    let out = switchboard(&server.data_dir(), &["export", "--output", dump.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("3 conversations"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&dump).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!((kinds[0], *kinds.last().unwrap()), ("header", "end"));
    for (kind, n) in [("expert", 3), ("conversation", 3), ("callback", 1), ("canned", 1)] {
        assert_eq!(kinds.iter().filter(|k| **k == kind).count(), n, "{kind} lines");
    }
    assert!(
        text.contains("$argon2")
            && text.contains("Carrier is slow again")
            && text.contains("\"content_hex\":\"000102ff\"")
    );

    // Into an empty data dir, once.
    let fresh = tempfile::tempdir().unwrap();
    let data = fresh.path().join("data");
    let out = switchboard(&data, &["import", "--input", dump.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = switchboard(&data, &["import", "--input", dump.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already holds data"), "{}", stderr(&again));
    let copy = work.path().join("copy.jsonl");
    let out = switchboard(&data, &["export", "--output", copy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&copy).unwrap() == text.as_bytes(), "exporting the copy gives the same bytes");

    let server = TestServer::start_in(fresh, &env).await;
    assert_serves(&server, &seeded).await;
}

/// A team moves from one machine to a cluster and back: sled -> JetStream (3 replicas) ->
/// sled through export and import. Each store exports the same bytes, and servers on the
/// cluster and on the final sled store serve what the first one did.
#[tokio::test]
async fn a_store_moves_from_sled_to_a_cluster_and_back() {
    let nats = common::nats::Nats::start(3).await;
    let urls = nats.urls_env();
    let style = ("SWITCHBOARD_CONVERSATION_STYLE", "live_chat");
    let cluster = [
        ("SWITCHBOARD_CLUSTER_NATS_URLS", urls.as_str()),
        ("SWITCHBOARD_CLUSTER_PREFIX", "moved"),
        ("SWITCHBOARD_CLUSTER_REPLICAS", "3"),
    ];
    // On sled whatever back end this test binary was asked for.
    let mut server = TestServer::start(&[style, ("SWITCHBOARD_CLUSTER_NATS_URLS", "[]")]).await;
    let seeded = populate(&server).await;
    assert!(server.terminate().await, "a clean stop");

    let work = tempfile::tempdir().unwrap();
    let unused = work.path().join("no-data-dir");
    let from_sled = export(&server.data_dir(), &[], &work.path().join("sled.jsonl"));
    import(&unused, &cluster, &work.path().join("sled.jsonl"));
    let again = switchboard_on(
        &unused,
        &cluster,
        &["import", "--input", work.path().join("sled.jsonl").to_str().unwrap()],
    );
    assert!(stderr(&again).contains("already holds data"), "{}", stderr(&again));
    let from_cluster = export(&unused, &cluster, &work.path().join("cluster.jsonl"));
    assert!(from_cluster == from_sled, "the cluster exports the same bytes as the sled store");
    assert!(!unused.exists(), "the cluster store made no data dir");

    let back = tempfile::tempdir().unwrap();
    import(&back.path().join("data"), &[], &work.path().join("cluster.jsonl"));
    let from_back = export(&back.path().join("data"), &[], &work.path().join("back.jsonl"));
    assert!(from_back == from_sled, "back on sled, the same bytes again");

    let on_cluster = TestServer::start(&[style, cluster[0], cluster[1], cluster[2]]).await;
    assert_serves(&on_cluster, &seeded).await;
    let on_sled = TestServer::start_in(back, &[style, ("SWITCHBOARD_CLUSTER_NATS_URLS", "[]")]).await;
    assert_serves(&on_sled, &seeded).await;
}
