//! HTTPS for the console and the API: the certificate chain and key from PEM files, and a
//! listener that hands axum connections whose TLS handshake is done. Handshakes run off
//! the accept loop, each with a deadline, so a slow or silent client delays nobody else.

use axum::serve::Listener;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for axum to take them.
const ACCEPTED_QUEUE: usize = 64;
/// Handshakes under way at once; a connection beyond them ends the oldest one, so a
/// flood of silent clients can neither pile up tasks nor keep real clients out: a real
/// handshake takes milliseconds, a silent one waits to be pushed out.
const MAX_HANDSHAKES: usize = 256;

/// Connections the TLS listener may hold besides the served ones: handshakes under way
/// and handshaken ones waiting to be served. They need file descriptors too.
pub const PENDING_CONNECTIONS: usize = MAX_HANDSHAKES + ACCEPTED_QUEUE;

/// The handshakes under way, oldest first.
#[derive(Default)]
struct Handshakes {
    next_id: u64,
    running: std::collections::VecDeque<(u64, tokio::task::AbortHandle)>,
}

impl Handshakes {
    /// Starts `handshake` as handshake `id`, ending the oldest one when
    /// [`MAX_HANDSHAKES`] are under way.
    fn start(
        all: &Arc<std::sync::Mutex<Handshakes>>,
        handshake: impl FnOnce(u64) -> tokio::task::JoinHandle<()>,
    ) {
        let mut this = all
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if this.running.len() >= MAX_HANDSHAKES
            && let Some((_, oldest)) = this.running.pop_front()
        {
            oldest.abort();
            tracing::debug!("too many TLS handshakes under way; the oldest was ended");
        }
        let id = this.next_id;
        this.next_id += 1;
        // Spawned under the lock: it cannot finish (and forget itself) before it is listed.
        let task = handshake(id);
        this.running.push_back((id, task.abort_handle()));
    }

    /// Forgets handshake `id`, which ended.
    fn finished(all: &std::sync::Mutex<Handshakes>, id: u64) {
        all.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .running
            .retain(|(i, _)| *i != id);
    }
}

/// Why the certificate or key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read as PEM certificates.
    #[error("cannot read the TLS certificate {}: {source}", path.display())]
    Certificate {
        /// The file given.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("the TLS certificate file {} holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    /// The key file cannot be read as a PEM private key.
    #[error("cannot read the TLS private key {} (PKCS#8, PKCS#1 or SEC1 PEM): {source}", path.display())]
    Key {
        /// The file given.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refuses the pair, for example a key that is not the certificate's.
    #[error("the TLS certificate and key cannot be served together: {0}")]
    Refused(#[from] rustls::Error),
}

/// The server side of TLS from a PEM certificate chain (leaf first) and its private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificate {
            path: cert.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections come out of a finished TLS handshake.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (queue, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(std::sync::Mutex::new(Handshakes::default()));
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(connection) => connection,
                    Err(e) => {
                        // Out of file descriptors, mostly: wait instead of spinning.
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, queue, all) = (acceptor.clone(), queue.clone(), handshakes.clone());
                Handshakes::start(&handshakes, move |id| {
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream))
                            .await
                        {
                            // Listed until served: one waiting for a connection slot
                            // counts against the handshakes too.
                            Ok(Ok(tls)) => {
                                let _ = queue.send((tls, peer)).await;
                            }
                            Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                        Handshakes::finished(&all, id);
                    })
                });
            }
        });
        Ok(TlsListener {
            accepted,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept loop ends only with the listener.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
