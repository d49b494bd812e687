//! What the wiring around the world relies on: entering from a saved state, leaving with one,
//! the dirty set for write-behind, the enter notification, and portals asking for a hand-off.

#![allow(clippy::unwrap_used)]

mod common;

use common::{DT, join, map_with_dummy, open_map, world};
use mmo_zone::map::Portal;
use mmo_zone::{
    EntityKind, Intent, ItemStack, MoveInput, PlayerId, PlayerSave, Vec2, World, WorldEvent, ZoneError,
};

const P: PlayerId = PlayerId(1);

fn walk(w: &mut World, seq: u32, dir: Vec2) {
    w.input(P, MoveInput { seq, intent: Intent::Direction(dir), speed: 1.0, position: None }).unwrap();
}

#[test]
fn a_player_leaves_with_its_state_and_comes_back_with_it() {
    let mut w = world(open_map(200.0));
    let save = PlayerSave {
        player: P,
        map: "elsewhere".into(),
        position: Some(Vec2::new(20.0, 30.0)),
        level: 4,
        xp: 120,
        hp: 77,
        inventory: vec![ItemStack { item: 3, count: 5 }],
    };
    let spawned = w.spawn_player(save.clone()).unwrap();
    assert_eq!(w.spawn_player(save.clone()).unwrap_err(), ZoneError::AlreadyInZone);
    let enter = spawned.enter;
    assert_eq!(
        (enter.map.as_str(), enter.entity_id, enter.width, enter.tick_rate),
        ("test", spawned.entity.0, 200.0, 20)
    );
    let stats = enter.stats.unwrap();
    assert_eq!((stats.level, stats.xp, stats.hp, stats.max_hp, stats.xp_to_next), (4, 120, 77, 160, 400));
    assert_eq!(enter.inventory.unwrap().items, [mmo_proto::ItemStack { item_id: 3, count: 5 }]);
    assert_eq!(enter.position.unwrap(), mmo_proto::Vec2 { x: 20.0, y: 30.0 });
    let info = w.entity(spawned.entity).unwrap();
    assert_eq!((info.kind, info.level, info.hp), (EntityKind::Player(P), 4, 77));

    walk(&mut w, 1, Vec2::new(1.0, 0.0));
    w.tick(DT);
    let now = w.player_state(P).unwrap();
    assert_eq!(now.map, "test");
    assert!(now.position.unwrap().x > 20.0);
    let left = w.remove_player(P).unwrap();
    assert_eq!(left, now);
    assert!(w.remove_player(P).is_none());
    assert!(w.player_state(P).is_none());
    assert_eq!(w.attack(P, spawned.entity).unwrap_err(), ZoneError::NotInZone);

    let back = w.spawn_player(left.clone()).unwrap();
    assert_ne!(back.entity, spawned.entity, "a new entity id");
    assert_eq!(w.player_state(P).unwrap(), left);
}

#[test]
fn saved_states_are_made_sane_on_entry() {
    let mut w = world(open_map(200.0));
    let spawn = w.map().spawn;
    // Dead when saved: back at the spawn point, full health.
    let dead = PlayerSave { hp: 0, position: Some(Vec2::new(10.0, 10.0)), ..PlayerSave::new(PlayerId(1)) };
    w.spawn_player(dead).unwrap();
    let s = w.player_state(PlayerId(1)).unwrap();
    assert_eq!((s.position, s.hp), (Some(spawn), 100));
    // Off the map, beyond the maximum level, too much hp, too much xp, empty stacks.
    let odd = PlayerSave {
        position: Some(Vec2::new(-5.0, f32::NAN)),
        level: 1000,
        hp: u32::MAX,
        xp: u64::MAX,
        inventory: vec![ItemStack { item: 1, count: 0 }, ItemStack { item: 2, count: 1 }],
        ..PlayerSave::new(PlayerId(2))
    };
    w.spawn_player(odd).unwrap();
    let s = w.player_state(PlayerId(2)).unwrap();
    assert_eq!((s.position, s.level, s.hp, s.xp), (Some(spawn), 60, 100 + 20 * 59, 0));
    assert_eq!(s.inventory, [ItemStack { item: 2, count: 1 }]);
    let s = {
        w.spawn_player(PlayerSave { xp: 10_000, ..PlayerSave::new(PlayerId(3)) }).unwrap();
        w.player_state(PlayerId(3)).unwrap()
    };
    assert_eq!((s.level, s.xp), (1, 99), "xp below the next level's threshold");
}

#[test]
fn the_dirty_set_holds_each_changed_player_once() {
    let mut w = world(map_with_dummy(10, Vec2::new(100.0, 100.0)));
    let npc = w.entities().find(|e| e.kind == EntityKind::Npc).unwrap().id;
    join(&mut w, 1, Vec2::new(102.0, 100.0));
    join(&mut w, 2, Vec2::new(50.0, 50.0));
    w.tick(DT);
    assert!(w.take_dirty().is_empty(), "entering is not a change");
    walk(&mut w, 1, Vec2::new(0.0, 1.0));
    for _ in 0..5 {
        w.tick(DT);
    }
    let dirty = w.take_dirty();
    assert_eq!(dirty.len(), 1);
    assert_eq!(dirty[0], w.player_state(P).unwrap());
    assert!(w.take_dirty().is_empty());
    // Standing still changes nothing; loot and xp do.
    walk(&mut w, 2, Vec2::ZERO);
    w.tick(DT);
    let _ = w.take_dirty();
    w.tick(DT);
    assert!(w.take_dirty().is_empty());
    let at = w.entity(npc).unwrap().position;
    w.input(
        P,
        MoveInput { seq: 3, intent: Intent::Stop, speed: 1.0, position: Some(at + Vec2::new(2.0, 0.0)) },
    )
    .unwrap();
    w.tick(DT);
    let _ = w.take_dirty();
    assert!(w.attack(P, npc).unwrap().killed);
    let dirty = w.take_dirty();
    assert_eq!(dirty.len(), 1, "one entry per player, however many changes");
    // Players who left are not in it: the wiring saved them on leave.
    walk(&mut w, 4, Vec2::new(1.0, 0.0));
    w.tick(DT);
    w.remove_player(P).unwrap();
    assert!(w.take_dirty().is_empty());
}

#[test]
fn a_portal_asks_once_per_visit_for_a_hand_off() {
    let mut map = open_map(200.0);
    map.portals.push(Portal {
        at: Vec2::new(110.0, 100.0),
        radius: 3.0,
        to_map: "forest".into(),
        to: Vec2::new(5.0, 5.0),
    });
    let mut w = world(map);
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    let reached = |out: &mmo_zone::TickOutput| {
        out.events
            .iter()
            .filter(|e| {
                matches!(e, WorldEvent::PortalReached { player, portal: 0, to_map, to }
            if *player == P && to_map == "forest" && *to == Vec2::new(5.0, 5.0))
            })
            .count()
    };
    // Inputs every 250 ms, as clients send them while walking.
    let mut count = 0;
    for t in 0..60 {
        if t % 5 == 0 {
            walk(&mut w, t + 1, Vec2::new(1.0, 0.0));
        }
        count += reached(&w.tick(DT));
    }
    assert!(w.player_state(P).unwrap().position.unwrap().x > 113.0);
    assert_eq!(count, 1, "through the portal and out the other side");
    for t in 60..120 {
        if t % 5 == 0 {
            walk(&mut w, t + 1, Vec2::new(-1.0, 0.0));
        }
        count += reached(&w.tick(DT));
    }
    assert_eq!(count, 2, "and back through it");
}
