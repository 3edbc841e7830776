//! `switchboard export --server URL`: an online backup fetched from a running server's
//! `GET /api/v1/export`, checked as it streams ([`super::Tally`]) so that only a whole export
//! counts as done.
//!
//! The admin token comes from the environment (`SWITCHBOARD_ADMIN_TOKEN`) or a file, never the
//! command line, where every user of the machine can read it in the process list.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::Tally;

/// The environment variable that holds the admin token for `--server`.
pub const TOKEN_VAR: &str = "SWITCHBOARD_ADMIN_TOKEN";

/// How long connecting may take: a server that is up answers at once.
const CONNECT: Duration = Duration::from_secs(10);
/// How long the server may take before its first byte: it reads every conversation's last
/// seq first, which on a large JetStream store takes a while.
const FIRST_BYTE: Duration = Duration::from_secs(600);

/// The admin token: the first line of `file` when given, else `SWITCHBOARD_ADMIN_TOKEN`.
pub fn admin_token(file: Option<&Path>) -> anyhow::Result<String> {
    let token = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            let token = text.lines().next().unwrap_or("").trim().to_owned();
            if token.is_empty() {
                bail!("the token file {} is empty", path.display());
            }
            token
        }
        None => std::env::var(TOKEN_VAR).map(|t| t.trim().to_owned()).unwrap_or_default(),
    };
    if token.is_empty() {
        bail!("--server needs the admin token: set {TOKEN_VAR} or pass --token-file PATH");
    }
    Ok(token)
}

/// Streams the export of the server at `server` (its base URL, `http://host:port` or
/// `https://host:port`) into `out`; the number of records, once the stream ended with its
/// `end` line. Over https the server must show a certificate from `ca_file` when given (a
/// private CA, or the server's own self-signed certificate), else one the system trusts.
pub fn fetch(server: &str, token: &str, ca_file: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<u64> {
    let (url, https) = export_url(server)?;
    let tls = if https { Some(tls_config(ca_file)?) } else { None };
    if !https && ca_file.is_some() {
        bail!("--ca-file is for https servers; {server} is plain http");
    }
    actix_web::rt::System::new().block_on(stream(server, url, tls, token, out))
}

/// `server`'s export endpoint, and whether it is https.
fn export_url(server: &str) -> anyhow::Result<(String, bool)> {
    let base = server.trim_end_matches('/');
    let uri: actix_web::http::Uri = base
        .parse()
        .map_err(|e| anyhow!("--server {server:?} is not a URL ({e}); give http(s)://HOST:PORT"))?;
    match uri.scheme_str() {
        Some(scheme @ ("http" | "https")) if uri.host().is_some() => {
            Ok((format!("{base}/api/v1/export"), scheme == "https"))
        }
        _ => bail!("--server {server:?} is not an http(s) URL; give http://HOST:PORT or https://HOST:PORT"),
    }
}

/// The TLS client: the roots in `ca_file`, else the system's (rustls-native-certs), on the
/// same ring provider the server uses.
fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("--ca-file {}: {e}", path.display()))?;
            for cert in certs {
                roots.add(cert).map_err(|e| anyhow!("--ca-file {}: {e}", path.display()))?;
            }
        }
        None => {
            // Certificates the system keeps that rustls cannot read are skipped, as browsers do.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        bail!("no certificate to trust: give --ca-file PATH (PEM) for the server's certificate or its CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The export is one long HTTP/1.1 response.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn stream(
    server: &str,
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    token: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let mut connector = awc::Connector::new().timeout(CONNECT);
    if let Some(config) = tls {
        connector = connector.rustls_0_23(config);
    }
    let client = awc::Client::builder().connector(connector).timeout(FIRST_BYTE).finish();
    let mut response = client.get(&url).bearer_auth(token).send().await.map_err(|e| match e {
        awc::error::SendRequestError::Connect(e) => anyhow!("could not reach the server at {server}: {e}"),
        awc::error::SendRequestError::Timeout => {
            anyhow!("the server at {server} did not answer within {}s", FIRST_BYTE.as_secs())
        }
        e => anyhow!("asking {server} for its export: {e}"),
    })?;
    let status = response.status();
    if !status.is_success() {
        // The contract's error body, when the server sent one.
        let body = response.body().limit(64 * 1024).await.unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        bail!(match status.as_u16() {
            401 => format!(
                "the server at {server} refused the admin token ({status}: {message}); check {TOKEN_VAR} \
                 or the token file against its server.admin_token"
            ),
            403 => format!("the token is not the server's admin token ({status}: {message})"),
            404 => format!("the server at {server} has no export endpoint ({status}): is it a switchboard, and this version?"),
            _ => format!("the server at {server} refused the export ({status}: {message})"),
        });
    }
    let mut tally = Tally::default();
    while let Some(chunk) = response.next().await {
        let chunk = chunk.map_err(|e| anyhow!("the export was cut short ({e}): it has no end line"))?;
        tally.feed(&chunk)?;
        out.write_all(&chunk)?;
    }
    tally.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_are_taken() {
        let plain = ("http://127.0.0.1:8080/api/v1/export".to_owned(), false);
        assert_eq!(export_url("http://127.0.0.1:8080/").unwrap(), plain);
        let tls = ("https://chat.example/api/v1/export".to_owned(), true);
        assert_eq!(export_url("https://chat.example").unwrap(), tls);
        assert!(format!("{}", export_url("chat.example:80").unwrap_err()).contains("http://HOST:PORT"));
        assert!(format!("{}", export_url("ftp://chat.example").unwrap_err()).contains("http(s)"));
    }
}
