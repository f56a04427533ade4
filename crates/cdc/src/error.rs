use thiserror::Error;

/// What can go wrong capturing changes from a binlog.
#[derive(Debug, Error)]
pub enum CdcError {
    /// The source URL cannot be used.
    #[error("bad binlog source URL {0}")]
    BadUrl(String),
    /// The server cannot be reached or refused a statement.
    #[error("binlog source {url}: {reason}")]
    Server {
        /// The server, password removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server does not log what capture needs (row format, full images, column names).
    #[error("binlog source {url} is not configured for change capture: {reason}")]
    NotConfigured {
        /// The server, password removed.
        url: String,
        /// What is missing, and the setting that fixes it.
        reason: String,
    },
    /// A binlog event could not be decoded (names the table and column, never a value).
    #[error("binlog decoding at {position}: {reason}")]
    Decode {
        /// Where in the binlog.
        position: String,
        /// Why.
        reason: String,
    },
    /// A row does not fit the business schema (names the table and column, never a value).
    #[error(transparent)]
    Rows(#[from] medlake_source::SourceError),
    /// Writing or reading the lake failed.
    #[error(transparent)]
    Lake(#[from] medlake_lake::LakeError),
    /// Building change records failed.
    #[error(transparent)]
    ChangeRecords(#[from] medlake_changes::ChangeRecordError),
    /// A lake table still holds a secret column an older medlake landed (or checking it
    /// failed): capture refuses to write it until `medlake lake forget-secrets` ran.
    #[error(transparent)]
    Secrets(#[from] medlake_changes::SecretsError),
    /// Reading or writing the catalog failed.
    #[error(transparent)]
    Catalog(#[from] medlake_catalog::CatalogError),
    /// Writing change records to an output stream failed.
    #[error("output: {0}")]
    Output(String),
    /// The Kafka broker cannot be reached, or refused a request.
    #[error("kafka {what}: {reason}")]
    Kafka {
        /// What was asked (the brokers, or a topic).
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A Kafka message is not a change record medlake can land (names the topic, offset
    /// and field, never a value).
    #[error("kafka message {topic}@{offset}: {reason}")]
    Message {
        /// The topic.
        topic: String,
        /// The message's offset.
        offset: i64,
        /// What is wrong with it.
        reason: String,
    },
}

impl CdcError {
    /// Whether the error concerns one table's changes only (a value that does not fit the
    /// table's lake schema), so capture can stop that table and go on with the others;
    /// any other error (the server, the lake, the catalog) stops capture.
    pub fn is_table_specific(&self) -> bool {
        matches!(
            self,
            CdcError::Rows(_) | CdcError::ChangeRecords(_) | CdcError::Decode { .. }
        )
    }
}
