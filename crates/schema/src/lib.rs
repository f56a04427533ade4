//! The business database's shape, as data: tables, columns, types, PHI and secret tags,
//! and codes; the imaging vocabulary ([`imaging`]); and the keyed [`pseudonym()`] of
//! identifiers.
//!
//! Every other crate learns the business schema from here, so a column is added in one
//! place: the simulator writes rows in [`Table::columns`] order, the sources read them
//! back in [`Table::captured_columns`] order (every column but the secrets, which never
//! land in the lake), and the lake derives its Arrow schemas from [`ColumnType`].
//!
//! ```
//! use medlake_schema::{business_tables, Dialect};
//! let consultation = medlake_schema::table("consultation").unwrap();
//! assert!(consultation.ddl(Dialect::Sqlite).contains("consultation_fee"));
//! assert_eq!(business_tables().len(), 13);
//! ```

pub mod codes;
pub mod imaging;
mod pseudonym;
mod tables;
mod value;

pub use pseudonym::pseudonym;
pub use tables::{business_tables, table};
pub use value::{format_datetime, parse_datetime, Value, DATETIME_FORMAT};

/// The SQL dialects medlake writes DDL for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, the embedded default business database.
    Sqlite,
    /// MySQL and MariaDB.
    Mysql,
}

/// The logical type of a business column; each dialect and Arrow map it their own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// 64-bit integer: ids and foreign keys.
    BigInt,
    /// 32-bit integer: codes, counts, ratings.
    Int,
    /// Short text with a maximum length in characters.
    Varchar(u16),
    /// Free text of any length.
    Text,
    /// DECIMAL(19,2): money. Carried as integer cents in [`Value::Money`].
    Money,
    /// DATETIME(6): local wall-clock time of the business, no offset stored.
    DateTime,
    /// DATE.
    Date,
    /// Boolean (TINYINT(1) on MySQL).
    Bool,
}

impl ColumnType {
    /// The column type in a `CREATE TABLE` of `dialect`.
    pub fn sql(self, dialect: Dialect) -> String {
        match (dialect, self) {
            (Dialect::Mysql, ColumnType::BigInt) => "BIGINT".into(),
            (Dialect::Mysql, ColumnType::Int) => "INT".into(),
            (Dialect::Mysql, ColumnType::Varchar(n)) => format!("VARCHAR({n})"),
            (Dialect::Mysql, ColumnType::Text) => "TEXT".into(),
            (Dialect::Mysql, ColumnType::Money) => "DECIMAL(19,2)".into(),
            (Dialect::Mysql, ColumnType::DateTime) => "DATETIME(6)".into(),
            (Dialect::Mysql, ColumnType::Date) => "DATE".into(),
            (Dialect::Mysql, ColumnType::Bool) => "TINYINT(1)".into(),
            (Dialect::Sqlite, ColumnType::BigInt | ColumnType::Int | ColumnType::Bool) => {
                "INTEGER".into()
            }
            (Dialect::Sqlite, ColumnType::Money) => "DECIMAL(19,2)".into(),
            // Datetimes are fixed-width text, so text order is time order.
            (
                Dialect::Sqlite,
                ColumnType::Varchar(_) | ColumnType::Text | ColumnType::DateTime | ColumnType::Date,
            ) => "TEXT".into(),
        }
    }
}

/// One column of a business table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name, as in the business database.
    pub name: &'static str,
    /// Logical type.
    pub ty: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Protected health information or personal data: never logged, masked when served.
    pub phi: bool,
    /// A secret (a password hash, a token): it exists in the business database, but no
    /// capture reads it, so it never lands in the lake (docs/permissions.md, "Secrets
    /// never land"). Masking would leave it readable to whoever reads the files.
    pub secret: bool,
}

/// What capture does with one column of a source row ([`Table::source_column`]).
#[derive(Debug, Clone, Copy)]
pub enum SourceColumn<'t> {
    /// A captured column: its position in [`Table::captured_columns`], and the column.
    Captured(usize, &'t Column),
    /// A secret column: dropped, neither captured nor kept as undeclared.
    Secret,
    /// A column the schema does not declare (added by DDL): kept by name.
    Undeclared,
}

/// Whether a table is master data (snapshotted in full) or also changes in bulk every day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Small or slowly changing: synced as a daily full snapshot (`ods_<t>_full`) and
    /// incrementally where it changes (`ods_<t>_inc`).
    Master,
    /// Business transactions: synced incrementally only (`ods_<t>_inc`).
    Transaction,
}

