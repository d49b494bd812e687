//! Every crate of the workspace keeps its top-level modules in layers: no import cycle between
//! them (the crate's documentation says what counts as an import). A crate not there yet is on
//! [`NOT_YET_ACYCLIC`], and the list cannot go stale: a crate on it without a cycle fails too.

use std::path::{Path, PathBuf};

use mmo_modcheck::{Cycle, ModuleGraph, Package, packages};

/// Crates that still have cycles between their top-level modules, left out of the first test
/// until they are fixed; the second test fails once one has none, so take it off then. Empty:
/// every crate is acyclic.
const NOT_YET_ACYCLIC: &[&str] = &[];

/// One crate's check.
struct Checked {
    package: String,
    /// The crate's root file, from the workspace root.
    root: PathBuf,
    modules: usize,
    cycles: Vec<Cycle>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root")
}

/// Every crate (library and binaries) of every member.
fn check_workspace() -> Vec<Checked> {
    let root = workspace_root();
    let members: Vec<Package> = packages(&root).expect("the workspace's manifests");
    let mut checked = Vec::new();
    for package in &members {
        assert!(!package.roots.is_empty(), "no library or binary found in {}", package.dir.display());
        for file in &package.roots {
            let graph = ModuleGraph::of_crate(file).unwrap_or_else(|e| panic!("{}: {e}", package.name));
            checked.push(Checked {
                package: package.name.clone(),
                root: file.strip_prefix(&root).unwrap_or(file).to_path_buf(),
                modules: graph.modules().count(),
                cycles: graph.cycles(),
            });
        }
    }
    checked
}

/// The cycles of `crates`, with paths from the workspace root.
fn report<'c>(crates: impl IntoIterator<Item = &'c Checked>) -> String {
    let prefix = format!("{}/", workspace_root().display());
    let mut text = String::new();
    for c in crates {
        let allowed =
            if NOT_YET_ACYCLIC.contains(&c.package.as_str()) { " (on NOT_YET_ACYCLIC)" } else { "" };
        text += &format!("{} ({}): {} cycles{allowed}\n", c.package, c.root.display(), c.cycles.len());
        for cycle in &c.cycles {
            text += &format!("  {}\n", cycle.to_string().replace('\n', "\n  ").replace(&prefix, ""));
        }
    }
    text
}

#[test]
fn no_crate_has_a_cycle_between_its_top_level_modules() {
    let checked = check_workspace();
    // It read the crates, not nothing: the framework's core has a dozen modules.
    let core = checked.iter().find(|c| c.package == "mmo-core").expect("mmo-core is a member");
    assert!(core.modules >= 10, "mmo-core: only {} top-level modules found", core.modules);

    let with_cycles: Vec<&Checked> = checked.iter().filter(|c| !c.cycles.is_empty()).collect();
    eprintln!("{} crates checked; cycles found:\n{}", checked.len(), report(with_cycles.iter().copied()));
    let failing: Vec<&Checked> =
        with_cycles.into_iter().filter(|c| !NOT_YET_ACYCLIC.contains(&c.package.as_str())).collect();
    assert!(
        failing.is_empty(),
        "import cycles between top-level modules (make one module depend on the other only, or move \
         what both need into a third):\n{}",
        report(failing)
    );
}

#[test]
fn every_crate_not_yet_acyclic_still_has_a_cycle() {
    let checked = check_workspace();
    for name in NOT_YET_ACYCLIC {
        let crates: Vec<&Checked> = checked.iter().filter(|c| c.package == *name).collect();
        assert!(!crates.is_empty(), "{name} is on NOT_YET_ACYCLIC but is no workspace member");
        assert!(
            crates.iter().any(|c| !c.cycles.is_empty()),
            "{name} has no cycle between its top-level modules any more: take it off NOT_YET_ACYCLIC"
        );
    }
}
