//! Build-script support for crates that carry protocol messages: compiles their `.proto` files
//! with protox (pure Rust, no `protoc` to install) and prost-build, then turns one package's
//! `MessageId` enum into a `::mmo_proto::wire::MsgType` impl per message, so every message knows its
//! wire id and name.
//!
//! A crate's `build.rs` calls it from `main` (this is the example greeter's):
//!
//! ```no_run
//! let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
//! mmo_protogen::Builder::new(root, &["proto"], "greeter")
//!     .allowed_ids(20000..=20099)
//!     .compile()
//!     .unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! and the crate includes what it wrote to `OUT_DIR`:
//!
//! - `<package>.rs`, one per protobuf package (prost-build; `bytes` fields are `Bytes`, so
//!   bodies are never copied): `greeter.rs`, or `mmo.rs` and `mmo.bus.rs` for mmo-proto;
//! - `ids.rs`, always under that name, for the package given to [`Builder::new`]: the `MsgType`
//!   impls, `MESSAGES` (every `(id, name)` in id order) and `type_table()` (what the types
//!   report, for a one-to-one test). One crate holds one id package; a second call would
//!   overwrite `ids.rs`.
//!
//! The generated code reaches prost and the wire types through `::mmo_proto` (which re-exports
//! them), so a crate with messages of its own depends on `mmo-proto` alone for them.
//!
//! The build fails, listing every problem at once, unless the ids obey the rules of
//! `proto/README.md`: each non-zero `MessageId` value names a message of the package by its name
//! in SCREAMING_SNAKE_CASE (`GREET_REQ` is `GreetReq`); every `...Req`, `...Resp` and `...Ntf`
//! message has an id; ids fit the frame header's `u16`, lie in [`Builder::allowed_ids`], and no
//! two values share one. A package may import nothing from another crate's protos: each crate's
//! `.proto` files are self-contained.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use prost_types::FileDescriptorSet;

/// The enum whose values assign the message ids.
const ID_ENUM: &str = "MessageId";

/// The file, in `OUT_DIR`, that holds the id table.
pub const IDS_FILE: &str = "ids.rs";

/// Compiles every `.proto` file in `dirs` (relative to `proto_root`, which is also the import
/// root) and generates the id table of `package`, allowing any id. Same as
/// `Builder::new(proto_root, dirs, package).compile()`.
pub fn compile(proto_root: &Path, dirs: &[&str], package: &str) -> Result<(), Error> {
    Builder::new(proto_root, dirs, package).compile()
}

/// What to compile and which ids to accept. See the crate docs for what is generated.
#[derive(Clone, Debug)]
pub struct Builder {
    root: PathBuf,
    dirs: Vec<String>,
    package: String,
    allowed_ids: RangeInclusive<u16>,
    out_dir: Option<PathBuf>,
}

impl Builder {
    /// The `.proto` files directly in each of `dirs` (relative to `proto_root`, which is also
    /// where imports are resolved from); the ids of `package` (its `MessageId` enum).
    pub fn new(proto_root: &Path, dirs: &[&str], package: &str) -> Builder {
        Builder {
            root: proto_root.to_path_buf(),
            dirs: dirs.iter().map(|d| d.to_string()).collect(),
            package: package.to_string(),
            allowed_ids: 1..=u16::MAX,
            out_dir: None,
        }
    }

    /// Fails the build if an id lies outside `ids`. Default: any id (`1..=65535`), which only
    /// mmo-proto should use; a game server's crate passes `20000..=39999` (or its own slice of
    /// it), so its ids cannot collide with the built-in servers'.
    pub fn allowed_ids(mut self, ids: RangeInclusive<u16>) -> Builder {
        self.allowed_ids = ids;
        self
    }