/// A business table: its name, kind and columns (id first, create/update time last).
#[derive(Debug)]
pub struct Table {
    /// Table name in the business database.
    pub name: &'static str,
    /// Master data or transactions.
    pub kind: TableKind,
    /// Whether rows of this table change after the initial load (and so have an `_inc` ODS table).
    pub changes: bool,
    /// What the table holds, in a sentence.
    pub doc: &'static str,
    /// Columns in storage order: the business database's, secrets included.
    pub columns: Vec<Column>,
    /// `columns` without the secrets, computed once (see [`Table::captured_columns`]).
    captured: Vec<Column>,
}

impl Table {
    /// A table of `columns` (storage order, secrets included).
    pub(crate) fn new(
        name: &'static str,
        kind: TableKind,
        changes: bool,
        doc: &'static str,
        columns: Vec<Column>,
    ) -> Table {
        let captured = columns.iter().filter(|c| !c.secret).copied().collect();
        Table {
            name,
            kind,
            changes,
            doc,
            columns,
            captured,
        }
    }

    /// Position of a column by name in [`columns`](Self::columns) (the business database's
    /// order, secrets included).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column names in storage order, secrets included (the business database's).
    pub fn column_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.name)
    }

    /// The columns capture reads and the lake holds, in storage order: every column but
    /// the secrets. The one list every capture path (snapshots, capture by query, binlog
    /// rows, Maxwell JSON, Kafka) and every lake schema of the table derive from, so a
    /// secret is left out where rows are read rather than masked later.
    pub fn captured_columns(&self) -> &[Column] {
        &self.captured
    }

    /// Position of a column by name in [`captured_columns`](Self::captured_columns);
    /// `None` for a secret or unknown column.
    pub fn captured_index(&self, name: &str) -> Option<usize> {
        self.captured.iter().position(|c| c.name == name)
    }

    /// The names of [`captured_columns`](Self::captured_columns), in order.
    pub fn captured_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.captured.iter().map(|c| c.name)
    }

    /// The secret columns, which capture leaves out.
    pub fn secret_columns(&self) -> impl Iterator<Item = &Column> + '_ {
        self.columns.iter().filter(|c| c.secret)
    }

    /// Where a column a source names goes at capture: one rule for every capture path
    /// (binlog rows, a bootstrap's `SELECT *`, Maxwell JSON), so none of them can keep a
    /// secret by forgetting to check.
    pub fn source_column(&self, name: &str) -> SourceColumn<'_> {
        if self.is_secret(name) {
            return SourceColumn::Secret;
        }
        match self.captured_index(name) {
            Some(i) => SourceColumn::Captured(i, &self.captured[i]),
            None => SourceColumn::Undeclared,
        }
    }

    /// Whether `name` is a secret column of this table. Compared without regard to ASCII
    /// case, as MySQL compares column names, so a source's spelling cannot slip one past.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret_columns()
            .any(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// `CREATE TABLE IF NOT EXISTS` plus an index on `update_time` for incremental reads.
    pub fn ddl(&self, dialect: Dialect) -> String {
        let q = quote(dialect);
        let mut cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut s = format!("  {}{}{} {}", q, c.name, q, c.ty.sql(dialect));
                if c.name == "id" {
                    s.push_str(" PRIMARY KEY");
                } else if !c.nullable {
                    s.push_str(" NOT NULL");
                }
                s
            })
            .collect();
        let mut ddl = format!("CREATE TABLE IF NOT EXISTS {q}{}{q} (\n", self.name);
        match dialect {
            Dialect::Mysql => {
                cols.push(format!(
                    "  KEY {q}idx_{}_update_time{q} ({q}update_time{q})",
                    self.name
                ));
                ddl.push_str(&cols.join(",\n"));
                ddl.push_str("\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
            }
            Dialect::Sqlite => {
                ddl.push_str(&cols.join(",\n"));
                ddl.push_str(&format!(
                    "\n);\nCREATE INDEX IF NOT EXISTS {q}idx_{t}_update_time{q} ON {q}{t}{q} ({q}update_time{q})",
                    t = self.name
                ));
            }
        }
        ddl
    }

    /// Name of the full-snapshot ODS table in the lake.
    pub fn ods_full_name(&self) -> String {
        format!("ods_{}_full", self.name)
    }

    /// Name of the change-record ODS table in the lake.
    pub fn ods_inc_name(&self) -> String {
        format!("ods_{}_inc", self.name)
    }
}

/// The identifier quote character of a dialect.
pub fn quote(dialect: Dialect) -> char {
    match dialect {
        Dialect::Mysql => '`',
        Dialect::Sqlite => '"',
    }
}
