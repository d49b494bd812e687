//! The checker on small crates written to a temporary directory: which paths make an edge (and
//! which do not), how the root's imports are followed, and the cycles it reports.

use std::fs;
use std::path::Path;

use mmo_modcheck::{Cycle, Error, ModuleGraph, packages};
use tempfile::TempDir;

/// Writes `files` (path, text) under a fresh directory.
fn write(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("a parent")).expect("create the directories");
        fs::write(path, text).expect("write the file");
    }
    dir
}

fn graph_of(dir: &TempDir) -> ModuleGraph {
    ModuleGraph::of_crate(&dir.path().join("src/lib.rs")).expect("a readable crate")
}

/// Every edge as `from -> to at file:line`, the file relative to `dir`.
fn edges(graph: &ModuleGraph, dir: &Path) -> Vec<String> {
    graph
        .edges()
        .map(|(from, to, site)| {
            let file = site.file.strip_prefix(dir).expect("a file of the crate").display();
            format!("{from} -> {to} at {file}:{}", site.line)
        })
        .collect()
}

/// A cycle as printed, with the directory taken out of its sites.
fn printed(cycle: &Cycle, dir: &Path) -> String {
    cycle.to_string().replace(&format!("{}/", dir.display()), "")
}

#[test]
fn a_cycle_is_reported_once_with_where_each_edge_comes_from() {
    let dir = write(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A(B);\n"),
        ("src/b.rs", "pub struct B;\n\npub fn c() -> crate::c::C {\n    crate::c::C\n}\n"),
        ("src/c.rs", "pub struct C;\nimpl C {\n    fn a(&self) -> Option<super::a::A> { None }\n}\n"),
    ]);
    let graph = graph_of(&dir);
    assert_eq!(graph.modules().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(
        edges(&graph, dir.path()),
        ["a -> b at src/a.rs:1", "b -> c at src/b.rs:3", "c -> a at src/c.rs:3"]
    );
    let cycles = graph.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0].modules, ["a", "b", "c"]);
    assert_eq!(
        printed(&cycles[0], dir.path()),
        "a -> b -> c -> a\n    a -> b: src/a.rs:1\n    b -> c: src/b.rs:3\n    c -> a: src/c.rs:3"
    );
}

#[test]
fn modules_in_layers_have_no_cycle() {
    let dir = write(&[
        (
            "src/lib.rs",
            "pub mod app;\npub mod store;\npub mod r#type;\npub mod wire;\n\npub fn run() { app::start(); }\n",
        ),
        // `self::` and bare paths stay inside the module; `::` and other crates' paths lead out.
        ("src/app/mod.rs", "mod handlers;\npub fn start() { self::handlers::all(); std::process::id(); }\n"),
        (
            "src/app/handlers.rs",
            "use crate::store::Db;\nuse ::std::fmt;\npub fn all() { crate::wire::decode(); }\n",
        ),
        ("src/store.rs", "pub struct Db;\npub fn save() { crate::wire::encode(); }\n"),
        ("src/wire.rs", "pub fn decode() {}\npub fn encode() {}\n"),
        // A raw identifier names the module of `type.rs`.
        ("src/type.rs", "pub struct Kind(crate::r#store::Db);\n"),
    ]);
    let graph = graph_of(&dir);
    assert_eq!(
        edges(&graph, dir.path()),
        [
            "app -> store at src/app/handlers.rs:1",
            "app -> wire at src/app/handlers.rs:3",
            "store -> wire at src/store.rs:2",
            "type -> store at src/type.rs:1"
        ]
    );
    assert_eq!(graph.cycles(), []);
}

#[test]
fn names_the_root_imports_lead_to_the_module_they_come_from() {
    let dir = write(&[
        (
            "src/lib.rs",
            "mod a;\nmod b;\nmod c;\nmod d;\n\npub use b::Thing;\nuse a::Other as Renamed;\npub use c::*;\n\
             pub struct Own;\n",
        ),
        // `crate::Thing` is b's, `crate::Renamed` a's, `crate::Globbed` c's (through the glob),
        // `crate::Own` the root's own: no module.
        ("src/a.rs", "pub struct Other;\npub fn f(_: crate::Thing) {}\n"),
        ("src/b.rs", "pub struct Thing(pub crate::Renamed);\n"),
        ("src/c.rs", "pub struct Globbed;\n"),
        ("src/d.rs", "pub fn g(_: crate::Globbed, _: crate::Own) {}\n"),
    ]);
    let graph = graph_of(&dir);
    assert_eq!(
        edges(&graph, dir.path()),
        ["a -> b at src/a.rs:2", "b -> a at src/b.rs:1", "d -> c at src/d.rs:1"]
    );
    let cycles = graph.cycles();
    assert_eq!(cycles.iter().map(|c| c.modules.clone()).collect::<Vec<_>>(), [["a", "b"]]);
}

