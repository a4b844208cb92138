//! The limits issue 22 set for the rooms of src/, checked on every run so
//! a room that grows too big is noticed when it grows, not a year later:
//! - no file over 700 lines (its unit tests count: move them to a sibling
//!   file when the module becomes a folder);
//! - no function over 100 lines (from its `fn` line to its closing brace);
//! - no `clippy::too_many_arguments` allowance (a parameter struct says
//!   what the arguments belong to);
//! - no test hook: production code reads no `NFTOP_TEST*` variable (tests
//!   drive the product through its library, examples/ and real faults).
//!
//! How functions are found, without a parser crate: a line whose code
//! starts with `fn` (after `pub`, `const`, `unsafe`, `extern "C"`) opens
//! one; its body runs from the first `{` to the brace that closes it,
//! counted with strings, character literals and comments skipped. A
//! declaration ending in `;` (a trait method) has no body.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 100;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn all_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 20, "src/ not found under {}", root.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(root).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The name of the function a line opens, if it opens one.
fn opens_fn(line: &str) -> Option<&str> {
    let mut s = line.trim_start();
    if s.starts_with("pub(") {
        s = &s[s.find(')')? + 1..];
    }
    for q in ["pub ", "const ", "unsafe ", "extern \"C\" ", "async "] {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix(q) {
            s = r;
        }
    }
    let r = s.trim_start().strip_prefix("fn ")?;
    let end = r
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(r.len());
    Some(&r[..end])
}

/// Where the body that starts at or after byte `from` ends (the byte after
/// its closing brace), or None for a declaration without a body.
fn body_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b';' if depth == 0 => return None,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'r' if matches!(b.get(i + 1), Some(b'#') | Some(b'"'))
                && !b[i.saturating_sub(1)].is_ascii_alphanumeric() =>
            {
                // r"..." or r#"..."#: no escapes inside.
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) == Some(&b'"') {
                    j += 1;
                    loop {
                        if b[j] == b'"' && b[j + 1..].iter().take(hashes).all(|&c| c == b'#') {
                            break;
                        }
                        j += 1;
                    }
                    i = j + hashes;
                }
            }
            b'"' => {
                i += 1;
                while b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' => {
                // A character literal ('x', '\n', '\u{..}', '{'), not a
                // lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while b[i] != b'\'' {
                        i += 1;
                    }
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 2;
                } else if let Some(n) = std::str::from_utf8(&b[i + 1..])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .filter(|c| !c.is_ascii())
                {
                    i += n.len_utf8() + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced braces after byte {from}")
}

/// Every function with a body: (name, first line, line count). A function
/// nested in another is counted within it and on its own.
fn functions(src: &str) -> Vec<(String, usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (n, line) in src.split('\n').enumerate() {
        let at = start;
        start += line.len() + 1;
        let Some(name) = opens_fn(line) else { continue };
        if line.trim_start().starts_with("//") {
            continue;
        }
        if let Some(end) = body_end(b, at + line.find("fn ").unwrap()) {
            let lines = src[at..end].matches('\n').count() + 1;
            out.push((name.to_string(), n + 1, lines));
        }
    }
    out
}

#[test]
fn no_file_over_700_lines() {
    let over: Vec<String> = all_sources()
        .iter()
        .map(|(p, s)| (p, s.lines().count()))
        .filter(|&(_, n)| n > MAX_FILE_LINES)
        .map(|(p, n)| format!("{p}: {n} lines"))
        .collect();
    assert!(
        over.is_empty(),
        "over {MAX_FILE_LINES} lines (split by what each part owns): {over:?}"
    );
}

#[test]
fn no_function_over_100_lines() {
    let mut over = Vec::new();
    let mut seen = 0;
    for (p, s) in all_sources() {
        for (name, line, n) in functions(&s) {
            seen += 1;
            if n > MAX_FN_LINES {
                over.push(format!("{p}:{line} {name}: {n} lines"));
            }
        }
    }
    assert!(
        seen > 500,
        "found only {seen} functions: the scanner is broken"
    );
    assert!(over.is_empty(), "over {MAX_FN_LINES} lines: {over:?}");
}

#[test]
fn no_too_many_arguments_allowance_and_no_test_hooks() {
    for (p, s) in all_sources() {
        assert!(
            !s.contains("too_many_arguments"),
            "{p}: a too_many_arguments allowance: pass a parameter struct"
        );
        assert!(
            !s.contains("NFTOP_TEST"),
            "{p}: reads a test hook: drive it from tests through the library instead"
        );
    }
}

#[test]
fn the_function_scanner_measures_what_it_should() {
    let src = "fn a() {\n    let s = \"}\";\n    let c = '}';\n    // }\n}\n\
               pub(crate) fn b<'x>(v: &'x str) -> &'x str {\n    /* { */ v\n}\n\
               trait T {\n    fn decl(&self);\n}\n\
               fn r() {\n    let _ = r#\"}\"#;\n    let _ = '\\'';\n}\n";
    let f = functions(src);
    let got: Vec<(&str, usize, usize)> = f.iter().map(|(n, l, c)| (n.as_str(), *l, *c)).collect();
    assert_eq!(got, vec![("a", 1, 5), ("b", 6, 3), ("r", 12, 4)]);
    let long = format!("fn big() {{\n{}}}\n", "    x();\n".repeat(100));
    assert_eq!(functions(&long), vec![("big".to_string(), 1, 102)]);
}
