//! The crate graph ARCHITECTURE.md promises: its code map lists every crate of the
//! workspace, and a crate depends (normally or for its tests) only on crates listed before
//! it, so dependencies point one way and the map can be read top to bottom.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Crate names in the order of ARCHITECTURE.md's code map headings
/// (`### \`crates/<dir>\` (medlake-<name>...)`).
fn code_map_order() -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("### `crates/"))
        .filter_map(|l| {
            let name = l.split('(').nth(1)?;
            let name = name.split([',', ')', ' ']).next()?;
            Some(name.to_string())
        })
        .collect()
}

/// The `medlake-*` crates a manifest names in a dependency table.
fn medlake_dependencies(manifest: &toml::Value) -> BTreeSet<String> {
    ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .filter_map(|table| manifest.get(table)?.as_table())
        .flat_map(|deps| deps.keys())
        .filter(|name| name.starts_with("medlake-"))
        .cloned()
        .collect()
}

#[test]
fn every_crate_depends_only_on_crates_listed_before_it_in_the_code_map() {
    let order = code_map_order();
    let crates_dir = workspace().join("crates");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&crates_dir).unwrap() {
        let manifest_path = entry.unwrap().path().join("Cargo.toml");
        if !manifest_path.exists() {
            continue;
        }
        let manifest: toml::Value =
            toml::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
        let name = manifest["package"]["name"].as_str().unwrap().to_string();
        let position = order
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("{name} is missing from ARCHITECTURE.md's code map"));
        for dependency in medlake_dependencies(&manifest) {
            let at = order
                .iter()
                .position(|c| *c == dependency)
                .unwrap_or_else(|| {
                    panic!("{name} depends on {dependency}, which the code map does not list")
                });
            assert!(
                at < position,
                "{name} depends on {dependency}, listed after it in ARCHITECTURE.md"
            );
        }
        seen.insert(name);
    }
    let listed: BTreeSet<String> = order.into_iter().collect();
    assert_eq!(
        listed, seen,
        "the code map lists exactly the workspace's crates"
    );
}
