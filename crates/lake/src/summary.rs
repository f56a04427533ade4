//! What a lake table holds, read from its Delta log (no data files are opened).

use std::collections::BTreeMap;

use deltalake::DeltaTable;

use crate::{LakeError, Result, PARTITION_COLUMN};

/// One partition of a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionSummary {
    /// The partition value (`dt`), empty for an unpartitioned table.
    pub dt: String,
    /// Data files.
    pub files: u64,
    /// Rows, from the files' statistics.
    pub rows: u64,
    /// Bytes of the data files.
    pub bytes: u64,
}

/// One table: its version and partitions in `dt` order.
#[derive(Debug, Clone, Default)]
pub struct TableSummary {
    /// Table name.
    pub name: String,
    /// Latest Delta version.
    pub version: u64,
    /// Partitions, oldest first.
    pub partitions: Vec<PartitionSummary>,
}

impl TableSummary {
    pub(crate) fn of(name: &str, table: &DeltaTable) -> Result<Self> {
        let state = table.snapshot().map_err(|e| LakeError::delta(name, e))?;
        let mut parts: BTreeMap<String, PartitionSummary> = BTreeMap::new();
        for file in state.log_data() {
            let dt = file
                .partition_values_map()
                .get(PARTITION_COLUMN)
                .cloned()
                .flatten()
                .unwrap_or_default();
            let p = parts.entry(dt.clone()).or_insert_with(|| PartitionSummary {
                dt,
                ..Default::default()
            });
            p.files += 1;
            p.rows += file.num_records().unwrap_or(0) as u64;
            p.bytes += u64::try_from(file.size()).unwrap_or(0);
        }
        Ok(TableSummary {
            name: name.to_string(),
            version: table.version().unwrap_or_default(),
            partitions: parts.into_values().collect(),
        })
    }

    /// Rows in all partitions.
    pub fn rows(&self) -> u64 {
        self.partitions.iter().map(|p| p.rows).sum()
    }

    /// Bytes in all partitions.
    pub fn bytes(&self) -> u64 {
        self.partitions.iter().map(|p| p.bytes).sum()
    }
}
