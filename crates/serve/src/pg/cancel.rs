//! PostgreSQL cancel requests (psql's Ctrl-C, a driver's `cancel()`) and clients that went
//! away, delivered to the statement that is running on the connection, wherever it is.
//!
//! pgwire cancels a statement only while its handler plans it; medlake's statements do
//! their work while the client reads the row stream, after the handler returned. So each
//! statement's [`RowStream`](crate::query::RowStream) gets a signal of its own, kept here
//! by the connection's process id and secret key, and a cancel request fires it (and,
//! through pgwire's own handler, the planning step too).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::channel::oneshot;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::ClientInfo;
use pgwire::messages::cancel::CancelRequest;

/// A connection, as a cancel request names it: its process id and secret key.
type ConnectionKey = (i32, Vec<u8>);

/// What a cancelled statement's audit and client hear.
pub(super) const CANCEL_REQUESTED: &str = "canceling statement due to user request";
/// The same, when the client closed its connection.
pub(super) const CLIENT_GONE: &str = "the client closed its connection";

/// The signal of the statement running on each connection, and the client's address.
#[derive(Default)]
pub(super) struct RunningStatements {
    signals: Mutex<HashMap<ConnectionKey, (SocketAddr, oneshot::Sender<&'static str>)>>,
}

impl RunningStatements {
    /// A fresh signal for the statement `client` is about to run (the connection's
    /// previous statement has ended: a connection runs one at a time).
    pub(super) fn signal(
        &self,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> oneshot::Receiver<&'static str> {
        let (pid, key) = client.pid_and_secret_key();
        let (tx, rx) = oneshot::channel();
        let mut signals = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        // Statements that ended dropped their receivers: forget them.
        signals.retain(|_, (_, tx)| !tx.is_canceled());
        signals.insert((pid, key.to_bytes().to_vec()), (client.socket_addr(), tx));
        rx
    }

    fn cancel(&self, request: &CancelRequest) -> bool {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let sender = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        sender.is_some_and(|(_, tx)| tx.send(CANCEL_REQUESTED).is_ok())
    }

    /// Ends the statement of the connection from `peer`, whose client closed it.
    pub(super) fn client_gone(&self, peer: SocketAddr) {
        let mut signals = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        let keys: Vec<ConnectionKey> = signals
            .iter()
            .filter(|(_, (addr, _))| *addr == peer)
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            if let Some((_, tx)) = signals.remove(&key) {
                let _ = tx.send(CLIENT_GONE);
            }
        }
    }
}

/// Fires the running statement's signal, then lets pgwire cancel a statement still being
/// planned.
pub(super) struct CancelFront {
    pub(super) running: Arc<RunningStatements>,
    pub(super) planning: DefaultCancelHandler,
}

#[async_trait]
impl CancelHandler for CancelFront {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let streaming = self.running.cancel(&request);
        tracing::info!(streaming, "PostgreSQL cancel request");
        self.planning.on_cancel_request(request).await;
    }
}
