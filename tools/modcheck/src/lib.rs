//! `mmo-modcheck`: finds import cycles between the top-level modules of a crate, so the
//! workspace's tests can hold every crate to layers (`tests/workspace.rs`).
//!
//! ## Nodes and edges
//!
//! A crate is read from its root file (`lib.rs`, `main.rs`, a binary's file; [`packages`] lists
//! them for a workspace, `workspace.rs`) by following its `mod` declarations as rustc does
//! (`tree.rs`). The root is not a node. Each module the root declares is one, with everything
//! below it: module `a` is `src/a.rs` or `src/a/mod.rs`, the files of its submodules
//! (`src/a/**`) and its inline `mod` blocks. An edge `a -> b` means that code in `a` names
//! something in `b` (`scan.rs` finds the paths, `graph.rs` resolves them):
//!
//! - through the root: `crate::b::Item` or `crate::b`, in a `use` or anywhere else; `super::b`
//!   from `src/a.rs` (`super::super::b` from `src/a/x.rs`); `self::` and `super::` paths are
//!   made absolute first. Macro bodies count too: their tokens are scanned for such paths
//!   (`$crate::b` included);
//! - through a name the root imports: `crate::Thing` when the root has `pub use b::Thing;` (a
//!   private `use` too: children see it), or `pub use b::*;` and `b` declares `Thing`.
//!
//! Sources are parsed with `syn`, so comments, doc comments and string literals never count.
//! Code compiled only for tests is left out: items under `#[cfg(test)]` (or a `cfg` that
//! requires `test`), such as `mod tests`, and `#[test]` functions. A test may reach anywhere; what
//! must form layers is the code that ships. Other `cfg`s are kept: a cycle in any configuration
//! is a cycle.
//!
//! Not followed, so possibly missed: names a module reaches through a glob import of the root
//! (`use crate::*;`), glob re-exports inside a re-exported module, and code from `include!`.
//!
//! ## Cycles
//!
//! [`ModuleGraph::cycles`] finds the strongly connected components (Tarjan) and, in each, cycles
//! that together take every edge between its modules: each edge not yet taken closes the
//! shortest cycle through it. A cycle prints as `a -> b -> c -> a` with one `file:line` per edge.

mod graph;
mod scan;
mod tree;
mod workspace;

use std::io;
use std::path::PathBuf;

pub use graph::{Cycle, ModuleGraph, Site};
pub use workspace::{Package, packages};

/// Why a crate or a workspace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}:{line}: {source}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: syn::Error,
    },
    #[error(
        "{}:{line}: no file for module {module} (looked for {})",
        declared_in.display(),
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    MissingModule { declared_in: PathBuf, line: usize, module: String, tried: Vec<PathBuf> },
    #[error("{}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
}
