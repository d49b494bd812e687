//! `docs/extending.md` quotes this crate (and a few framework lines) instead of paraphrasing it:
//! every `rust`, `proto` and `toml` snippet there is preceded by `<!-- quote: <path> -->` and
//! must still be an excerpt of that file, so the guide cannot drift from the code it teaches.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn guide() -> String {
    std::fs::read_to_string(workspace().join("docs/extending.md")).unwrap()
}

struct Snippet {
    line: usize,
    lang: String,
    source: Option<String>,
    body: Vec<String>,
}

/// The fenced blocks of `markdown`, each with the `<!-- quote: path -->` line right before it.
fn snippets(markdown: &str) -> Vec<Snippet> {
    let mut out = Vec::new();
    let mut source = None;
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if let Some(rest) = line.trim().strip_prefix("<!-- quote:") {
            source = Some(rest.trim_end_matches("-->").trim().to_string());
        } else if let Some(lang) = line.trim_start().strip_prefix("```") {
            let body = lines.by_ref().map(|(_, l)| l).take_while(|l| !l.trim_start().starts_with("```"));
            let body = body.map(str::to_string).collect();
            out.push(Snippet { line: i + 1, lang: lang.trim().to_string(), source: source.take(), body });
        } else if !line.trim().is_empty() {
            source = None;
        }
    }
    out
}

/// True if `snippet` is an excerpt of `file`: its lines appear in it contiguously (indentation
/// aside, so a snippet may be dedented), except where a `// ...` or `# ...` line marks a gap.
fn is_excerpt(snippet: &[String], file: &str) -> bool {
    let file: Vec<&str> = file.lines().map(str::trim).collect();
    let mut from = 0;
    for chunk in snippet.split(|l| matches!(l.trim(), "// ..." | "# ...")) {
        let chunk: Vec<&str> = chunk.iter().map(|l| l.trim()).collect();
        if chunk.is_empty() {
            continue;
        }
        let last_start = file.len().saturating_sub(chunk.len());
        match (from..=last_start).find(|&i| file[i..i + chunk.len()] == chunk[..]) {
            Some(i) => from = i + chunk.len(),
            None => return false,
        }
    }
    true
}

#[test]
fn every_code_snippet_is_quoted_from_its_source() {
    let guide = guide();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for s in snippets(&guide).into_iter().filter(|s| matches!(s.lang.as_str(), "rust" | "proto" | "toml")) {
        let Some(source) = &s.source else {
            wrong.push(format!("line {}: a {} snippet without <!-- quote: path -->", s.line, s.lang));
            continue;
        };
        match std::fs::read_to_string(workspace().join(source)) {
            Ok(text) if is_excerpt(&s.body, &text) => checked += 1,
            Ok(_) => wrong.push(format!("line {}: the snippet is no longer in {source}", s.line)),
            Err(e) => wrong.push(format!("line {}: {source}: {e}", s.line)),
        }
    }
    assert!(wrong.is_empty(), "docs/extending.md is out of date:\n{}", wrong.join("\n"));
    assert!(checked >= 10, "only {checked} quoted snippets: is the marker still recognised?");
}

#[test]
fn every_relative_link_points_at_a_file() {
    let guide = guide();
    let docs = workspace().join("docs");
    let mut missing = Vec::new();
    for (_, rest) in guide.match_indices("](").map(|(i, _)| guide.split_at(i + 2)) {
        let target = rest.split(')').next().unwrap_or("");
        let path = target.split('#').next().unwrap_or("");
        if path.is_empty() || path.contains("://") {
            continue;
        }
        if !docs.join(path).exists() {
            missing.push(target.to_string());
        }
    }
    assert!(missing.is_empty(), "links to missing files: {missing:?}");
}

#[test]
fn the_excerpt_check_finds_gaps_and_changes() {
    let file = "fn a() {\n    one();\n    two();\n    three();\n}\n";
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    assert!(is_excerpt(&lines("one();\ntwo();"), file));
    assert!(is_excerpt(&lines("fn a() {\n    // ...\n    three();"), file));
    assert!(!is_excerpt(&lines("one();\nthree();"), file));
    assert!(!is_excerpt(&lines("three();\n// ...\none();"), file));
}
