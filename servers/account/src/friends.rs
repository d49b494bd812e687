//! Friend relations in the `friends` table, one row per direction (see the migration).
//!
//! Every change runs in one transaction that first locks both players' `accounts` rows, lower
//! id first: two changes between the same players (or a request crossing its mirror image) run
//! one after the other and both directions always agree. The lock also proves both players
//! exist. Each change returns what the caller answers and, when the other player's view
//! changed, the [`Friend`] to push to them once the transaction has committed.

use mmo_core::bus::Bus;
use mmo_core::session::PlayerId;
use mmo_core::store::{Store, StoreError};
use mmo_proto::{ErrorCode, Friend, FriendState};
use mysql_async::Transaction;
use mysql_async::prelude::Queryable;

use crate::accounts::now_ms;
use crate::block_cache;
use crate::error::AccountError;

/// The limits, from the config.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub friends: u32,
    pub pending: u32,
    pub blocked: u32,
}

/// The result of a change: `Err(code)` is a refusal (a domain answer, not a failure).
pub type Change = Result<Changed, ErrorCode>;

#[derive(Debug, Default)]
pub struct Changed {
    /// The other player as I now see them (requests and accepts answer with it).
    pub mine: Option<Friend>,
    /// I as the other player now sees me, to push to them (`FriendNtf`).
    pub notify: Option<(PlayerId, Friend)>,
}

type Tx = Transaction<'static>;
type TxResult<T> = Result<T, mysql_async::Error>;

/// Locks both accounts (lower id first); false if either does not exist.
async fn lock_pair(tx: &mut Tx, a: PlayerId, b: PlayerId) -> TxResult<bool> {
    let ids: Vec<u64> =
        tx.exec("SELECT id FROM accounts WHERE id IN (?, ?) ORDER BY id FOR UPDATE", (a.0, b.0)).await?;
    Ok(ids.len() == 2)
}

/// `other` as `player` sees them.
async fn relation(tx: &mut Tx, player: PlayerId, other: PlayerId) -> TxResult<Option<FriendState>> {
    let state: Option<u8> = tx
        .exec_first("SELECT state FROM friends WHERE player_id = ? AND other_id = ?", (player.0, other.0))
        .await?;
    Ok(state.and_then(|s| FriendState::try_from(i32::from(s)).ok()))
}

async fn count(tx: &mut Tx, player: PlayerId, state: FriendState) -> TxResult<u32> {
    let n: Option<u32> = tx
        .exec_first("SELECT COUNT(*) FROM friends WHERE player_id = ? AND state = ?", (player.0, state as u8))
        .await?;
    Ok(n.unwrap_or(0))
}

async fn set(tx: &mut Tx, player: PlayerId, other: PlayerId, state: FriendState) -> TxResult<()> {
    tx.exec_drop(
        "INSERT INTO friends (player_id, other_id, state, since_ms) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE state = VALUES(state), since_ms = VALUES(since_ms)",
        (player.0, other.0, state as u8, now_ms()),
    )
    .await
}

async fn clear(tx: &mut Tx, player: PlayerId, other: PlayerId) -> TxResult<()> {
    tx.exec_drop("DELETE FROM friends WHERE player_id = ? AND other_id = ?", (player.0, other.0)).await
}

async fn display_name(tx: &mut Tx, player: PlayerId) -> TxResult<String> {
    let name: Option<String> =
        tx.exec_first("SELECT display_name FROM profiles WHERE player_id = ?", (player.0,)).await?;
    Ok(name.unwrap_or_default())
}

/// `of` with the state `state`, named as in their profile.
async fn friend(tx: &mut Tx, of: PlayerId, state: FriendState) -> TxResult<Friend> {
    Ok(Friend {
        player_id: of.0,
        display_name: display_name(tx, of).await?,
        state: state as i32,
        online: false,
    })
}

/// Makes `me` and `them` friends (both sides), within the friend limit of each.
async fn befriend(tx: &mut Tx, me: PlayerId, them: PlayerId, limits: Limits) -> TxResult<Change> {
    relate(tx, (me, FriendState::Friend), (them, FriendState::Friend), limits.friends).await
}

/// Sets both sides of a relation (my state towards them, theirs towards me), unless either
/// side already has `limit` relations of its new state; `them` is told.
async fn relate(
    tx: &mut Tx,
    (me, mine): (PlayerId, FriendState),
    (them, theirs): (PlayerId, FriendState),
    limit: u32,
) -> TxResult<Change> {
    if count(tx, me, mine).await? >= limit || count(tx, them, theirs).await? >= limit {
        return Ok(Err(ErrorCode::FriendLimit));
    }
    set(tx, me, them, mine).await?;
    set(tx, them, me, theirs).await?;
    Ok(Ok(Changed {
        mine: Some(friend(tx, them, mine).await?),
        notify: Some((them, friend(tx, me, theirs).await?)),
    }))
}

