//! The Python package (python/, a workspace of its own with its own
//! Cargo.lock) builds the library with the very crate versions the command
//! line does. It matters beyond reproducible builds: the 4-tuples'
//! partitions come from ahash with fixed seeds (`flow::tracker`), and a
//! first python/Cargo.lock, resolved afresh (ahash 0.8.15 instead of 0.8.12,
//! among some 40 newer crates), reported the same connections of
//! fixtures/findings in another order; with the root's versions the order is
//! the command line's again (python/tests/test_teardown.py compares them).

use std::collections::BTreeMap;
use std::path::Path;

/// name → versions in a Cargo.lock.
fn packages(lock: &str) -> BTreeMap<String, Vec<String>> {
    let value: toml::Value = toml::from_str(lock).unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in value["package"].as_array().unwrap() {
        out.entry(p["name"].as_str().unwrap().to_string())
            .or_default()
            .push(p["version"].as_str().unwrap().to_string());
    }
    out
}

#[test]
fn the_python_package_locks_the_librarys_crates_at_the_same_versions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = packages(&std::fs::read_to_string(root.join("Cargo.lock")).unwrap());
    let python = packages(&std::fs::read_to_string(root.join("python/Cargo.lock")).unwrap());
    let mut differ = Vec::new();
    for (name, versions) in &python {
        if let Some(mine) = ours.get(name)
            && mine != versions
        {
            differ.push(format!(
                "{name}: {versions:?} in python/Cargo.lock, {mine:?} here"
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(python.contains_key("tcp-teardown") && python.contains_key("ahash"));
}
