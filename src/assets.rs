//! The web clients in `static/`, embedded into the binary and served by it: the demo shop
//! page at `/`, the widget script at `/widget.js`, the console at `/console`.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

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
    match Assets::get(path) {
        Some(file) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, file.metadata.mimetype()))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(file.data.into_owned()),
        None => HttpResponse::NotFound()
            .json(serde_json::json!({"error": {"code": "not_found", "message": "no such page"}})),
    }
}
