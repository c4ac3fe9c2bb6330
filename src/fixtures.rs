//! The files under `fixtures/`, for the unit tests that run over all of them.

use std::path::{Path, PathBuf};

/// Every file under `fixtures/` (the captures and the notes and scripts
/// beside them), sorted.
pub fn files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
