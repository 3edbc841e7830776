//! `switchboard export` and `switchboard import`: a store moved through JSON lines comes back
//! whole: every conversation reads the same, experts log in with their passwords, customers
//! keep their visitor tokens, and exporting the copy gives the same bytes.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::seed::*;
use common::*;
use serde_json::Value;

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

#[tokio::test]
async fn a_store_exported_and_imported_elsewhere_serves_the_same_data() {
    let env = [("SWITCHBOARD_CONVERSATION_STYLE", "live_chat")];
    let mut server = TestServer::start(&env).await;
    let (seeded, _sockets) = populate(&server).await;

    // Not while a server holds the data dir.
    let busy = switchboard(&server.data_dir(), &["export"]);
    assert!(!busy.status.success());
    assert!(stderr(&busy).contains("in use by another switchboard process"), "{}", stderr(&busy));

    assert!(server.terminate().await, "a clean stop");
    let work = tempfile::tempdir().unwrap();
    let dump = work.path().join("dump.jsonl");
    let out = switchboard(&server.data_dir(), &["export", "--output", dump.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("4 conversations"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&dump).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!((kinds[0], *kinds.last().unwrap()), ("header", "end"));
    for (kind, n) in [("expert", 3), ("conversation", 4), ("callback", 1), ("canned", 1)] {
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
    let (seeded, _sockets) = populate(&server).await;
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
