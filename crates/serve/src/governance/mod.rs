//! Governance: who reads which tables, which rows and which column values (Ranger's job,
//! docs/permissions.md).
//!
//! - [`policy`]: the policy set as data (`policies.toml`), its principals and matching.
//! - [`phi`]: which lake columns are protected health information.
//! - [`masks`]: Ranger's masks as expressions that keep the column's type.
//! - [`rewrite`]: the plan rewrite every statement's plan passes in the one query path
//!   (`QueryService::plan`), before optimisation.
//!
//! The policy set is versioned in the catalog: the first start stores the configured file
//! (or the built-in set), a changed file or an admin's edit stores a new version, and every
//! audit row names `kind:id@version` of what applied. A server picks up a version stored by
//! another process at its next refresh.

pub mod masks;
pub mod phi;
pub mod policy;
pub mod rewrite;
#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock};

use deltalake::datafusion::execution::context::SessionState;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionContext;
use medlake_catalog::Catalog;

pub use phi::PhiTags;
pub use policy::{Asker, MaskKind, Policy, PolicyError, PolicySet, Rule};
pub use rewrite::{scrub, Applied};

use crate::accounts::Principal;
use crate::{Result, ServeError};

/// Where the policies come from, besides the catalog.
#[derive(Debug, Clone, Default)]
pub struct GovernanceOptions {
    /// A policy file (`[governance] policies`): stored as a new version when it differs
    /// from the catalog's newest. `None`: the built-in set the first time, then the catalog.
    pub policy_file: Option<std::path::PathBuf>,
    /// PHI tags; `None`: the shipped schema and models.
    pub phi: Option<PhiTags>,
}

/// The policy set in force and what enforcing it needs.
pub struct Governance {
    catalog: Arc<Catalog>,
    phi: PhiTags,
    current: RwLock<Arc<Current>>,
}

/// One version of the policy set, parsed.
#[derive(Debug)]
pub struct Current {
    /// The policies.
    pub set: PolicySet,
    /// Its version in the catalog.
    pub version: i64,
}

impl Governance {
    /// The catalog's newest policy set, after storing the configured file (or, on a new
    /// catalog, the built-in set) when it differs; registers the mask functions on `ctx`
    /// with the catalog's pseudonym key (the `hash` mask's key, shared with imaging's
    /// de-identification).
    pub fn open(
        catalog: Arc<Catalog>,
        options: &GovernanceOptions,
        ctx: &SessionContext,
    ) -> Result<Governance> {
        let mut fresh_key = [0u8; 32];
        crate::accounts::fill_random(&mut fresh_key);
        let key = catalog.pseudonym_key(&fresh_key)?;
        masks::register(ctx, &key);
        let stored = catalog.current_policies()?;
        let (text, by) = match &options.policy_file {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|e| {
                    ServeError::Policy(format!("cannot read policy file {}: {e}", path.display()))
                })?,
                format!("file:{}", path.display()),
            ),
            None => (policy::BUILTIN.to_string(), "builtin".to_string()),
        };
        let wanted_from_file = options.policy_file.is_some();
        let store = match &stored {
            None => true,
            Some(v) => wanted_from_file && v.body != text,
        };
        if store {
            PolicySet::parse(&text).map_err(|e| ServeError::Policy(e.to_string()))?;
            catalog.store_policies(&text, &by, None)?;
        }
        let governance = Governance {
            catalog,
            phi: options.phi.clone().unwrap_or_else(PhiTags::builtin),
            current: RwLock::new(Arc::new(Current {
                set: PolicySet {
                    policies: Vec::new(),
                },
                version: 0,
            })),
        };
        governance.reload()?;
        Ok(governance)
    }

    /// Reads the catalog's newest version again (another process may have stored one).
    pub fn reload(&self) -> Result<()> {
        let Some(stored) = self.catalog.current_policies()? else {
            return Err(ServeError::Policy("the catalog holds no policy set".into()));
        };
        if self.current().version == stored.version {
            return Ok(());
        }
        let set = PolicySet::parse(&stored.body).map_err(|e| {
            ServeError::Policy(format!(
                "policy version {} is unusable: {e}",
                stored.version
            ))
        })?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Current {
            set,
            version: stored.version,
        });
        Ok(())
    }

    /// Checks and stores a new version of the policy set (an admin's edit), and puts it in
    /// force; returns its version.
    pub fn store(&self, text: &str, changed_by: &str, note: Option<&str>) -> Result<i64> {
        PolicySet::parse(text).map_err(|e| ServeError::Policy(e.to_string()))?;
        let version = self.catalog.store_policies(text, changed_by, note)?;
        self.reload()?;
        Ok(version)
    }

    /// The version in force.
    pub fn current(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The PHI tags policies mask by default.
    pub fn phi(&self) -> &PhiTags {
        &self.phi
    }

    /// Who `who` is to the policies: role, granted roles, groups and attributes from the
    /// catalog (read for every statement, so a revoked attribute takes effect at once).
    pub fn asker(&self, who: &Principal) -> Result<Asker> {
        let attributes = self.catalog.account_attributes(&who.name)?;
        Ok(Asker::new(&who.name, who.role.as_str(), attributes))
    }

    /// Whether the policies let `who` read `table` at all (listings show only these;
    /// reading it still passes the rewrite). `false` when the asker cannot be read.
    pub fn may_read(&self, who: &Principal, table: &str) -> bool {
        let Ok(asker) = self.asker(who) else {
            return false;
        };
        access(&self.current(), &asker, table)
    }

    /// The names among `tables` that [`may_read`](Self::may_read) allows `who`, reading
    /// the account's attributes once for all of them (a catalog search checks every table).
    pub fn readable<'a>(
        &self,
        who: &Principal,
        tables: impl IntoIterator<Item = &'a str>,
    ) -> std::collections::BTreeSet<String> {
        let Ok(asker) = self.asker(who) else {
            return Default::default();
        };
        let current = self.current();
        tables
            .into_iter()
            .filter(|t| access(&current, &asker, t))
            .map(str::to_string)
            .collect()
    }

    /// `plan` rewritten for `who` (see [`rewrite`]); `Err` says why it is refused.
    pub fn police(
        &self,
        plan: LogicalPlan,
        who: &Principal,
        state: &SessionState,
    ) -> std::result::Result<(LogicalPlan, Applied), (String, Applied)> {
        let asker = self.asker(who).map_err(|e| {
            (
                format!("cannot read the account's attributes: {e}"),
                Applied::default(),
            )
        })?;
        let current = self.current();
        rewrite::Police {
            set: &current.set,
            version: current.version,
            phi: &self.phi,
            asker: &asker,
            state,
        }
        .rewrite(plan)
    }
}

/// Whether the policies of `current` let `asker` read `table` at all: an access policy
/// allows it and none denies it.
fn access(current: &Current, asker: &Asker, table: &str) -> bool {
    let mut allowed = false;
    for p in current.set.matching(asker, table) {
        match p.rule {
            Rule::Access(false) => return false,
            Rule::Access(true) => allowed = true,
            _ => {}
        }
    }
    allowed
}
