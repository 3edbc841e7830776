//! Power cuts: the server keeps its data directory on LazyFS (tests/lazyfs), which remembers
//! what a power cut would leave of each file and directory: only what was fsync'ed. Customers
//! chat, upload files and wait in a queue, experts answer; at a random moment the server is
//! killed and the power cut (every write not yet synced is thrown away; in every other round
//! only a random half of them, as a disk that wrote some of them in no particular order
//! before the power went would), and the server starts again on what survived. After
//! several rounds, every acknowledged message is stored exactly once with gapless seqs,
//! every acknowledged upload reads back intact, every chat
//! acknowledged into a queue nobody serves is still queued, and every deadline acknowledged
//! before a cut (a solved chat's close, a claim's first-response window) fired after it.

mod common;
mod lazyfs;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rand::Rng;
use serde_json::{json, Value};

const CUSTOMERS: usize = 6;
/// Customers asking in a category nobody serves: their chats stay queued.
const WAITING: usize = 2;
const EXPERTS: usize = 2;
const ROUNDS: usize = 6;
/// A cut finds unsynced writes only when it falls between a write and its sync (about one cut
/// in three here): past `ROUNDS`, the cuts go on, up to this many, until one has.
const MAX_ROUNDS: usize = 20;
/// Above a quarter of sled's 512 KiB segment, so the node holding it is a blob file.
const UPLOAD_BYTES: usize = 200 * 1024;
/// The close delay of solved chats and the first-response window of claims: longer than a
/// round's traffic before its cut (at most 1.2 s), so each deadline set at the start of a round
/// is still ahead when the power goes and can only fire after a restart on what survived.
const DEADLINE_AFTER: Duration = Duration::from_secs(3);

const CONFIG: &str = r#"
[[categories]]
id = "general"
name = "General"
[[categories]]
id = "billing"
name = "Billing, unattended in this test"
[[categories]]
id = "returns"
name = "Returns, closed a while after they are solved"
style = "returning"
[[categories]]
id = "reset"
name = "Password reset, claimed one to one"
mode = "claim"
certification = "identity"
"#;

#[derive(Default)]
struct Acknowledged {
    /// (conversation, seq) → text.
    messages: HashMap<(String, u64), String>,
    /// Attachment id → its bytes' seed.
    uploads: HashMap<String, u64>,
    /// Conversations started in the unattended category.
    queued: HashSet<String>,
}

/// A lifecycle deadline stored and acknowledged before a cut.
struct Deadline {
    conversation: String,
    kind: DeadlineKind,
    round: usize,
    /// The acknowledged frame that set it was sent then: the stored deadline is no earlier
    /// than this plus `DEADLINE_AFTER`.
    set_at: Instant,
}

#[derive(Debug, Clone, Copy)]
enum DeadlineKind {
    /// An expert ended a returning-style chat: `solved`, then `closed` at its stored `close_at`.
    Close,
    /// An expert claimed a one-to-one chat and never answered: released back to the queue at
    /// its stored `first_response_due`.
    FirstResponse,
}

impl Deadline {
    fn due(&self) -> Instant {
        self.set_at + DEADLINE_AFTER
    }

    /// The conversation's status once the deadline has fired.
    fn fired_status(&self) -> &'static str {
        match self.kind {
            DeadlineKind::Close => "closed",
            DeadlineKind::FirstResponse => "queued",
        }
    }

    /// The event the expert who set the deadline gets when it fires.
    fn fired_event(&self) -> impl Fn(&Value) -> bool + '_ {
        let id = self.conversation.as_str();
        move |f| match self.kind {
            DeadlineKind::Close => {
                f["type"] == "status"
                    && f["conversation_id"] == id
                    && f["status"] == "closed"
                    && f["reason"] == "closed_after_solved"
            }
            DeadlineKind::FirstResponse => {
                f["type"] == "released" && f["conversation_id"] == id && f["reason"] == "no_response"
            }
        }
    }
}

type Shared = Arc<Mutex<Acknowledged>>;

