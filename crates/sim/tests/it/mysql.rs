//! The MySQL/MariaDB writer produces the same rows as the SQLite writer, on the real
//! MariaDB named by MEDLAKE_TEST_MYSQL_URL (scripts/test.sh sets it); the scratch
//! database is dropped afterwards.

use crate::common;
use crate::common::params;
use medlake_schema::{business_tables, ColumnType};
use medlake_sim::{simulate, BusinessWriter, Faults, Target};
use mysql_async::prelude::Queryable;

/// Every business table of the SQLite file, rendered as MySQL's text protocol shows it.
fn sqlite_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    business_tables()
        .iter()
        .map(|t| {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM \"{}\" ORDER BY id", t.name))
                .unwrap();
            stmt.query_map([], |r| {
                let cells: Vec<String> = t
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| match (c.ty, r.get_ref(i).unwrap()) {
                        (_, rusqlite::types::ValueRef::Null) => "NULL".into(),
                        (ColumnType::Money, v) => format!(
                            "{:.2}",
                            v.as_f64()
                                .or_else(|_| v.as_i64().map(|x| x as f64))
                                .unwrap()
                        ),
                        (_, rusqlite::types::ValueRef::Integer(x)) => x.to_string(),
                        (_, v) => v.as_str().unwrap().to_string(),
                    })
                    .collect();
                Ok(cells.join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        })
        .collect()
}

async fn mysql_rows(url: &str) -> Vec<Vec<String>> {
    let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
    let mut all = Vec::new();
    for t in business_tables() {
        let rows: Vec<mysql_async::Row> = conn
            .query(format!("SELECT * FROM `{}` ORDER BY id", t.name))
            .await
            .unwrap();
        all.push(
            rows.into_iter()
                .map(|row| {
                    let cells: Vec<String> = row
                        .unwrap()
                        .into_iter()
                        .map(|v| match v {
                            mysql_async::Value::NULL => "NULL".into(),
                            mysql_async::Value::Bytes(b) => String::from_utf8(b).unwrap(),
                            other => other.as_sql(false),
                        })
                        .collect();
                    cells.join("|")
                })
                .collect(),
        );
    }
    conn.disconnect().await.unwrap();
    all
}

#[tokio::test]
async fn mysql_and_sqlite_hold_the_same_rows() {
    let url = common::test_mysql_url("same_rows");
    let p = params(21, 0.003);
    let mut w = BusinessWriter::open(&Target::parse(&url).unwrap())
        .await
        .unwrap();
    simulate(&mut w, &p, 1, &Faults::none(), |_| {})
        .await
        .unwrap();
    w.close().await.unwrap();
    // A second call continues where the first stopped.
    let mut w = BusinessWriter::open(&Target::parse(&url).unwrap())
        .await
        .unwrap();
    let state = simulate(&mut w, &p, 2, &Faults::none(), |_| {})
        .await
        .unwrap();
    assert_eq!(state.days_done, 3);
    let mut other = p;
    other.seed += 1;
    assert!(simulate(&mut w, &other, 1, &Faults::none(), |_| {})
        .await
        .is_err());
    w.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("same.db");
    common::run_sqlite(&path, &p, 3).await;
    let (mine, theirs) = (sqlite_rows(&path), mysql_rows(&url).await);

    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    let db = mysql_async::Opts::from_url(&url)
        .unwrap()
        .db_name()
        .unwrap()
        .to_string();
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    for (t, (a, b)) in business_tables().iter().zip(mine.iter().zip(&theirs)) {
        assert_eq!(a.len(), b.len(), "{}", t.name);
        assert!(a == b, "{} differs", t.name);
    }
}
