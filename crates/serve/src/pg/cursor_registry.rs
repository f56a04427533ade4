//! Every connection's open cursors ([`super::cursors`]), by the client's address, and
//! whether each connection is inside a transaction block: a cursor without hold ends with
//! its transaction, every cursor with its connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use deltalake::datafusion::sql::sqlparser::ast::{CloseCursor, Statement};
use pgwire::api::portal::Portal;
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::{MemPortalStore, PortalStore};
use pgwire::error::PgWireResult;
use tokio::sync::Mutex as AsyncMutex;

use super::cursors::{
    cursor_name, declared, describing, end_at, no_such_cursor, Cursor, StoredPlan,
};
use super::refusal;
use crate::query::RowStream;

/// An open cursor and what is known of it without taking its lock (a `FETCH ALL` holds
/// the lock while its rows are sent).
struct Held {
    /// The `DECLARE` as the client wrote it (for `pg_cursors`).
    statement: String,
    holdable: bool,
    binary: bool,
    created: DateTime<Utc>,
    /// Declared in the transaction block still open: a `ROLLBACK` ends it even if held.
    uncommitted: bool,
    cursor: Arc<AsyncMutex<Cursor>>,
}

/// A connection's cursors and whether it is inside a transaction block.
#[derive(Default)]
struct Session {
    in_block: bool,
    cursors: HashMap<String, Held>,
}

/// Every connection's cursors, by the client's address (unique while it is connected).
#[derive(Default)]
pub(super) struct Cursors {
    sessions: Mutex<HashMap<SocketAddr, Session>>,
}

/// A cursor in `pg_cursors`.
pub(super) struct Listed {
    pub(super) name: String,
    pub(super) statement: String,
    pub(super) holdable: bool,
    pub(super) binary: bool,
    pub(super) created: DateTime<Utc>,
}

impl Cursors {
    fn with<T>(&self, peer: SocketAddr, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        f(sessions.entry(peer).or_default())
    }

    /// Whether the connection is inside `BEGIN ... COMMIT`.
    pub(super) fn in_block(&self, peer: SocketAddr) -> bool {
        self.with(peer, |s| s.in_block)
    }

    /// Whether the connection has a cursor called `name`.
    pub(super) fn exists(&self, peer: SocketAddr, name: &str) -> bool {
        self.with(peer, |s| s.cursors.contains_key(name))
    }

    /// Opens the cursor `declare` declared over `rows`, and makes its portal describable
    /// (psycopg describes a named cursor's portal before its first `FETCH`).
    pub(super) fn open(
        &self,
        peer: SocketAddr,
        declare: &Statement,
        rows: RowStream,
        store: &MemPortalStore<StoredPlan>,
    ) -> PgWireResult<()> {
        let declared = declared(declare)?;
        let text = declare.to_string();
        let schema = rows.schema();
        let deadline = rows.deadline();
        let described = describing(&schema)?;
        let name = declared.name.clone();
        let cursor = Arc::new(AsyncMutex::new(Cursor {
            binary: declared.binary,
            schema,
            rows: Some(rows),
            pending: None,
            failure: None,
            position: 0,
        }));
        let opened = self.with(peer, |s| {
            if s.cursors.contains_key(&name) {
                return false;
            }
            let held = Held {
                statement: text.clone(),
                holdable: declared.holdable,
                binary: declared.binary,
                created: Utc::now(),
                uncommitted: true,
                cursor: cursor.clone(),
            };
            s.cursors.insert(name.clone(), held);
            true
        });
        if !opened {
            return Err(refusal(
                "42P03",
                format!("cursor \"{name}\" already exists"),
            ));
        }
        // The portal's statement is the cursor's query with a plan of no rows: enough to
        // describe it, and harmless if a client executes the portal itself.
        let query = crate::query::read_of(declare).unwrap_or_else(|| declare.clone());
        let statement =
            StoredStatement::new(name.clone(), (text, Some((query, described))), vec![]);
        store.put_portal(Arc::new(Portal::new_cursor(name, Arc::new(statement))));
        if let Some(deadline) = deadline {
            tokio::spawn(end_at(deadline, Arc::downgrade(&cursor)));
        }
        Ok(())
    }

    /// The cursor called `name` on the connection.
    pub(super) fn get(&self, peer: SocketAddr, name: &str) -> Option<Arc<AsyncMutex<Cursor>>> {
        self.with(peer, |s| s.cursors.get(name).map(|h| h.cursor.clone()))
    }

    /// `CLOSE name` / `CLOSE ALL`.
    pub(super) fn close(
        &self,
        peer: SocketAddr,
        which: &CloseCursor,
        store: &MemPortalStore<StoredPlan>,
    ) -> PgWireResult<()> {
        // Removed under the lock, dropped after it: a cursor's drop writes its audit row.
        let closed: Vec<(String, Held)> = self.with(peer, |s| match which {
            CloseCursor::All => s.cursors.drain().collect(),
            CloseCursor::Specific { name } => s
                .cursors
                .remove_entry(&cursor_name(name))
                .into_iter()
                .collect(),
        });
        if let CloseCursor::Specific { name } = which {
            if closed.is_empty() {
                return Err(no_such_cursor(&cursor_name(name)));
            }
        }
        for (name, _) in closed {
            store.rm_portal(&name);
        }
        Ok(())
    }

    /// Follows the connection's transaction: `BEGIN` opens a block, `COMMIT` ends the
    /// cursors without hold, `ROLLBACK` those and the ones the block declared.
    pub(super) fn follow_transaction(
        &self,
        peer: SocketAddr,
        statement: &Statement,
        store: &MemPortalStore<StoredPlan>,
    ) {
        let ended: Vec<(String, Held)> = self.with(peer, |s| match statement {
            Statement::StartTransaction { .. } => {
                s.in_block = true;
                Vec::new()
            }
            Statement::Commit { .. } => {
                s.in_block = false;
                let ended = take_where(&mut s.cursors, |c| !c.holdable);
                for held in s.cursors.values_mut() {
                    held.uncommitted = false;
                }
                ended
            }
            Statement::Rollback {
                savepoint: None, ..
            } => {
                s.in_block = false;
                take_where(&mut s.cursors, |c| !c.holdable || c.uncommitted)
            }
            _ => Vec::new(),
        });
        for (name, _) in ended {
            store.rm_portal(&name);
        }
    }

    /// Ends every cursor of a connection that closed.
    pub(super) fn connection_closed(&self, peer: SocketAddr) {
        let gone = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&peer);
        drop(gone);
    }

    /// The connection's cursors, for `pg_cursors`.
    pub(super) fn listing(&self, peer: SocketAddr) -> Vec<Listed> {
        let mut listed: Vec<Listed> = self.with(peer, |s| {
            s.cursors
                .iter()
                .map(|(name, held)| Listed {
                    name: name.clone(),
                    statement: held.statement.clone(),
                    holdable: held.holdable,
                    binary: held.binary,
                    created: held.created,
                })
                .collect()
        });
        listed.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        listed
    }
}

/// Removes the cursors `ends` picks, to be dropped by the caller outside the lock.
fn take_where(
    cursors: &mut HashMap<String, Held>,
    ends: impl Fn(&Held) -> bool,
) -> Vec<(String, Held)> {
    let names: Vec<String> = cursors
        .iter()
        .filter(|(_, held)| ends(held))
        .map(|(n, _)| n.clone())
        .collect();
    names
        .into_iter()
        .filter_map(|name| cursors.remove_entry(&name))
        .collect()
}
