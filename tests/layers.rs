//! Import circles between the modules of src/ (issue 22: "layers without
//! circles"). Reads the source, lists every edge "module A names module
//! B" and fails on a cycle that is not in `KNOWN` (files as nodes) or
//! `KNOWN_DIRS` (render/ and route/ as one node each); both may only
//! shrink (an entry that no longer lies on a cycle fails too, so it is
//! removed when its circle is broken).
//!
//! How it reads the code (no parser crate: a small tokenizer):
//! - A node is a file: `src/x.rs` is `x`, `src/d/mod.rs` is `d`, and
//!   `src/d/y.rs` is `d::y`. lib.rs and main.rs (the roots) are left out.
//! - Comments, strings and `#[cfg(test)]` items are dropped: unit tests
//!   may reach anywhere; layering is about the product code.
//! - Every path starting with `crate::`, `super::` (in `d/y.rs`) or, in
//!   `d/mod.rs`, `self::`/a child's name, is an edge, including those
//!   inside `use` groups and in expressions (`crate::view::sort_indices`).
//!   A path `d::y::...` written after `use crate::d` counts too.
//! - `crate::d::Name`, where d/mod.rs re-exports Name from its child y
//!   (`pub use y::*` or `pub use y::Name`), is an edge to `d::y`; other
//!   names of d (its own items, or re-exports from outside d) are edges
//!   to `d`, so a facade that re-exports another module's type is a
//!   dependency of its users on the facade and of the facade on the type.
//! - `d` -> its own children is containment, not layering: not an edge.
//!
//! `cargo test --test tests layers:: -- --nocapture` prints every edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Edges allowed to lie on a cycle. Only shrinks: break a circle, then
/// delete its edges here (the test says which). Empty since issue 22's
/// second pass: any circle between files of src/ now fails.
const KNOWN: &[&str] = &[];

/// The same with render/ and route/ as one node each. Empty since
/// `Line` (with `fmt_scaled`) and `Opts` moved below render (line.rs,
/// opts.rs): health and keys no longer reach render.
const KNOWN_DIRS: &[&str] = &[];

type Graph = BTreeMap<String, BTreeSet<String>>;

#[derive(Debug, PartialEq)]
enum Tok {
    Id(String),
    Sep,     // ::
    P(char), // any other punctuation
}

/// Drops comments, string/char literals; keeps identifiers and punctuation.
fn tokens(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'"' {
            i = skip_string(b, i);
        } else if c == b'\'' {
            // 'x' or '\n' is a char; 'a (no closing quote after one char) a lifetime.
            if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                if b.get(i + 1 + ch) == Some(&b'\'') {
                    i += 2 + ch;
                } else {
                    i += 1;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let w = &src[s..i];
            // b"..", c"..", r"..", r#".."#, br"..": a prefixed string.
            if matches!(w, "b" | "c" | "r" | "br" | "cr") && matches!(b.get(i), Some(b'"' | b'#')) {
                if w.ends_with('r') {
                    let mut hashes = 0;
                    while b.get(i) == Some(&b'#') {
                        hashes += 1;
                        i += 1;
                    }
                    i += 1; // opening quote
                    let close: Vec<u8> = std::iter::once(b'"')
                        .chain(std::iter::repeat_n(b'#', hashes))
                        .collect();
                    while i < b.len() && !b[i..].starts_with(&close) {
                        i += 1;
                    }
                    i += close.len();
                } else {
                    i = skip_string(b, i);
                }
            } else if w == "b" && b.get(i) == Some(&b'\'') {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            } else {
                out.push(Tok::Id(w.to_string()));
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            out.push(Tok::Sep);
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                out.push(Tok::P(c as char));
            }
            i += 1;
        }
    }
    out
}

