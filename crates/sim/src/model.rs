//! What the simulator produces: business transactions made of row inserts and updates,
//! and the per-table counts the caller shows as progress.

use chrono::NaiveDateTime;
use medlake_schema::{business_tables, Table, Value};

/// One business transaction, as the application would commit it.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    /// When the application commits it; every row it touches gets this update_time.
    pub time: NaiveDateTime,
    /// The statements, in execution order.
    pub changes: Vec<Change>,
}

/// One statement of a business transaction.
#[derive(Debug, Clone)]
pub enum Change {
    /// Insert a row; `row` is in [`Table::columns`] order.
    Insert {
        /// The business table.
        table: &'static Table,
        /// All column values.
        row: Vec<Value>,
    },
    /// Update columns of the row with primary key `id`; `set` includes `update_time`.
    Update {
        /// The business table.
        table: &'static Table,
        /// Primary key of the row.
        id: i64,
        /// Column names and their new values.
        set: Vec<(&'static str, Value)>,
    },
}

impl PartialEq for Change {
    /// Tables are compared by name (there is one static definition per table).
    fn eq(&self, other: &Change) -> bool {
        match (self, other) {
            (Change::Insert { table: a, row: x }, Change::Insert { table: b, row: y }) => {
                a.name == b.name && x == y
            }
            (
                Change::Update {
                    table: a,
                    id: i,
                    set: x,
                },
                Change::Update {
                    table: b,
                    id: j,
                    set: y,
                },
            ) => a.name == b.name && i == j && x == y,
            _ => false,
        }
    }
}

impl Change {
    /// The table this statement writes.
    pub fn table(&self) -> &'static Table {
        match self {
            Change::Insert { table, .. } | Change::Update { table, .. } => table,
        }
    }
}

/// Rows inserted and updated in one business table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    /// Rows inserted.
    pub inserted: u64,
    /// Rows updated.
    pub updated: u64,
}

/// Rows written per business table, in [`business_tables`] order; lets a caller show
/// progress and check volumes without reading the database back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCounts {
    counts: Vec<(&'static str, RowCounts)>,
}

impl Default for TableCounts {
    fn default() -> Self {
        TableCounts {
            counts: business_tables()
                .iter()
                .map(|t| (t.name, RowCounts::default()))
                .collect(),
        }
    }
}

impl TableCounts {
    /// Counts one transaction's statements.
    pub fn add_txn(&mut self, txn: &Txn) {
        for change in &txn.changes {
            let name = change.table().name;
            if let Some((_, c)) = self.counts.iter_mut().find(|(n, _)| *n == name) {
                match change {
                    Change::Insert { .. } => c.inserted += 1,
                    Change::Update { .. } => c.updated += 1,
                }
            }
        }
    }

    /// Adds another set of counts to this one.
    pub fn merge(&mut self, other: &TableCounts) {
        for ((_, a), (_, b)) in self.counts.iter_mut().zip(&other.counts) {
            a.inserted += b.inserted;
            a.updated += b.updated;
        }
    }

    /// Counts of one table (zero for an unknown name).
    pub fn get(&self, table: &str) -> RowCounts {
        self.counts
            .iter()
            .find(|(n, _)| *n == table)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }

    /// All tables with their counts, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, RowCounts)> + '_ {
        self.counts.iter().copied()
    }

    /// Total rows written (inserted + updated).
    pub fn rows(&self) -> u64 {
        self.counts
            .iter()
            .map(|(_, c)| c.inserted + c.updated)
            .sum()
    }
}

/// A unit of simulated work: the initial population, or one business day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// dict, hospitals, medicines and the doctors, users and patients existing before day 0.
    Population,
    /// One business day.
    Day {
        /// Day index (0 = start date).
        index: u32,
        /// The business date.
        date: chrono::NaiveDate,
    },
}

/// What was written for one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStats {
    /// Which unit.
    pub unit: Unit,
    /// Business transactions committed.
    pub txns: u64,
    /// Rows per table.
    pub tables: TableCounts,
}
