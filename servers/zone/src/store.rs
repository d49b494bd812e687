//! The zone's table in MySQL, `zone_players`: a player's place and progress, and which instance
//! holds it (the `owner` claim token, see `migrations/V1__zone_players.sql`).
//!
//! Ownership moves only through [`claim`] (an instance takes a free player, or one whose holder
//! is dead) and [`save_and_pass`] (the holder writes the player's state and names the next
//! owner: nobody when it leaves, the receiving instance on a hand-off). Both lock the row and
//! check the owner they expect, so the owner changes exactly once per step. The write-behind of
//! progress ([`ProgressRow`]) is fenced on the owner token: a row that changed hands is never
//! overwritten by the instance that lost it.
//!
//! Items are not here: the shop's `inventory` table is their record (the `loot` module). The
//! row's old `inventory` column (JSON) is read only by the one-time move into that table
//! (`loot::move_json_inventories`) and never written.

use mmo_core::clock::now_ms;
use mmo_core::store::{Store, StoreError, Upsert};
use mysql_async::Value;
use mysql_async::prelude::Queryable;

use crate::{ItemStack, PlayerId, PlayerSave, Vec2};

/// Where a player in a match instance goes back to.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub map: String,
    pub position: Option<Vec2>,
}

/// A player's row.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayerRow {
    pub save: PlayerSave,
    pub back: Option<Place>,
    pub owner: String,
}

/// What [`claim`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The caller holds the player now, under its token.
    Taken(PlayerRow),
    /// A live instance holds it (its claim token): the caller passes the player on to it.
    Held(String),
}

/// The incarnation part of a claim token (`<incarnation>/<n>`).
pub fn incarnation_of(token: &str) -> &str {
    token.split_once('/').map_or(token, |(i, _)| i)
}

const SELECT: &str = "SELECT map, x, y, level, xp, hp, return_map, return_x, return_y, owner \
                      FROM zone_players WHERE player_id = ?";

type RawRow = (String, Option<f32>, Option<f32>, u32, u64, u32, String, Option<f32>, Option<f32>, String);

fn point(x: Option<f32>, y: Option<f32>) -> Option<Vec2> {
    Some(Vec2::new(x?, y?))
}

fn row_of(player: PlayerId, raw: RawRow) -> Result<PlayerRow, StoreError> {
    let (map, x, y, level, xp, hp, return_map, rx, ry, owner) = raw;
    // The inventory is read from the shop's table by the caller.
    let save = PlayerSave { player, map, position: point(x, y), level, xp, hp, inventory: Vec::new() };
    let back = (!return_map.is_empty()).then(|| Place { map: return_map, position: point(rx, ry) });
    Ok(PlayerRow { save, back, owner })
}

/// The items of an old `zone_players.inventory` (JSON `[[item, count], ...]`).
pub fn inventory_of(json: &str) -> Result<Vec<ItemStack>, StoreError> {
    let pairs: Vec<(u32, u32)> = serde_json::from_str(json).map_err(|e| {
        StoreError::Config(format!("zone_players.inventory is not [[item, count], ...]: {e}"))
    })?;
    Ok(pairs.into_iter().map(|(item, count)| ItemStack { item, count }).collect())
}

/// The player's row, if it has one (a player who never entered the world has none).
pub async fn load(store: &Store, player: PlayerId) -> Result<Option<PlayerRow>, StoreError> {
    let raw: Option<RawRow> = store.exec_first(SELECT, (player.0,)).await?;
    raw.map(|r| row_of(player, r)).transpose()
}

