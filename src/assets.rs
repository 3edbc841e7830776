//! The web clients in `static/`, embedded into the binary and served by it: the demo shop
//! page at `/`, the widget script at `/widget.js`, the console at `/console` and the admin
//! page at `/admin`.
//!
//! # Scripts
//! Browser code is plain JavaScript with no build toolchain. Each client's script is a list
//! of pieces ([`BUNDLES`]): the shared ones in `static/shared/` (DOM helpers, rich text, the
//! websocket client), then the client's own, one file per feature. The server joins them into
//! one file, once, when first asked. The widget has to be one file, since other sites embed
//! it with a single script tag; the console and the admin page are served the same way so
//! that every piece follows one convention and the pages load one script each.
//!
//! Each piece runs in its own function scope, in strict mode, and shares with the others only
//! the object `app`, which it reads (`var el = app.dom.el;`) and adds to (`app.socket = {…}`).
//! At load time a piece may read only what the pieces before it added; it reaches later
//! pieces when called (`app.view.render()`). Nothing reaches the page's globals except what a
//! piece sets on `window` itself (the widget's `window.SwitchboardWidget`). The pieces are
//! not served on their own: a `.js` path is a bundle or nothing.

use std::sync::OnceLock;

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// A script that a page loads: the path it is served at, and the files under `static/` it
/// is assembled from, in load order.
pub struct Bundle {
    pub path: &'static str,
    pub pieces: &'static [&'static str],
}

/// Every script the server serves.
pub const BUNDLES: &[Bundle] = &[
    Bundle {
        path: "widget.js",
        pieces: &[
            "shared/dom.js",
            "shared/text.js",
            "shared/socket.js",
            "shared/files.js",
            "widget/config.js",
            "widget/i18n.js",
            "widget/styles.js",
            "widget/state.js",
            "widget/panel.js",
            "widget/forms.js",
            "widget/leave.js",
            "widget/view.js",
            "widget/transcript.js",
            "widget/composer.js",
            "widget/attachments.js",
            "widget/connection.js",
            "widget/main.js",
        ],
    },
    Bundle {
        path: "console.js",
        pieces: &[
            "shared/dom.js",
            "shared/text.js",
            "shared/socket.js",
            "shared/files.js",
            "console/format.js",
            "console/store.js",
            "console/alerts.js",
            "console/presence.js",
            "console/offers.js",
            "console/claimable.js",
            "console/chats.js",
            "console/chat_view.js",
            "console/transcript.js",
            "console/composer.js",
            "console/attachments.js",
            "console/canned.js",
            "console/customer_info.js",
            "console/transfer.js",
            "console/consult.js",
            "console/followups.js",
            "console/queue.js",
            "console/connection.js",
            "console/login.js",
            "console/main.js",
        ],
    },
    Bundle {
        path: "admin.js",
        pieces: &["shared/dom.js", "admin/admin.js", "admin/live.js", "admin/customers.js", "admin/sla.js"],
    },
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { asset("index.html") }))
        .route("/console", web::get().to(|| async { asset("console/index.html") }))
        .route("/console/", web::get().to(|| async { asset("console/index.html") }))
        .route("/admin", web::get().to(|| async { asset("admin/index.html") }))
        .route("/admin/", web::get().to(|| async { asset("admin/index.html") }))
        .route("/{path:.*}", web::get().to(by_path));
}

async fn by_path(req: HttpRequest) -> HttpResponse {
    asset(req.match_info().query("path"))
}

fn asset(path: &str) -> HttpResponse {
    if path.ends_with(".js") {
        return match script(path) {
            Some(Ok(text)) => served("text/javascript; charset=utf-8", text.as_bytes().to_vec()),
            Some(Err(missing)) => {
                // Only a build that left a listed piece out of static/ gets here; the unit
                // tests below make sure none does.
                tracing::error!(script = path, piece = %missing, "a piece of a script is missing");
                HttpResponse::InternalServerError().json(serde_json::json!({
                    "error": {"code": "internal", "message": "this script could not be assembled"}
                }))
            }
            None => not_found(),
        };
    }
    match Assets::get(path) {
        Some(file) => served(file.metadata.mimetype(), file.data.into_owned()),
        None => not_found(),
    }
}

fn served(content_type: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .json(serde_json::json!({"error": {"code": "not_found", "message": "no such page"}}))
}

