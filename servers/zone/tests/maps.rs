//! The shipped maps parse and pass their checks; broken maps are refused with a reason.

#![allow(clippy::unwrap_used)]

mod common;

use mmo_zone::map::{self, MapDef, MapError};
use mmo_zone::{World, ZoneConfig};

#[test]
fn every_shipped_map_parses_and_builds_a_world() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("maps");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let map = MapDef::load(&path).unwrap();
            let npcs: u32 = map.npcs.iter().map(|s| s.count).sum();
            let world = World::new(map.clone(), ZoneConfig::default(), 1, 1).unwrap();
            assert_eq!(world.entity_count(), npcs as usize, "{}", map.name);
            names.push(map.name);
        }
    }
    names.sort();
    assert_eq!(names, ["arena", "forest", "start"]);
    // The compiled-in copies are the same files.
    assert_eq!(map::builtin().unwrap().len(), map::BUILTIN.len());
    assert_eq!(map::BUILTIN.len(), names.len());
}

#[test]
fn portals_lead_to_shipped_maps_and_land_outside_the_way_back() {
    let maps = map::builtin().unwrap();
    for m in &maps {
        for p in &m.portals {
            let dest = maps.iter().find(|d| d.name == p.to_map).expect("portal to a shipped map");
            assert!(p.to.x <= dest.width && p.to.y <= dest.height);
            for back in &dest.portals {
                assert!(back.at.distance(p.to) > back.radius, "arriving in {} lands in a portal", dest.name);
            }
        }
    }
}

fn refused(text: &str) -> String {
    match MapDef::parse(text) {
        Err(MapError::Invalid { problem, .. }) => problem,
        other => panic!("expected an invalid map, got {other:?}"),
    }
}

#[test]
fn broken_maps_are_refused_with_a_reason() {
    let head = "name = \"m\"\nwidth = 100.0\nheight = 100.0\n";
    assert!(refused(&format!("{head}spawn = {{ x = 150.0, y = 1.0 }}")).contains("spawn point"));
    let npc = "spawn = { x = 1.0, y = 1.0 }\n[[npc]]\ntype = \"ghost\"\nat = { x = 1.0, y = 1.0 }\n";
    assert!(refused(&format!("{head}{npc}")).contains("ghost"));
    let huge = "name = \"m\"\nwidth = 1e9\nheight = 100.0\nspawn = { x = 1.0, y = 1.0 }";
    assert!(refused(huge).contains("width"));
    let loot = "spawn = { x = 1.0, y = 1.0 }\n[npc_types.a]\nhp = 1\nspeed = 1.0\nrespawn = \"1s\"\n\
                loot = [{ item = 1, chance = 1.5 }]\n";
    assert!(refused(&format!("{head}{loot}")).contains("chance"));
    // Unknown keys are errors, not silently ignored.
    assert!(matches!(
        MapDef::parse(&format!("{head}spawn = {{ x = 1.0, y = 1.0 }}\nweather = \"rain\"")),
        Err(MapError::Parse(_))
    ));
}
