//! Leases: one holder at a time for a named duty (the scheduler of a shared catalog), the
//! job ZooKeeper does in the classic stack.
//!
//! A lease is taken, renewed and handed over by one statement, so two processes racing
//! for it cannot both win: the row is inserted, or updated only when it has expired or is
//! already the caller's, and the statement returns the row only when the caller holds it.
//! Why that is enough:
//! - SQLite runs the statement under its write lock, PostgreSQL under the row lock of
//!   `ON CONFLICT DO UPDATE`: the check of the old row (expired, or the caller's) and the
//!   write happen together, never interleaved with another caller's.
//! - A new holder gets a larger `token` (the old token + 1); a renewal keeps it. Work done
//!   under a lease carries its token, so work of a holder that lost the lease (paused past
//!   its expiry) is told apart from the new holder's (a fencing token).
//! - Releasing sets the expiry to now rather than deleting the row, so tokens never go
//!   back to 1.
//! - Expiry is compared in the catalog's time text (local time); machines sharing a catalog
//!   run in one time zone with synchronised clocks (docs/catalog.md).

use chrono::{Duration, Local, NaiveDateTime};

use crate::db::Row;
use crate::{fmt_time, parse_time, Catalog, Result};

/// A lease as held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The duty (`scheduler`).
    pub name: String,
    /// Who holds it (a process: host, pid and a random part).
    pub holder: String,
    /// The fencing token: grows with every new holder, stays with a renewal.
    pub token: i64,
    /// When it lapses unless renewed.
    pub expires: NaiveDateTime,
}

impl Catalog {
    /// Takes lease `name` for `holder` for `ttl`, or renews it if `holder` has it. `None`
    /// when another holder's lease has not expired.
    pub fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let now = Local::now().naive_local();
        let expires = now + ttl;
        let row = self.db.query_opt(
            "INSERT INTO lease (name, holder, token, expires, acquired) VALUES (?1, ?2, 1, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET
               token = CASE WHEN lease.holder = excluded.holder THEN lease.token
                            ELSE lease.token + 1 END,
               acquired = CASE WHEN lease.holder = excluded.holder THEN lease.acquired
                               ELSE excluded.acquired END,
               holder = excluded.holder,
               expires = excluded.expires
             WHERE lease.holder = excluded.holder OR lease.expires < ?4
             RETURNING holder, token, expires",
            sql_params![name, holder, fmt_time(&expires), fmt_time(&now)],
        )?;
        row.map(|r| lease_row(name, &r)).transpose()
    }

    /// Gives lease `name` up if `holder` has it (it expires now); whether it was held.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<bool> {
        let now = fmt_time(&Local::now().naive_local());
        let changed = self.db.execute(
            "UPDATE lease SET expires = ?3 WHERE name = ?1 AND holder = ?2 AND expires > ?3",
            sql_params![name, holder, now],
        )?;
        Ok(changed > 0)
    }

    /// Lease `name` as last taken (it may have expired).
    pub fn lease(&self, name: &str) -> Result<Option<Lease>> {
        let row = self.db.query_opt(
            "SELECT holder, token, expires FROM lease WHERE name = ?1",
            sql_params![name],
        )?;
        row.map(|r| lease_row(name, &r)).transpose()
    }
}

/// A lease from a row of (holder, token, expires).
fn lease_row(name: &str, r: &Row) -> Result<Lease> {
    Ok(Lease {
        name: name.to_string(),
        holder: r.text(0, "lease.holder")?,
        token: r.int(1, "lease.token")?,
        expires: parse_time(&r.text(2, "lease.expires")?, "lease.expires")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalogs;

    #[test]
    fn one_holder_at_a_time_renewals_keep_the_token_a_takeover_raises_it() {
        for (backend, catalog) in catalogs("lease") {
            let minute = Duration::seconds(60);
            let a = catalog
                .acquire_lease("scheduler", "a", minute)
                .unwrap()
                .unwrap();
            assert_eq!((a.holder.as_str(), a.token), ("a", 1), "{backend}");
            assert!(
                catalog
                    .acquire_lease("scheduler", "b", minute)
                    .unwrap()
                    .is_none(),
                "{backend}"
            );
            let renewed = catalog
                .acquire_lease("scheduler", "a", minute)
                .unwrap()
                .unwrap();
            assert_eq!(renewed.token, 1, "{backend}");
            assert!(renewed.expires >= a.expires, "{backend}");
            // An expired lease (a holder that stopped renewing) is taken over.
            catalog
                .acquire_lease("scheduler", "a", Duration::seconds(-1))
                .unwrap()
                .unwrap();
            let b = catalog
                .acquire_lease("scheduler", "b", minute)
                .unwrap()
                .unwrap();
            assert_eq!((b.holder.as_str(), b.token), ("b", 2), "{backend}");
            assert!(
                catalog
                    .acquire_lease("scheduler", "a", minute)
                    .unwrap()
                    .is_none(),
                "{backend}"
            );
            // A release hands it over at once, and the token still grows.
            assert!(
                !catalog.release_lease("scheduler", "a").unwrap(),
                "{backend}"
            );
            assert!(
                catalog.release_lease("scheduler", "b").unwrap(),
                "{backend}"
            );
            let a = catalog
                .acquire_lease("scheduler", "a", minute)
                .unwrap()
                .unwrap();
            assert_eq!(a.token, 3, "{backend}");
            assert_eq!(
                catalog.lease("scheduler").unwrap().unwrap().holder,
                "a",
                "{backend}"
            );
            assert!(catalog.lease("nothing").unwrap().is_none(), "{backend}");
        }
    }

    #[test]
    fn racing_holders_never_both_win() {
        for (backend, test) in catalogs("lease_race") {
            // PostgreSQL: every racer on a connection of its own, as separate processes
            // would be; SQLite (in memory): one catalog shared by the racing threads.
            let own: Vec<Catalog> = match &test.url {
                Some(url) => (0..6).map(|_| Catalog::connect(url).unwrap()).collect(),
                None => Vec::new(),
            };
            let racers: Vec<&Catalog> = if own.is_empty() {
                vec![&test.catalog; 6]
            } else {
                own.iter().collect()
            };
            for round in 0..20 {
                let name = format!("duty-{round}");
                let winners: Vec<Lease> = std::thread::scope(|scope| {
                    let handles: Vec<_> = racers
                        .iter()
                        .enumerate()
                        .map(|(i, catalog)| {
                            let name = name.clone();
                            scope.spawn(move || {
                                catalog
                                    .acquire_lease(
                                        &name,
                                        &format!("holder-{i}"),
                                        Duration::seconds(60),
                                    )
                                    .unwrap()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .filter_map(|r| r.join().unwrap())
                        .collect()
                });
                assert_eq!(winners.len(), 1, "{backend} round {round}: {winners:?}");
                assert_eq!(winners[0].token, 1, "{backend}");
            }
        }
    }
}
