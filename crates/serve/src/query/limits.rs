//! What one statement and one account may use, so that no statement crashes the server
//! and no account starves the others. Declared per role (`[limits]` in the config, see
//! README "Limits"); dashboards have limits of their own.
//!
//! - **Shape.** A statement longer than `max_statement_bytes` is refused before it is
//!   parsed; one whose expressions nest deeper than `max_expression_depth` is refused
//!   before it is planned or printed. Why this makes a stack overflow impossible rather
//!   than unlikely: a statement text is parsed, checked and (if refused) dropped by
//!   [`on_statement_stack`], on a thread of its own whose stack is sized from the text's
//!   length. The deepest tree a text can make is about half its length in levels (`1+1+...`
//!   adds a level every two bytes; parentheses, functions and subqueries nest no deeper
//!   than the parser's recursion limit), and every recursion over the tree there (the
//!   PostgreSQL front's rewrite passes, the depth check, which stops at the limit anyway,
//!   and the drop) uses a bounded frame per level: [`STACK_BYTES_PER_TEXT_BYTE`] covers it
//!   with room to spare. That thread ends with the check, so its stack is returned. Only
//!   trees within the depth limit go on to be printed, planned and run, on the server's
//!   threads ([`SERVE_STACK_BYTES`]). A panic on the parsing thread fails the statement.
//! - **Time.** A statement timeout, counted from the statement's arrival, the wait for a
//!   slot included. At the timeout the statement's execution is dropped (DataFusion stops
//!   its tasks) and the audit says `timeout`.
//! - **Memory.** Each statement runs with its own memory pool of the role's size; sorts,
//!   joins and aggregations spill to disk where they can, and past the pool the statement
//!   fails with "needs more than N MiB".
//! - **Concurrency.** Statements of the SQL channels (HTTP API, SQL Lab, PostgreSQL) share
//!   `sql_slots`; the dashboards have `dashboard_slots` of their own, which SQL never takes.
//!   Each account has at most its role's `concurrent` statements running; the rest wait in
//!   their own account's line first, so one account's burst cannot fill the shared line.
//!   Both lines are first come, first served.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deltalake::datafusion::sql::sqlparser::ast::{Expr, Query, Statement, Visit, Visitor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{Channel, QueryError};
use crate::accounts::{Principal, Role};

/// The stack of every thread of the server's runtime. Statements reach them only within
/// the depth limit, but the engine builds deep trees of its own from flat input (a long
/// `IN` list over a partition column recurses once per value while the lake prunes
/// files), so the stack is generous. Only the pages a thread touches take memory.
pub const SERVE_STACK_BYTES: usize = 256 * 1024 * 1024;

/// The longest statement text accepted at all.
pub const MAX_STATEMENT_BYTES_CEILING: usize = 1024 * 1024;

/// Stack of the parsing thread per byte of statement text (see the module doc): two bytes
/// make a level, and a level's frames take well under 2 KiB even in a debug build.
pub const STACK_BYTES_PER_TEXT_BYTE: usize = 1024;

/// The parsing thread's smallest stack.
const MIN_STATEMENT_STACK: usize = 8 * 1024 * 1024;

/// Runs `parse` (parsing a statement text of `text_len` bytes, checking it and dropping
/// what is refused) on a thread of its own with a stack sized for the deepest tree such a
/// text can make; the thread, and the memory its stack used, are gone when this returns.
/// The thread failing (it panicked, or could not start) fails the statement, never the
/// server.
pub fn on_statement_stack<T: Send>(
    text_len: usize,
    parse: impl FnOnce() -> T + Send,
) -> Result<T, QueryError> {
    let stack = text_len
        .min(MAX_STATEMENT_BYTES_CEILING)
        .saturating_mul(STACK_BYTES_PER_TEXT_BYTE)
        .max(MIN_STATEMENT_STACK);
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("medlake-parse".into())
            .stack_size(stack)
            .spawn_scoped(scope, parse)
            .map_err(|e| QueryError::Failed(format!("cannot start a parsing thread: {e}")))?;
        parser
            .join()
            .map_err(|_| QueryError::Failed("the statement could not be parsed".into()))
    })
}

/// The limits of one kind of asker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest a statement may take from arrival to its last row (`None`: no limit).
    pub timeout: Option<Duration>,
    /// Memory a statement may hold (`None`: no limit).
    pub memory_bytes: Option<usize>,
    /// Statements an account runs at once.
    pub concurrent: usize,
}

