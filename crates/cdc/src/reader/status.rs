//! What the monitoring asks a binlog server: where its binlog ends, how big each binlog
//! file is (to count the bytes a capture is behind), and, on a replica, how far it trails
//! its primary.

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use super::{master_status, BinlogSource};
use crate::{BinlogPosition, Result};

/// A binlog server as the monitoring sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStatus {
    /// Where its binlog ends now.
    pub position: BinlogPosition,
    /// Its binlog files with their sizes, oldest first.
    pub files: Vec<(String, u64)>,
    /// Seconds it trails its primary, when it is a replica.
    pub replica_lag_seconds: Option<f64>,
}

impl ServerStatus {
    /// Bytes of binlog from `from` to the end (0 when `from` is at or past it; `None` when
    /// `from`'s file is no longer on the server).
    pub fn bytes_after(&self, from: &BinlogPosition) -> Option<u64> {
        if from.file == self.position.file {
            return Some(self.position.offset.saturating_sub(from.offset));
        }
        let start = self.files.iter().position(|(f, _)| *f == from.file)?;
        let mut bytes = 0u64;
        for (file, size) in &self.files[start..] {
            bytes += if *file == from.file {
                size.saturating_sub(from.offset)
            } else if *file == self.position.file {
                self.position.offset
            } else {
                *size
            };
        }
        Some(bytes)
    }
}

impl BinlogSource {
    /// Whether the server answers a query (with or without a binlog).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.connect().await?;
        conn.query_drop("SELECT 1")
            .await
            .map_err(|e| self.server_error(e))?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Asks the server where its binlog ends, its files and replication delay.
    pub async fn server_status(&self) -> Result<ServerStatus> {
        let mut conn = self.connect().await?;
        let e = |e: mysql_async::Error| self.server_error(e);
        let position = master_status(&mut conn)
            .await
            .map_err(e)?
            .ok_or_else(|| self.server_error("SHOW MASTER STATUS is empty: is the binlog on?"))?;
        let logs: Vec<Row> = conn.query("SHOW BINARY LOGS").await.map_err(e)?;
        let files = logs
            .into_iter()
            .filter_map(|r| Some((r.get::<String, _>(0)?, r.get::<u64, _>(1)?)))
            .collect();
        let replica: Option<Row> = conn.query_first("SHOW SLAVE STATUS").await.map_err(e)?;
        let replica_lag_seconds = replica.and_then(|r| {
            r.get_opt::<Option<u64>, _>("Seconds_Behind_Master")
                .and_then(|v| v.ok())
                .flatten()
                .map(|s| s as f64)
        });
        let _ = conn.disconnect().await;
        Ok(ServerStatus {
            position,
            files,
            replica_lag_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_after_count_across_files() {
        let status = ServerStatus {
            position: BinlogPosition::new("b.000003", 300),
            files: vec![
                ("b.000001".into(), 1000),
                ("b.000002".into(), 500),
                ("b.000003".into(), 300),
            ],
            replica_lag_seconds: None,
        };
        assert_eq!(
            status.bytes_after(&BinlogPosition::new("b.000003", 100)),
            Some(200)
        );
        assert_eq!(
            status.bytes_after(&BinlogPosition::new("b.000003", 400)),
            Some(0)
        );
        assert_eq!(
            status.bytes_after(&BinlogPosition::new("b.000002", 100)),
            Some(400 + 300)
        );
        assert_eq!(
            status.bytes_after(&BinlogPosition::new("b.000009", 1)),
            None
        );
    }
}
