//! Which databases and tables capture keeps.

/// Include and exclude lists by database and table name. Empty include lists keep
/// everything; an exclude wins over an include. Only business tables of `medlake-schema`
/// are ever captured, since the lake's change records follow their schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Databases to capture (empty: all).
    pub include_databases: Vec<String>,
    /// Databases never captured.
    pub exclude_databases: Vec<String>,
    /// Tables to capture (empty: all business tables).
    pub include_tables: Vec<String>,
    /// Tables never captured.
    pub exclude_tables: Vec<String>,
}

impl Filter {
    /// Whether changes of `database.table` are captured.
    pub fn keeps(&self, database: &str, table: &str) -> bool {
        let listed = |list: &[String], name: &str| list.iter().any(|n| n == name);
        (self.include_databases.is_empty() || listed(&self.include_databases, database))
            && !listed(&self.exclude_databases, database)
            && (self.include_tables.is_empty() || listed(&self.include_tables, table))
            && !listed(&self.exclude_tables, table)
            && medlake_schema::table(table).is_some()
    }

    /// The business tables this filter keeps out of `candidates`.
    pub fn tables<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a medlake_schema::Table>,
    ) -> Vec<&'a medlake_schema::Table> {
        candidates
            .into_iter()
            .filter(|t| {
                (self.include_tables.is_empty() || self.include_tables.iter().any(|n| n == t.name))
                    && !self.exclude_tables.iter().any(|n| n == t.name)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_wins_and_only_business_tables_pass() {
        let f = Filter {
            include_databases: vec!["medical".into()],
            exclude_tables: vec!["user".into()],
            ..Default::default()
        };
        assert!(f.keeps("medical", "payment"));
        assert!(!f.keeps("medical", "user"));
        assert!(!f.keeps("other", "payment"));
        assert!(!f.keeps("medical", "not_a_business_table"));
        let kept: Vec<_> = f
            .tables(medlake_schema::business_tables())
            .iter()
            .map(|t| t.name)
            .collect();
        assert!(kept.contains(&"payment") && !kept.contains(&"user"));
    }
}
