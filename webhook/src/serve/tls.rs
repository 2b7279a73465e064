//! The TLS admission listener: certificate loading and rotation, and the accept loop.
//!
//! cert-manager rotates the serving certificate by rewriting the mounted Secret. A
//! [`CertStore`] polls the two files and, when their content changes and the new pair is valid
//! (the key matches the certificate), swaps the [`CertifiedKey`] the rustls resolver hands out.
//! New handshakes see the new certificate; established connections keep theirs and are never
//! dropped. A broken pair is logged, counted and ignored: the previous certificate stays.
//!
//! TLS 1.2 and 1.3 only, ALPN `h2` and `http/1.1` (the API server speaks either). Graceful
//! shutdown stops accepting, then lets every accepted connection finish its in-flight requests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::metrics::Metrics;
use super::poll::Watched;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send request headers (slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate/key pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: invalid PEM: {cause}")]
    Pem { path: PathBuf, cause: String },
    #[error("{key} does not fit {cert}: {source}")]
    Key {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The process-wide rustls crypto provider (aws-lc-rs). Listeners are built with it explicitly,
/// so they do not depend on the process default (see [`crate::serve::install_crypto_provider`]).
pub fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// The serving certificate, re-read from disk when the files change.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// File contents last tried (good or bad), so a broken pair is reported once.
    last_seen: Mutex<(Vec<u8>, Vec<u8>)>,
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads the pair; fails when it is missing or invalid (the server cannot start without one).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let (cert, key) = read_pair(cert_path, key_path)?;
        let certified = parse_pair(cert_path, key_path, &cert, &key, &provider)?;
        Ok(Arc::new(Self {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider,
            current: ArcSwap::from_pointee(certified),
            last_seen: Mutex::new((cert, key)),
            last_error: Mutex::new(None),
        }))
    }

    /// Re-reads the files; swaps the certificate when they changed and are valid.
    /// Returns `Some(result)` when something changed, `None` when the files are as last seen.
    pub fn reload_if_changed(&self) -> Option<Result<(), String>> {
        let (cert, key) = match read_pair(&self.cert_path, &self.key_path) {
            Ok(pair) => pair,
            Err(e) => return Some(self.record(Err(e.to_string()))),
        };
        {
            let mut seen = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.0 == cert && seen.1 == key {
                return None;
            }
            *seen = (cert.clone(), key.clone());
        }
        let result = parse_pair(&self.cert_path, &self.key_path, &cert, &key, &self.provider)
            .map(|certified| self.current.store(Arc::new(certified)))
            .map_err(|e| e.to_string());
        Some(self.record(result))
    }

    fn record(&self, result: Result<(), String>) -> Result<(), String> {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(()) => *last = None,
            Err(e) if last.as_deref() == Some(e) => return result,
            Err(e) => *last = Some(e.clone()),
        }
        result
    }

    /// The last reload error, if the files currently on disk are not being served.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A rustls server configuration serving this store's certificate.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl Watched for CertStore {
    type Outcome = Result<(), String>;
    const WHAT: &'static str = "Certificate";

    fn check(&self) -> Option<Self::Outcome> {
        self.reload_if_changed()
    }

    fn report(&self, metrics: &Metrics, outcome: Self::Outcome) {
        match outcome {
            Ok(()) => {
                metrics.record_tls_reload(true);
                tracing::info!(cert = %self.cert_path.display(), "Serving certificate reloaded");
            }
            Err(error) => {
                metrics.record_tls_reload(false);
                tracing::warn!(%error, "Serving certificate not reloaded; keeping the previous one");
            }
        }
    }
}

#[derive(Debug)]
struct Resolver(Arc<CertStore>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current.load_full())
    }
}

fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    Ok((read(cert)?, read(key)?))
}

fn parse_pair(
    cert_path: &Path,
    key_path: &Path,
    cert: &[u8],
    key: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_path_buf(),
            cause: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Pem {
        path: key_path.to_path_buf(),
        cause: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Key {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    })
}

/// Serves `app` over TLS on `listener` until `stop` fires, then drains: waits up to
/// `drain_timeout` for accepted connections to finish their in-flight requests.
/// Returns whether the drain completed in time.
pub async fn serve(
    listener: TcpListener,
    config: rustls::ServerConfig,
    app: Router,
    mut stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> bool {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "Accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        // Taken before the handshake, so a drain also waits for connections still handshaking.
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let conn = builder
                .serve_connection(TokioIo::new(tls), service)
                .into_owned();
            if let Err(error) = watcher.watch(conn).await {
                tracing::debug!(%peer, %error, "Connection ended with an error");
            }
        });
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(connections = open, "Admission listener closed; draining");
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!("Drained all admission connections");
            true
        }
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(timeout = ?drain_timeout, "Drain timed out; closing remaining connections");
            false
        }
    }
}
