//! Upgrades: a data directory written by an earlier build opens in this one and serves what it
//! held. Each `tests/fixtures/store/format-N/` was made once, by the build that wrote store
//! format N (`make_fixture`), and is kept as it is: a build that changes the format adds a
//! fixture of its own beside the older ones, whose test then runs the migration.
//!
//! A fixture is opened long after it was made, so the deadlines stored in it (a customer who
//! left, an open chat gone quiet) have passed and fire at once: what a team sees after an
//! upgrade that kept the server down for a while. The checks allow for exactly that.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::seed::*;
use common::*;
use serde_json::{json, Value};
use switchboard::clock::Timestamp;
use switchboard::store::FORMAT_VERSION;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store");
/// The style `populate` was run with: an ended chat closes at once.
const ENV: [(&str, &str); 1] = [("SWITCHBOARD_CONVERSATION_STYLE", "live_chat")];
/// The admin expert each fixture has besides `populate`'s experts.
const ADMIN_EXPERT: &str = "dana";

/// The kept fixtures, oldest format first.
fn fixtures() -> Vec<(u8, PathBuf)> {
    let mut out: Vec<(u8, PathBuf)> = std::fs::read_dir(FIXTURES)
        .expect("tests/fixtures/store")
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.strip_prefix("format-")?.parse().ok()?;
            Some((n, p))
        })
        .collect();
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A working directory holding a copy of `fixture`'s data directory as `data/`: a test never
/// writes into the kept fixture.
fn copy_of(fixture: &Path) -> tempfile::TempDir {
    let temp = tempfile::tempdir().unwrap();
    copy_dir(&fixture.join("data"), &temp.path().join("data"));
    temp
}

#[test]
fn the_current_store_format_has_a_fixture() {
    let kept: Vec<u8> = fixtures().iter().map(|(n, _)| *n).collect();
    assert!(
        kept.contains(&FORMAT_VERSION),
        "store format {FORMAT_VERSION} has no fixture (kept: {kept:?}): make one with \
         `cargo test --release --test upgrade -- --ignored make_fixture` and commit it"
    );
}

#[tokio::test]
async fn data_directories_of_every_kept_format_open_and_serve_their_conversations() {
    for (format, fixture) in fixtures() {
        let seeded: Seeded = serde_json::from_slice(&std::fs::read(fixture.join("seeded.json")).unwrap())
            .unwrap_or_else(|e| panic!("format-{format}/seeded.json: {e}"));
        let made: Made = serde_json::from_slice(&std::fs::read(fixture.join("made.json")).unwrap()).unwrap();
        let server = TestServer::start_in(copy_of(&fixture), &ENV).await;
        assert_serves_after_downtime(&server, &seeded).await;
        assert_deadlines_fired(&server, &seeded, &made).await;
        assert_goes_on(&server, &seeded).await;
    }
}

