//! Ids: players (from the account server) and entities (per zone instance).

use std::fmt;

/// A player's account id, as the account server issues it (`AuthSession.player_id`): the
/// framework's, the one a session is bound to.
pub use mmo_core::session::PlayerId;

/// An entity of one zone instance, as clients see it (`EntityEnter.id`).
///
/// The low 20 bits are the entity's slot, the high 12 bits the slot's generation, which starts
/// at 1 and grows each time the slot is freed. So an id is never 0 (proto3's "unset"), fits in
/// a 4-byte varint, and is never reused within an instance: a slot whose generation would wrap
/// is retired instead of reused (after 4,095 entities lived in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(pub u32);

impl EntityId {
    pub(crate) const INDEX_BITS: u32 = 20;
    /// Slots one instance can hold: entities alive at once.
    pub const MAX_ENTITIES: usize = 1 << Self::INDEX_BITS;
    pub(crate) const MAX_GENERATION: u32 = (1 << (32 - Self::INDEX_BITS)) - 1;

    pub(crate) fn new(index: usize, generation: u32) -> EntityId {
        debug_assert!(index < Self::MAX_ENTITIES && (1..=Self::MAX_GENERATION).contains(&generation));
        EntityId(generation << Self::INDEX_BITS | index as u32)
    }

    /// The slot.
    pub(crate) fn index(self) -> usize {
        (self.0 & ((1 << Self::INDEX_BITS) - 1)) as usize
    }

    pub(crate) fn generation(self) -> u32 {
        self.0 >> Self::INDEX_BITS
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.index(), self.generation())
    }
}

/// A hasher for the map of players, which every request looks up: one multiply-xorshift
/// instead of SipHash. Player ids are assigned by the account server, not chosen by clients,
/// so there is no collision flooding to defend against.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;