/// Every limit of the query path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Per role.
    pub admin: Limits,
    /// Per role.
    pub analyst: Limits,
    /// Per role.
    pub viewer: Limits,
    /// The dashboards' own queries, whoever looks at them.
    pub dashboard: Limits,
    /// Longest statement text accepted (at most [`MAX_STATEMENT_BYTES_CEILING`]).
    pub max_statement_bytes: usize,
    /// Deepest expression nesting accepted.
    pub max_expression_depth: usize,
    /// Statements of the SQL channels running at once, over all accounts.
    pub sql_slots: usize,
    /// Dashboard statements running at once (reserved: SQL never takes them).
    pub dashboard_slots: usize,
}

impl Default for QueryLimits {
    /// Analysts 5 minutes and 1 GiB, viewers 1 minute and 256 MiB, admins 10 minutes
    /// and 2 GiB, dashboards 30 seconds and 256 MiB; 2 statements per account; 1 MiB of
    /// text, 256 levels of nesting; 4 SQL and 4 dashboard slots.
    fn default() -> Self {
        let limits = |seconds: u64, mib: usize, concurrent| Limits {
            timeout: Some(Duration::from_secs(seconds)),
            memory_bytes: Some(mib * 1024 * 1024),
            concurrent,
        };
        QueryLimits {
            admin: limits(600, 2048, 2),
            analyst: limits(300, 1024, 2),
            viewer: limits(60, 256, 2),
            dashboard: limits(30, 256, 4),
            max_statement_bytes: MAX_STATEMENT_BYTES_CEILING,
            max_expression_depth: 256,
            sql_slots: 4,
            dashboard_slots: 4,
        }
    }
}

impl QueryLimits {
    /// The limits that apply to `who` on `channel`, and their name for messages.
    pub fn for_asker(&self, who: &Principal, channel: Channel) -> (&Limits, &'static str) {
        if channel == Channel::Dashboard {
            return (&self.dashboard, "dashboards");
        }
        match who.role {
            Role::Admin => (&self.admin, "role admin"),
            Role::Analyst => (&self.analyst, "role analyst"),
            Role::Viewer => (&self.viewer, "role viewer"),
        }
    }

    /// Refuses a statement text longer than the limit (before it is parsed).
    pub fn check_text(&self, sql: &str) -> Result<(), QueryError> {
        let limit = self.max_statement_bytes.min(MAX_STATEMENT_BYTES_CEILING);
        if sql.len() > limit {
            return Err(QueryError::Refused(format!(
                "the statement is {} KiB; the limit is {} KiB",
                sql.len().div_ceil(1024),
                limit / 1024
            )));
        }
        Ok(())
    }

    /// Refuses a statement whose expressions or subqueries nest deeper than the limit.
    /// Stops looking at the limit, so it never descends further itself.
    pub fn check_depth(&self, statement: &Statement) -> Result<(), QueryError> {
        let mut depth = Depth {
            current: 0,
            limit: self.max_expression_depth,
        };
        match statement.visit(&mut depth) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(QueryError::Refused(format!(
                "expressions nest deeper than {} levels; simplify the statement",
                self.max_expression_depth
            ))),
        }
    }
}

/// Counts nesting while the visitor descends; breaks past the limit.
struct Depth {
    current: usize,
    limit: usize,
}

impl Depth {
    fn enter(&mut self) -> ControlFlow<()> {
        self.current += 1;
        if self.current > self.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn leave(&mut self) -> ControlFlow<()> {
        self.current = self.current.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.leave()
    }

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.leave()
    }
}

/// The right to run one statement now: held by its row stream, given back when the
/// statement ends.
#[derive(Debug)]
pub struct Slot {
    _account: Option<OwnedSemaphorePermit>,
    _shared: OwnedSemaphorePermit,
}

