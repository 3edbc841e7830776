//! The command line: `switchboard expert add` writes an expert the server then logs in.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

#[tokio::test]
async fn an_expert_added_on_the_command_line_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let add = |username: &str| {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["expert", "add", "--username", username, "--name", "Grace Hopper"])
            .args(["--password", "correct-horse", "--categories", "general", "--max-concurrent", "2"])
            .current_dir(dir.path())
            .env("SWITCHBOARD_SERVER_DATA_DIR", &data)
            .output()
            .expect("run switchboard expert add")
    };
    let out = add("grace");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created expert"));
    let again = add("grace");
    assert!(!again.status.success(), "a taken username is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"));

    let server = TestServer::start_in(dir, &[]).await;
    let (status, login) =
        server.post("/api/v1/login", None, json!({"username": "grace", "password": "correct-horse"})).await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["expert"]["max_concurrent"], 2);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_fails_with_a_clear_message() {
    let server = TestServer::start(&[]).await;
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env("SWITCHBOARD_SERVER_BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_SERVER_DATA_DIR", server.data_dir())
        .output()
        .expect("run a second server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another switchboard process"), "{err}");
}
