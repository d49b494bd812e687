//! What a build script sees: a package whose ids follow the rules compiles to `<package>.rs` and
//! `ids.rs`; one that breaks them fails, naming every problem.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::path::PathBuf;

use mmo_protogen::{Builder, Error, IdProblem};

/// A fresh directory holding `proto/game.proto` with `body`, and an empty output directory.
fn project(test: &str, body: &str) -> (PathBuf, PathBuf) {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("protogen-{test}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("proto")).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    std::fs::write(root.join("proto/game.proto"), format!("syntax = \"proto3\";\npackage game;\n{body}"))
        .unwrap();
    let out = root.join("out");
    (root, out)
}

fn compile(test: &str, body: &str) -> Result<String, Error> {
    let (root, out) = project(test, body);
    Builder::new(&root, &["proto"], "game").allowed_ids(20000..=39999).out_dir(&out).compile()?;
    assert!(out.join("game.rs").exists(), "prost's output is next to ids.rs");
    Ok(std::fs::read_to_string(out.join("ids.rs")).unwrap())
}

fn problems(result: Result<String, Error>) -> Vec<IdProblem> {
    match result {
        Err(Error::Ids { problems, .. }) => problems,
        other => panic!("expected id problems, got {other:?}"),
    }
}

#[test]
fn a_self_contained_package_gets_msg_type_impls_and_an_id_table() {
    let ids = compile(
        "ok",
        "enum MessageId { MESSAGE_ID_UNSPECIFIED = 0; DUEL_REQ = 20001; DUEL_RESP = 20000; }\n\
         message DuelReq { string target = 1; }\nmessage DuelResp {}\n\
         // Helper messages without a Req/Resp/Ntf suffix need no id.\nmessage Score { uint32 points = 1; }\n",
    )
    .unwrap();
    assert!(ids.contains(
        "impl ::mmo_proto::wire::MsgType for DuelReq { const ID: ::mmo_proto::wire::MsgId = ::mmo_proto::wire::MsgId(20001); const NAME: &'static str = \"DuelReq\"; }"
    ));
    // MESSAGES is in id order.
    assert!(ids.contains(
        "pub const MESSAGES: &[(u16, &str)] = &[\n    (20000, \"DuelResp\"),\n    (20001, \"DuelReq\"),\n];"
    ));
    assert!(ids.contains("pub fn type_table()"));
    assert!(!ids.contains("Score"));
}

#[test]
fn an_id_outside_the_allowed_range_fails_the_build() {
    let result = compile(
        "range",
        "enum MessageId { MESSAGE_ID_UNSPECIFIED = 0; DUEL_REQ = 7000; }\nmessage DuelReq {}\n",
    );
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the message ids of package `game` (proto/game.proto) break the rules:\n  \
         - DUEL_REQ = 7000 is outside the ids allowed here, 20000..=39999 (proto/README.md, section 4)"
    );
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let result = compile(
        "broken",
        "enum MessageId { MESSAGE_ID_UNSPECIFIED = 0; DUEL_REQ = 20000; DUEL_RESP = 70000; \
         FLEE_REQ = 20002; }\nmessage DuelReq {}\nmessage DuelResp {}\nmessage TauntNtf {}\n",
    );
    assert_eq!(
        problems(result),
        [
            IdProblem::NotU16 { value: "DUEL_RESP".into(), id: 70000 },
            IdProblem::NoMessage { value: "FLEE_REQ".into(), message: "FleeReq".into() },
            IdProblem::NoId { message: "TauntNtf".into(), value: "TAUNT_NTF".into() },
        ]
    );
}

#[test]
fn two_values_with_one_id_fail_even_where_protobuf_allows_aliases() {
    let result = compile(
        "alias",
        "enum MessageId { option allow_alias = true; MESSAGE_ID_UNSPECIFIED = 0; DUEL_REQ = 20000; \
         DUEL_RESP = 20000; }\nmessage DuelReq {}\nmessage DuelResp {}\n",
    );
    assert_eq!(
        problems(result),
        [IdProblem::SharedId { id: 20000, first: "DUEL_REQ".into(), second: "DUEL_RESP".into() }]
    );
}

#[test]
fn a_package_no_file_declares_fails_by_name() {
    let (root, out) = project("nopackage", "message DuelReq {}\n");
    let err = Builder::new(&root, &["proto"], "gmae").out_dir(&out).compile().unwrap_err();
    assert!(matches!(err, Error::NoPackage { ref package, .. } if package == "gmae"), "{err:?}");
}
