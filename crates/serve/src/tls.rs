//! TLS for both fronts: HTTPS for the web UI and API, and the PostgreSQL protocol's
//! `SSLRequest` (psql's `sslmode=require`/`verify-full`).
//!
//! One certificate chain and key (`[serve.tls]`, PEM files) serve both. They are read
//! once at start; a file that is missing, holds no certificate or no key, or a key that
//! does not belong to the certificate stops the server with a one-line error instead of
//! serving plain text by surprise. rustls with the `ring` provider does the protocol
//! (TLS 1.2 and 1.3, no renegotiation, no compression).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::{Result, ServeError};

/// The ALPN name PostgreSQL 17 clients send for a direct TLS connection.
const POSTGRESQL_ALPN: &[u8] = b"postgresql";

/// Where the certificate chain and private key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// The server's certificate, followed by any intermediates.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The acceptors of the two fronts, made from one certificate and key.
#[derive(Clone)]
pub struct Tls {
    /// HTTPS (HTTP/1.1).
    pub http: TlsAcceptor,
    /// The PostgreSQL protocol (ALPN `postgresql`, for clients that connect with TLS first).
    pub pg: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Reads the certificate and key; every problem is a one-line error naming the file.
    pub fn load(options: &TlsOptions) -> Result<Tls> {
        let chain = certificates(&options.cert)?;
        let key = private_key(&options.key)?;
        let http = server_config(chain.clone(), key.clone_key(), b"http/1.1", &options.key)?;
        let pg = server_config(chain, key, POSTGRESQL_ALPN, &options.key)?;
        Ok(Tls {
            http: TlsAcceptor::from(Arc::new(http)),
            pg: TlsAcceptor::from(Arc::new(pg)),
        })
    }
}

fn tls_error(path: &Path, reason: impl std::fmt::Display) -> ServeError {
    ServeError::Tls(format!("{}: {reason}", path.display()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(path, format!("cannot read the certificate ({e})")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path, format!("not a PEM certificate file ({e})")))?;
    if chain.is_empty() {
        return Err(tls_error(path, "holds no certificate (PEM `CERTIFICATE`)"));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        tls_error(
            path,
            format!("no usable private key (PEM PKCS#8, RSA or EC): {e}"),
        )
    })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[u8],
    key_path: &Path,
) -> Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error(key_path, format!("does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}

/// A listener whose connections are TLS streams: the handshakes run in their own tasks,
/// so one slow or broken client never holds up the next one's.
pub(crate) struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: std::io::Result<SocketAddr>,
}

impl TlsListener {
    /// Accepts on `listener`, handing out the connections whose handshake succeeded.
    pub(crate) fn new(listener: TcpListener, acceptor: TlsAcceptor) -> TlsListener {
        let (sender, handshaken) = mpsc::channel(64);
        let local = listener.local_addr();
        tokio::spawn(async move {
            loop {
                let (socket, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        debug!(error = %e, "cannot accept an HTTPS connection");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(socket),
                    );
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            let _ = sender.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { handshaken, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended only if the runtime is shutting down.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match &self.local {
            Ok(addr) => Ok(*addr),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.path().join("missing.pem");
        let err = Tls::load(&TlsOptions {
            cert: missing.clone(),
            key: missing.clone(),
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("missing.pem") && err.contains("cannot read"),
            "{err}"
        );
        let err = Tls::load(&TlsOptions {
            cert: empty.clone(),
            key: empty,
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("holds no certificate"), "{err}");
        assert!(!err.contains('\n'));
    }
}
