//! Compiles proto/greeter.proto with mmo-protogen: the messages, and a `MsgType` impl for each
//! from the `MessageId` enum, whose ids must lie in the greeter's slice of the game servers'
//! range (20000..=39999): 20000..=20099.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    mmo_protogen::Builder::new(root, &["proto"], "greeter")
        .allowed_ids(20000..=20099)
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));
}
