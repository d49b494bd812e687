//! Compiles proto/mmo/*.proto and proto/bus/*.proto with mmo-protogen (protox and prost-build, no
//! `protoc` needed), which also turns the `MessageId` enum of package `mmo` into a `MsgType` impl
//! per message. mmo-proto owns the whole id space, so every id is allowed here.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    mmo_protogen::compile(root, &["mmo", "bus"], "mmo").unwrap_or_else(|e| panic!("{e}"));
}