/// What `populate` stored, as the server serves it after the fixture's deadlines have passed.
async fn assert_serves_after_downtime(server: &TestServer, seeded: &Seeded) {
    let Seeded { before, callbacks, canned, file_id, visitor, id1, id2 } = seeded;
    assert_eq!(&server.get("/api/v1/callbacks", ADMIN).await.1, callbacks);
    assert_eq!(&server.get("/api/v1/canned", ADMIN).await.1, canned);
    let now = conversations(server).await;
    assert_eq!(now.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "the same conversations");
    // The closed chat has no deadline left: it reads exactly as it did.
    assert_eq!(now[id1], before[id1], "the closed chat");
    for (id, was) in before {
        let is = &now[id];
        for field in ["customer", "category", "created_at"] {
            assert_eq!(is[field], was[field], "{id}: {field}");
        }
        // Deadlines that passed may have added events; nothing kept is lost or changed.
        let (was_messages, is_messages) =
            (was["messages"].as_array().unwrap(), is["messages"].as_array().unwrap());
        assert!(
            is_messages.starts_with(was_messages),
            "{id}: the kept transcript comes first and whole\nkept: {was_messages:?}\nnow: {is_messages:?}"
        );
    }
    let attachment = format!("/api/v1/attachments/{file_id}");
    assert_eq!(server.fetch(&attachment, ADMIN).await.2, vec![0, 1, 2, 255], "the file, byte for byte");

    let login = |username: &str| json!({"username": username, "password": "password-1"});
    assert_eq!(server.post("/api/v1/login", None, login("carl")).await.0, 401, "still removed");
    let (status, dana) = server.post("/api/v1/login", None, login(ADMIN_EXPERT)).await;
    assert_eq!(status, 200, "{dana}");
    let (status, experts) = server.get("/api/v1/experts", dana["token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "an admin expert keeps the admin's rights: {experts}");
    let roles: Vec<&Value> = experts.as_array().unwrap().iter().map(|e| &e["roles"]).collect();
    assert!(roles.contains(&&json!(["admin"])), "{experts}");

    // Customers come back as themselves.
    let (_, welcome) = server.customer_ws(json!({"visitor_token": visitor})).await;
    assert_eq!(welcome["conversations"][0]["id"], id1.as_str(), "{welcome}");
    let user = json!({"id": "crm-9", "hash": sign("crm-9")});
    let (_, welcome) = server.customer_ws(json!({ "user": user })).await;
    assert_eq!(&welcome["conversations"][0]["id"], id2, "{welcome}");
}

/// When a fixture was made, kept beside it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Made {
    at_ms: i64,
    format: u8,
}

/// A fixture is made with the default windows, the longest of which for its chats is
/// `inactivity_end` (1 h). Once it is older than that, every deadline it stored passed while
/// it lay in the repository, and opening it fires them: no chat is left waiting in the queue
/// or open for a customer who left long ago.
async fn assert_deadlines_fired(server: &TestServer, seeded: &Seeded, made: &Made) {
    let longest = Duration::from_secs(3600);
    if Timestamp::now() < Timestamp(made.at_ms).plus(longest + Duration::from_secs(60)) {
        eprintln!("format-{} is younger than its longest window: its deadlines are not due yet", made.format);
        return;
    }
    // A left message (format 6 on) has no deadline while it waits: it is still there for
    // the first expert to come, however long the server was down.
    let (left, waiting): (Vec<&String>, Vec<&String>) = seeded
        .before
        .iter()
        .filter(|(_, c)| c["status"] == "queued" || c["status"] == "open")
        .map(|(id, _)| id)
        .partition(|id| seeded.before[*id]["offline"] == true);
    assert!(!waiting.is_empty(), "the fixture holds chats with deadlines");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = conversations(server).await;
        let not_fired: Vec<_> = waiting
            .iter()
            .filter(|id| ["queued", "open"].contains(&now[**id]["status"].as_str().unwrap()))
            .collect();
        if not_fired.is_empty() {
            for id in left {
                assert_eq!(
                    (&now[id]["status"], &now[id]["offline"]),
                    (&json!("queued"), &json!(true)),
                    "{id}"
                );
            }
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "deadlines long past did not fire: {not_fired:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The upgraded store takes new chats: one is offered, answered and read back. Bob gets room
/// for every chat the fixture left waiting as well (a young fixture's queued chat and, from
/// format 6, a left message, which no downtime resolves), so the new one is offered to him too.
async fn assert_goes_on(server: &TestServer, seeded: &Seeded) {
    let (_, experts) = server.get("/api/v1/experts", ADMIN).await;
    let bob = experts.as_array().unwrap().iter().find(|e| e["username"] == "bob").expect("bob");
    let room = reqwest::Client::new()
        .patch(server.url(&format!("/api/v1/experts/{}", bob["id"].as_str().unwrap())))
        .bearer_auth(ADMIN)
        .json(&json!({"max_concurrent": 5}))
        .send()
        .await
        .unwrap();
    assert!(room.status().is_success(), "{}", room.status());
    let (status, login) =
        server.post("/api/v1/login", None, json!({"username": "bob", "password": "password-1"})).await;
    assert_eq!(status, 200, "{login}");
    let mut bob = server.expert_ws(login["token"].as_str().unwrap()).await;
    let (mut customer, id, _) = server.accepted_chat(&mut bob, "Hello again").await;
    assert!(!seeded.before.contains_key(&id), "{id} is new");
    bob.ack(json!({"type": "send", "conversation_id": id, "text": "Welcome back"})).await;
    customer.expect("the answer", |f| f["type"] == "message" && f["message"]["text"] == "Welcome back").await;
}

#[tokio::test]
async fn a_data_directory_of_a_newer_format_is_refused_with_the_reason() {
    let (_, fixture) = fixtures().pop().expect("a fixture");
    let work = copy_of(&fixture);
    let data = work.path().join("data");
    // Opened once by this build first: the store replays and checkpoints its write-ahead log,
    // so the mark written below is what the next start reads (as a newer build's own would be).
    drop(switchboard::store::Store::open(&data).unwrap());
    {
        let db = sled::open(&data).unwrap();
        db.open_tree("meta").unwrap().insert("format_version", &[FORMAT_VERSION + 1]).unwrap();
        db.flush().unwrap();
    }
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .current_dir(work.path())
        .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_SERVER_DATA_DIR", &data)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run).await.expect("it exits").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a newer store is not served");
    let reason = format!("data format version [{}], this build reads {FORMAT_VERSION}", FORMAT_VERSION + 1);
    assert!(stderr.contains(&reason), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
}

/// Makes the fixture of this build's store format, once: run it when a build introduces a new
/// format (`cargo test --release --test upgrade -- --ignored make_fixture`) and commit the
/// directory. It refuses to replace a kept one.
#[tokio::test]
#[ignore = "writes tests/fixtures: run by hand when the store format changes"]
async fn make_fixture() {
    let target = Path::new(FIXTURES).join(format!("format-{FORMAT_VERSION}"));
    assert!(!target.exists(), "{} is kept as it is", target.display());
    let mut server = TestServer::start(&ENV).await;
    let (seeded, sockets) = populate(&server).await;
    let body = json!({
        "username": ADMIN_EXPERT, "password": "password-1", "name": "Dana Admin",
        "categories": ["general"], "roles": ["admin"],
    });
    let (status, created) = server.post("/api/v1/experts", Some(ADMIN), body).await;
    assert_eq!(status, 201, "{created}");
    assert!(server.terminate().await, "a clean stop");
    drop(sockets);
    copy_dir(&server.data_dir(), &target.join("data"));
    std::fs::write(target.join("seeded.json"), serde_json::to_vec_pretty(&seeded).unwrap()).unwrap();
    let made = Made { at_ms: Timestamp::now().0, format: FORMAT_VERSION };
    std::fs::write(target.join("made.json"), serde_json::to_vec_pretty(&made).unwrap()).unwrap();
}
