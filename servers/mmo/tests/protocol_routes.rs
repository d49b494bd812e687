//! The message table of proto/README.md (section 4) against the code: for every request, the
//! stages and the rate limit (per second and burst) the document gives are the ones its
//! server's route declares. A route's declaration in code is the single source; the document
//! cannot drift from it (it had: EnterWorldReq documented `2/s`, coded 2/s with a burst of 5).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::BTreeMap;

use mmo_core::{RouteSpec, Stage, StageSet};

/// Every route a client can reach in `mmo all`, by id: (name, declaration).
fn routes() -> BTreeMap<u16, (&'static str, RouteSpec)> {
    let mut all = BTreeMap::new();
    let mut add = |specs: Vec<(mmo_proto::MsgId, &'static str, RouteSpec)>| {
        for (id, name, spec) in specs {
            assert!(all.insert(id.0, (name, spec)).is_none(), "{name} declared twice");
        }
    };
    add(mmo_gateway::router(&mmo_gateway::GatewayConfig::default(), false).specs());
    add(mmo_version::router().specs());
    add(mmo_account::router().specs());
    add(mmo_zone::table().specs());
    add(mmo_matchmaking::router().specs());
    add(mmo_chat::router().specs());
    add(mmo_shop::router().specs());
    add(mmo_leaderboard::router().specs());
    add(mmo_diagnostics::router().specs());
    all
}

/// How the document writes a declaration: `Versioned, Authenticated (1000/s, burst 1000)`,
/// `any (20/s, burst 20)`, `Authenticated (no limit)`.
fn written(spec: &RouteSpec) -> String {
    let stages = if spec.stages == StageSet::ANY {
        "any".to_string()
    } else {
        [Stage::Connected, Stage::Versioned, Stage::Authenticated]
            .into_iter()
            .filter(|s| spec.stages.contains(*s))
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rate = match spec.rate {
        Some(r) => format!("{}/s, burst {}", r.per_second, r.burst),
        None => "no limit".to_string(),
    };
    format!("{stages} ({rate})")
}

#[test]
fn the_documented_stage_and_rate_of_every_request_are_its_routes() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/README.md")).unwrap();
    let mut documented = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 6 || !cells[2].ends_with("Req") {
            continue;
        }
        let Ok(id) = cells[1].parse::<u16>() else { continue };
        documented.insert(id, (cells[2].to_string(), cells[4].to_string()));
    }
    let routes = routes();
    let mut wrong = Vec::new();
    for (id, (name, spec)) in &routes {
        match documented.get(id) {
            Some((doc_name, cell)) if doc_name == name && *cell == written(spec) => {}
            Some((_, cell)) => {
                wrong.push(format!("{id} {name}: documented `{cell}`, declared `{}`", written(spec)))
            }
            None => wrong.push(format!("{id} {name}: not in the table (declared `{}`)", written(spec))),
        }
    }
    for (id, (name, _)) in &documented {
        if !routes.contains_key(id) {
            wrong.push(format!("{id} {name}: documented, but no server declares it"));
        }
    }
    assert!(wrong.is_empty(), "proto/README.md section 4 and the routes disagree:\n{}", wrong.join("\n"));
}