fn record(acked: &Shared, ack: &Value) {
    let m = &ack["message"];
    let key = (m["conversation_id"].as_str().unwrap().to_owned(), m["seq"].as_u64().unwrap());
    let text = m["text"].as_str().unwrap().to_owned();
    if let Some(earlier) = acked.lock().unwrap().messages.insert(key.clone(), text.clone()) {
        assert_eq!(earlier, text, "seq {key:?} was acknowledged for two different messages");
    }
}

/// Distinct, checkable bytes for an upload.
fn upload_bytes(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..UPLOAD_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A customer: hello with their visitor token, (re)start their chat idempotently, upload a file
/// once, then send until the server dies. Returns their visitor token.
async fn customer(
    base: String,
    n: usize,
    visitor: Option<String>,
    round: usize,
    acked: Shared,
) -> Option<String> {
    let category = if n < WAITING { "billing" } else { "general" };
    let Ok(mut ws) = Ws::try_connect(&format!("ws://{base}/ws/customer"), &[], None).await else {
        return visitor;
    };
    if !ws.offer(json!({"type": "hello", "visitor_token": visitor, "ref": "hello"})).await {
        return visitor;
    }
    let Some(welcome) = next_answer(&mut ws, "hello").await else { return visitor };
    let visitor = welcome["visitor_token"].as_str().map(str::to_owned);
    let start = json!({"type": "start", "text": format!("customer {n} here"), "category": category,
        "client_msg_id": format!("start-{n}"), "ref": "start"});
    if !ws.offer(start).await {
        return visitor;
    }
    let Some(started) = next_answer(&mut ws, "start").await else { return visitor };
    assert_eq!(started["type"], "ack", "start refused: {started}");
    let id = started["conversation_id"].as_str().unwrap().to_owned();
    if n < WAITING {
        acked.lock().unwrap().queued.insert(id.clone());
    }
    let seed = (round * CUSTOMERS + n) as u64;
    let uploaded = reqwest::Client::new()
        .post(format!("http://{base}/api/v1/attachments?conversation_id={id}&name=f{seed}.bin"))
        .bearer_auth(visitor.as_deref().unwrap())
        .header("content-type", "application/octet-stream")
        .body(upload_bytes(seed))
        .send()
        .await;
    if let Ok(response) = uploaded {
        if response.status().as_u16() == 201 {
            if let Ok(file) = response.json::<Value>().await {
                acked.lock().unwrap().uploads.insert(file["id"].as_str().unwrap().to_owned(), seed);
            }
        }
    }
    send_until_gone(&mut ws, &id, &format!("c{n}-{round}"), |ack| record(&acked, ack)).await;
    visitor
}

/// A new customer's chat in `category`; the customer then closes their widget, and the server
/// has seen them go before this returns.
async fn left_chat(server: &TestServer, category: &str, round: usize) -> String {
    let (mut customer, _) = server.customer_ws(json!({})).await;
    let text = format!("{category} {round}");
    let started = customer.ack(json!({"type": "start", "text": text, "category": category})).await;
    customer.hang_up().await;
    started["conversation_id"].as_str().unwrap().to_owned()
}

/// At the start of a round, before its traffic: the keeper solves a returning-style chat and
/// claims a one-to-one chat it never answers, each acknowledged, each deadline `DEADLINE_AFTER`
/// ahead. Each customer has left before the acknowledged write, so the record it stored says
/// so: after a restart nothing stores that chat anew (a customer seen leaving only then would
/// be), and only a timer re-armed from the stored deadline can fire it.
async fn set_deadlines(server: &TestServer, keeper: &mut Ws, round: usize) -> Vec<Deadline> {
    let solved = left_chat(server, "returns", round).await;
    let wanted = solved.clone();
    keeper
        .expect("the offer of the returning chat", move |f| {
            f["type"] == "offer" && f["conversation"]["id"] == wanted.as_str()
        })
        .await;
    keeper.ack(json!({"type": "accept", "conversation_id": solved})).await;
    let set_at = Instant::now();
    keeper.ack(json!({"type": "end", "conversation_id": solved})).await;
    let close = Deadline { conversation: solved, kind: DeadlineKind::Close, round, set_at };

    let claimed = left_chat(server, "reset", round).await;
    let set_at = Instant::now();
    keeper.ack(json!({"type": "claim", "conversation_id": claimed})).await;
    let release = Deadline { conversation: claimed, kind: DeadlineKind::FirstResponse, round, set_at };
    vec![close, release]
}

fn host(server: &TestServer) -> String {
    server.base.strip_prefix("http://").unwrap().to_owned()
}

#[tokio::test]
async fn acknowledged_writes_survive_power_cuts() {
    if !lazyfs::available() {
        eprintln!("SKIPPED acknowledged_writes_survive_power_cuts: /dev/fuse is missing, so no power cut can be simulated");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("config.toml"), CONFIG).unwrap();
    let (backing, data) = (work.path().join("backing"), work.path().join("data"));
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&data).unwrap();
    let mut disk = lazyfs::LazyFs::mount(&backing, &data).expect("mount lazyfs (root and /dev/fuse needed)");
    let deadline_after = format!("{}ms", DEADLINE_AFTER.as_millis());
    let env = [
        ("SWITCHBOARD_ROUTING_MAX_CONCURRENT", "10"),
        ("SWITCHBOARD_CONVERSATION_RETURNING_CLOSE_AFTER", deadline_after.as_str()),
        ("SWITCHBOARD_CONVERSATION_FIRST_RESPONSE_WINDOW", deadline_after.as_str()),
    ];
    let mut server = TestServer::start_at(work.path().to_owned(), &env).await;
    let mut tokens = Vec::new();
    for e in 0..EXPERTS {
        tokens.push(server.expert(&format!("expert{e}"), &["general"], Some(10)).await.1);
    }
    // Sets the deadlines; nobody else serves its categories.
    let keeper_token =
        server.certified_expert("keeper", &["returns", "reset"], &["identity"], Some(10)).await.1;

    let acked: Shared = Arc::default();
    let mut visitors: Vec<Option<String>> = vec![None; CUSTOMERS];
    let mut deadlines = Vec::new();
    let mut lost_files = 0;
    let mut rounds = 0;
    for round in 0..MAX_ROUNDS {
        if round >= ROUNDS && lost_files > 0 {
            break;
        }
        rounds += 1;
        // Held until the cut: the keeper does not leave before the power goes.
        let mut keeper = server.expert_ws(&keeper_token).await;
        let set = set_deadlines(&server, &mut keeper, round).await;
        let mut experts = Vec::new();
        for token in &tokens {
            experts.push(tokio::spawn(expert(host(&server), token.clone(), acked.clone())));
        }
        let mut customers = Vec::new();
        for (n, visitor) in visitors.iter().enumerate() {
            customers.push(tokio::spawn(customer(host(&server), n, visitor.clone(), round, acked.clone())));
        }
        // The power goes at a random moment of the traffic.
        let pause = rand::thread_rng().gen_range(300..1200);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let cut_at = Instant::now();
        server.kill9().await;
        drop(keeper);
        for d in &set {
            assert!(
                cut_at < d.due(),
                "the {:?} deadline of {} was still ahead at the cut of round {round} (the round's \
                 start and traffic took over {DEADLINE_AFTER:?}: a very slow machine)",
                d.kind,
                d.conversation
            );
        }
        deadlines.extend(set);
        // Every other cut keeps a random half of the unsynced pages, as a disk may that had
        // written some of them, in no particular order, when the power went.
        let lost = if round % 2 == 0 {
            disk.cut().expect("the power cut")
        } else {
            disk.cut_keeping_some(&mut rand::thread_rng()).expect("the power cut")
        };
        lost_files += lost.files;
        server = TestServer::start_at(work.path().to_owned(), &env).await;
        for (n, task) in customers.into_iter().enumerate() {
            let visitor =
                tokio::time::timeout(WAIT, task).await.expect("a customer hung").expect("customer task");
            visitors[n] = visitor.or(visitors[n].take());
        }
        for task in experts {
            tokio::time::timeout(WAIT, task).await.expect("an expert hung").expect("expert task");
        }
    }

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.messages.len() > 50, "real traffic: {} acknowledged", acked.messages.len());
    assert!(lost_files > 0, "one of the {rounds} cuts threw unsynced writes away, so they tested something");
    assert_acknowledged_kept(&server, &acked.messages).await;
    assert!(!acked.uploads.is_empty(), "uploads were acknowledged");
    for (file, seed) in &acked.uploads {
        let (status, _, bytes) = server.fetch(&format!("/api/v1/attachments/{file}"), ADMIN).await;
        assert_eq!(status, 200, "acknowledged upload {file}");
        assert!(bytes == upload_bytes(*seed), "upload {file} reads back as uploaded");
    }
    assert_eq!(acked.queued.len(), WAITING, "every waiting customer's chat was acknowledged");
    for id in &acked.queued {
        let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
        assert_eq!(status, 200, "{c}");
        assert_eq!(c["status"], "queued", "{id} came back queued: {c}");
    }
    // The keeper watches, not the customers: a customer coming back would store their chat
    // anew and arm its timer that way. Connected before each status is read, so a deadline
    // that fires after the read reaches it.
    let mut keeper = server.expert_ws(&keeper_token).await;
    for d in &deadlines {
        let path = format!("/api/v1/conversations/{}", d.conversation);
        let what =
            format!("the {:?} deadline of {}, acknowledged before cut {}", d.kind, d.conversation, d.round);
        let (_, c) = server.get(&path, ADMIN).await;
        if c["status"] != d.fired_status() {
            keeper.expect(&format!("{what} to fire after the restart"), d.fired_event()).await;
            // The stored deadline is no earlier than due(), to the millisecond the server keeps.
            assert!(Instant::now() + Duration::from_millis(5) >= d.due(), "{what} fired early");
        }
        let (status, c) = server.get(&path, ADMIN).await;
        assert_eq!((status, c["status"].as_str()), (200, Some(d.fired_status())), "{what}: {c}");
    }
    let blobs = std::fs::read_dir(backing.join("blobs")).unwrap().count();
    assert!(blobs > 0, "the uploads made sled write blob files, so their syncing was tested too");
    eprintln!(
        "{} messages, {} uploads, {} queued chats and {} deadlines acknowledged over {rounds} power \
         cuts, which threw away unsynced writes to {lost_files} files; {blobs} blob files",
        acked.messages.len(),
        acked.uploads.len(),
        acked.queued.len(),
        deadlines.len()
    );
    drop(server);
    drop(disk);
}