/// The assembled script served at `path`, or `None` when no bundle is served there. Each is
/// assembled on its first request and kept: the pieces are compiled into the binary, so it
/// can never change. `Err` names a listed piece that is not in `static/`.
fn script(path: &str) -> Option<&'static Result<String, String>> {
    static ASSEMBLED: OnceLock<Vec<Result<String, String>>> = OnceLock::new();
    let index = BUNDLES.iter().position(|b| b.path == path)?;
    let all = ASSEMBLED.get_or_init(|| BUNDLES.iter().map(|b| assemble(b, read_piece)).collect());
    all.get(index)
}

fn read_piece(path: &str) -> Option<String> {
    Assets::get(path).map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

/// Joins `bundle`'s pieces, each in its own function scope that receives the bundle's one
/// `app` object, all inside one strict-mode scope of their own. `read` gives a piece's text;
/// `Err` names the first piece it cannot give.
fn assemble(bundle: &Bundle, read: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = format!(
        "/* Switchboard {}: assembled by the server from static/{} (see src/assets.rs). */\n\
         (function () {{\n'use strict';\nvar app = {{}};\n",
        bundle.path,
        bundle.pieces.join(", static/")
    );
    for piece in bundle.pieces {
        let text = read(piece).ok_or_else(|| piece.to_string())?;
        // The newline before the closing line ends a piece's trailing `//` comment.
        out.push_str(&format!("\n// ---- static/{piece}\n(function (app) {{\n{text}\n}})(app);\n"));
    }
    out.push_str("})();\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded_scripts() -> Vec<String> {
        Assets::iter().map(|p| p.into_owned()).filter(|p| p.ends_with(".js")).collect()
    }

    #[test]
    fn every_bundle_assembles_from_pieces_that_exist() {
        for bundle in BUNDLES {
            let text = assemble(bundle, read_piece)
                .unwrap_or_else(|missing| panic!("{} lists {missing}, which is not in static/", bundle.path));
            assert!(text.len() > 1000, "{} is assembled", bundle.path);
        }
    }

    #[test]
    fn every_script_in_static_is_a_piece_of_some_bundle_and_none_is_served_raw() {
        for file in embedded_scripts() {
            assert!(
                BUNDLES.iter().any(|b| b.pieces.contains(&file.as_str())),
                "static/{file} is in no bundle of src/assets.rs: list it where it belongs"
            );
            assert_ne!(asset(&file).status(), 200, "static/{file} is not served on its own");
        }
        for bundle in BUNDLES {
            let mut seen = std::collections::HashSet::new();
            for piece in bundle.pieces {
                assert!(seen.insert(piece), "{} lists {piece} twice", bundle.path);
            }
        }
    }

    #[test]
    fn a_bundle_gives_each_piece_its_own_scope_in_order() {
        let bundle = Bundle { path: "test.js", pieces: &["a.js", "b.js"] };
        let text = assemble(&bundle, |p| Some(format!("var x = '{p}'; // no newline at the end"))).unwrap();
        assert_eq!(
            text,
            "/* Switchboard test.js: assembled by the server from static/a.js, static/b.js (see src/assets.rs). */\n\
             (function () {\n'use strict';\nvar app = {};\n\
             \n// ---- static/a.js\n(function (app) {\nvar x = 'a.js'; // no newline at the end\n})(app);\n\
             \n// ---- static/b.js\n(function (app) {\nvar x = 'b.js'; // no newline at the end\n})(app);\n\
             })();\n"
        );
        let missing = assemble(&bundle, |p| (p == "a.js").then(String::new));
        assert_eq!(missing, Err("b.js".to_string()));
    }

    #[test]
    fn scripts_are_served_assembled_as_utf8_javascript() {
        for bundle in BUNDLES {
            let response = asset(bundle.path);
            assert_eq!(response.status(), 200, "{}", bundle.path);
            assert_eq!(
                response.headers().get(header::CONTENT_TYPE).unwrap(),
                "text/javascript; charset=utf-8"
            );
            let text = script(bundle.path).unwrap().as_ref().unwrap();
            for piece in bundle.pieces {
                assert_eq!(text.matches(&format!("// ---- static/{piece}\n")).count(), 1, "{piece}");
            }
        }
        assert_eq!(asset("nothing.js").status(), 404);
        assert_eq!(asset("console/console.css").status(), 200);
    }
}
