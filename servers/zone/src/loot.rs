//! Items in the world and the shop's ledger: the shop's `inventory` table is the record of a
//! player's items (purchases, grants and the zone's loot alike), and every kill's loot is a
//! grant through `mmo_shop::grant` (reason "loot", a ledger/grant row, the grant event in the
//! outbox). The instance side (the queue of grants, retries, results) is
//! `instance/grants.rs`; this module holds what needs no instance: the grant a kill makes,
//! conversions between the shop's counts and the world's stacks, and the one-time move of the
//! zone's old JSON inventories into the shop's table.
//!
//! **Keys.** A kill's grant key is `loot:<run>:<kill>`: `<run>` names this run of the instance
//! (the start time and random part of its lease incarnation, new at every start, so a restarted
//! instance whose kill counter starts again at 0 never meets an older key), `<kill>` counts
//! the kills with loot in this run. The key is made once, when the kill happens, and kept with
//! the queued grant, so every retry of that grant sends the same key and the ledger applies it
//! once. The reference names the NPC (type, entity id) and the instance.

use mmo_core::bus::Bus;
use mmo_core::store::{Store, StoreError};
use mmo_shop::{Grant, Granted};

use crate::{ItemStack, PlayerId};

/// The ledger reason of a kill's loot.
pub const REASON: &str = "loot";
/// The grant key of the one-time move of a player's JSON inventory (one per player).
pub const MOVE_KEY: &str = "zone:json-inventory";
/// The ledger reason of that move.
pub const MOVE_REASON: &str = "zone_inventory_move";
/// Rows of `zone_players` the move reads at a time.
const MOVE_BATCH: u32 = 500;

/// The `<run>` part of grant keys, from an instance's lease incarnation
/// (`<instance>#<node>#<started ms>#<random>`): `<started ms>-<random>`, printable ASCII.
pub fn run_of(incarnation: &str) -> String {
    let mut parts = incarnation.rsplitn(3, '#');
    let (random, started) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let run: String =
        format!("{started}-{random}").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    run.chars().take(48).collect()
}

/// The grant of one kill's loot (see the module header for the key).
pub fn kill_grant(
    player: PlayerId,
    run: &str,
    kill: u64,
    instance: &str,
    npc_type: &str,
    npc: u32,
    items: &[ItemStack],
) -> Grant {
    Grant {
        player: player.0,
        key: format!("loot:{run}:{kill}"),
        reason: REASON.into(),
        reference: format!("{npc_type} #{npc} in {instance}"),
        currencies: Vec::new(),
        items: items.iter().map(|s| (s.item, i64::from(s.count))).collect(),
    }
}

/// The shop's counts as the world's stacks (a count beyond `u32::MAX` shows as that).
pub fn stacks(items: &[(u32, i64)]) -> Vec<ItemStack> {
    items
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|&(item, n)| ItemStack { item, count: u32::try_from(n).unwrap_or(u32::MAX) })
        .collect()
}

/// The player's inventory from the shop's table, as the world's stacks (at most `limit`).
pub async fn read(store: &Store, player: PlayerId, limit: u32) -> Result<Vec<ItemStack>, StoreError> {
    Ok(stacks(&mmo_shop::grants::inventory_upto(store, player.0, limit).await?))
}

/// What [`move_json_inventories`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Players whose JSON inventory was granted now.
    pub granted: u64,
    /// Players whose move had been granted before (a move interrupted after its grant).
    pub again: u64,
    /// Rows whose JSON could not be read or granted (left as they are, logged).
    pub failed: u64,
}

/// Moves every player's JSON inventory still in `zone_players.inventory` into the shop's
/// `inventory` table, once: through the ledger, as a grant keyed [`MOVE_KEY`] (so a move
/// interrupted between its grant and clearing the column is not granted twice when it runs
/// again, and each item has its grant row and event like any other), then the column is set
/// back to `'[]'` if it still holds what was granted. The zone writes the column no more, so
/// after one complete run this finds nothing; every zone node runs it at start (a node that
/// starts at the same time as another grants nothing twice: the key).
pub async fn move_json_inventories(store: &Store, bus: &Bus) -> Result<Moved, StoreError> {
    let mut moved = Moved::default();
    let mut after = 0u64;
    loop {
        let rows: Vec<(u64, String)> = store
            .exec(
                "SELECT player_id, inventory FROM zone_players WHERE player_id > ? AND inventory <> '[]' \
                 ORDER BY player_id LIMIT ?",
                (after, MOVE_BATCH),
            )
            .await?;
        let Some(last) = rows.last() else { return Ok(moved) };
        after = last.0;
        for (player, json) in rows {
            let items = match crate::store::inventory_of(&json) {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(player, error = %e, "JSON inventory not moved");
                    moved.failed += 1;
                    continue;
                }
            };
            let g = Grant {
                player,
                key: MOVE_KEY.into(),
                reason: MOVE_REASON.into(),
                reference: "zone_players.inventory".into(),
                currencies: Vec::new(),
                items: items.iter().filter(|s| s.count > 0).map(|s| (s.item, i64::from(s.count))).collect(),
            };
            match mmo_shop::grant(store, bus, &g).await {
                Ok(Granted::Applied) => moved.granted += 1,
                Ok(Granted::AlreadyApplied) => moved.again += 1,
                Err(e) => {
                    tracing::warn!(player, error = %e, "JSON inventory not moved");
                    moved.failed += 1;
                    continue;
                }
            }
            store
                .exec_drop(
                    "UPDATE zone_players SET inventory = '[]' WHERE player_id = ? AND inventory = ?",
                    (player, &json),
                )
                .await?;
        }
    }
}
