//! Where the business database lives: a SQLite file or a MySQL/MariaDB database.

use std::path::PathBuf;

use crate::error::{Result, SimError};

/// A business database to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A `mysql://user[:password]@host[:port]/database` URL (the database is created if missing).
    Mysql(String),
}

impl Target {
    /// Parses `sqlite:///abs/path.db`, `sqlite://rel.db`, `sqlite:rel.db`, a bare path,
    /// or `mysql://...` (also `mariadb://...`). A MySQL URL must name a database.
    pub fn parse(s: &str) -> Result<Target> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SimError::BadUrl("empty target".into()));
        }
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(SimError::BadUrl("sqlite target without a path".into()));
            }
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("mariadb://") {
            return mysql(&format!("mysql://{rest}"));
        }
        if s.starts_with("mysql://") {
            return mysql(s);
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(SimError::BadUrl(format!(
                "unsupported scheme `{scheme}` (use sqlite:// or mysql://)"
            )));
        }
        Ok(Target::Sqlite(PathBuf::from(s)))
    }

    /// A printable name of the target with any password removed.
    pub fn redacted(&self) -> String {
        match self {
            Target::Sqlite(p) => p.display().to_string(),
            Target::Mysql(u) => redact(u),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Validates a MySQL URL: parseable by the driver and naming a database.
fn mysql(url: &str) -> Result<Target> {
    let opts = mysql_async::Opts::from_url(url)
        .map_err(|e| SimError::BadUrl(format!("{}: {e}", redact(url))))?;
    match opts.db_name() {
        Some(db) if !db.is_empty() => Ok(Target::Mysql(url.to_string())),
        _ => Err(SimError::BadUrl(format!(
            "{}: no database name (e.g. mysql://root@127.0.0.1:3306/medlake)",
            redact(url)
        ))),
    }
}

/// The URL without its password.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_forms() {
        assert_eq!(
            Target::parse("sqlite:///tmp/a.db").unwrap(),
            Target::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            Target::parse("sqlite://rel.db").unwrap(),
            Target::Sqlite("rel.db".into())
        );
        assert_eq!(
            Target::parse("sqlite:rel.db").unwrap(),
            Target::Sqlite("rel.db".into())
        );
        assert_eq!(
            Target::parse("data/b.db").unwrap(),
            Target::Sqlite("data/b.db".into())
        );
        assert!(Target::parse("sqlite://").is_err());
        assert!(Target::parse("").is_err());
    }

    #[test]
    fn parses_mysql_and_redacts() {
        let t = Target::parse("mysql://root:secret@127.0.0.1:3306/medlake_test").unwrap();
        assert!(matches!(t, Target::Mysql(_)));
        assert!(!t.redacted().contains("secret"), "{t}");
        assert!(Target::parse("mariadb://root@localhost/x").is_ok());
        let e = Target::parse("mysql://root:secret@127.0.0.1:3306")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no database") && !e.contains("secret"), "{e}");
        assert!(Target::parse("postgres://x/y").is_err());
    }
}
