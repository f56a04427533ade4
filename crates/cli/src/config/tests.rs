//! The config's loading, environment overrides and checks.

use super::*;

#[test]
fn a_misspelt_setting_is_refused_with_the_closest_name() {
    let env = |k: &str| HashMap::from([(k.to_string(), "x".to_string())]);
    let err = check_env(&env("MEDLAKE_CATALOG_URI"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MEDLAKE_CATALOG_URI") && err.contains("MEDLAKE_CATALOG_URL"),
        "{err}"
    );
    let err = check_env(&env("MEDLAKE_CATALG_URL"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean MEDLAKE_CATALOG_URL"), "{err}");
    let err = check_env(&env("MEDLAKE_SERVE_NO_SUCH_THING"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown setting MEDLAKE_SERVE_NO_SUCH_THING"),
        "{err}"
    );
    for fine in [
        "MEDLAKE_CATALOG_URL",
        "MEDLAKE_CONFIG",
        "MEDLAKE_TEST_KAFKA",
    ] {
        check_env(&env(fine)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, "[sync]\nparalelism = 3\n").unwrap();
    let err = Config::load(Some(&file), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean `parallelism`"), "{err}");
}

#[test]
fn env_overrides_file_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(
        &file,
        "[sync]\nparallelism = 2\n[business]\nurl = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let env = HashMap::from([("MEDLAKE_SYNC_PARALLELISM".to_string(), "8".to_string())]);
    let c = Config::load(Some(&file), &env).unwrap();
    assert_eq!(c.sync.parallelism, 8);
    assert_eq!(c.business.url, "sqlite://x.db");
    assert_eq!(c.sync.chunk_ids, 50_000);
}

#[test]
fn bad_config_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, "[sync]\nparalelism = 2\n").unwrap();
    let err = format!(
        "{:#}",
        Config::load(Some(&file), &HashMap::new()).unwrap_err()
    );
    assert!(err.contains("paralelism") && !err.contains('\n'), "{err}");
    let env = HashMap::from([("MEDLAKE_SYNC_PARALLELISM".to_string(), "many".to_string())]);
    let err = format!("{:#}", Config::load(None, &env).unwrap_err());
    assert!(err.contains("MEDLAKE_SYNC_PARALLELISM"), "{err}");
    let err = format!(
        "{:#}",
        Config::load(Some(Path::new("/nonexistent.toml")), &HashMap::new()).unwrap_err()
    );
    assert!(err.contains("not found"), "{err}");
}
