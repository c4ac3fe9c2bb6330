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

/// The library's own dependencies ([dependencies] and the unix ones of
/// Cargo.toml, optional ones aside: the package builds without mimalloc).
fn library_dependencies(manifest: &str) -> Vec<String> {
    let value: toml::Value = toml::from_str(manifest).unwrap();
    let mut names = Vec::new();
    let tables = [
        value.get("dependencies"),
        value
            .get("target")
            .and_then(|t| t.get("cfg(unix)"))
            .and_then(|t| t.get("dependencies")),
    ];
    for table in tables.into_iter().flatten() {
        for (name, spec) in table.as_table().unwrap() {
            let optional = spec
                .get("optional")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            if !optional {
                names.push(name.clone());
            }
        }
    }
    names
}

/// A crate added to the library and not to python/Cargo.lock fails the
/// wheel's build under `--locked` (.ci/run's `pip install ./python`), which
/// this catches without pip: every dependency is in the python lock.
#[test]
fn the_python_lock_has_every_crate_the_library_depends_on() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let python = packages(&std::fs::read_to_string(root.join("python/Cargo.lock")).unwrap());
    let wanted = library_dependencies(&manifest);
    assert!(wanted.iter().any(|n| n == "pcap-parser"), "{wanted:?}");
    let missing: Vec<&String> = wanted.iter().filter(|n| !python.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "not in python/Cargo.lock (run `cargo metadata --manifest-path python/Cargo.toml` \
         and commit the lock): {missing:?}"
    );
}
