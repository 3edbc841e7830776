//! Online backups: `GET /api/v1/export` and `switchboard export --server` back up a server
//! while it serves chats, and `switchboard import` restores the backup into a new data dir.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::Notify;

/// Messages acknowledged so far: (conversation, seq) → text.
type Acked = HashMap<(String, u64), String>;

/// What the customers of `traffic` share with the test.
#[derive(Default)]
struct Traffic {
    acked: Mutex<Acked>,
    /// Set once the backup's first line has arrived, i.e. its cut is taken.
    cut_taken: AtomicBool,
    /// Texts of messages sent after the cut was taken: no backup of that cut holds them.
    sent_after_cut: Mutex<HashSet<String>>,
    acked_after_cut: AtomicUsize,
    progress: Notify,
    stop: AtomicBool,
}

/// A customer sends in their chat, one message at a time (text, client id and ref
/// `{label}-{k}`), until told to stop; the server must acknowledge every one.
async fn customer(mut ws: Ws, conversation: String, label: String, traffic: Arc<Traffic>) {
    for k in 0.. {
        if traffic.stop.load(Ordering::SeqCst) {
            return;
        }
        // Read before sending: a message counted as after the cut was sent after it.
        let after_cut = traffic.cut_taken.load(Ordering::SeqCst);
        let text = format!("{label}-{k}");
        if after_cut {
            traffic.sent_after_cut.lock().unwrap().insert(text.clone());
        }
        ws.send(json!({"type": "send", "conversation_id": conversation, "text": text, "client_msg_id": text, "ref": text}))
            .await;
        let ack = next_answer(&mut ws, &text).await.expect("the server stays up during a backup");
        assert_eq!(ack["type"], "ack", "{text} was refused: {ack}");
        let key = (conversation.clone(), ack["message"]["seq"].as_u64().unwrap());
        traffic.acked.lock().unwrap().insert(key, text);
        if after_cut {
            traffic.acked_after_cut.fetch_add(1, Ordering::SeqCst);
            traffic.progress.notify_one();
        }
    }
}

/// `switchboard <args>` with `env`, from the empty working directory `cwd` (no config.toml),
/// without the test's own admin token variable unless `env` sets it.
fn command(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    cmd
}

async fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let run = command(cwd.path(), env, args).output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("switchboard finished")
        .expect("run switchboard")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The conversation lines of an export, by API id.
fn conversation_lines(export: &str) -> HashMap<String, Value> {
    export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("every line is JSON"))
        .filter(|l| l["kind"] == "conversation")
        .map(|l| (format!("c_{}", l["conversation"]["id"]), l))
        .collect()
}