/// Runs one change in a transaction (retried on conflicts), after the checks every change
/// shares: not myself, and the other player exists.
async fn change<F>(store: &Store, me: PlayerId, them: PlayerId, f: F) -> Result<Change, StoreError>
where
    F: for<'a> Fn(&'a mut Tx) -> mmo_core::store::TxFuture<'a, Change> + Clone + Send + Sync + 'static,
{
    if me == them {
        return Ok(Err(ErrorCode::FriendInvalid));
    }
    store
        .in_tx(|tx| {
            let f = f.clone();
            Box::pin(async move {
                if !lock_pair(tx, me, them).await? {
                    return Ok(Err(ErrorCode::PlayerNotFound));
                }
                f(tx).await
            })
        })
        .await
}

/// Asks `them` to be friends; if they had already asked me, accepts.
pub async fn request(
    store: &Store,
    me: PlayerId,
    them: PlayerId,
    limits: Limits,
) -> Result<Change, StoreError> {
    change(store, me, them, move |tx| {
        Box::pin(async move {
            let mine = relation(tx, me, them).await?;
            let theirs = relation(tx, them, me).await?;
            if mine == Some(FriendState::Blocked) || theirs == Some(FriendState::Blocked) {
                return Ok(Err(ErrorCode::FriendBlocked));
            }
            match mine {
                // Already done: answer the same again (a retried request changes nothing).
                Some(s @ (FriendState::Friend | FriendState::Outgoing)) => {
                    Ok(Ok(Changed { mine: Some(friend(tx, them, s).await?), notify: None }))
                }
                Some(FriendState::Incoming) => befriend(tx, me, them, limits).await,
                _ => {
                    let pending = limits.pending;
                    relate(tx, (me, FriendState::Outgoing), (them, FriendState::Incoming), pending).await
                }
            }
        })
    })
    .await
}

/// Accepts `them`'s request. Accepting a friend again answers the friendship; anything else
/// with no request pending is `FRIEND_INVALID`.
pub async fn accept(
    store: &Store,
    me: PlayerId,
    them: PlayerId,
    limits: Limits,
) -> Result<Change, StoreError> {
    change(store, me, them, move |tx| {
        Box::pin(async move {
            match relation(tx, me, them).await? {
                Some(FriendState::Incoming) => befriend(tx, me, them, limits).await,
                Some(FriendState::Friend) => {
                    Ok(Ok(Changed { mine: Some(friend(tx, them, FriendState::Friend).await?), notify: None }))
                }
                _ => Ok(Err(ErrorCode::FriendInvalid)),
            }
        })
    })
    .await
}

/// Ends a friendship, declines their request or cancels mine. Nothing to end is not an error.
pub async fn remove(store: &Store, me: PlayerId, them: PlayerId) -> Result<Change, StoreError> {
    change(store, me, them, move |tx| {
        Box::pin(async move {
            match relation(tx, me, them).await? {
                Some(FriendState::Friend | FriendState::Incoming | FriendState::Outgoing) => {
                    clear(tx, me, them).await?;
                    clear(tx, them, me).await?;
                    Ok(Ok(Changed {
                        mine: None,
                        notify: Some((them, friend(tx, me, FriendState::None).await?)),
                    }))
                }
                _ => Ok(Ok(Changed::default())),
            }
        })
    })
    .await
}

/// Blocks `them`, ending any friendship or request between us (they are told it ended, not
/// that they are blocked). Once committed, the cached blocks of both are forgotten
/// ([`block_cache::forget`]), even when nothing changed: a retry after a failed invalidation
/// repairs it.
pub async fn block(
    store: &Store,
    bus: &Bus,
    me: PlayerId,
    them: PlayerId,
    limits: Limits,
) -> Result<Change, AccountError> {
    let change = change(store, me, them, move |tx| {
        Box::pin(async move {
            if relation(tx, me, them).await? == Some(FriendState::Blocked) {
                return Ok(Ok(Changed::default()));
            }
            if count(tx, me, FriendState::Blocked).await? >= limits.blocked {
                return Ok(Err(ErrorCode::FriendLimit));
            }
            let mut changed = Changed::default();
            // Their own block of me stays: it is theirs to lift.
            if let Some(FriendState::Friend | FriendState::Incoming | FriendState::Outgoing) =
                relation(tx, them, me).await?
            {
                clear(tx, them, me).await?;
                changed.notify = Some((them, friend(tx, me, FriendState::None).await?));
            }
            set(tx, me, them, FriendState::Blocked).await?;
            Ok(Ok(changed))
        })
    })
    .await?;
    block_cache::forget(bus, &[me.0, them.0]).await?;
    Ok(change)
}

