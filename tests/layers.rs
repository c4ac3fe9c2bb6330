//! The layers of `src/` (docs/ARCHITECTURE.md, "Layers"): each top-level
//! module may use only the modules of the layers below its own, and no two
//! files of one folder may use each other. Test code (`*tests.rs` files and
//! the `#[cfg(test)] mod tests` at the end of a file) may reach up: the state
//! machine's tests run the classifier.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top; a module may use those before it. The same list, with what
/// each layer holds, is the table in docs/ARCHITECTURE.md.
const LAYERS: &[&str] = &[
    "time", "capture", "decode", "zeek", "flow", "classify", "report", "compare", "policy",
    "pipeline", "render", "cli",
];

/// Modules outside the layers: test helpers.
const OUTSIDE: &[&str] = &["fixtures"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments, string literals and trailing test
/// module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal ('"') would open a string: skip short literals.
            '\'' => {
                let ahead: String = chars.clone().take(3).collect();
                if ahead.starts_with("\"'") || ahead.starts_with("\\\"'") {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                }
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The names that follow `prefix` in `code` as path segments: `crate::a`,
/// `crate::{a, b::c}` give `a` and `b`.
fn paths_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices(prefix) {
        // Not the tail of a longer path (`foo_crate::`).
        if code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // One level of a use group: its first segments, split at top-level commas.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        found.insert(ident(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|s| !s.is_empty() && s != "self");
    found
}

/// Each file of `src/` (relative path) and its code.
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with("tests.rs")
        })
        .map(|p| {
            let rel = p.strip_prefix(src()).unwrap().to_str().unwrap().to_string();
            (rel, code(&std::fs::read_to_string(&p).unwrap()))
        })
        .collect()
}

/// The top-level module a file belongs to (`None` for the crate root).
fn top(rel: &str) -> Option<&str> {
    let first = rel.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then_some(name)
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let layer = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for (rel, code) in sources() {
        let Some(me) = top(&rel) else { continue };
        if OUTSIDE.contains(&me) {
            continue;
        }
        let mine = layer(me).unwrap_or_else(|| panic!("{rel}: module {me} is in no layer"));
        for used in paths_after(&code, "crate::") {
            if used == me || OUTSIDE.contains(&used.as_str()) {
                continue;
            }
            match layer(&used) {
                Some(l) if l < mine => {}
                Some(_) => wrong.push(format!("{rel} ({me}) uses {used}, a layer above or beside")),
                None => wrong.push(format!("{rel} uses crate::{used}, which is in no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_two_files_of_a_folder_use_each_other() {
    // Per folder, which sibling modules each file names (`super::x`, `x::` of
    // a module declared beside it, or `crate::top::x`).
    let mut uses: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let sources = sources();
    for (rel, code) in &sources {
        let path = Path::new(rel);
        let folder = path.parent().unwrap().to_str().unwrap().to_string();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        if stem == "mod" || folder.is_empty() {
            continue;
        }
        let mut named = paths_after(code, "super::");
        named.extend(paths_after(
            code,
            &format!("crate::{}::", folder.replace('/', "::")),
        ));
        named.remove(&stem);
        uses.insert((folder, stem), named);
    }
    let mut cycles = Vec::new();
    for ((folder, a), named) in &uses {
        for b in named {
            if a < b
                && uses
                    .get(&(folder.clone(), b.clone()))
                    .is_some_and(|theirs| theirs.contains(a))
            {
                cycles.push(format!(
                    "{folder}/{a}.rs and {folder}/{b}.rs use each other"
                ));
            }
        }
    }
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

#[test]
fn the_layer_table_in_the_architecture_doc_is_this_one() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
            .unwrap();
    let table: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| {
            let (n, rest) = l.split_once(" | ")?;
            n.trim().parse::<usize>().ok()?;
            rest.split(" | ").next()
        })
        .map(|m| m.trim().trim_matches('`'))
        .collect();
    assert_eq!(
        table, LAYERS,
        "docs/ARCHITECTURE.md's layer table, bottom to top"
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The parser finds the uses it must find, so a pass is not a blind one.
    let code = code(
        "use crate::a::b;\n// crate::c\nlet s = \"crate::d\";\nuse crate::{e, f::{g, h}};\ncrate::i::j();",
    );
    assert_eq!(
        paths_after(&code, "crate::"),
        ["a", "e", "f", "i"].map(String::from).into()
    );
    let decode = sources()
        .into_iter()
        .find(|(rel, _)| rel == "decode/mod.rs")
        .unwrap();
    assert!(paths_after(&decode.1, "crate::").contains("capture"));
}
