//! The one error type of the simulator.
//!
//! Messages are one line and never carry row contents: names, phones and id-card
//! numbers are personal data and must not reach logs through an error.

use thiserror::Error;

/// Everything that can go wrong while simulating or writing the business database.
#[derive(Debug, Error)]
pub enum SimError {
    /// The simulation parameters are unusable (e.g. scale not a positive number).
    #[error("invalid simulation parameters: {0}")]
    InvalidParams(String),
    /// The business schema crate lacks a table or column the simulator writes.
    #[error("business schema mismatch: {0}")]
    Schema(String),
    /// The target string is neither a SQLite path nor a `mysql://` URL we can use.
    #[error("bad target URL: {0}")]
    BadUrl(String),
    /// The target database could not be opened or reached.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// Which target (URL without password, or path).
        target: String,
        /// The driver's reason.
        reason: String,
    },
    /// The database was simulated with other parameters; continuing would mix two worlds.
    #[error("parameters mismatch: database was simulated with {stored}, requested {requested}")]
    ParamsMismatch {
        /// Parameters recorded in `medlake_sim_state`.
        stored: String,
        /// Parameters of this call.
        requested: String,
    },
    /// The requested fault injection is unusable (an unknown kind, a rate outside (0, 1]).
    #[error("invalid faults: {0}")]
    InvalidFaults(String),
    /// The progress row in `medlake_sim_state` cannot be understood.
    #[error("corrupt simulation state: {0}")]
    CorruptState(String),
    /// A SQLite statement failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A MySQL statement failed.
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
}

/// Result alias of this crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