/// `b[i]` is the opening quote; returns the index after the closing one.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// Removes `#[cfg(test)]` and the item it guards (up to `;` or a balanced `{}`).
fn drop_tests(t: Vec<Tok>) -> Vec<Tok> {
    let id = |x: &Tok, s: &str| matches!(x, Tok::Id(w) if w == s);
    let mut out = Vec::new();
    let mut it = t.into_iter().peekable();
    let mut window: Vec<Tok> = Vec::new();
    while let Some(x) = it.next() {
        window.push(x);
        let n = window.len();
        let attr = n >= 7
            && window[n - 7] == Tok::P('#')
            && window[n - 6] == Tok::P('[')
            && id(&window[n - 5], "cfg")
            && window[n - 4] == Tok::P('(')
            && id(&window[n - 3], "test")
            && window[n - 2] == Tok::P(')')
            && window[n - 1] == Tok::P(']');
        if !attr {
            continue;
        }
        window.truncate(n - 7);
        let mut depth = 0;
        for x in it.by_ref() {
            match x {
                Tok::P(';') if depth == 0 => break,
                Tok::P('{') => depth += 1,
                Tok::P('}') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out.append(&mut window);
    out
}

/// Every path in the tokens, `use` groups expanded: `crate::a::{b, c::D}`
/// gives `crate::a::b` and `crate::a::c::D`. A path starts at an
/// identifier not preceded by `::` and followed by `::`.
fn paths(t: &[Tok]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let starts = matches!(t[i], Tok::Id(_))
            && t.get(i + 1) == Some(&Tok::Sep)
            && (i == 0 || t[i - 1] != Tok::Sep);
        if starts {
            i = tree(t, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads one use-tree at `t[i]` below `prefix`; returns the index after it.
fn tree(t: &[Tok], mut i: usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    loop {
        match t.get(i) {
            Some(Tok::Id(w)) => {
                prefix.push(w.clone());
                i += 1;
            }
            Some(Tok::P('{')) => {
                i += 1;
                loop {
                    match t.get(i) {
                        Some(Tok::P('}')) | None => return i + 1,
                        Some(Tok::P(',')) => i += 1,
                        _ => {
                            let before = i;
                            i = tree(t, i, prefix.clone(), out);
                            if i == before {
                                i += 1;
                            }
                        }
                    }
                }
            }
            Some(Tok::P('*')) => {
                i += 1;
                break;
            }
            _ => break,
        }
        if t.get(i) == Some(&Tok::Sep) {
            i += 1;
        } else {
            break;
        }
    }
    // `x as y`: the alias is no module.
    if matches!(t.get(i), Some(Tok::Id(w)) if w == "as") {
        i += 2;
    }
    if !prefix.is_empty() {
        out.push(prefix);
    }
    i
}

struct Src {
    /// node name -> tokens of its product code
    files: BTreeMap<String, Vec<Tok>>,
    /// directory module -> its children
    children: BTreeMap<String, BTreeSet<String>>,
    /// (directory module, name) -> the child that defines it
    reexports: BTreeMap<(String, String), String>,
}

fn read_src(root: &Path) -> Src {
    let mut files = BTreeMap::new();
    let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut dirs = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        if p.is_dir() {
            dirs.push((name, p));
        } else if p.extension().is_some_and(|x| x == "rs") && name != "lib" && name != "main" {
            files.insert(
                name,
                drop_tests(tokens(&std::fs::read_to_string(&p).unwrap())),
            );
        }
    }
    for (d, p) in dirs {
        for e in std::fs::read_dir(&p).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let name = p.file_stem().unwrap().to_str().unwrap().to_string();
            let toks = drop_tests(tokens(&std::fs::read_to_string(&p).unwrap()));
            if name == "mod" {
                files.insert(d.clone(), toks);
            } else {
                children.entry(d.clone()).or_default().insert(name.clone());
                files.insert(format!("{d}::{name}"), toks);
            }
        }
    }
    // Names a directory module re-exports from its children.
    let mut reexports = BTreeMap::new();
    for (d, kids) in &children {
        let mut pubs = Vec::new();
        let t = &files[d];
        for (k, w) in t.iter().enumerate() {
            if *w == Tok::Id("pub".into()) && t.get(k + 1) == Some(&Tok::Id("use".into())) {
                let end = t[k..].iter().position(|x| *x == Tok::P(';')).unwrap() + k;
                let mut ps = Vec::new();
                tree(t, k + 2, Vec::new(), &mut ps);
                // A glob: `pub use fmt::*` reads as the path ["fmt"] ending before `*`.
                let glob = t[k..end].contains(&Tok::P('*'));
                pubs.extend(ps.into_iter().map(|p| (p, glob)));
            }
        }
        for (p, glob) in pubs {
            let p: Vec<&str> = p.iter().map(String::as_str).collect();
            let p = if p.first() == Some(&"self") {
                &p[1..]
            } else {
                &p[..]
            };
            let Some(kid) = p.first().filter(|k| kids.contains(**k)) else {
                continue;
            };
            if glob && p.len() == 1 {
                for name in item_names(&files[&format!("{d}::{kid}")]) {
                    reexports.insert((d.clone(), name), kid.to_string());
                }
            } else if let Some(name) = p.last() {
                reexports.insert((d.clone(), name.to_string()), kid.to_string());
            }
        }
    }
    Src {
        files,
        children,
        reexports,
    }
}

/// Names of the `pub` items of a file (what `pub use file::*` brings in).
fn item_names(t: &[Tok]) -> Vec<String> {
    let mut out = Vec::new();
    for (k, w) in t.iter().enumerate() {
        if *w != Tok::Id("pub".into()) || t.get(k + 1) == Some(&Tok::P('(')) {
            continue;
        }
        for x in &t[k + 1..(k + 4).min(t.len())] {
            if let Tok::Id(n) = x {
                if !matches!(
                    n.as_str(),
                    "fn" | "struct"
                        | "enum"
                        | "const"
                        | "static"
                        | "type"
                        | "trait"
                        | "mod"
                        | "unsafe"
                        | "mut"
                ) {
                    out.push(n.clone());
                    break;
                }
            }
        }
    }
    out
}

/// The file declares an item named `name` (at any depth).
fn defines(t: &[Tok], name: &str) -> bool {
    t.windows(2).any(|w| {
        matches!(&w[0], Tok::Id(k) if matches!(k.as_str(), "fn" | "struct" | "enum" | "const" | "static" | "type" | "trait" | "mod"))
            && matches!(&w[1], Tok::Id(n) if n == name)
    })
}

/// The same edges with each directory as one node (`render::fmt` is `render`).
fn collapsed(g: &Graph) -> Graph {
    let top = |n: &str| n.split("::").next().unwrap().to_string();
    let mut c = Graph::new();
    for (a, bs) in g {
        let e = c.entry(top(a)).or_default();
        e.extend(bs.iter().map(|b| top(b)).filter(|b| *b != top(a)));
    }
    c
}

fn graph(s: &Src) -> Graph {
    let mut g = Graph::new();
    for (node, toks) in &s.files {
        let (dir, is_mod) = match node.split_once("::") {
            Some((d, _)) => (Some(d.to_string()), false),
            None => (
                s.children.contains_key(node).then(|| node.clone()),
                s.children.contains_key(node),
            ),
        };
        let edges = g.entry(node.clone()).or_default();
        let all = paths(toks);
        // Names this file imports itself (`use std::ops::Range`).
        let own: BTreeSet<&str> = all
            .iter()
            .filter(|p| p[0] != "super")
            .filter_map(|p| p.last())
            .map(String::as_str)
            .collect();
        for p in &all {
            let p: Vec<&str> = p.iter().map(String::as_str).collect();
            // `super::X` in an inline `mod field { .. }` names this file's own X.
            if p[0] == "super"
                && p.len() == 2
                && !is_mod
                && (defines(toks, p[1]) || own.contains(p[1]))
            {
                continue;
            }
            // Rewrite to an absolute path below `crate`.
            let abs: Vec<&str> = match (p[0], &dir) {
                ("crate", _) => p[1..].to_vec(),
                ("super", Some(d)) if !is_mod => std::iter::once(d.as_str())
                    .chain(p[1..].iter().copied())
                    .collect(),
                ("self", Some(d)) if is_mod => std::iter::once(d.as_str())
                    .chain(p[1..].iter().copied())
                    .collect(),
                (k, Some(d)) if is_mod && s.children[d].contains(k) => std::iter::once(d.as_str())
                    .chain(p.iter().copied())
                    .collect(),
                // `render::detail::x` after `use crate::render`.
                (k, _)
                    if s.children.contains_key(k)
                        && p.len() > 1
                        && s.children[k].contains(p[1]) =>
                {
                    p.clone()
                }
                _ => continue,
            };
            let Some(&top) = abs.first() else { continue };
            if !s.files.contains_key(top) {
                continue; // a name of lib.rs, or `crate::*`
            }
            let to = match (s.children.get(top), abs.get(1)) {
                (Some(kids), Some(&k)) if kids.contains(k) => format!("{top}::{k}"),
                (Some(_), Some(&name)) => {
                    match s.reexports.get(&(top.to_string(), name.to_string())) {
                        Some(kid) => format!("{top}::{kid}"),
                        None => top.to_string(),
                    }
                }
                _ => top.to_string(),
            };
            let contains = is_mod && to.split_once("::").is_some_and(|(d, _)| d == node);
            if to != *node && !contains {
                edges.insert(to);
            }
        }
    }
    g
}

/// Strongly connected components with more than one node (Tarjan).
fn circles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct St<'a> {
        g: &'a Graph,
        idx: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a str) {
        let n = s.idx.len();
        s.idx.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.idx.contains_key(w) {
                visit(s, w);
                let l = s.low[v].min(s.low[w]);
                s.low.insert(v, l);
            } else if s.on.contains(w) {
                let l = s.low[v].min(s.idx[w]);
                s.low.insert(v, l);
            }
        }
        if s.low[v] == s.idx[v] {
            let mut c = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                c.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                s.out.push(c);
            }
        }
    }
    let mut s = St {
        g,
        idx: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.idx.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// A shortest way back from `to` to `from` inside one circle, for the message.
fn way(g: &Graph, from: &str, to: &str, within: &BTreeSet<String>) -> Vec<String> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut q = std::collections::VecDeque::from([to.to_string()]);
    while let Some(v) = q.pop_front() {
        if v == from {
            let mut p = vec![v.clone()];
            while let Some(u) = prev.get(p.last().unwrap()) {
                p.push(u.clone());
            }
            p.reverse();
            return p;
        }
        for w in g
            .get(&v)
            .into_iter()
            .flatten()
            .filter(|w| within.contains(*w))
        {
            if !prev.contains_key(w) && w != to {
                prev.insert(w.clone(), v.clone());
                q.push_back(w.clone());
            }
        }
    }
    Vec::new()
}

#[test]
fn no_new_import_circles() {
    let g = graph(&read_src(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    ));
    println!("edges (product code of src/, `#[cfg(test)]` left out):");
    for (a, bs) in &g {
        println!(
            "  {a} -> {}",
            bs.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let mut on_cycle = BTreeSet::new();
    println!("circles:");
    for c in circles(&g) {
        println!("  {}", c.iter().cloned().collect::<Vec<_>>().join(" "));
        for a in &c {
            for b in g[a].iter().filter(|b| c.contains(*b)) {
                let back = way(&g, a, b, &c);
                println!("    {a} -> {}", back.join(" -> "));
                on_cycle.insert(format!("{a} -> {b}"));
            }
        }
    }
    // With render/ and route/ as one node each, a helper file of render/
    // used by a module that render's sinks import shows as a circle too. Checked against its own list, which may only shrink.
    let c = collapsed(&g);
    let mut on_dir_cycle = BTreeSet::new();
    println!("circles with render/ and route/ as one node each:");
    for s in circles(&c) {
        println!("  {}", s.iter().cloned().collect::<Vec<_>>().join(" "));
        for a in &s {
            for b in c[a].iter().filter(|b| s.contains(*b)) {
                println!("    {a} -> {}", way(&c, a, b, &s).join(" -> "));
                on_dir_cycle.insert(format!("{a} -> {b}"));
            }
        }
    }
    shrinks(&on_cycle, KNOWN, "KNOWN");
    shrinks(&on_dir_cycle, KNOWN_DIRS, "KNOWN_DIRS");
}

/// Fails on an edge on a circle that `known` does not list, and on an
/// entry of `known` that is no longer on one.
fn shrinks(on_cycle: &BTreeSet<String>, known: &[&str], name: &str) {
    let known: BTreeSet<String> = known.iter().map(|s| s.to_string()).collect();
    let new: Vec<_> = on_cycle.difference(&known).collect();
    let gone: Vec<_> = known.difference(on_cycle).collect();
    assert!(new.is_empty(), "new import circle (edges above): {new:?}");
    assert!(
        gone.is_empty(),
        "no longer on a circle: delete from {name} in tests/layers.rs: {gone:?}"
    );
}

/// The reader itself: a planted circle through a `use` group, `super::`,
/// a child's re-export and an expression path is found; comments,
/// strings, `#[cfg(test)]` items and containment are not edges.
#[test]
fn reader_finds_a_planted_circle() {
    let dir = std::env::temp_dir().join(format!("nftop-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("d")).unwrap();
    let files = [
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        (
            "a.rs",
            "use crate::{d::{self, Thing}, c};\nfn f() { let _ = \"crate::b::x\"; } // crate::b\n",
        ),
        (
            "b.rs",
            "#[cfg(test)]\nmod tests { use crate::a; }\npub fn x() {}\n",
        ),
        (
            "c.rs",
            "pub fn y() { crate::b::x(); let _ = 'a'; let _: &'static str = r#\"crate::a\"#; }\n",
        ),
        (
            "d/mod.rs",
            "mod e;\npub use e::*;\npub use self::k::K;\nmod k;\n",
        ),
        (
            "d/e.rs",
            "pub struct Thing;\nfn g() { super::k::K::h(); }\n",
        ),
        (
            "d/k.rs",
            "pub struct K;\nimpl K { pub fn h() { crate::a::z(); } }\n",
        ),
    ];
    for (p, text) in files {
        std::fs::write(dir.join(p), text).unwrap();
    }
    let g = graph(&read_src(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    let e = |a: &str| g[a].iter().cloned().collect::<Vec<_>>();
    assert_eq!(e("a"), ["c", "d", "d::e"]);
    assert_eq!(e("b"), Vec::<String>::new());
    assert_eq!(e("c"), ["b"]);
    assert_eq!(e("d"), Vec::<String>::new());
    assert_eq!(e("d::e"), ["d::k"]);
    assert_eq!(e("d::k"), ["a"]);
    let c = circles(&g);
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].iter().cloned().collect::<Vec<_>>(),
        ["a", "d::e", "d::k"]
    );
}
