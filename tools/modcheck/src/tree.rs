//! A crate's source files as rustc finds them: the root file, then the file of each `mod name;`
//! it declares (`name.rs` or `name/mod.rs` next to the declaring module's own, or `#[path]`),
//! and so on down. Files no declaration reaches are not part of the crate and are not read.

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::scan::{self, ModPath, Scan};

/// One file of the crate and what it says.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub scan: Scan,
}

/// Reads and scans every file of the crate whose root is `root`, the root first.
pub(crate) fn load(root: &Path) -> Result<Vec<SourceFile>, Error> {
    let root_dir = parent(root);
    let mut queue = VecDeque::from([(root.to_path_buf(), ModPath::new(), root_dir)]);
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    while let Some((path, module, dir)) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
        let ast = syn::parse_file(&text).map_err(|source| Error::Parse {
            path: path.clone(),
            line: source.span().start().line,
            source,
        })?;
        let scan = scan::scan(&ast, module, dir, &parent(&path));
        for decl in &scan.mods {
            match decl.candidates.iter().find(|file| file.is_file()) {
                Some(file) => {
                    // Submodules of `a/mod.rs` (or of a `#[path]` file) are in `a/`, those of
                    // `a.rs` in `a/` next to it.
                    let dir = if decl.by_path_attr || file.file_name().is_some_and(|n| n == "mod.rs") {
                        parent(file)
                    } else {
                        parent(file).join(file.file_stem().unwrap_or_default())
                    };
                    queue.push_back((file.clone(), decl.module.clone(), dir));
                }
                // Compiled only in another configuration, and absent here.
                None if decl.conditional => {}
                None => {
                    return Err(Error::MissingModule {
                        declared_in: path,
                        line: decl.line,
                        module: decl.module.join("::"),
                        tried: decl.candidates.clone(),
                    });
                }
            }
        }
        files.push(SourceFile { path, scan });
    }
    Ok(files)
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}
