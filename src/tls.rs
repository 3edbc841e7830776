//! TLS in the binary, for a small team without a reverse proxy: HTTPS and WSS on the one port
//! when `server.tls_cert` and `server.tls_key` are set (PEM files, rustls).
//!
//! Certificates are renewed (Let's Encrypt: every 60-90 days) while chats go on, so the pair
//! is read again on SIGHUP and whenever either file changes (checked every
//! [`WATCH_EVERY`]: [`reload_on_hangup`]); new handshakes get the new pair, open connections keep theirs. A pair
//! that does not load (a half-copied file, a key that does not match) is logged and the
//! current one kept; at start it is an error, so a wrong path never starts a plain-text
//! server by surprise.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// How often the files are looked at for a change.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The certificate and key files, and the pair last loaded from them.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").clone())
    }
}

impl Certificates {
    /// Loads the pair; an error says which file is wrong and how.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificates>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_pair(cert, key, &provider)?;
        Ok(Arc::new(Certificates {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// The server configuration that serves whatever pair is current (HTTP/1.1 only: the
    /// websockets upgrade from it).
    pub fn server_config(self: &Arc<Self>) -> Result<ServerConfig, String> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Reads the files again; the current pair stays if they do not load.
    pub fn reload(&self) {
        match read_pair(&self.cert, &self.key, &self.provider) {
            Ok(pair) => {
                let mut current = self.current.write().expect("certificate lock");
                if current.cert != pair.cert {
                    *current = Arc::new(pair);
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
            }
            Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; the current one stays"),
        }
    }

    /// What tells a changed file: modification time and length of both.
    fn stamp(&self) -> [Option<(SystemTime, u64)>; 2] {
        [&self.cert, &self.key]
            .map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
    }
}

/// Handles SIGHUP for the whole server, until the task is dropped: reloads the certificates
/// when TLS is on, and then also when either file changes. Without TLS a SIGHUP is logged and
/// ignored, so that a `systemctl reload` (or a stray signal) never stops the server, which
/// SIGHUP's default action would.
///
/// The handler is in place when this returns, before the future first runs: call it before
/// the server says it is listening.
pub fn reload_on_hangup(certificates: Option<Arc<Certificates>>) -> impl std::future::Future<Output = ()> {
    let hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: certificates reload on file changes only");
            None
        }
    };
    let mut hangup = hangup;
    let mut seen = certificates.as_ref().map(|c| c.stamp());
    async move {
        let mut every = tokio::time::interval(WATCH_EVERY);
        loop {
            tokio::select! {
                Some(()) = async { hangup.as_mut()?.recv().await } => match &certificates {
                    Some(c) => c.reload(),
                    None => tracing::info!("SIGHUP: nothing to reload (no server.tls_cert)"),
                },
                _ = every.tick(), if certificates.is_some() => {
                    let c = certificates.as_ref().expect("checked by the guard");
                    let now = Some(c.stamp());
                    if now != seen {
                        seen = now;
                        c.reload();
                    }
                }
            }
        }
    }
}

fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|all| all.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("server.tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("server.tls_cert {}: no certificate in it", cert.display()));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("server.tls_key {}: {e}", key.display()))?;
    // Also checks that the key is the certificate's.
    CertifiedKey::from_der(certs, private, provider).map_err(|e| {
        format!("server.tls_key {} does not match server.tls_cert {}: {e}", key.display(), cert.display())
    })
}
