//! The layers hold: no two top-level modules of `src/` import each other,
//! directly or through others, and the adapters (`http`, `cli`, `jira`)
//! reach the store only through the services. Read from the source, so a
//! new `use` that breaks a layer fails here, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module and the top-level modules its files name as `crate::…`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut text = String::new();
        read_all(&path, &mut text);
        let mut uses = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let used: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            assert!(!used.is_empty(), "write `crate::module::…`, not `crate::{{…}}` ({name})");
            if used != name {
                uses.insert(used);
            }
        }
        graph.insert(name, uses);
    }
    graph
}

fn read_all(path: &Path, text: &mut String) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            read_all(&entry.unwrap().path(), text);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        text.push_str(&std::fs::read_to_string(path).unwrap());
    }
}

/// A cycle through `from`, if one exists: depth-first, keeping the path.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>) -> Option<Vec<String>> {
    let last = path.last().unwrap().clone();
    for next in graph.get(&last).into_iter().flatten() {
        if next == &path[0] {
            let mut found = path.clone();
            found.push(next.clone());
            return Some(found);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(found) = cycle(graph, path) {
                return Some(found);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn top_level_modules_import_each_other_in_one_direction_only() {
    let graph = module_graph();
    assert!(graph.contains_key("service") && graph.contains_key("oauth"), "{graph:?}");
    for module in graph.keys() {
        if let Some(found) = cycle(&graph, &mut vec![module.clone()]) {
            panic!("an import cycle: {}", found.join(" → "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(
        cycle(&graph, &mut vec!["a".into()]),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn adapters_reach_the_store_only_through_services() {
    let graph = module_graph();
    for adapter in ["http", "cli", "jira"] {
        let uses = &graph[adapter];
        assert!(!uses.contains("store"), "{adapter} names crate::store; call a service instead");
    }
}