/// Takes `player` for the instance whose claims start with `incarnation`, under `token`, if
/// nobody holds it, if this instance's earlier claim does (a hand-off names the receiver that
/// way), or if its holder is not `alive`. A player with no row gets one, on `start_map`.
///
/// `alive` is asked outside the row lock (it asks Redis); the row is then locked and taken only
/// if its owner is still what was checked, else the check starts over.
pub async fn claim<F, Fut>(
    store: &Store,
    player: PlayerId,
    incarnation: &str,
    token: &str,
    start_map: &str,
    alive: F,
) -> Result<Claim, StoreError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..5 {
        let seen = match load(store, player).await? {
            Some(row) => row.owner,
            None => {
                let fresh = PlayerSave::new(player);
                store
                    .exec_drop(
                        "INSERT IGNORE INTO zone_players (player_id, map, level, xp, hp, owner, saved_at_ms) \
                         VALUES (?, ?, ?, ?, ?, '', ?)",
                        (player.0, start_map, fresh.level, fresh.xp, fresh.hp, now_ms()),
                    )
                    .await?;
                continue;
            }
        };
        let holder = incarnation_of(&seen);
        if !seen.is_empty() && holder != incarnation && alive(holder.to_string()).await {
            return Ok(Claim::Held(seen));
        }
        let (owned_token, seen) = (token.to_string(), seen.clone());
        let taken = store
            .in_tx(move |tx| {
                let (token, seen) = (owned_token.clone(), seen.clone());
                Box::pin(async move {
                    let raw: Option<RawRow> =
                        tx.exec_first(format!("{SELECT} FOR UPDATE"), (player.0,)).await?;
                    let Some(raw) = raw else { return Ok(None) };
                    if raw.9 != seen {
                        return Ok(None); // changed hands since the check: look again
                    }
                    tx.exec_drop("UPDATE zone_players SET owner = ? WHERE player_id = ?", (&token, player.0))
                        .await?;
                    Ok(Some(raw))
                })
            })
            .await?;
        if let Some(raw) = taken {
            let mut row = row_of(player, raw)?;
            row.owner = token.to_string();
            return Ok(Claim::Taken(row));
        }
    }
    Err(StoreError::Config(format!("player {} changed hands five times during one claim", player.0)))
}

/// How [`save_and_pass`] changes the return place.
#[derive(Clone, Debug, PartialEq)]
pub enum Back {
    Keep,
    Clear,
    Set(Place),
}

/// Writes `save` and hands the player to `next_owner` ("" = nobody: it left) if `token` still
/// holds it. Returns false, writing nothing, if it does not (the player was taken over).
pub async fn save_and_pass(
    store: &Store,
    save: &PlayerSave,
    token: &str,
    next_owner: &str,
    back: Back,
) -> Result<bool, StoreError> {
    let (save, token, next_owner) = (save.clone(), token.to_string(), next_owner.to_string());
    store
        .in_tx(move |tx| {
            let (save, token, next_owner, back) = (save.clone(), token.clone(), next_owner.clone(), back.clone());
            Box::pin(async move {
                let owner: Option<String> = tx
                    .exec_first("SELECT owner FROM zone_players WHERE player_id = ? FOR UPDATE", (save.player.0,))
                    .await?;
                if owner.as_deref() != Some(token.as_str()) {
                    return Ok(false);
                }
                let (x, y) = (save.position.map(|p| p.x), save.position.map(|p| p.y));
                tx.exec_drop(
                    "UPDATE zone_players SET map = ?, x = ?, y = ?, level = ?, xp = ?, hp = ?, \
                     owner = ?, saved_at_ms = ? WHERE player_id = ?",
                    (
                        &save.map,
                        x,
                        y,
                        save.level,
                        save.xp,
                        save.hp,
                        &next_owner,
                        now_ms(),
                        save.player.0,
                    ),
                )
                .await?;
                match back {
                    Back::Keep => {}
                    Back::Clear => {
                        tx.exec_drop(
                            "UPDATE zone_players SET return_map = '', return_x = NULL, return_y = NULL \
                             WHERE player_id = ?",
                            (save.player.0,),
                        )
                        .await?
                    }
                    Back::Set(p) => {
                        tx.exec_drop(
                            "UPDATE zone_players SET return_map = ?, return_x = ?, return_y = ? WHERE player_id = ?",
                            (p.map, p.position.map(|v| v.x), p.position.map(|v| v.y), save.player.0),
                        )
                        .await?
                    }
                }
                Ok(true)
            })
        })
        .await
}

