//! `GET /api/v1/export`: the online backup. The running server streams the same JSON lines as
//! `switchboard export` (see `crate::export`, "Online", for the moment it is as of) while
//! chats go on.
//!
//! The cut and every read run on a blocking thread, never on an HTTP worker or an actor's
//! thread; lines go out through a small bounded channel in 64 KiB chunks, so a slow reader
//! holds back only its own export, and memory stays one conversation's worth. A reader that
//! hangs up stops the export at its next chunk. A failure after the first line cannot change
//! the status any more: the stream is broken off without its `end` line, which every reader
//! (`switchboard export --server`, `switchboard import`) refuses.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{web, HttpResponse};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::domain::ErrorCode;
use crate::export::Cut;

/// Bytes handed to the connection at a time.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the reader: with `CHUNK`, the most an export buffers.
const CHUNKS_AHEAD: usize = 4;

/// One export at a time per server: each reads the whole store, and a second one at once
/// (a cron job overlapping a slow one) would only double that cost.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Clears `RUNNING` when the export it guards ends, however it ends.
struct Running;

impl Running {
    fn claim() -> Option<Running> {
        (!RUNNING.swap(true, Ordering::AcqRel)).then_some(Running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::Release);
    }
}

pub async fn export(caller: Caller, app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.admin_only()?;
    let running = Running::claim().ok_or_else(|| {
        ApiError::new(ErrorCode::Conflict, "an export is already running; retry when it ends")
    })?;
    let store = app.store.clone();
    let cut = web::block(move || Cut::take(&store))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the export stopped"))??;
    // What the cut holds is durable before a line of it leaves: a backup never holds a
    // message the server could still lose.
    app.store.sync().await?;
    tracing::info!(conversations = cut.conversations(), "export started");

    let (tx, mut rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHUNKS_AHEAD);
    let store = app.store.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let _running = running;
        let mut out = io::BufWriter::with_capacity(CHUNK, Chunks(tx.clone()));
        let written = cut.write(&store, &mut out).and_then(|counts| Ok(out.flush().map(|()| counts)?));
        match written {
            Ok(counts) => tracing::info!(%counts, "export streamed"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "export broken off");
                // Whatever is buffered stays unsent: the reader sees the stream end early.
                drop(out.into_parts());
                let _ = tx.blocking_send(Err(io::Error::other(format!("{e:#}"))));
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body))
}

/// Hands each buffer the export writes to the connection.
struct Chunks(mpsc::Sender<Result<Bytes, io::Error>>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader hung up"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
