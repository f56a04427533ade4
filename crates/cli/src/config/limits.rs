//! `[limits]`: what one statement and one account may use when serving, per role
//! (`admin_*`, `analyst_*`, `viewer_*`) and for the dashboards (`dashboard_*`). The rules
//! they feed are in `medlake_serve`'s query limits.

use std::time::Duration;

use medlake_serve::{Limits, QueryLimits};
use serde::{Deserialize, Serialize};

/// Serving limits; 0 means "no limit" for a timeout or a memory size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Seconds an admin's statement may run.
    pub admin_timeout_seconds: u64,
    /// MiB of memory an admin's statement may hold.
    pub admin_memory_mib: u64,
    /// Statements an admin runs at once.
    pub admin_concurrent: usize,
    /// Seconds an analyst's statement may run.
    pub analyst_timeout_seconds: u64,
    /// MiB of memory an analyst's statement may hold.
    pub analyst_memory_mib: u64,
    /// Statements an analyst runs at once.
    pub analyst_concurrent: usize,
    /// Seconds a viewer's statement may run.
    pub viewer_timeout_seconds: u64,
    /// MiB of memory a viewer's statement may hold.
    pub viewer_memory_mib: u64,
    /// Statements a viewer runs at once.
    pub viewer_concurrent: usize,
    /// Seconds a dashboard's query may run.
    pub dashboard_timeout_seconds: u64,
    /// MiB of memory a dashboard's query may hold.
    pub dashboard_memory_mib: u64,
    /// Longest statement accepted, in KiB (at most 1024).
    pub max_statement_kib: usize,
    /// Deepest nesting of expressions and subqueries accepted.
    pub max_expression_depth: usize,
    /// Statements of SQL Lab, the API and PostgreSQL clients running at once.
    pub sql_slots: usize,
    /// Dashboard queries running at once (SQL never takes these).
    pub dashboard_slots: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig::from(&QueryLimits::default())
    }
}

fn seconds(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| d.as_secs())
}

fn mib(bytes: Option<usize>) -> u64 {
    bytes.map_or(0, |b| (b / (1024 * 1024)) as u64)
}

impl From<&QueryLimits> for LimitsConfig {
    fn from(l: &QueryLimits) -> Self {
        LimitsConfig {
            admin_timeout_seconds: seconds(l.admin.timeout),
            admin_memory_mib: mib(l.admin.memory_bytes),
            admin_concurrent: l.admin.concurrent,
            analyst_timeout_seconds: seconds(l.analyst.timeout),
            analyst_memory_mib: mib(l.analyst.memory_bytes),
            analyst_concurrent: l.analyst.concurrent,
            viewer_timeout_seconds: seconds(l.viewer.timeout),
            viewer_memory_mib: mib(l.viewer.memory_bytes),
            viewer_concurrent: l.viewer.concurrent,
            dashboard_timeout_seconds: seconds(l.dashboard.timeout),
            dashboard_memory_mib: mib(l.dashboard.memory_bytes),
            max_statement_kib: l.max_statement_bytes / 1024,
            max_expression_depth: l.max_expression_depth,
            sql_slots: l.sql_slots,
            dashboard_slots: l.dashboard_slots,
        }
    }
}

impl LimitsConfig {
    /// The limits the query path applies.
    pub fn query_limits(&self) -> QueryLimits {
        let limits = |timeout: u64, memory: u64, concurrent: usize| Limits {
            timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
            memory_bytes: (memory > 0)
                .then(|| usize::try_from(memory.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)),
            concurrent: concurrent.max(1),
        };
        QueryLimits {
            admin: limits(
                self.admin_timeout_seconds,
                self.admin_memory_mib,
                self.admin_concurrent,
            ),
            analyst: limits(
                self.analyst_timeout_seconds,
                self.analyst_memory_mib,
                self.analyst_concurrent,
            ),
            viewer: limits(
                self.viewer_timeout_seconds,
                self.viewer_memory_mib,
                self.viewer_concurrent,
            ),
            dashboard: limits(
                self.dashboard_timeout_seconds,
                self.dashboard_memory_mib,
                self.dashboard_slots,
            ),
            max_statement_bytes: self
                .max_statement_kib
                .clamp(1, medlake_serve::MAX_STATEMENT_BYTES_CEILING / 1024)
                * 1024,
            max_expression_depth: self.max_expression_depth.max(1),
            sql_slots: self.sql_slots.max(1),
            dashboard_slots: self.dashboard_slots.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_round_trip_and_zero_means_no_limit() {
        let config = LimitsConfig::default();
        assert_eq!(config.query_limits(), QueryLimits::default());
        let open = LimitsConfig {
            analyst_timeout_seconds: 0,
            analyst_memory_mib: 0,
            max_statement_kib: 99_999,
            ..config
        };
        let limits = open.query_limits();
        assert_eq!(limits.analyst.timeout, None);
        assert_eq!(limits.analyst.memory_bytes, None);
        assert_eq!(
            limits.max_statement_bytes,
            medlake_serve::MAX_STATEMENT_BYTES_CEILING
        );
    }
}
