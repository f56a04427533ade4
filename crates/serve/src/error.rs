//! What can go wrong while serving.

use thiserror::Error;

/// Errors of the serving crate.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The catalog database failed.
    #[error(transparent)]
    Catalog(#[from] medlake_catalog::CatalogError),
    /// The lake could not be read.
    #[error(transparent)]
    Lake(#[from] medlake_lake::LakeError),
    /// An account name, role or password that is not acceptable.
    #[error("{0}")]
    Account(String),
    /// A listener could not be bound or failed.
    #[error("{what} on {addr}: {reason}")]
    Listen {
        /// `HTTP` or `PostgreSQL`.
        what: &'static str,
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A policy file or stored policy set that is not usable.
    #[error("policies: {0}")]
    Policy(String),
    /// The TLS certificate or key is not usable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The directory (LDAP) settings are not usable.
    #[error("LDAP: {0}")]
    Directory(String),
    /// The query engine could not be set up.
    #[error("query engine: {0}")]
    Engine(String),
}

/// Result of serving operations.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;
