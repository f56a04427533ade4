//! The policy set as data: `policies.toml` (docs/permissions.md), parsed, checked and
//! matched against an asker and a table.
//!
//! ```toml
//! [[policy]]
//! id = "hospital-scoped"
//! principals = ["group:hospital_analysts"]
//! tables = ["dws_*", "ads_hospital_ranking"]
//! row_filter = "hospital_id IN (${user.hospitals})"
//! ```
//!
//! Each policy is one of: `access = "allow" | "deny"` (deny wins over allow; a table no
//! allow names is denied), `row_filter = "SQL predicate"` (every matching filter applies,
//! joined with AND), or `mask = KIND` over `columns` (the first matching mask of a column,
//! in file order, applies). PHI columns without a matching mask get the default mask; a
//! `mask = "none"` over a PHI column is an unmasked PHI grant, audited as such.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What can be wrong with a policy file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// The TOML does not parse or has unknown keys.
    #[error("policy file: {0}")]
    Syntax(String),
    /// A policy is inconsistent (no kind, two kinds, an unknown mask, ...).
    #[error("policy {id}: {reason}")]
    Invalid {
        /// The policy's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// A column mask, in Ranger's vocabulary plus a custom SQL expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskKind {
    /// Letters to `x`, digits to `n` (every script's letters: names in Chinese too).
    Redact,
    /// Only the last four characters shown.
    ShowLast4,
    /// Only the first four characters shown.
    ShowFirst4,
    /// A keyed hash (HMAC-SHA-256): equal values hash equal, so joins still work.
    Hash,
    /// NULL.
    Nullify,
    /// A date or time cut to its year (1 January).
    DateShowYear,
    /// Shown as it is (an unmasked grant).
    None,
    /// A SQL expression of `{col}`, e.g. `concat(substr({col}, 1, 1), '**')`.
    Custom(String),
}

impl MaskKind {
    /// Parses a mask name (`redact`, `show_last_4`, ..., `custom:EXPR`).
    pub fn parse(s: &str) -> Option<MaskKind> {
        Some(match s {
            "redact" => MaskKind::Redact,
            "show_last_4" => MaskKind::ShowLast4,
            "show_first_4" => MaskKind::ShowFirst4,
            "hash" => MaskKind::Hash,
            "nullify" => MaskKind::Nullify,
            "date_show_year" => MaskKind::DateShowYear,
            "none" => MaskKind::None,
            other => MaskKind::Custom(other.strip_prefix("custom:")?.trim().to_string()),
        })
    }

    /// The mask's name as written.
    pub fn name(&self) -> String {
        match self {
            MaskKind::Redact => "redact".into(),
            MaskKind::ShowLast4 => "show_last_4".into(),
            MaskKind::ShowFirst4 => "show_first_4".into(),
            MaskKind::Hash => "hash".into(),
            MaskKind::Nullify => "nullify".into(),
            MaskKind::DateShowYear => "date_show_year".into(),
            MaskKind::None => "none".into(),
            MaskKind::Custom(sql) => format!("custom:{sql}"),
        }
    }
}

/// What a policy does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// May select (or may not: deny wins).
    Access(bool),
    /// Rows the asker sees: a SQL predicate over the table's columns.
    RowFilter(String),
    /// How the policy's columns are shown.
    Mask(MaskKind),
}

/// One policy of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Stable id, named in the audit (`kind:id@version`).
    pub id: String,
    /// What it is for.
    pub description: String,
    /// Who: `user:NAME`, `role:NAME`, `group:NAME` or `*`.
    pub principals: Vec<String>,
    /// Which tables: names or patterns with `*`.
    pub tables: Vec<String>,
    /// Which columns (masks only): names, `data.name` for a field of a change record's
    /// `data`, patterns with `*`.
    pub columns: Vec<String>,
    /// What it does.
    pub rule: Rule,
}

/// The parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySet {
    /// Policies in file order (the order masks are matched in).
    pub policies: Vec<Policy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    policy: Vec<PolicyToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml {
    id: String,
    #[serde(default)]
    description: String,
    principals: Vec<String>,
    tables: Vec<String>,
    #[serde(default)]
    columns: Vec<String>,
    access: Option<String>,
    row_filter: Option<String>,
    mask: Option<String>,
}