/// The mode is in `/metrics` and in the start-up log line.
#[tokio::test]
async fn the_durability_mode_is_shown_in_metrics_and_at_start() {
    for (env, mode) in [(None, "power_loss"), (Some("process_crash"), "process_crash")] {
        let env: Vec<(&str, &str)> = env.map(|m| ("SWITCHBOARD_SERVER_DURABILITY", m)).into_iter().collect();
        let server = TestServer::start(&env).await;
        let (status, _, body) = server.fetch("/metrics", "").await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        let line = format!("switchboard_durability{{mode=\"{mode}\"}} 1");
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }

    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .current_dir(dir.path())
        .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_SERVER_DATA_DIR", dir.path().join("data"))
        .env("SWITCHBOARD_SERVER_DURABILITY", "process_crash")
        .env("SWITCHBOARD_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // Without the terminal colours tracing may add.
            let plain: String = line
                .split('\x1b')
                .enumerate()
                .map(
                    |(i, part)| {
                        if i == 0 {
                            part
                        } else {
                            part.split_once('m').map_or("", |(_, rest)| rest)
                        }
                    },
                )
                .collect();
            if plain.contains("serving") {
                return plain;
            }
        }
        panic!("the server exited without logging that it serves");
    })
    .await
    .expect("the start-up log line in time");
    assert!(serving.contains("durability=\"process_crash\""), "{serving}");
}

