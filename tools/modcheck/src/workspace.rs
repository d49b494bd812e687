//! The workspace's packages, from its `Cargo.toml` files, and the crate roots cargo builds for
//! each: the library and the binaries. Build scripts, tests, benches and examples are crates of
//! their own, not checked.

use std::fs;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::Error;

/// A workspace member.
#[derive(Debug)]
pub struct Package {
    /// `package.name`.
    pub name: String,
    pub dir: PathBuf,
    /// The root file of each of its crates: the library's first, then the binaries'.
    pub roots: Vec<PathBuf>,
}

/// The members of the workspace at `workspace_root`, in the order its `members` lists them (a
/// `dir/*` entry stands for every package directly under `dir`, in name order, less `exclude`).
pub fn packages(workspace_root: &Path) -> Result<Vec<Package>, Error> {
    let path = workspace_root.join("Cargo.toml");
    let manifest = read(&path)?;
    let workspace = manifest.get("workspace").and_then(Value::as_table);
    let list = |key| {
        workspace
            .and_then(|w| w.get(key))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    };
    let exclude: Vec<PathBuf> = list("exclude").map(|e| workspace_root.join(e)).collect();
    let mut dirs = Vec::new();
    for member in list("members") {
        match member.strip_suffix("/*") {
            Some(parent) => {
                let parent = workspace_root.join(parent);
                let entries =
                    fs::read_dir(&parent).map_err(|source| Error::Read { path: parent.clone(), source })?;
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|d| d.join("Cargo.toml").is_file() && !exclude.contains(d))
                    .collect();
                found.sort();
                dirs.extend(found);
            }
            None => dirs.push(workspace_root.join(member)),
        }
    }
    if dirs.is_empty() {
        return Err(Error::Manifest { path, message: "no workspace members".to_owned() });
    }
    dirs.into_iter().map(package).collect()
}

fn package(dir: PathBuf) -> Result<Package, Error> {
    let path = dir.join("Cargo.toml");
    let manifest = read(&path)?;
    let field = |table: &str, key: &str| manifest.get(table).and_then(|t| t.get(key)).cloned();
    let Some(Value::String(name)) = field("package", "name") else {
        return Err(Error::Manifest { path, message: "no package.name".to_owned() });
    };
    let mut roots = Vec::new();
    let lib = match field("lib", "path") {
        Some(Value::String(p)) => dir.join(p),
        _ => dir.join("src/lib.rs"),
    };
    roots.push(lib);
    // Binaries declared with a path, then those cargo finds by itself.
    let bins = manifest.get("bin").and_then(Value::as_array).into_iter().flatten();
    roots.extend(bins.filter_map(|b| b.get("path")).filter_map(Value::as_str).map(|p| dir.join(p)));
    if field("package", "autobins") != Some(Value::Boolean(false)) {
        roots.push(dir.join("src/main.rs"));
        if let Ok(entries) = fs::read_dir(dir.join("src/bin")) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .map(|p| if p.is_dir() { p.join("main.rs") } else { p })
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect();
            found.sort();
            roots.extend(found);
        }
    }
    let mut unique = Vec::new();
    for root in roots {
        if root.is_file() && !unique.contains(&root) {
            unique.push(root);
        }
    }
    Ok(Package { name, dir, roots: unique })
}

fn read(path: &Path) -> Result<Table, Error> {
    let text = fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    text.parse()
        .map_err(|e: toml::de::Error| Error::Manifest { path: path.to_path_buf(), message: e.to_string() })
}
