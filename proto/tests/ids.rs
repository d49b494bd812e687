//! Message ids and message types are one-to-one, and agree with the `MessageId` enum.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::HashSet;

use mmo_proto::{MESSAGES, MessageId, MsgId, MsgType, message_name, type_table};

#[test]
fn ids_and_types_are_one_to_one() {
    let table = type_table();
    assert_eq!(table.len(), MESSAGES.len());
    let ids: HashSet<_> = table.iter().map(|(id, _)| *id).collect();
    let names: HashSet<_> = table.iter().map(|(_, n)| *n).collect();
    assert_eq!(ids.len(), table.len(), "two types share an id");
    assert_eq!(names.len(), table.len(), "two ids share a type");
    for (id, name) in table {
        assert_eq!(message_name(id), Some(name));
        // The enum value with this number has the type's name in SCREAMING_SNAKE_CASE.
        let screaming: String = name
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                sep.into_iter().chain(std::iter::once(c.to_ascii_uppercase()))
            })
            .collect();
        let value = MessageId::from_str_name(&screaming).expect("enum value for type");
        assert_eq!(value as i32, i32::from(id.0), "{name}");
    }
}

#[test]
fn constants_are_what_the_document_says() {
    assert_eq!(mmo_proto::HelloReq::ID, MsgId(1));
    assert_eq!(mmo_proto::PingReq::ID, MsgId(3));
    assert_eq!(mmo_proto::PingReq::NAME, "PingReq");
    assert_eq!(message_name(MsgId(0)), None);
    assert_eq!(message_name(MsgId(65535)), None);
}

/// The message table of proto/README.md lists every message with its id, so the document a
/// client programmer works from cannot fall behind `ids.proto`.
#[test]
fn the_document_lists_every_message_with_its_id() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let listed: HashSet<(u16, String)> = doc
        .lines()
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let id = cells.next()?.parse::<u16>().ok()?;
            let name = cells.next()?;
            name.ends_with("Req")
                .then_some(())
                .or_else(|| (name.ends_with("Resp") || name.ends_with("Ntf")).then_some(()))
                .map(|_| (id, name.to_string()))
        })
        .collect();
    for (id, name) in type_table() {
        assert!(listed.contains(&(id.0, name.to_string())), "{name} (id {}) is missing from README.md", id.0);
    }
    assert_eq!(listed.len(), type_table().len(), "README.md lists a message that does not exist");
}

/// The error table of proto/README.md (section 6) lists every `ErrorCode` but OK, with its
/// number and name, and nothing else: a new code cannot ship undocumented.
#[test]
fn the_document_lists_every_error_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = doc.split("## 6. Errors").nth(1).unwrap().split("\n## ").next().unwrap();
    let listed: HashSet<(i32, String)> = section
        .lines()
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let code = cells.next()?.parse::<i32>().ok()?;
            Some((code, cells.next()?.to_string()))
        })
        .collect();
    let codes: HashSet<(i32, String)> = (1..100_000)
        .filter_map(|n| mmo_proto::ErrorCode::try_from(n).ok())
        .map(|c| (c as i32, c.as_str_name().to_string()))
        .collect();
    assert_eq!(listed, codes, "README.md section 6 and errors.proto disagree");
}
