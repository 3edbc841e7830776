//! The visitor's language (PROTOCOL.md v1.1, Customers): `hello` states it, `welcome` answers
//! the best language the server has texts for, the bot greets in it, and experts see it.

mod common;

use common::*;
use serde_json::{json, Value};

const GREETING: &str = "Thanks for writing! Someone will be with you shortly.";
const GERMAN: &str = "Danke für Ihre Nachricht! Gleich ist jemand für Sie da.";
const BRAZILIAN: &str = "Obrigado pela mensagem! Já vamos atender você.";
const DUTCH: &str = "Bedankt voor uw bericht! Een medewerker helpt u zo.";

fn config() -> String {
    format!(
        r#"
[conversation]
greeting = "{GREETING}"

[conversation.greetings]
de = "{GERMAN}"
"pt-br" = "{BRAZILIAN}"
nl = "{DUTCH}"
"#
    )
}

async fn answered(server: &TestServer, lang: Option<&str>) -> Value {
    let hello = match lang {
        Some(l) => json!({"lang": l}),
        None => json!({}),
    };
    let (ws, welcome) = server.customer_ws(hello).await;
    ws.close().await;
    welcome["lang"].clone()
}

#[tokio::test]
async fn welcome_answers_the_best_language_the_server_has_texts_for() {
    let server = TestServer::start_with_config(&config(), &[]).await;
    for (wanted, expected) in [
        // A region takes its language; the widget's languages are always there.
        (Some("de-CH"), "de"),
        (Some("de"), "de"),
        (Some("fr-CA"), "fr"),
        (Some("ar-EG"), "ar"),
        (Some("ja"), "ja"),
        (Some("zh-CN"), "zh"),
        // The most specific configured tag wins, however the client wrote it.
        (Some("pt-BR"), "pt-BR"),
        (Some("pt_br"), "pt-BR"),
        (Some("pt-PT"), "pt"),
        // A configured greeting adds its language.
        (Some("nl-BE"), "nl"),
        // Nothing known: English.
        (Some("sv-SE"), "en"),
        (Some("tlh"), "en"),
        // The widget's Chinese is Simplified.
        (Some("zh-TW"), "en"),
        (None, "en"),
    ] {
        assert_eq!(answered(&server, wanted).await, expected, "hello lang {wanted:?}");
    }
}

/// The greeting a new chat from a visitor of `lang` gets (seq 2, by the bot), and the view of
/// that chat an expert is offered.
async fn greeted(server: &TestServer, expert: &mut Ws, lang: Option<&str>) -> (String, Value) {
    let hello = lang.map_or(json!({}), |l| json!({"lang": l}));
    let (mut customer, _) = server.customer_ws(hello).await;
    let ack = customer.ack(json!({"type": "start", "text": "Hello, my parcel is late"})).await;
    let id = ack["conversation_id"].as_str().unwrap().to_owned();
    let greeting = customer.message(2).await;
    assert_eq!(greeting["message"]["author"]["kind"], "bot", "{greeting}");
    let wanted = id.clone();
    let offer = expert
        .expect("the offer", move |f| f["type"] == "offer" && f["conversation"]["id"] == wanted.as_str())
        .await;
    expert.ack(json!({"type": "accept", "conversation_id": id})).await;
    customer.close().await;
    (greeting["message"]["text"].as_str().unwrap().to_owned(), offer["conversation"].clone())
}

#[tokio::test]
async fn the_bot_greets_in_the_visitors_language_and_experts_see_it() {
    let mut server =
        TestServer::start_with_config(&config(), &[("SWITCHBOARD_ROUTING_MAX_CONCURRENT", "10")]).await;
    let (_, token) = server.expert("ada", &["general"], None).await;
    let mut ada = server.expert_ws(&token).await;

    let (text, swiss) = greeted(&server, &mut ada, Some("de-CH")).await;
    assert_eq!(text, GERMAN);
    // Experts see the visitor's own tag, not only the language answered.
    assert_eq!(swiss["lang"], "de-CH", "{swiss}");
    let (text, brazil) = greeted(&server, &mut ada, Some("pt-BR")).await;
    assert_eq!((text.as_str(), brazil["lang"].as_str()), (BRAZILIAN, Some("pt-BR")));
    // Answered in French (the widget has French) but no French greeting is configured.
    let (text, french) = greeted(&server, &mut ada, Some("fr-FR")).await;
    assert_eq!((text.as_str(), french["lang"].as_str()), (GREETING, Some("fr-FR")));
    // No language said: the greeting, and no language shown.
    let (text, silent) = greeted(&server, &mut ada, None).await;
    assert_eq!(text, GREETING);
    assert!(silent.get("lang").is_none(), "{silent}");

    // The language is part of the stored conversation: it survives a restart.
    let id = swiss["id"].as_str().unwrap().to_owned();
    ada.close().await;
    server.restart().await;
    let (status, c) = server.get(&format!("/api/v1/conversations/{id}"), ADMIN).await;
    assert_eq!((status, c["lang"].as_str()), (200, Some("de-CH")), "{c}");
}

#[tokio::test]
async fn a_bad_language_tag_is_refused_and_the_visitor_may_say_hello_again() {
    let server = TestServer::start(&[]).await;
    let mut ws = Ws::connect(&format!("{}/ws/customer", server.ws_base)).await;
    let long = "de-".repeat(5000);
    for bad in ["", "d", "not a tag", "de--CH", "<script>", "de-CHÄ", long.as_str()] {
        let refusal = ws.refused(json!({"type": "hello", "lang": bad}), "bad_request").await;
        assert!(refusal["message"].as_str().unwrap().len() < 200, "a short reason: {refusal}");
    }
    // Still connected and not yet identified: a good hello is welcomed.
    let welcome = ws.request(json!({"type": "hello", "lang": "es-MX"})).await;
    assert_eq!(
        (welcome["type"].as_str(), welcome["lang"].as_str()),
        (Some("welcome"), Some("es")),
        "{welcome}"
    );
    ws.ack(json!({"type": "start", "text": "hola"})).await;
}
