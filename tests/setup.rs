//! The first run: a fresh server prints a one-time setup code; `POST /api/v1/setup` with it
//! creates the first admin expert, exactly once; an admin expert's login has the admin token's
//! rights; roles survive a restart and an export/import; `switchboard expert add` adds an admin
//! while the server is stopped and says what to do while it runs.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "first-admin-pw";

/// The setup code the server printed at start.
async fn printed_code(server: &mut TestServer) -> String {
    let line = server.output_line("its setup code", |l| l.contains("setup code: ")).await;
    line.split("setup code: ").nth(1).unwrap().trim().to_owned()
}

async fn needed(server: &TestServer) -> bool {
    let (status, body) = server.get("/api/v1/setup", "").await;
    assert_eq!(status, 200, "{body}");
    body["needed"].as_bool().unwrap_or_else(|| panic!("needed is a bool: {body}"))
}

async fn setup(server: &TestServer, code: &str, username: &str) -> (u16, Value) {
    let body = json!({"setup_code": code, "username": username, "password": PASSWORD, "name": "Ada Admin"});
    server.post("/api/v1/setup", None, body).await
}

async fn login(server: &TestServer, username: &str, password: &str) -> String {
    let (status, body) =
        server.post("/api/v1/login", None, json!({"username": username, "password": password})).await;
    assert_eq!(status, 200, "login of {username}: {body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn patch(server: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .patch(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("PATCH");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A fresh server with its first admin made through setup; returns the admin's token.
async fn with_first_admin() -> (TestServer, String) {
    let mut server = TestServer::start(&[]).await;
    let code = printed_code(&mut server).await;
    let (status, body) = setup(&server, &code, "ada").await;
    assert_eq!(status, 201, "{body}");
    (server, body["token"].as_str().unwrap().to_owned())
}

fn switchboard(data: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(cwd.path())
        .env("SWITCHBOARD_SERVER_DATA_DIR", data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run switchboard");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().expect("switchboard's output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_printed_code_creates_the_first_admin_once() {
    let mut server = TestServer::start(&[]).await;
    assert!(needed(&server).await, "a fresh server needs setup");
    let code = printed_code(&mut server).await;
    assert!(code.len() >= 32, "an unguessable code: {code}");

    let (status, body) = setup(&server, "0000-0000-0000-0000-0000-0000-0000-0000", "ada").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    assert!(needed(&server).await, "a wrong code made nobody admin");

    let (status, body) = setup(&server, &code, "ada").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expert"]["username"], "ada");
    assert_eq!(body["expert"]["roles"], json!(["admin"]));
    assert_eq!(body["expert"]["categories"], json!(["general"]), "serves every category");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(!needed(&server).await, "setup is done once an admin exists");

    // The same code, or any other, can do nothing more.
    let (status, body) = setup(&server, &code, "eve").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    let (status, body) = setup(&server, "wrong", "eve").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    let (_, experts) = server.get("/api/v1/experts", ADMIN).await;
    let names: Vec<&str> =
        experts.as_array().unwrap().iter().map(|e| e["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ada"]);
    // The setup answered with the admin's login token, and the password logs in too.
    assert_eq!(server.get("/api/v1/stats", &token).await.0, 200);
    login(&server, "ada", PASSWORD).await;
}

#[tokio::test]
async fn racing_posts_with_the_code_make_exactly_one_admin() {
    let mut server = TestServer::start(&[]).await;
    let code = printed_code(&mut server).await;
    let names = ["r0", "r1", "r2", "r3", "r4", "r5"];
    let answers = futures_util::future::join_all(names.iter().map(|n| setup(&server, &code, n))).await;
    let created: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    assert_eq!(created.len(), 1, "one winner: {answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!((*status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    }
    let (_, experts) = server.get("/api/v1/experts", ADMIN).await;
    let experts = experts.as_array().unwrap();
    assert_eq!(experts.len(), 1, "no loser left an account: {experts:?}");
    assert_eq!(experts[0]["username"], created[0]["expert"]["username"]);
    assert_eq!(experts[0]["roles"], json!(["admin"]));
}

#[tokio::test]
async fn an_admin_experts_login_has_the_admin_tokens_rights_and_others_do_not() {
    let (server, admin) = with_first_admin().await;
    // Admin-only calls with the admin expert's token.
    let new = json!({"username": "bo", "password": "bo-password", "name": "Bo", "categories": ["general"]});
    let (status, bo) = server.post("/api/v1/experts", Some(&admin), new).await;
    assert_eq!(status, 201, "{bo}");
    assert_eq!(bo["roles"], json!([]));
    let (status, stats) = server.get("/api/v1/stats", &admin).await;
    assert_eq!(status, 200, "{stats}");
    let (status, experts) = server.get("/api/v1/experts", &admin).await;
    assert_eq!(status, 200);
    assert!(experts[0].get("username").is_some(), "the admin's full list: {experts}");
    // Every conversation, as the admin token reads them, though none is theirs.
    let (_customer, conversation, _) = server.new_chat("hello").await;
    let (status, listed) = server.get("/api/v1/conversations", &admin).await;
    assert_eq!(status, 200, "{listed}");
    let ids = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&listed), vec![conversation.clone()]);
    assert_eq!(ids(&listed), ids(&server.get("/api/v1/conversations", ADMIN).await.1));
    let path = format!("/api/v1/conversations/{conversation}");
    assert_eq!(server.get(&path, &admin).await.0, 200);

    // A plain expert's token cannot.
    let bo_token = login(&server, "bo", "bo-password").await;
    let another = json!({"username": "cy", "password": "cy-password", "name": "Cy"});
    let (status, body) = server.post("/api/v1/experts", Some(&bo_token), another.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert_eq!(server.get("/api/v1/stats", &bo_token).await.0, 403);
    assert_eq!(server.get(&path, &bo_token).await.0, 404, "not his conversation");
    let bo_path = format!("/api/v1/experts/{}", bo["id"].as_str().unwrap());
    let (status, _) = patch(&server, &bo_path, &bo_token, json!({"roles": ["admin"]})).await;
    assert_eq!(status, 403, "an expert cannot make themselves admin");
    let (status, experts) = server.get("/api/v1/experts", &bo_token).await;
    assert_eq!(status, 200);
    assert!(experts[0].get("username").is_none(), "colleagues only: {experts}");

    // Made admin by an admin expert, the same login has the rights at once; an unknown role is
    // refused.
    let (status, body) = patch(&server, &bo_path, &admin, json!({"roles": ["owner"]})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, body) = patch(&server, &bo_path, &admin, json!({"roles": ["admin"]})).await;
    assert_eq!((status, &body["roles"]), (200, &json!(["admin"])), "{body}");
    let (status, body) = server.post("/api/v1/experts", Some(&bo_token), another).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.get("/api/v1/stats", &bo_token).await.0, 200);
}

#[tokio::test]
async fn the_code_is_printed_while_setup_is_needed_and_never_after() {
    let mut server = TestServer::start(&[]).await;
    let code = printed_code(&mut server).await;
    // Not used yet: a restart prints the same code, which still works.
    server.terminate().await;
    server.restart().await;
    assert_eq!(printed_code(&mut server).await, code);
    let (status, body) = setup(&server, &code, "ada").await;
    assert_eq!(status, 201, "{body}");

    assert!(server.terminate().await);
    server.restart().await;
    assert!(!needed(&server).await, "the admin survived the restart");
    let token = login(&server, "ada", PASSWORD).await;
    assert_eq!(server.get("/api/v1/stats", &token).await.0, 200, "with their rights");
    let (_, experts) = server.get("/api/v1/experts", ADMIN).await;
    assert_eq!(experts[0]["roles"], json!(["admin"]));
    let (status, body) = setup(&server, &code, "eve").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    assert!(server.terminate().await);
    let printed = server.remaining_output().await;
    assert!(printed.iter().all(|l| !l.contains("setup code")), "no code once an admin exists: {printed:?}");
}

#[tokio::test]
async fn roles_survive_export_and_import() {
    let (mut server, admin) = with_first_admin().await;
    let plain = json!({"username": "bo", "password": "bo-password", "name": "Bo"});
    assert_eq!(server.post("/api/v1/experts", Some(&admin), plain).await.0, 201);
    assert!(server.terminate().await);

    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    let out = switchboard(&server.data_dir(), &["export", "--output", path], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let target = tempfile::tempdir().unwrap();
    let out = switchboard(&target.path().join("data"), &["import", "--input", path], "");
    assert!(out.status.success(), "{}", stderr(&out));

    let mut copy = TestServer::start_in(target, &[]).await;
    assert!(!needed(&copy).await, "the imported admin counts");
    let (_, experts) = copy.get("/api/v1/experts", ADMIN).await;
    let roles: Vec<(&str, &Value)> =
        experts.as_array().unwrap().iter().map(|e| (e["username"].as_str().unwrap(), &e["roles"])).collect();
    assert_eq!(roles, [("ada", &json!(["admin"])), ("bo", &json!([]))]);
    let token = login(&copy, "ada", PASSWORD).await;
    assert_eq!(copy.get("/api/v1/stats", &token).await.0, 200);
    assert!(copy.terminate().await);
    let printed = copy.remaining_output().await;
    assert!(printed.iter().all(|l| !l.contains("setup code")), "{printed:?}");
}

#[tokio::test]
async fn expert_add_makes_an_admin_while_stopped_and_says_what_to_do_while_running() {
    let mut server = TestServer::start(&[]).await;
    let args = ["expert", "add", "--username", "root", "--name", "Root", "--admin"];
    let out = switchboard(&server.data_dir(), &args, "root-password\n");
    assert!(!out.status.success(), "the running server holds the data dir");
    let err = stderr(&out);
    for hint in ["running server", "/admin", "POST", "/api/v1/experts", "admin token", "admin expert"] {
        assert!(err.contains(hint), "the error mentions {hint:?}: {err}");
    }

    assert!(server.terminate().await);
    let out = switchboard(&server.data_dir(), &args, "root-password\n");
    assert!(out.status.success(), "{}", stderr(&out));
    server.restart().await;
    assert!(!needed(&server).await, "an admin added on the command line ends setup");
    let token = login(&server, "root", "root-password").await;
    assert_eq!(server.get("/api/v1/stats", &token).await.0, 200);
    assert!(server.terminate().await);
    let printed = server.remaining_output().await;
    assert!(printed.iter().all(|l| !l.contains("setup code")), "{printed:?}");
}
