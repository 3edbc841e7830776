//! `POST /api/v1/attachments?conversation_id=X` and `GET /api/v1/attachments/{id}`: files in
//! a conversation, for its customer, its owning expert and admins only.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use super::{ApiError, Caller};
use crate::access;
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::domain::ErrorCode;
use crate::ids::AttachmentId;
use crate::net;
use crate::protocol::{self};
use crate::store::model::{Attachment, AttachmentRef, Author, AuthorKind, Conversation};
use crate::views::AttachmentView;

/// The routes, open to pages of `allowed_origins` (`server.allowed_origins`) as the widget's
/// socket is: a widget embedded in a shop on another origin uploads and shows files through
/// cross-origin requests. No cookies are involved (the token travels in `Authorization`), so
/// no credentials are allowed.
pub fn configure(cfg: &mut web::ServiceConfig, allowed_origins: &[String]) {
    let allowed = allowed_origins.to_vec();
    let cors = actix_cors::Cors::default()
        .allowed_origin_fn(move |origin, _| origin.to_str().is_ok_and(|o| net::origin_listed(o, &allowed)))
        .allowed_methods(["GET", "POST"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::CONTENT_DISPOSITION])
        .max_age(3600);
    cfg.service(
        web::scope("/attachments")
            .wrap(cors)
            .route("", web::post().to(upload))
            .route("/{id}", web::get().to(download)),
    );
}

/// Types a browser may show inline. Everything else (HTML, SVG, scripts...) is served as a
/// download, so a file can never run in our origin.
const INLINE: &[&str] =
    &["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"];

#[derive(Deserialize)]
struct Target {
    conversation_id: String,
    name: Option<String>,
}

/// Who may touch a conversation's files (`access::may_handle_files`), as the author of an
/// upload; `None` for anyone else, who is told the file or conversation does not exist.
fn author_for(caller: &Caller, c: &Conversation) -> Option<Author> {
    if !access::may_handle_files(c, caller.viewer()) {
        return None;
    }
    Some(match caller {
        Caller::Admin => Author { kind: AuthorKind::System, id: None, name: Some("admin".into()) },
        Caller::Expert(e) => {
            Author { kind: AuthorKind::Expert, id: Some(e.id.0), name: Some(e.name.clone()) }
        }
        Caller::Customer(id) => Author { kind: AuthorKind::Customer, id: Some(id.0), name: None },
    })
}

/// A file name safe to show and to put in a header.
fn clean_name(raw: Option<&str>) -> String {
    let name: String = raw
        .unwrap_or("attachment")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    if name.trim().is_empty() {
        "attachment".into()
    } else {
        name
    }
}

async fn upload(
    req: HttpRequest,
    caller: Caller,
    app: web::Data<AppState>,
    target: web::Query<Target>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = protocol::conversation_id(&target.conversation_id).map_err(ApiError)?;
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such conversation");
    let conversation = app.store.conversation(id)?.ok_or_else(not_found)?;
    let uploaded_by = author_for(&caller, &conversation).ok_or_else(not_found)?;
    if conversation.status.is_terminal() {
        return Err(ApiError::new(ErrorCode::Closed, "this conversation has ended"));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty() && v.contains('/'))
        .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "a Content-Type is required"))?;
    let limit = app.config.limits.max_attachment_bytes;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::new(ErrorCode::TooLarge, format!("attachments are at most {limit} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "the file is empty"));
    }
    let summary = AttachmentRef {
        id: AttachmentId(app.store.next_id()?),
        name: clean_name(target.name.as_deref()),
        size: bytes.len() as u64,
        content_type,
    };
    let record =
        Attachment { summary: summary.clone(), conversation: id, uploaded_by, created_at: Timestamp::now() };
    app.store.put_attachment(&record, &bytes)?;
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(AttachmentView::new(&summary)))
}

async fn download(
    caller: Caller,
    app: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such attachment");
    let id: AttachmentId = path.parse().map_err(|_| not_found())?;
    let record = app.store.attachment(id)?.ok_or_else(not_found)?;
    let conversation = app.store.conversation(record.conversation)?.ok_or_else(not_found)?;
    author_for(&caller, &conversation).ok_or_else(not_found)?;
    let bytes = app.store.attachment_bytes(id)?.ok_or_else(not_found)?;
    let summary = &record.summary;
    let inline = INLINE.contains(&summary.content_type.as_str());
    let disposition = ContentDisposition {
        disposition: if inline { DispositionType::Inline } else { DispositionType::Attachment },
        parameters: vec![DispositionParam::Filename(summary.name.clone())],
    };
    let content_type = if inline { summary.content_type.as_str() } else { "application/octet-stream" };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes.to_vec()))
}
