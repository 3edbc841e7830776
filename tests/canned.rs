//! Canned responses: written by admins, read by experts, kept across restarts.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn admins_write_canned_responses_and_experts_read_them() {
    let mut server = TestServer::start(&[]).await;
    let (_, expert) = server.expert("ada", &["general"], None).await;
    let body = json!({"title": "Refund policy", "shortcut": "/refund", "text": "You can return items within 30 days.\n\nRefunds take 5 days."});
    let (status, _) = server.post("/api/v1/canned", Some(&expert), body.clone()).await;
    assert_eq!(status, 403, "experts do not write canned responses");
    let (status, created) = server.post("/api/v1/canned", Some(ADMIN), body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["shortcut"], "refund");
    let id = created["id"].as_str().unwrap().to_owned();

    let http = reqwest::Client::new();
    let put = http
        .put(server.url(&format!("/api/v1/canned/{id}")))
        .bearer_auth(ADMIN)
        .json(&json!({"title": "Refunds", "shortcut": "refund", "text": "Returns within 30 days."}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);

    server.crash_and_restart().await;
    let (status, list) = server.get("/api/v1/canned", &expert).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["title"], "Refunds");
    assert_eq!(list[0]["text"], "Returns within 30 days.");

    let del =
        http.delete(server.url(&format!("/api/v1/canned/{id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(del.status(), 204);
    let del =
        http.delete(server.url(&format!("/api/v1/canned/{id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(del.status(), 404);
    let (_, list) = server.get("/api/v1/canned", &expert).await;
    assert!(list.as_array().unwrap().is_empty());
}