/// Points an offline player (its row's owner still `seen`) at `instance`, remembering where it
/// was as its return place, so that it enters there when it comes back. A player with no row
/// gets one that returns to `start_map`.
pub async fn point_to(
    store: &Store,
    player: PlayerId,
    seen: &str,
    instance: &str,
    start_map: &str,
) -> Result<(), StoreError> {
    let fresh = PlayerSave::new(player);
    // MySQL assigns left to right and later assignments see earlier ones: the return place is
    // copied from the old position before `map`, `x` and `y` change.
    store
        .exec_drop(
            "INSERT INTO zone_players (player_id, map, level, xp, hp, return_map, owner, saved_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, '', ?) ON DUPLICATE KEY UPDATE \
             return_map = IF(owner = ? AND map <> VALUES(map), map, return_map), \
             return_x = IF(owner = ? AND map <> VALUES(map), x, return_x), \
             return_y = IF(owner = ? AND map <> VALUES(map), y, return_y), \
             x = IF(owner = ? AND map <> VALUES(map), NULL, x), \
             y = IF(owner = ? AND map <> VALUES(map), NULL, y), \
             map = IF(owner = ?, VALUES(map), map)",
            {
                let mut p: Vec<Value> = vec![
                    player.0.into(),
                    instance.into(),
                    fresh.level.into(),
                    fresh.xp.into(),
                    fresh.hp.into(),
                    start_map.into(),
                    now_ms().into(),
                ];
                p.extend(std::iter::repeat_n(Value::from(seen), 6));
                p
            },
        )
        .await
}

/// Releases every player still held under the claims of `incarnation` (an instance stopping
/// after its last saves). Returns how many.
pub async fn release_all(store: &Store, incarnation: &str) -> Result<u64, StoreError> {
    // Claims are "<incarnation>/<n>": the range ['<inc>/', '<inc>0') holds exactly those
    // ('0' follows '/' in ASCII), and uses the owner index.
    let (lo, hi) = (format!("{incarnation}/"), format!("{incarnation}0"));
    let mut conn = store.conn().await?;
    store
        .timed(
            "exec",
            conn.exec_drop("UPDATE zone_players SET owner = '' WHERE owner >= ? AND owner < ?", (lo, hi)),
        )
        .await?;
    Ok(conn.affected_rows())
}

/// Copies level and experience to the account server's profile (`profiles`, which documents
/// the zone as their writer), so profiles show them. Best effort: the zone's own row is the
/// record; a failure is logged.
pub async fn update_profile(store: &Store, save: &PlayerSave) {
    let r = store
        .exec_drop(
            "UPDATE profiles SET level = ?, experience = ? WHERE player_id = ?",
            (save.level, save.xp, save.player.0),
        )
        .await;
    if let Err(e) = r {
        tracing::debug!(player = save.player.0, error = %e, "profile level not updated");
    }
}

/// A player's progress as the write-behind writes it, fenced on the holder's claim token.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressRow {
    pub save: PlayerSave,
    pub owner: String,
}

impl Upsert for ProgressRow {
    const TABLE: &'static str = "zone_players";
    const COLUMNS: &'static [&'static str] =
        &["player_id", "map", "x", "y", "level", "xp", "hp", "owner", "saved_at_ms"];
    const KEY_COLUMNS: &'static [&'static str] = &["player_id"];
    const FENCE: Option<&'static str> = Some("owner");

    fn write_params(&self, out: &mut Vec<Value>) {
        let s = &self.save;
        out.extend([
            s.player.0.into(),
            s.map.clone().into(),
            s.position.map(|p| p.x).into(),
            s.position.map(|p| p.y).into(),
            s.level.into(),
            s.xp.into(),
            s.hp.into(),
            self.owner.clone().into(),
            now_ms().into(),
        ]);
    }
}
