//! Accepting PostgreSQL connections: each is served by pgwire (which answers a client's
//! `SSLRequest` with a TLS handshake when the server has a certificate), and watched for its client
//! going away. While a statement streams its rows the connection's task does not read from
//! the socket, so a client that disconnected would go unnoticed until the next write,
//! which for a long query (a sort, a join) comes only at its end. The watcher waits on a
//! duplicate of the socket for the peer's close (`EPOLLRDHUP`) and ends the running
//! statement at once (audited `cancelled`, "the client closed its connection").

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use pgwire::api::PgWireServerHandlers;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::cancel::RunningStatements;
use super::cursor_registry::Cursors;

/// Serves every connection to `listener` with `handlers`, until accepting fails for good.
pub(super) async fn accept(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handlers: Arc<impl PgWireServerHandlers + Send + Sync + 'static>,
    running: Arc<RunningStatements>,
    cursors: Arc<Cursors>,
) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(error = %e, "cannot accept a PostgreSQL connection");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let watcher = hangup_watcher(&socket, peer, running.clone());
        let handlers = handlers.clone();
        let tls = tls.clone();
        // Its cursors end with it, however it ends (a panic of its task included), so a
        // later connection from the same address never finds them.
        let ended = ConnectionEnd {
            cursors: cursors.clone(),
            peer,
        };
        tokio::spawn(async move {
            let _ended = ended;
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                debug!(error = %e, "PostgreSQL connection ended with an error");
            }
            if let Some(watcher) = watcher {
                watcher.abort();
            }
        });
    }
}

/// Ends a connection's cursors when its task ends (their statements are audited as they
/// drop).
struct ConnectionEnd {
    cursors: Arc<Cursors>,
    peer: SocketAddr,
}

impl Drop for ConnectionEnd {
    fn drop(&mut self) {
        self.cursors.connection_closed(self.peer);
    }
}

/// Watches a duplicate of `socket` for the client's close; `None` when the socket cannot
/// be watched (the statement then ends at its timeout instead).
fn hangup_watcher(
    socket: &TcpStream,
    peer: SocketAddr,
    running: Arc<RunningStatements>,
) -> Option<tokio::task::JoinHandle<()>> {
    let duplicate: OwnedFd = socket.as_fd().try_clone_to_owned().ok()?;
    // SAFETY: the `OwnedFd` is a valid open descriptor that the `AsyncFd` owns for its
    // whole life, and always returns the same raw descriptor.
    let watched = unsafe { AsyncFd::register_with_interest(duplicate, Interest::READABLE) }.ok()?;
    Some(tokio::spawn(async move {
        loop {
            let Ok(mut ready) = watched.readable().await else {
                return;
            };
            if ready.ready().is_read_closed() {
                running.client_gone(peer);
                return;
            }
            // The client's next message arrived: pgwire reads it; wait for more.
            ready.clear_ready();
        }
    }))
}
