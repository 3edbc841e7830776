//! The module graph points one way (STYLE.md, example 11): domain words, configuration and
//! storage at the bottom, decisions above them, then protocol and views, the actors, and the
//! transports on top. The only cycle allowed is the actor layer itself, whose actors address
//! each other. Run with `--nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Actors and the state they share: they may address each other.
const ACTOR_LAYER: &[&str] = &["app", "conversation", "hub", "messages", "router"];

/// Top-level module -> the top-level modules its non-test code names as `crate::...`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let list = files.entry(name).or_default();
        if path.is_dir() {
            collect(&path, list);
        } else {
            list.push(path);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (module, paths) in &files {
        let mut to = BTreeSet::new();
        for path in paths.iter().filter(|p| !p.ends_with("tests.rs")) {
            let text = std::fs::read_to_string(path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            for name in referenced(code) {
                if modules.contains(&name) && name != *module {
                    to.insert(name);
                }
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first path segment after each `crate::`, and each item of `use crate::{a, b::c}`.
fn referenced(code: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            out.extend(list.split(',').map(|item| ident(item.trim())).filter(|s| !s.is_empty()));
        } else {
            out.push(ident(rest));
        }
    }
    out
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.edges[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    component.insert(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk =
        Walk { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn modules_point_one_way_but_for_the_actor_layer() {
    let edges = graph();
    for (module, to) in &edges {
        println!("{module} -> {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    let allowed: BTreeSet<String> = ACTOR_LAYER.iter().map(|s| s.to_string()).collect();
    for cycle in cycles(&edges) {
        assert!(cycle.is_subset(&allowed), "an import cycle outside the actor layer: {cycle:?}");
    }
    // The bottom layers name nothing above them.
    for (low, above) in [
        ("domain", &["config", "store", "protocol", "lifecycle"][..]),
        ("config", &["store", "protocol", "lifecycle", "webhooks", "app"][..]),
        ("store", &["protocol", "lifecycle", "router", "conversation", "app"][..]),
        ("lifecycle", &["protocol", "router", "conversation", "app", "http", "ws"][..]),
    ] {
        for high in above {
            assert!(!edges[low].contains(*high), "{low} must not depend on {high}");
        }
    }
}

#[test]
fn the_graph_reader_sees_both_forms_of_use() {
    let found = referenced("use crate::{a, b::c};\nfn f() { crate::d::e(); }");
    assert_eq!(found, vec!["a", "b", "d"]);
}