/// The lines statements wait in for a slot.
pub(crate) struct Slots {
    sql: Arc<Semaphore>,
    dashboard: Arc<Semaphore>,
    accounts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Slots {
    pub(crate) fn new(limits: &QueryLimits) -> Slots {
        Slots {
            sql: Arc::new(Semaphore::new(limits.sql_slots.max(1))),
            dashboard: Arc::new(Semaphore::new(limits.dashboard_slots.max(1))),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot for `who` on `channel` until `deadline`.
    pub(crate) async fn acquire(
        &self,
        who: &Principal,
        channel: Channel,
        limits: &Limits,
        deadline: Option<Instant>,
    ) -> Result<Slot, QueryError> {
        let wait = async {
            if channel == Channel::Dashboard {
                let shared = self.dashboard.clone().acquire_owned().await;
                return shared.map(|shared| Slot {
                    _account: None,
                    _shared: shared,
                });
            }
            let line = self.account_line(&who.name, limits.concurrent);
            let account = line.acquire_owned().await?;
            let shared = self.sql.clone().acquire_owned().await?;
            Ok(Slot {
                _account: Some(account),
                _shared: shared,
            })
        };
        let waited = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, wait).await.map_err(|_| {
                QueryError::Failed(
                    "statement timeout reached while waiting for a free slot (the server is busy)"
                        .into(),
                )
            })?,
            None => wait.await,
        };
        waited.map_err(|_| QueryError::Failed("the server is shutting down".into()))
    }

    fn account_line(&self, account: &str, concurrent: usize) -> Arc<Semaphore> {
        let mut lines = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lines
            .entry(account.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(concurrent.max(1))))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_one;

    fn who(role: Role) -> Principal {
        Principal {
            name: "li".into(),
            role,
        }
    }

    #[test]
    fn a_long_flat_chain_is_refused_before_planning_and_a_normal_statement_passes() {
        let limits = QueryLimits::default();
        let chain = format!("SELECT {} FROM t", vec!["1"; 3000].join("+"));
        let statement = parse_one(&chain).unwrap();
        let err = limits.check_depth(&statement).unwrap_err();
        assert!(err.to_string().contains("deeper than 256"), "{err}");
        let fine =
            parse_one("SELECT a + b * (c - 1), (SELECT max(x) FROM u) FROM t WHERE d IN (1, 2, 3)")
                .unwrap();
        limits.check_depth(&fine).unwrap();
        // A long but flat IN list is no nesting.
        let list = format!(
            "SELECT 1 FROM t WHERE a IN ({})",
            (0..5000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        limits.check_depth(&parse_one(&list).unwrap()).unwrap();
    }

    #[test]
    fn text_over_the_limit_is_refused_with_sizes() {
        let limits = QueryLimits {
            max_statement_bytes: 1024,
            ..Default::default()
        };
        assert!(limits.check_text("SELECT 1").is_ok());
        let err = limits
            .check_text(&"x".repeat(4000))
            .unwrap_err()
            .to_string();
        assert!(err.contains("4 KiB") && err.contains("1 KiB"), "{err}");
    }

    #[test]
    fn dashboards_have_their_own_limits_whoever_asks() {
        let limits = QueryLimits::default();
        let (l, name) = limits.for_asker(&who(Role::Analyst), Channel::Dashboard);
        assert_eq!((l, name), (&limits.dashboard, "dashboards"));
        let (l, _) = limits.for_asker(&who(Role::Viewer), Channel::Pg);
        assert_eq!(l, &limits.viewer);
    }

    #[tokio::test]
    async fn one_account_waits_in_its_own_line_and_others_pass() {
        let limits = QueryLimits {
            sql_slots: 2,
            ..Default::default()
        };
        let one = Limits {
            concurrent: 1,
            ..limits.analyst
        };
        let slots = Slots::new(&limits);
        let li = who(Role::Analyst);
        let wang = Principal {
            name: "wang".into(),
            role: Role::Analyst,
        };
        let held = slots.acquire(&li, Channel::Pg, &one, None).await.unwrap();
        // Li's second statement waits (and times out), holding no shared slot meanwhile...
        let soon = Some(Instant::now() + Duration::from_millis(50));
        let err = slots
            .acquire(&li, Channel::Pg, &one, soon)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("waiting for a free slot"), "{err}");
        // ... so Wang gets the second shared slot at once.
        let soon = Some(Instant::now() + Duration::from_millis(50));
        let _wang = slots.acquire(&wang, Channel::Pg, &one, soon).await.unwrap();
        drop(held);
        slots.acquire(&li, Channel::Pg, &one, None).await.unwrap();
        // Dashboards never wait for SQL slots.
        let soon = Some(Instant::now() + Duration::from_millis(50));
        slots
            .acquire(&li, Channel::Dashboard, &limits.dashboard, soon)
            .await
            .unwrap();
    }
}