#[test]
fn comments_strings_docs_and_test_code_make_no_edge() {
    let dir = write(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        (
            "src/a.rs",
            r#"// crate::b::X
/// Like [`crate::b::X`].
pub fn f() -> &'static str {
    "crate::b::X"
}

#[cfg(test)]
mod tests {
    use crate::b::X;
}

#[cfg(all(test, unix))]
fn only_tested() {
    crate::b::f();
}

#[test]
fn a_test() {
    crate::b::f();
}

pub struct A;

impl A {
    #[cfg(test)]
    fn helper() -> crate::b::X {
        crate::b::X
    }
}
"#,
        ),
        ("src/b.rs", "pub struct X;\npub fn f() {}\npub fn g() { crate::a::f(); }\n"),
    ]);
    let graph = graph_of(&dir);
    assert_eq!(edges(&graph, dir.path()), ["b -> a at src/b.rs:3"]);
    assert_eq!(graph.cycles(), []);
}

#[test]
fn macro_bodies_nested_modules_and_other_cfgs_make_edges() {
    let dir = write(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("src/a/mod.rs", "mod inner;\nmod deep {\n    pub fn f() { super::super::c::h(); }\n}\n"),
        ("src/a/inner.rs", "pub fn f() {\n    println!(\"{}\", crate::b::NAME);\n}\n"),
        // Declared by no module, so not part of the crate (and never parsed).
        ("src/a/orphan.rs", "use crate::c::h; this is not Rust"),
        (
            "src/b.rs",
            "pub const NAME: &str = \"b\";\n\nmacro_rules! call_a {\n    () => { $crate::a::f() };\n}\n",
        ),
        (
            "src/c.rs",
            "pub fn h() {}\n#[cfg(not(test))]\nfn shipped() { crate::a::f(); }\n#[cfg(test)]\nmod tests;\n",
        ),
        // Only compiled for tests: never read either.
        ("src/c/tests.rs", "use crate::b::NAME; this is not Rust"),
    ]);
    let graph = graph_of(&dir);
    assert_eq!(
        edges(&graph, dir.path()),
        [
            "a -> b at src/a/inner.rs:2",
            "a -> c at src/a/mod.rs:3",
            "b -> a at src/b.rs:4",
            "c -> a at src/c.rs:3"
        ]
    );
    assert_eq!(graph.cycles().len(), 2);
}

#[test]
fn each_edge_of_a_tangle_is_in_a_reported_cycle() {
    // a <-> b, and b -> c -> d -> b: two cycles share b, and every edge is in one of them.
    let dir = write(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\nmod e;\n"),
        ("src/a.rs", "use crate::b::B;\n"),
        ("src/b.rs", "use crate::a::A;\nuse crate::c::C;\n"),
        ("src/c.rs", "use crate::d::D;\nuse crate::e::E;\n"),
        ("src/d.rs", "use crate::b::B;\n"),
        ("src/e.rs", "pub struct E;\n"),
    ]);
    let cycles = graph_of(&dir).cycles();
    let cycles: Vec<String> =
        cycles.iter().map(|c| c.to_string().lines().next().unwrap_or_default().to_owned()).collect();
    assert_eq!(cycles, ["a -> b -> a", "b -> c -> d -> b"]);
}

#[test]
fn a_module_without_its_file_is_an_error_naming_the_declaration() {
    let dir = write(&[("src/lib.rs", "#[cfg(windows)]\nmod only_on_windows;\n\nmod gone;\n")]);
    let err = ModuleGraph::of_crate(&dir.path().join("src/lib.rs")).expect_err("gone.rs is missing");
    assert!(matches!(&err, Error::MissingModule { line: 4, module, .. } if module == "gone"), "{err:?}");
    assert!(err.to_string().contains("gone.rs"), "{err}");

    let dir = write(&[("src/lib.rs", "mod a;\n"), ("src/a.rs", "fn broken( {}\n")]);
    let err = ModuleGraph::of_crate(&dir.path().join("src/lib.rs")).expect_err("a.rs does not parse");
    assert!(matches!(&err, Error::Parse { line: 1, .. }), "{err:?}");
}

#[test]
fn a_workspace_lists_its_members_and_their_libraries_and_binaries() {
    let dir = write(&[
        ("Cargo.toml", "[workspace]\nmembers = [\"app\", \"tools/*\"]\nexclude = [\"tools/skipped\"]\n"),
        ("app/Cargo.toml", "[package]\nname = \"app\"\n"),
        ("app/src/lib.rs", ""),
        ("app/src/main.rs", ""),
        ("app/src/bin/extra.rs", ""),
        ("app/src/bin/big/main.rs", ""),
        ("tools/one/Cargo.toml", "[package]\nname = \"one\"\n[[bin]]\nname = \"one\"\npath = \"main.rs\"\n"),
        ("tools/one/main.rs", ""),
        ("tools/skipped/Cargo.toml", "[package]\nname = \"skipped\"\n"),
    ]);
    let found = packages(dir.path()).expect("a readable workspace");
    let summary: Vec<(String, Vec<String>)> = found
        .iter()
        .map(|p| {
            let roots = p.roots.iter().map(|r| r.strip_prefix(&p.dir).expect("inside").display().to_string());
            (p.name.clone(), roots.collect())
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "app".to_owned(),
                vec!["src/lib.rs", "src/main.rs", "src/bin/big/main.rs", "src/bin/extra.rs"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            ),
            ("one".to_owned(), vec!["main.rs".to_owned()]),
        ]
    );
}