/// Lifts my block of `them` (if any); then forgets both players' cached blocks, as [`block`].
pub async fn unblock(store: &Store, bus: &Bus, me: PlayerId, them: PlayerId) -> Result<Change, AccountError> {
    let change = change(store, me, them, move |tx| {
        Box::pin(async move {
            tx.exec_drop(
                "DELETE FROM friends WHERE player_id = ? AND other_id = ? AND state = ?",
                (me.0, them.0, FriendState::Blocked as u8),
            )
            .await?;
            Ok(Ok(Changed::default()))
        })
    })
    .await?;
    block_cache::forget(bus, &[me.0, them.0]).await?;
    Ok(change)
}

/// Everyone `me` has a relation with: (their id, display name, state), friends first.
pub async fn list(store: &Store, me: PlayerId) -> Result<Vec<Friend>, StoreError> {
    let rows: Vec<(u64, String, u8)> = store
        .exec(
            "SELECT f.other_id, p.display_name, f.state FROM friends f \
             JOIN profiles p ON p.player_id = f.other_id WHERE f.player_id = ? \
             ORDER BY f.state, p.display_name, f.other_id",
            (me.0,),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(player_id, display_name, state)| Friend {
            player_id,
            display_name,
            state: i32::from(state),
            online: false,
        })
        .collect())
}

/// Every block that involves one of `players`, either way, as (blocker, blocked), from MySQL:
/// for servers that must keep blocked pairs apart (matchmaking, party invites), which read it
/// through [`block_cache`]. At most `players.len()` times the block limit rows.
pub async fn blocks(store: &Store, players: &[PlayerId]) -> Result<Vec<(PlayerId, PlayerId)>, StoreError> {
    if players.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; players.len()].join(",");
    let sql = format!(
        "SELECT player_id, other_id FROM friends WHERE state = {blocked} AND player_id IN ({marks}) \
         UNION SELECT player_id, other_id FROM friends WHERE state = {blocked} AND other_id IN ({marks})",
        blocked = FriendState::Blocked as u8
    );
    let params: Vec<mysql_async::Value> = players.iter().chain(players).map(|p| p.0.into()).collect();
    let rows: Vec<(u64, u64)> = store.exec(&sql, params).await?;
    Ok(rows.into_iter().map(|(a, b)| (PlayerId(a), PlayerId(b))).collect())
}

/// [`blocks`] through [`block_cache`]: one Redis round trip when every player is
/// cached, else MySQL for the missed ones and a fill. For callers that read blocks alone (a
/// party invite); matchmaking's queue join reads them in its own pipeline with the same parts.
pub async fn blocks_cached(
    bus: &Bus,
    store: &Store,
    players: &[PlayerId],
) -> Result<Vec<(PlayerId, PlayerId)>, AccountError> {
    if players.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<u64> = players.iter().map(|p| p.0).collect();
    let keys: Vec<String> = ids.iter().map(|p| block_cache::key(bus, *p)).collect();
    let values: Vec<Option<String>> = {
        let mut conn = bus.conn().await?;
        bus.timed(redis::cmd("MGET").arg(&keys).query_async(&mut *conn)).await?
    };
    let mut cached = block_cache::Cached::from_replies(&ids, values);
    if !cached.missed.is_empty() {
        let missed: Vec<PlayerId> = cached.missed.iter().map(|p| PlayerId(*p)).collect();
        let rows = blocks(store, &missed).await.map_err(AccountError::from)?;
        let fresh = block_cache::entries(&cached.missed, &rows);
        let mut pipe = redis::pipe();
        for cmd in block_cache::fill_commands(bus, &fresh) {
            pipe.add_command(cmd).ignore();
        }
        // Only a cache: a failed fill costs a later MySQL read.
        let filled = async {
            let mut conn = bus.conn().await?;
            bus.timed(pipe.query_async::<()>(&mut *conn)).await
        };
        if let Err(e) = filled.await {
            tracing::debug!(error = %e, "blocks cache fill failed");
        }
        cached.hits.extend(fresh);
    }
    Ok(block_cache::union(cached.hits.values()))
}