/// Restores `backup` with `switchboard import` into a new data dir and starts a server on it
/// (always sled: the backup is what moves).
async fn restore(backup: &[u8]) -> TestServer {
    let fresh = tempfile::tempdir().unwrap();
    let file = fresh.path().join("backup.jsonl");
    std::fs::write(&file, backup).unwrap();
    let data = fresh.path().join("data");
    let env = [("SWITCHBOARD_SERVER_DATA_DIR", data.to_str().unwrap())];
    let out = run(&env, &["import", "--input", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "import: {}", stderr(&out));
    TestServer::start_in(fresh, &[("SWITCHBOARD_CLUSTER_NATS_URLS", "[]")]).await
}

/// Bytes that no compression or coincidence reproduces: 4 MiB from a counter's hash.
fn big_file(n: u8) -> Vec<u8> {
    use sha2::Digest;
    let mut out = Vec::with_capacity(4 << 20);
    let mut block = sha2::Sha256::digest([n]);
    while out.len() < 4 << 20 {
        out.extend_from_slice(&block);
        block = sha2::Sha256::digest(block);
    }
    out
}

/// The issue's demand: a backup taken during traffic, restored into a new data dir, holds every
/// message acknowledged before it began with gapless seqs, and the server never stopped.
///
/// The backup is held open on purpose: the test reads its first line, then stops reading, so
/// the server's stream waits behind a full pipe part way through 24 MiB of files. Chats keep
/// being acknowledged meanwhile, and the messages sent after the first line (after the cut)
/// must not be in it even though their conversations are written later.
#[tokio::test]
async fn a_backup_during_traffic_restores_every_message_acknowledged_before_it() {
    let server = TestServer::start(&[("SWITCHBOARD_ROUTING_MAX_CONCURRENT", "10")]).await;
    let (_, token) = server.expert("ada", &["general"], Some(10)).await;
    let acked_by_expert = Arc::new(AtomicUsize::new(0));
    let counter = acked_by_expert.clone();
    let expert = tokio::spawn(answering_expert(format!("{}/ws/expert", server.ws_base), token, move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));

    // The first conversation carries the files, so its line comes before the chats' lines.
    let (_files_chat, files_id, _) = server.new_chat("Here are my scans").await;
    let mut files = Vec::new();
    for n in 0..3u8 {
        let bytes = big_file(n);
        let path = format!("/api/v1/attachments?conversation_id={files_id}&name=scan{n}.bin");
        let (status, file) = server.upload(&path, ADMIN, "application/octet-stream", bytes.clone()).await;
        assert_eq!(status, 201, "{file}");
        files.push((file["id"].as_str().unwrap().to_owned(), bytes));
    }

    let traffic = Arc::new(Traffic::default());
    let mut customers = Vec::new();
    for n in 0..4 {
        let (ws, id, _) = server.new_chat(&format!("Customer {n} here")).await;
        customers.push(tokio::spawn(customer(ws, id, format!("m{n}"), traffic.clone())));
    }
    let warmed_up = tokio::time::timeout(WAIT, async {
        while traffic.acked.lock().unwrap().len() < 40 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    warmed_up.await.expect("the customers' messages are acknowledged");

    // Everything acknowledged before the backup begins.
    let before = traffic.acked.lock().unwrap().clone();
    let started = Instant::now();
    let cwd = tempfile::tempdir().unwrap();
    let mut backup =
        command(cwd.path(), &[("SWITCHBOARD_ADMIN_TOKEN", ADMIN)], &["export", "--server", &server.base])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchboard export --server");
    let mut stdout = BufReader::new(backup.stdout.take().unwrap());
    let mut header = String::new();
    tokio::time::timeout(WAIT, stdout.read_line(&mut header))
        .await
        .expect("the backup's first line")
        .unwrap();
    assert!(header.contains("\"kind\":\"header\""), "{header}");
    traffic.cut_taken.store(true, Ordering::SeqCst);

    // The export waits behind the unread pipe; the chats go on.
    let expert_before = acked_by_expert.load(Ordering::SeqCst);
    tokio::time::timeout(WAIT, async {
        while traffic.acked_after_cut.load(Ordering::SeqCst) < 40 {
            traffic.progress.notified().await;
        }
    })
    .await
    .expect("messages are acknowledged while the backup runs");
    let expert_during = acked_by_expert.load(Ordering::SeqCst) - expert_before;
    assert!(expert_during > 0, "the expert's answers are acknowledged while the backup runs");
    assert!(backup.try_wait().unwrap().is_none(), "the backup was still running meanwhile");

    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stdout.read_to_end(&mut rest))
        .await
        .expect("the backup ends")
        .unwrap();
    let status = tokio::time::timeout(WAIT, backup.wait()).await.expect("the backup exits").unwrap();
    let mut errors = String::new();
    backup.stderr.take().unwrap().read_to_string(&mut errors).await.unwrap();
    assert!(status.success(), "{errors}");
    assert!(errors.contains("backed up"), "{errors}");
    let took = started.elapsed();
    let text = header + std::str::from_utf8(&rest).unwrap();

    // Traffic goes on after the backup too; then it stops.
    let total_at_end = traffic.acked.lock().unwrap().len();
    tokio::time::timeout(WAIT, async {
        while traffic.acked.lock().unwrap().len() < total_at_end + 10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("chats go on after the backup");
    traffic.stop.store(true, Ordering::SeqCst);
    for c in customers {
        tokio::time::timeout(WAIT, c).await.expect("the customers stop").unwrap();
    }
    let acked = traffic.acked.lock().unwrap().clone();
    let after_cut = traffic.sent_after_cut.lock().unwrap().clone();
    eprintln!(
        "backup of {} bytes in {took:?}: {} messages acknowledged before it, {} sent after its cut, {} in all",
        text.len(),
        before.len(),
        after_cut.len(),
        acked.len()
    );

    // In the file: each transcript gapless, everything acknowledged before, nothing sent after.
    let lines = conversation_lines(&text);
    assert_eq!(lines.len(), 5, "the files chat and the four customers'");
    for (id, line) in &lines {
        let messages = line["messages"].as_array().unwrap();
        assert_eq!(
            seqs(&line["messages"]),
            (1..=messages.len() as u64).collect::<Vec<_>>(),
            "{id} is gapless"
        );
        for m in messages {
            let text = m["text"].as_str().unwrap();
            assert!(!after_cut.contains(text), "{text}, sent after the cut, is in the backup of {id}");
        }
    }
    for ((id, seq), text) in &before {
        let at = lines[id]["messages"].as_array().unwrap().iter().find(|m| m["seq"] == *seq);
        assert_eq!(
            at.map(|m| m["text"].as_str().unwrap()),
            Some(text.as_str()),
            "{id}#{seq} is in the backup"
        );
    }

    // The first server never stopped and kept everything, before and after the cut.
    assert_eq!(server.get("/healthz", ADMIN).await.0, 200);
    assert_acknowledged_kept(&server, &acked).await;

    // Restored elsewhere: every message acknowledged before the backup, gapless, and the files.
    let restored = restore(text.as_bytes()).await;
    assert_acknowledged_kept(&restored, &before).await;
    for (id, bytes) in &files {
        let (status, _, body) = restored.fetch(&format!("/api/v1/attachments/{id}"), ADMIN).await;
        assert_eq!(status, 200);
        assert!(&body == bytes, "file {id} comes back byte for byte");
    }
    expert.abort();
}

/// `GET /api/v1/export` is for the admin token only, refused in the contract's error shape;
/// with it, the same lines as `switchboard export`.
#[tokio::test]
async fn the_export_endpoint_is_for_the_admin_token_only() {
    let server = TestServer::start(&[]).await;
    let (_, expert_token) = server.expert("ada", &["general"], None).await;
    let http = reqwest::Client::new();
    let url = server.url("/api/v1/export");
    let refused = |status: u16, code: &'static str| {
        move |(s, body): (u16, Value)| {
            assert_eq!(s, status, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        }
    };
    let answer =
        |r: reqwest::Response| async move { (r.status().as_u16(), r.json::<Value>().await.unwrap()) };
    refused(401, "unauthorized")(answer(http.get(&url).send().await.unwrap()).await);
    refused(401, "unauthorized")(
        answer(http.get(&url).bearer_auth("not-the-token").send().await.unwrap()).await,
    );
    refused(403, "forbidden")(answer(http.get(&url).bearer_auth(&expert_token).send().await.unwrap()).await);

    let r = http.get(&url).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["header", "expert", "end"]);
    assert!(text.ends_with("{\"kind\":\"end\",\"records\":1}\n"), "{text}");
}

/// A stand-in server that answers an export with its first line only, then hangs up.
async fn cut_short_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n";
            let header = r#"{"kind":"header","format":3,"visitor_key":"00"}"#;
            let _ = socket.write_all(format!("{head}{header}\n").as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

/// `export --server` says what went wrong, exits non-zero, and never leaves a partial file
/// where the last good backup was.
#[tokio::test]
async fn export_from_a_server_says_what_went_wrong() {
    let server = TestServer::start(&[]).await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("backup.jsonl");
    let partial = work.path().join("backup.jsonl.partial");
    let output = file.to_str().unwrap();

    // A good backup, with the token from a file.
    let token_file = work.path().join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let ok = run(
        &[],
        &[
            "export",
            "--server",
            &server.base,
            "--token-file",
            token_file.to_str().unwrap(),
            "--output",
            output,
        ],
    )
    .await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let good = std::fs::read(&file).unwrap();
    assert!(good.ends_with(b"{\"kind\":\"end\",\"records\":0}\n"));
    let kept = |what: &str| {
        assert_eq!(std::fs::read(&file).unwrap(), good, "{what}: the last good backup is untouched");
        assert!(!partial.exists(), "{what}: no partial file is left");
    };
    let failed = |out: &Output, says: &str| {
        assert!(!out.status.success(), "exit status {:?}", out.status);
        assert!(stderr(out).contains(says), "expected {says:?} in: {}", stderr(out));
    };

    let out = run(
        &[("SWITCHBOARD_ADMIN_TOKEN", "wrong")],
        &["export", "--server", &server.base, "--output", output],
    )
    .await;
    failed(&out, "refused the admin token");
    kept("a wrong token");

    let out = run(&[], &["export", "--server", &server.base, "--output", output]).await;
    failed(&out, "needs the admin token: set SWITCHBOARD_ADMIN_TOKEN or pass --token-file");
    kept("no token");

    let nothing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", nothing.local_addr().unwrap());
    drop(nothing);
    let out =
        run(&[("SWITCHBOARD_ADMIN_TOKEN", ADMIN)], &["export", "--server", &closed, "--output", output])
            .await;
    failed(&out, &format!("could not reach the server at {closed}"));
    kept("nothing listening");

    let short = cut_short_server().await;
    let out =
        run(&[("SWITCHBOARD_ADMIN_TOKEN", ADMIN)], &["export", "--server", &short, "--output", output]).await;
    failed(&out, "no end line: it was cut short");
    kept("a stream cut short");

    // Without --server on a running server's data dir: the error points to --server.
    if !backend::jetstream() {
        let data = server.data_dir();
        let out = run(&[("SWITCHBOARD_SERVER_DATA_DIR", data.to_str().unwrap())], &["export"]).await;
        failed(&out, "in use by another switchboard process; to back up a running server, use `switchboard export --server");
    }
    assert!(Path::new(&file).exists());
}
