//! The invariants ARCHITECTURE.md states about the code's shape, checked on the source files:
//! no import cycle between the crate's modules; the store depends on nothing above it; only the
//! application's top (app, cli, demo, bench) reads the top-level config; no module outside a
//! peer's folder (and the simulator) names a peer's operations or reaches into a peer family; the
//! code map names every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use lienthong::peer::registry::FAMILIES;

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

/// A file's code outside its unit tests, without comments: what it really depends on.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every non-test source file as (path relative to `src/`, top-level module, code).
fn sources() -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            !(name == "tests.rs" || name.starts_with("tests_"))
        })
        .map(|p| {
            let rel = p
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let top = rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            let code = code(&p);
            (rel, top, code)
        })
        .collect()
}

/// `crate::<module>` names used in `code`.
fn crate_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, top, code) in sources() {
        if top == "lib" || top == "main" {
            continue;
        }
        let uses = crate_modules(&code);
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(uses.into_iter().filter(|m| *m != top));
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_modules_import_each_other_without_a_cycle() {
    let graph = module_graph();
    assert!(
        graph.contains_key("store") && graph.contains_key("outbox"),
        "{graph:?}"
    );
    assert_eq!(find_cycle(&graph), None, "import graph: {graph:#?}");
    // The checker itself finds a cycle when there is one.
    let mut broken = graph.clone();
    broken
        .entry("store".into())
        .or_default()
        .insert("outbox".into());
    assert!(find_cycle(&broken).is_some());
}

#[test]
fn the_store_depends_on_nothing_above_it() {
    // What the store may use: the small helpers every layer may use.
    let allowed: BTreeSet<&str> = ["settings", "time"].into();
    for (rel, top, code) in sources() {
        if top != "store" {
            continue;
        }
        let above: Vec<String> = crate_modules(&code)
            .into_iter()
            .filter(|m| m != "store" && !allowed.contains(m.as_str()))
            .collect();
        assert!(above.is_empty(), "src/{rel} imports {above:?}");
    }
}

#[test]
fn only_the_application_top_reads_the_whole_config() {
    let top_level: BTreeSet<&str> = ["app", "cli", "demo", "bench", "config", "main"].into();
    for (rel, top, code) in sources() {
        if top_level.contains(top.as_str()) {
            continue;
        }
        assert!(
            !crate_modules(&code).contains("config"),
            "src/{rel} imports crate::config: a section's types live beside its module"
        );
    }
}

#[test]
fn no_module_outside_a_peer_names_its_operations() {
    // The peer folders, the simulator of the peers, the portal's field tables in the mapping,
    // the catalog (the one user of the portal's catalog reads and of the commune family's
    // items), the postal service (the one user of VNPost's tracking feed, its orders and
    // cancels), and the demo and benchmarks (which drive a whole flow) may name a peer's
    // operations.
    let exempt = |rel: &str| {
        [
            "peer/", "sim/", "mapping/", "catalog/", "postal/", "demo.rs", "demo/", "bench.rs",
            "bench/",
        ]
        .iter()
        .any(|p| rel.starts_with(p))
    };
    let mut operations: Vec<&str> = FAMILIES
        .iter()
        .flat_map(|f| f.operations.iter().copied())
        .collect();
    operations.sort();
    assert!(operations.contains(&"DongBoHoSoMC") && operations.contains(&"SyncDocument"));
    let families: Vec<String> = FAMILIES
        .iter()
        .map(|f| format!("peer::{}", f.name))
        .collect();
    for (rel, _, code) in sources() {
        if exempt(&rel) {
            continue;
        }
        for op in &operations {
            assert!(
                !code.contains(&format!("\"{op}\"")),
                "src/{rel} names the operation \"{op}\": ask the peer registry instead"
            );
        }
        for f in &families {
            assert!(
                !code.contains(f.as_str()),
                "src/{rel} reaches into {f}: go through the peer registry"
            );
        }
    }
}

#[test]
fn the_code_map_names_every_module() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let tops: BTreeSet<String> = sources().into_iter().map(|(_, top, _)| top).collect();
    for top in tops {
        let as_file = format!("`src/{top}.rs`");
        let as_dir = format!("`src/{top}/`");
        assert!(
            doc.contains(&as_file) || doc.contains(&as_dir),
            "ARCHITECTURE.md's code map does not name src/{top}"
        );
    }
}
