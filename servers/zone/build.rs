//! Compiles the zone's internal commands (`proto/commands.proto`, package `mmo.zone`, no client
//! message ids) with mmo-protogen, as any crate with messages of its own does.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    mmo_protogen::compile(root, &["proto"], "mmo.zone").unwrap_or_else(|e| panic!("{e}"));
}
