//! The dependency direction written at the top of src/lib.rs, enforced: every
//! `crate::…` path in the code of src/ (tests excepted) may name only a
//! module of its own layer or of a layer below, and the modules import one
//! another without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, and the top-level modules in each.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "shared types",
        &[
            "domain",
            "language",
            "secret",
            "disposition",
            "incident",
            "zone",
            "memory",
            "tls",
        ],
    ),
    (
        "the pure core",
        &["roster", "ballot", "meetings", "reading", "verify"],
    ),
    ("settings", &["config"]),
    ("adapters", &["store", "mailbox", "outbox"]),
    ("context", &["app"]),
    (
        "services",
        &[
            "admin",
            "ingest",
            "scheduler",
            "audit",
            "security",
            "status",
            "alerts",
        ],
    ),
    ("the shell", &["daemon", "demo", "cli", "stdout"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // A folder of tests inside a module (src/ingest/tests/) is test code.
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its tests and comments.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        // Test modules sit at the end of a file, by this codebase's habit.
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The files of modules declared `#[cfg(test)] mod name;`: test code.
fn test_modules(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let decl =
        regex::Regex::new(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod ([a-z_]+);").unwrap();
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        // A module's children live beside mod.rs, or in a folder named after it.
        let dir = match f.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs") | Some("lib.rs") => f.parent().unwrap().to_path_buf(),
            _ => f.with_extension(""),
        };
        for c in decl.captures_iter(&text) {
            out.insert(dir.join(format!("{}.rs", &c[1])));
            out.insert(dir.join(&c[1]).join("mod.rs"));
        }
    }
    out
}

/// Each top-level module's imports of other top-level modules: `crate::x`
/// anywhere in its code (tests excepted).
fn edges() -> BTreeMap<String, BTreeSet<(String, String)>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let tests = test_modules(&files);
    files.retain(|f| !tests.contains(f));
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let path_re = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .to_string();
        let module = first.trim_end_matches(".rs").to_string();
        if ["lib", "main", "testkit"].contains(&module.as_str()) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        for c in path_re.captures_iter(&code) {
            let to = c[1].to_string();
            if to != module {
                out.entry(module.clone())
                    .or_default()
                    .insert((to, rel.display().to_string()));
            }
        }
    }
    out
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_below() {
    let mut wrong = Vec::new();
    for (from, tos) in edges() {
        let Some(lf) = layer_of(&from) else {
            wrong.push(format!(
                "{from} is in no layer (add it to tests/layers.rs and src/lib.rs)"
            ));
            continue;
        };
        for (to, file) in tos {
            match layer_of(&to) {
                None => wrong.push(format!("{file} names crate::{to}, which is in no layer")),
                Some(lt) if lt > lf => wrong.push(format!(
                    "{file} ({}) imports crate::{to} ({})",
                    LAYERS[lf].0, LAYERS[lt].0
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let edges = edges();
    let graph: BTreeMap<&str, BTreeSet<&str>> = edges
        .iter()
        .map(|(from, tos)| (from.as_str(), tos.iter().map(|(t, _)| t.as_str()).collect()))
        .collect();
    // Depth-first search for a back edge; the cycle is printed as a path.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(i) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<&str> = path[i..].to_vec();
            cycle.push(node);
            return Some(cycle.join(" -> "));
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("an import cycle: {cycle}");
        }
    }
}

/// Every file of src/ outside tests: (top-level module, path, code).
fn code_files() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let tests = test_modules(&files);
    files
        .into_iter()
        .filter(|f| !tests.contains(f))
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().to_path_buf();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .to_string();
            let code = code_of(&std::fs::read_to_string(&f).unwrap());
            (
                first.trim_end_matches(".rs").to_string(),
                rel.display().to_string(),
                code,
            )
        })
        .collect()
}

#[test]
fn sql_is_written_only_in_the_store_and_anyhow_used_only_in_the_shell() {
    let shell = LAYERS.last().unwrap().1;
    let mut wrong = Vec::new();
    for (module, file, code) in code_files() {
        if module != "store" && (code.contains("sqlx::query") || code.contains("QueryBuilder")) {
            wrong.push(format!(
                "{file} writes SQL (the store is the only place for it)"
            ));
        }
        if !shell.contains(&module.as_str()) && module != "main" && code.contains("anyhow") {
            wrong.push(format!(
                "{file} uses anyhow (only the shell does; errors below it have types)"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_services_and_the_store_begin_transactions() {
    let services = LAYERS.iter().find(|(n, _)| *n == "services").unwrap().1;
    let mut wrong = Vec::new();
    for (module, file, code) in code_files() {
        let begins = code.contains(".begin()") || code.contains("begin_on(");
        if begins && module != "store" && !services.contains(&module.as_str()) {
            wrong.push(format!("{file} begins a transaction (a service's job)"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
