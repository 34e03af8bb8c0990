//! The shape of the source tree, checked: in every crate of the workspace, imports between
//! modules run one way (no circle), and no source file is longer than 800 lines.
//!
//! The import check reads `crate::`, `super::` and `self::` paths (in `use` lines and in
//! code) and resolves each to the module file it names. A module may use its own
//! submodules — they are its parts — so an edge from a module into one of its descendants
//! is not counted; every other edge must not lead back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every crate source directory of the workspace (the cargo-fuzz project included).
fn crate_dirs() -> Vec<PathBuf> {
    let root = workspace();
    ["transport", "runtime", "ringtcp", "benches", "examples", "fuzz", "fuzz/libfuzzer"]
        .iter()
        .map(|c| root.join(c).join("src"))
        .filter(|d| d.is_dir())
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file: `lib.rs` → [], `a/mod.rs` → [a], `a/b.rs` → [a, b]. Binaries
/// (`main.rs`, `bin/*.rs`) are crates of their own and get a root of their own name.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if parts.first().is_some_and(|p| p == "bin") || stem == "main" {
        return vec![format!("<bin {}>", rel.display())];
    }
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The paths a use-tree or a code path starting right after `crate::` / `super::` names.
fn paths_after(text: &str) -> Vec<Vec<String>> {
    fn ident(s: &str) -> (&str, &str) {
        let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
        (&s[..end], &s[end..])
    }
    fn tree<'a>(s: &'a str, prefix: &[String], out: &mut Vec<Vec<String>>) -> &'a str {
        let s = s.trim_start();
        if let Some(rest) = s.strip_prefix('{') {
            let mut rest = rest;
            loop {
                rest = rest.trim_start();
                if let Some(r) = rest.strip_prefix('}') {
                    return r;
                }
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r;
                    continue;
                }
                let before = rest.len();
                rest = tree(rest, prefix, out);
                if rest.len() == before {
                    // Something this reader does not know (`self`, `*`): skip a character.
                    rest = &rest[rest.chars().next().map_or(0, char::len_utf8)..];
                }
            }
        }
        let (name, rest) = ident(s);
        if name.is_empty() {
            if !prefix.is_empty() {
                out.push(prefix.to_vec());
            }
            return s.strip_prefix('*').unwrap_or(s);
        }
        let mut path = prefix.to_vec();
        path.push(name.to_owned());
        match rest.strip_prefix("::") {
            Some(r) => tree(r, &path, out),
            None => {
                out.push(path);
                rest
            }
        }
    }
    let mut out = Vec::new();
    tree(text, &[], &mut out);
    out
}

/// The code of a file: comments and the unit-test module at its end left out.
fn code_of(text: &str) -> String {
    let body = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    body.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// `from` imports the modules in the set (by module path), descendants of `from` left out.
fn imports(modules: &BTreeSet<Vec<String>>, from: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for (marker, base) in [("crate::", Vec::new()), ("super::", from[..from.len().saturating_sub(1)].to_vec()), ("self::", from.to_vec())] {
        for (i, _) in code.match_indices(marker) {
            // `super::super::x` is one path, read from its first `super::`.
            let preceded_by_path = code[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            if preceded_by_path {
                continue;
            }
            let rest = &code[i + marker.len()..];
            for p in paths_after(rest) {
                let mut full = base.clone();
                for seg in p {
                    match seg.as_str() {
                        "super" => {
                            full.pop();
                        }
                        "self" => {}
                        _ => full.push(seg),
                    }
                }
                // The longest prefix that is a module of the crate.
                let target = (0..=full.len()).rev().map(|n| full[..n].to_vec()).find(|m| modules.contains(m));
                if let Some(t) = target
                    && !t.starts_with(from)
                {
                    out.insert(t);
                }
            }
        }
    }
    out
}

/// A circle in `graph`, if any, as the modules along it.
fn find_circle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    fn visit(
        n: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        path: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|m| m == n).unwrap();
                let mut circle = path[start..].to_vec();
                circle.push(n.clone());
                return Some(circle);
            }
            _ => {}
        }
        state.insert(n.clone(), 1);
        path.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    graph.keys().find_map(|n| visit(n, graph, &mut state, &mut Vec::new()))
}

fn show(m: &[String]) -> String {
    if m.is_empty() { "crate".to_owned() } else { m.join("::") }
}

#[test]
fn imports_between_modules_run_one_way_in_every_crate() {
    let mut circles = Vec::new();
    for src in crate_dirs() {
        let files = rust_files(&src);
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
        let mut graph = BTreeMap::new();
        for f in &files {
            let from = module_of(&src, f);
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            graph.insert(from.clone(), imports(&modules, &from, &code));
        }
        if let Some(c) = find_circle(&graph) {
            circles.push(format!("{}: {}", src.display(), c.iter().map(|m| show(m)).collect::<Vec<_>>().join(" -> ")));
        }
    }
    assert!(circles.is_empty(), "import circles (move the shared items to a module both can use):\n{}", circles.join("\n"));
}

#[test]
fn the_checker_sees_a_circle_through_braces_super_and_code_paths() {
    let modules: BTreeSet<Vec<String>> =
        [vec![], vec!["a".to_owned()], vec!["b".to_owned()], vec!["b".to_owned(), "c".to_owned()]].into_iter().collect();
    // `x` is no module: `crate::x::Y` is an item of the crate root (lib.rs).
    let from_a = imports(&modules, &["a".to_owned()], "use crate::{x::Y, b::c::{Z, W}};");
    assert_eq!(from_a, [vec![], vec!["b".to_owned(), "c".to_owned()]].into_iter().collect());
    let from_c = imports(&modules, &["b".to_owned(), "c".to_owned()], "fn f() { super::super::a::g(); }");
    assert_eq!(from_c, [vec!["a".to_owned()]].into_iter().collect());
    let from_b = imports(&modules, &["b".to_owned()], "use self::c::Z; use super::a;");
    assert_eq!(from_b, [vec!["a".to_owned()]].into_iter().collect(), "a module may use its own parts");
    let graph: BTreeMap<_, _> = [(vec!["a".to_owned()], from_a), (vec!["b".to_owned(), "c".to_owned()], from_c)].into_iter().collect();
    assert!(find_circle(&graph).is_some());
}

#[test]
fn no_source_file_is_longer_than_800_lines() {
    let mut long = Vec::new();
    let root = workspace();
    for dir in ["transport", "runtime", "ringtcp", "benches", "examples", "fuzz", "conformance"] {
        for sub in ["src", "tests", "benches"] {
            let d = root.join(dir).join(sub);
            if !d.is_dir() {
                continue;
            }
            for f in rust_files(&d) {
                let n = std::fs::read_to_string(&f).unwrap().lines().count();
                if n > MAX_LINES {
                    long.push(format!("{} has {n} lines", f.strip_prefix(&root).unwrap().display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "split these files (one concept per module, at most {MAX_LINES} lines):\n{}", long.join("\n"));
}