    /// Where to write the generated files. Default: `OUT_DIR`, as cargo sets it for build scripts.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Compiles, checks the ids, and writes `<package>.rs` files and `ids.rs`. Also tells cargo
    /// to re-run the build script when a `.proto` file or one of `dirs` changes.
    pub fn compile(&self) -> Result<(), Error> {
        let files = self.proto_files()?;
        let fds = protox::compile(&files, [&self.root])?;
        let out = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or(Error::NoOutDir)?,
        };
        // The ids are checked before anything is written, so a bad table leaves no output.
        let table = id_table(&fds, &self.package, &self.dirs, &self.allowed_ids)?;
        let ids_path = out.join(IDS_FILE);
        std::fs::write(&ids_path, table).map_err(|source| Error::Io { path: ids_path, source })?;

        let mut config = prost_build::Config::new();
        config.bytes(["."]);
        config.prost_path("::mmo_proto::prost");
        config.out_dir(&out);
        config.compile_fds(fds).map_err(Error::Prost)
    }

    /// The `.proto` files of `dirs`, relative to the root (as imports name them), sorted so the
    /// output does not depend on the order the file system lists them in.
    fn proto_files(&self) -> Result<Vec<PathBuf>, Error> {
        let mut files = Vec::new();
        for sub in &self.dirs {
            let dir = self.root.join(sub);
            println!("cargo:rerun-if-changed={}", dir.display());
            let entries =
                std::fs::read_dir(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
            for entry in entries {
                let entry = entry.map_err(|source| Error::Io { path: dir.clone(), source })?;
                let name = entry.file_name();
                if Path::new(&name).extension().is_some_and(|x| x == "proto") {
                    files.push(Path::new(sub).join(name));
                }
            }
        }
        files.sort();
        for f in &files {
            println!("cargo:rerun-if-changed={}", self.root.join(f).display());
        }
        Ok(files)
    }
}

/// Why the build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("OUT_DIR is not set: call compile from a build script, or set Builder::out_dir")]
    NoOutDir,
    #[error("protobuf error: {0}")]
    Protobuf(#[from] protox::Error),
    #[error("no .proto file in {dirs:?} declares `package {package};`")]
    NoPackage { package: String, dirs: Vec<String> },
    #[error("the message ids of package `{package}` ({file}) break the rules:{}", bullets(problems))]
    Ids { package: String, file: String, problems: Vec<IdProblem> },
    #[error("prost-build: {0}")]
    Prost(std::io::Error),
}

fn bullets(problems: &[IdProblem]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

/// One broken id rule (see the crate docs).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdProblem {
    #[error("{value} = {id}: an id must fit the frame header's u16 (1..=65535)")]
    NotU16 { value: String, id: i32 },
    #[error(
        "{value} = {id} is outside the ids allowed here, {}..={} (proto/README.md, section 4)",
        allowed.start(),
        allowed.end()
    )]
    OutOfRange { value: String, id: u16, allowed: RangeInclusive<u16> },
    #[error("{value} names message {message}, but the package has no message {message}")]
    NoMessage { value: String, message: String },
    #[error("message {message} has no id: add `{value} = <id>;` to MessageId")]
    NoId { message: String, value: String },
    #[error("{first} and {second} share id {id}")]
    SharedId { id: i32, first: String, second: String },
    #[error("message {message} has two ids, {first} and {second}")]
    TwoIds { message: String, first: i32, second: i32 },
}

/// HELLO_REQ -> HelloReq
fn camel(screaming: &str) -> String {
    screaming
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

/// HelloReq -> HELLO_REQ
fn screaming(camel: &str) -> String {
    let mut s = String::new();
    for (i, c) in camel.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            s.push('_');
        }
        s.push(c.to_ascii_uppercase());
    }
    s
}