/// The policy file shipped in the binary: viewers read reports, analysts and admins read
/// every table with PHI masked, `phi_reader` sees PHI.
pub const BUILTIN: &str = include_str!("policies.toml");

impl PolicySet {
    /// Parses and checks a policy file.
    pub fn parse(text: &str) -> Result<PolicySet, PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| PolicyError::Syntax(one_line(&e)))?;
        let mut seen = std::collections::BTreeSet::new();
        let mut policies = Vec::new();
        for p in file.policy {
            if !seen.insert(p.id.clone()) {
                return Err(invalid(&p.id, "the id is used twice"));
            }
            policies.push(p.checked()?);
        }
        Ok(PolicySet { policies })
    }

    /// The built-in set.
    pub fn builtin() -> PolicySet {
        PolicySet::parse(BUILTIN).unwrap_or(PolicySet {
            policies: Vec::new(),
        })
    }

    /// Policies that name `who` and `table`, in file order.
    pub fn matching<'a>(
        &'a self,
        who: &'a Asker,
        table: &'a str,
    ) -> impl Iterator<Item = &'a Policy> + 'a {
        self.policies
            .iter()
            .filter(move |p| p.names(who) && p.tables.iter().any(|t| glob(t, table)))
    }
}

impl PolicyToml {
    fn checked(self) -> Result<Policy, PolicyError> {
        let id = self.id.trim().to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)) {
            return Err(invalid(
                &self.id,
                "an id is letters, digits, '-', '_' or '.'",
            ));
        }
        if self.principals.is_empty() || self.tables.is_empty() {
            return Err(invalid(&id, "names no principal or no table"));
        }
        if let Some(p) = self.principals.iter().find(|p| !valid_principal(p)) {
            return Err(invalid(
                &id,
                &format!("principal {p:?} is not user:NAME, role:NAME, group:NAME or *"),
            ));
        }
        let rule = match (self.access, self.row_filter, self.mask) {
            (Some(a), None, None) => match a.as_str() {
                "allow" => Rule::Access(true),
                "deny" => Rule::Access(false),
                _ => return Err(invalid(&id, "access is \"allow\" or \"deny\"")),
            },
            (None, Some(f), None) if !f.trim().is_empty() => Rule::RowFilter(f),
            (None, None, Some(m)) => Rule::Mask(MaskKind::parse(&m).ok_or_else(|| {
                invalid(
                    &id,
                    &format!(
                        "unknown mask {m:?}: redact, show_last_4, show_first_4, hash, \
                         nullify, date_show_year, none or custom:EXPR"
                    ),
                )
            })?),
            _ => {
                return Err(invalid(
                    &id,
                    "give exactly one of access, row_filter or mask",
                ))
            }
        };
        if matches!(rule, Rule::Mask(_)) == self.columns.is_empty() {
            return Err(invalid(
                &id,
                "columns belong to masks, and a mask needs columns",
            ));
        }
        Ok(Policy {
            id,
            description: self.description,
            principals: self.principals,
            tables: self.tables,
            columns: self.columns,
            rule,
        })
    }
}

impl Policy {
    /// Whether the policy names the asker.
    pub fn names(&self, who: &Asker) -> bool {
        self.principals.iter().any(|p| who.is(p))
    }

    /// Whether the policy covers `column` (a name, or `data.name` for a field of a change
    /// record, which the bare field name also matches).
    pub fn covers(&self, column: &str) -> bool {
        let leaf = column.rsplit('.').next().unwrap_or(column);
        self.columns
            .iter()
            .any(|c| glob(c, column) || (!c.contains('.') && glob(c, leaf)))
    }

    /// `mask`, `filter`, `allow` or `deny`, as the audit names the kind.
    pub fn kind(&self) -> &'static str {
        match &self.rule {
            Rule::Access(true) => "allow",
            Rule::Access(false) => "deny",
            Rule::RowFilter(_) => "filter",
            Rule::Mask(_) => "mask",
        }
    }
}

