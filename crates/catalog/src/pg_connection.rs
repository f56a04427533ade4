//! The PostgreSQL connection of a shared catalog, owned by a thread of its own: catalog
//! calls come from async tasks and plain threads alike, and the synchronous `postgres`
//! client must not block inside another runtime (see `db.rs`). A connection that broke is
//! opened again on the next call.

use std::sync::mpsc;
use std::sync::Mutex;

use crate::{CatalogError, Result};

/// A statement for the connection thread.
type Job = Box<dyn FnOnce(&mut Option<postgres::Client>) + Send>;

/// The PostgreSQL connection, owned by a thread of its own (see the module doc).
pub(crate) struct PgConnection {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// The URL without its password, for messages.
    shown: String,
}

impl PgConnection {
    /// Connects to `url` (`postgres://user:password@host:port/database`).
    pub(crate) fn connect(url: &str) -> Result<PgConnection> {
        let shown = without_password(url);
        let config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| CatalogError::Open {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("medlake-catalog".into())
            .spawn(move || {
                let mut client: Option<postgres::Client> = None;
                for job in inbox {
                    if client.as_ref().is_none_or(postgres::Client::is_closed) {
                        client = config.connect(postgres::NoTls).ok();
                    }
                    job(&mut client);
                }
            })
            .map_err(|e| CatalogError::Open {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        let connection = PgConnection {
            jobs: Mutex::new(jobs),
            shown,
        };
        connection.run(|client| client.batch_execute("SELECT 1"))?;
        Ok(connection)
    }

    /// Runs `work` on the connection and waits for its result.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error>
            + Send
            + 'static,
    ) -> Result<T> {
        let (reply, answer) = mpsc::sync_channel(1);
        let shown = self.shown.clone();
        let job: Job = Box::new(move |client| {
            let result = match client {
                Some(client) => work(client).map_err(CatalogError::from),
                None => Err(CatalogError::Open {
                    path: shown,
                    reason: "the catalog database cannot be reached".into(),
                }),
            };
            let _ = reply.send(result);
        });
        let gone = || CatalogError::Open {
            path: self.shown.clone(),
            reason: "the catalog connection thread has stopped".into(),
        };
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

/// `url` with its password replaced by `***`.
pub(crate) fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            without_password("postgres://medlake:s3cret@db:5432/catalog"),
            "postgres://medlake:***@db:5432/catalog"
        );
    }
}
