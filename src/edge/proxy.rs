//! Forwarding a client's request to the core: HTTP requests through a pooled client, and
//! websocket connections as a byte tunnel once the core accepted the upgrade, so frames,
//! heartbeats, size limits and close codes stay end to end between the client and the core.

use actix_http::body::SizedStream;
use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Shared;
use crate::domain::ErrorCode;
use crate::http_error::ApiError;
use crate::net::{FORWARDED_CLIENT, FORWARDED_KEY};

/// A response head from the core larger than this is refused (ours are a few hundred bytes).
const MAX_HEAD: usize = 16 * 1024;
/// A refused upgrade's body larger than this is cut (ours are one short JSON error).
const MAX_REFUSAL: usize = 64 * 1024;

/// Each worker's HTTP client: pooled connections to the core, no overall timeout (an
/// export streams for as long as it takes).
pub fn client() -> awc::Client {
    awc::Client::builder().disable_timeout().finish()
}

/// Headers that describe one hop rather than the request, not passed on (RFC 9110 7.6.1),
/// and the forwarding headers, which only this node may set.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) || *name == FORWARDED_CLIENT
        || *name == FORWARDED_KEY
}

fn unavailable(why: &str) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::new(
        ErrorCode::Unavailable,
        format!("{why}; try again shortly"),
    ))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Forwards one request to the core.
pub async fn forward(req: HttpRequest, payload: web::Payload, shared: web::Data<Shared>) -> HttpResponse {
    let core = shared.core();
    if core.url.is_empty() {
        return unavailable("no node serves this deployment right now");
    }
    let client_ip = crate::net::client_ip(&req, &shared.trusted_proxies).to_string();
    let upgrade = req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok());
    if upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return tunnel(&req, payload, &core.url, &client_ip, &shared.key).await;
    }
    let client = req.app_data::<awc::Client>().expect("each worker has a client");
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut forwarded = client.request(req.method().clone(), format!("{}{path}", core.url));
    for (name, value) in req.headers().iter().filter(|(n, _)| !hop_by_hop(n)) {
        if *name != header::CONTENT_LENGTH {
            forwarded = forwarded.append_header((name.clone(), value.clone()));
        }
    }
    let forwarded = forwarded
        .insert_header((FORWARDED_CLIENT, client_ip))
        .insert_header((FORWARDED_KEY, shared.key.as_str()));
    let sent = match content_length(req.headers()) {
        Some(0) | None if req.headers().get(header::TRANSFER_ENCODING).is_none() => forwarded.send().await,
        Some(length) => forwarded.send_body(SizedStream::new(length, payload)).await,
        None => forwarded.send_stream(payload).await,
    };
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(error = %e, core = %core.node, "forwarding a request to the core");
            return unavailable("the node serving this deployment is not reachable");
        }
    };
    let mut answer = HttpResponse::build(response.status());
    for (name, value) in response.headers().iter().filter(|(n, _)| !hop_by_hop(n)) {
        if *name != header::CONTENT_LENGTH {
            answer.append_header((name.clone(), value.clone()));
        }
    }
    match content_length(response.headers()) {
        Some(length) => answer.body(SizedStream::new(length, response)),
        None => answer.streaming(response),
    }
}

/// Opens the client's websocket on the core: the upgrade request goes over as the client
/// sent it (its key, so the core's accept value is the one the client checks), plus where
/// it came from. A refusal (403, 429, ...) comes back as the core gave it; an accepted
/// upgrade becomes a tunnel, both ways, until either side closes.
async fn tunnel(
    req: &HttpRequest,
    payload: web::Payload,
    core: &str,
    client_ip: &str,
    key: &str,
) -> HttpResponse {
    let address = core.trim_start_matches("http://");
    let mut upstream = match TcpStream::connect(address).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!(error = %e, %core, "opening a websocket on the core");
            return unavailable("the node serving this deployment is not reachable");
        }
    };
    let _ = upstream.set_nodelay(true);
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in req.headers().iter().filter(|(n, _)| *n != FORWARDED_CLIENT && *n != FORWARDED_KEY) {
        head.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes())));
    }
    head.push_str(&format!(
        "{}: {client_ip}\r\n{}: {key}\r\n\r\n",
        FORWARDED_CLIENT.as_str(),
        FORWARDED_KEY.as_str()
    ));
    if upstream.write_all(head.as_bytes()).await.is_err() {
        return unavailable("the node serving this deployment is not reachable");
    }
    let (status, headers, rest) = match read_head(&mut upstream).await {
        Some(answer) => answer,
        None => return unavailable("the node serving this deployment did not answer"),
    };
    let mut answer = HttpResponse::build(status);
    for (name, value) in headers.iter().filter(|(n, _)| !hop_by_hop(n) && *n != header::CONTENT_LENGTH) {
        answer.append_header((name.clone(), value.clone()));
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let length = content_length(&headers).unwrap_or(0).min(MAX_REFUSAL as u64) as usize;
        let mut body = rest;
        while body.len() < length {
            if upstream.read_buf(&mut body).await.unwrap_or(0) == 0 {
                break;
            }
        }
        body.truncate(length);
        return answer.body(body.freeze());
    }
    // actix-http writes the `Connection: upgrade` of a switch itself, and then hands the
    // connection over to the body stream below.
    answer.upgrade("websocket");
    let (from_core, mut to_core) = upstream.into_split();
    let mut payload = payload;
    actix_web::rt::spawn(async move {
        while let Some(Ok(chunk)) = payload.next().await {
            if to_core.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // The client went: the core sees its connection end.
        let _ = to_core.shutdown().await;
    });
    let first = (!rest.is_empty()).then(|| Ok::<_, std::io::Error>(rest.freeze()));
    let downstream = futures_util::stream::unfold(from_core, |from_core| async move {
        // Waits without a buffer, so an idle tunnel holds none; reads into one on the stack
        // and passes on only what came.
        loop {
            from_core.readable().await.ok()?;
            let mut buffer = [0u8; 8 * 1024];
            match from_core.try_read(&mut buffer) {
                Ok(0) => return None,
                Ok(n) => return Some((Ok(Bytes::copy_from_slice(&buffer[..n])), from_core)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return None,
            }
        }
    });
    answer.streaming(futures_util::stream::iter(first).chain(downstream))
}

/// Reads the core's response head: its status, headers, and the bytes read past it.
async fn read_head(upstream: &mut TcpStream) -> Option<(StatusCode, HeaderMap, BytesMut)> {
    let mut buffer = BytesMut::with_capacity(1024);
    loop {
        if upstream.read_buf(&mut buffer).await.ok()? == 0 || buffer.len() > MAX_HEAD {
            return None;
        }
        let mut parsed = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut parsed);
        let Ok(httparse::Status::Complete(length)) = response.parse(&buffer) else { continue };
        let status = StatusCode::from_u16(response.code?).ok()?;
        let mut headers = HeaderMap::new();
        for h in response.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
            headers.append(name, header::HeaderValue::from_bytes(h.value).ok()?);
        }
        return Some((status, headers, buffer.split_off(length)));
    }
}