/// Who asks, as policies see them: the account, its roles (its role and any granted,
/// e.g. `phi_reader`), its directory groups, and its attributes for row filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asker {
    /// Account name.
    pub name: String,
    /// Roles: the account's role first, then granted ones (attribute `roles`).
    pub roles: Vec<String>,
    /// Directory groups (attribute `groups`).
    pub groups: Vec<String>,
    /// Every attribute (`hospitals`, `province`, ...), each a list.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl Asker {
    /// The asker `name` with role `role` and stored `attributes`.
    pub fn new(name: &str, role: &str, attributes: BTreeMap<String, Vec<String>>) -> Asker {
        let mut roles = vec![role.to_string()];
        roles.extend(attributes.get("roles").cloned().unwrap_or_default());
        Asker {
            name: name.to_string(),
            roles,
            groups: attributes.get("groups").cloned().unwrap_or_default(),
            attributes,
        }
    }

    fn is(&self, principal: &str) -> bool {
        match principal.split_once(':') {
            _ if principal == "*" => true,
            Some(("user", n)) => n == self.name,
            Some(("role", n)) => self.roles.iter().any(|r| r == n),
            Some(("group", n)) => self.groups.iter().any(|g| g == n),
            _ => false,
        }
    }
}

fn valid_principal(p: &str) -> bool {
    p == "*"
        || p.split_once(':').is_some_and(|(kind, name)| {
            matches!(kind, "user" | "role" | "group") && !name.trim().is_empty()
        })
}

/// `*` matches any run of characters; everything else itself (case-insensitive, as SQL
/// names are).
pub fn glob(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

fn invalid(id: &str, reason: &str) -> PolicyError {
    PolicyError::Invalid {
        id: id.to_string(),
        reason: reason.to_string(),
    }
}

fn one_line(e: &toml::de::Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_set_parses() {
        let set = PolicySet::parse(BUILTIN).unwrap();
        assert!(set.policies.len() >= 3);
    }

    #[test]
    fn patterns_match_names() {
        assert!(glob("ads_*", "ads_metric_value"));
        assert!(glob("*", "x"));
        assert!(glob("dws_*_1d", "dws_hospital_1d"));
        assert!(!glob("dws_*_1d", "dws_hospital_nd"));
        assert!(!glob("ads_*", "dwd_x"));
        assert!(glob("DIM_Hospital", "dim_hospital"));
    }

    #[test]
    fn a_policy_has_exactly_one_kind_and_names_its_columns() {
        let one = |body: &str| {
            PolicySet::parse(&format!(
                "[[policy]]\nid = \"p\"\nprincipals = [\"*\"]\ntables = [\"t\"]\n{body}"
            ))
        };
        assert!(one("access = \"allow\"").is_ok());
        assert!(one("mask = \"redact\"\ncolumns = [\"name\"]").is_ok());
        assert!(one("mask = \"custom:upper({col})\"\ncolumns = [\"name\"]").is_ok());
        for bad in [
            "",
            "access = \"maybe\"",
            "access = \"allow\"\nrow_filter = \"a = 1\"",
            "mask = \"scramble\"\ncolumns = [\"name\"]",
            "mask = \"redact\"",
            "access = \"allow\"\ncolumns = [\"a\"]",
            "acess = \"allow\"",
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
        let e = PolicySet::parse(
            "[[policy]]\nid = \"p\"\nprincipals = [\"boss\"]\ntables = [\"t\"]\naccess = \"allow\"",
        )
        .unwrap_err();
        assert!(e.to_string().contains("principal \"boss\""), "{e}");
    }

    #[test]
    fn principals_are_users_roles_and_groups() {
        let mut attributes = BTreeMap::new();
        attributes.insert("groups".to_string(), vec!["zj".to_string()]);
        attributes.insert("roles".to_string(), vec!["phi_reader".to_string()]);
        let wang = Asker::new("wang", "analyst", attributes);
        assert!(wang.is("user:wang") && wang.is("role:analyst") && wang.is("role:phi_reader"));
        assert!(wang.is("group:zj") && wang.is("*"));
        assert!(!wang.is("user:li") && !wang.is("role:admin") && !wang.is("group:sh"));
    }

    #[test]
    fn a_mask_covers_a_field_of_data_by_its_name() {
        let set = PolicySet::parse("[[policy]]\nid = \"p\"\nprincipals = [\"*\"]\ntables = [\"t\"]\nmask = \"hash\"\ncolumns = [\"name\"]").unwrap();
        assert!(set.policies[0].covers("name"));
        assert!(set.policies[0].covers("data.name"));
        assert!(!set.policies[0].covers("nickname"));
    }
}