/// The filesystem the test above relies on loses exactly what was not synced.
#[test]
fn lazyfs_keeps_what_was_synced_and_loses_the_rest() {
    use std::fs::{File, OpenOptions};
    use std::io::Write;
    if !lazyfs::available() {
        eprintln!("SKIPPED lazyfs_keeps_what_was_synced_and_loses_the_rest: /dev/fuse is missing");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (backing, mnt) = (work.path().join("backing"), work.path().join("mnt"));
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(backing.join("old"), b"there before the mount").unwrap();
    let mut disk = lazyfs::LazyFs::mount(&backing, &mnt).unwrap();
    let sync_dir = |dir: &std::path::Path| File::open(dir).unwrap().sync_all().unwrap();

    // Synced contents and directory entries.
    let mut log = File::create(mnt.join("log")).unwrap();
    log.write_all(b"durable").unwrap();
    log.sync_data().unwrap();
    let mut snap = File::create(mnt.join("snap.tmp")).unwrap();
    snap.write_all(b"snapshot").unwrap();
    snap.sync_all().unwrap();
    // Created, directory synced, contents never: comes back empty.
    std::fs::create_dir(mnt.join("blobs")).unwrap();
    std::fs::write(mnt.join("blobs/1"), b"blob").unwrap();
    sync_dir(&mnt);
    sync_dir(&mnt.join("blobs"));
    // An unsynced append and overwrite, through two descriptors.
    log.write_all(b" and lost").unwrap();
    let other = OpenOptions::new().write(true).open(mnt.join("log")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&other, b"D", 0).unwrap();
    // A rename never synced: back under the old name.
    std::fs::rename(mnt.join("snap.tmp"), mnt.join("snap")).unwrap();
    // Created and synced, its directory entry never: gone.
    let mut orphan = File::create(mnt.join("blobs/2")).unwrap();
    orphan.write_all(b"orphan").unwrap();
    orphan.sync_all().unwrap();
    // Removed without a directory sync: back.
    std::fs::remove_file(mnt.join("old")).unwrap();
    assert_eq!(std::fs::read(mnt.join("log")).unwrap(), b"Durable and lost", "reads see every write");
    drop((log, other, snap, orphan));

    let lost = disk.cut().unwrap();
    assert_eq!(std::fs::read(mnt.join("log")).unwrap(), b"durable");
    assert_eq!(std::fs::read(mnt.join("snap.tmp")).unwrap(), b"snapshot");
    assert!(!mnt.join("snap").exists(), "the rename was never synced");
    assert_eq!(std::fs::read(mnt.join("blobs/1")).unwrap(), b"");
    assert!(!mnt.join("blobs/2").exists(), "its directory entry was never synced");
    assert_eq!(std::fs::read(mnt.join("old")).unwrap(), b"there before the mount");
    assert!(lost.files >= 2 && lost.directories >= 1, "{lost:?}");

    // What survived a cut is durable: a second cut with nothing written changes nothing.
    disk.cut().unwrap();
    assert_eq!(std::fs::read(mnt.join("log")).unwrap(), b"durable");
    assert_eq!(std::fs::read(mnt.join("snap.tmp")).unwrap(), b"snapshot");

    // A cut that keeps some unsynced pages: of 64 pages written over synced ones, some come
    // back as written and the others as synced, never anything else.
    const PAGE: usize = 4096;
    let mut pages = File::create(mnt.join("pages")).unwrap();
    pages.write_all(&[0u8; 64 * PAGE]).unwrap();
    pages.sync_all().unwrap();
    sync_dir(&mnt);
    for n in 0..64u8 {
        std::os::unix::fs::FileExt::write_all_at(&pages, &[n + 1; PAGE], u64::from(n) * PAGE as u64).unwrap();
    }
    drop(pages);
    disk.cut_keeping_some(&mut rand::thread_rng()).unwrap();
    let image = std::fs::read(mnt.join("pages")).unwrap();
    assert_eq!(image.len(), 64 * PAGE, "the synced size");
    let kept =
        image.chunks(PAGE).enumerate().filter(|(n, page)| page.iter().all(|&b| b == *n as u8 + 1)).count();
    let lost = image.chunks(PAGE).filter(|page| page.iter().all(|&b| b == 0)).count();
    assert_eq!(kept + lost, 64, "every page is as written or as synced");
    assert!(kept > 0 && lost > 0, "some kept ({kept}), some lost ({lost})");
}

/// An expert who accepts every offer and answers every customer message.
async fn expert(base: String, token: String, acked: Shared) {
    answering_expert(format!("ws://{base}/ws/expert"), token, |f| record(&acked, f)).await;
}