/// Checks `package`'s ids and returns the text of `ids.rs`.
fn id_table(
    fds: &FileDescriptorSet,
    package: &str,
    dirs: &[String],
    allowed: &RangeInclusive<u16>,
) -> Result<String, Error> {
    let mut found = false;
    let mut enum_file = None;
    let mut messages = BTreeSet::new();
    // message name -> (id, enum value name); id -> enum value name.
    let mut ids: BTreeMap<String, (i32, String)> = BTreeMap::new();
    let mut by_id: BTreeMap<i32, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in fds.file.iter().filter(|f| f.package() == package) {
        found = true;
        for m in &file.message_type {
            messages.insert(m.name().to_string());
        }
        for e in file.enum_type.iter().filter(|e| e.name() == ID_ENUM) {
            enum_file = Some(file.name().to_string());
            for v in e.value.iter().filter(|v| v.number() != 0) {
                let (value, n) = (v.name().to_string(), v.number());
                match u16::try_from(n) {
                    Err(_) => problems.push(IdProblem::NotU16 { value: value.clone(), id: n }),
                    Ok(id) if !allowed.contains(&id) => problems.push(IdProblem::OutOfRange {
                        value: value.clone(),
                        id,
                        allowed: allowed.clone(),
                    }),
                    Ok(_) => {}
                }
                if let Some(first) = by_id.insert(n, value.clone()) {
                    problems.push(IdProblem::SharedId { id: n, first, second: value.clone() });
                }
                let message = camel(&value);
                if let Some((first, _)) = ids.insert(message.clone(), (n, value)) {
                    problems.push(IdProblem::TwoIds { message, first, second: n });
                }
            }
        }
    }
    if !found {
        return Err(Error::NoPackage { package: package.to_string(), dirs: dirs.to_vec() });
    }
    for (message, (_, value)) in &ids {
        if !messages.contains(message) {
            problems.push(IdProblem::NoMessage { value: value.clone(), message: message.clone() });
        }
    }
    for m in &messages {
        let needs_id = m.ends_with("Req") || m.ends_with("Resp") || m.ends_with("Ntf");
        if needs_id && !ids.contains_key(m) {
            problems.push(IdProblem::NoId { message: m.clone(), value: screaming(m) });
        }
    }
    if !problems.is_empty() {
        let file = enum_file.unwrap_or_else(|| format!("no enum {ID_ENUM} in the package"));
        return Err(Error::Ids { package: package.to_string(), file, problems });
    }
    Ok(render(&ids.into_iter().map(|(name, (id, _))| (name, id)).collect()))
}

/// The text of `ids.rs`. mmo-proto's public API is this text: change it only on purpose.
fn render(ids: &BTreeMap<String, i32>) -> String {
    let mut s = String::from("// Generated by build.rs from the MessageId enum. Do not edit.\n\n");
    for (name, id) in ids {
        let _ = writeln!(
            s,
            "impl ::mmo_proto::wire::MsgType for {name} {{ const ID: ::mmo_proto::wire::MsgId = ::mmo_proto::wire::MsgId({id}); const NAME: &'static str = \"{name}\"; }}"
        );
    }
    s.push_str("\n/// Every message with an id, as (id, name), in id order.\npub const MESSAGES: &[(u16, &str)] = &[\n");
    let mut by_id: Vec<_> = ids.iter().map(|(n, i)| (*i, n)).collect();
    by_id.sort();
    for (id, name) in &by_id {
        let _ = writeln!(s, "    ({id}, \"{name}\"),");
    }
    s.push_str("];\n\n/// (id, name) as each generated type reports them through `MsgType`, for the one-to-one test.\n#[doc(hidden)]\npub fn type_table() -> Vec<(::mmo_proto::wire::MsgId, &'static str)> {\n    vec![\n");
    for name in ids.keys() {
        let _ = writeln!(
            s,
            "        (<{name} as ::mmo_proto::wire::MsgType>::ID, <{name} as ::mmo_proto::wire::MsgType>::NAME),"
        );
    }
    s.push_str("    ]\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::{camel, screaming};

    #[test]
    fn names_convert_both_ways() {
        for (s, c) in
            [("HELLO_REQ", "HelloReq"), ("GREET_RESP", "GreetResp"), ("DISCONNECT_NTF", "DisconnectNtf")]
        {
            assert_eq!(camel(s), c);
            assert_eq!(screaming(c), s);
        }
    }
}
