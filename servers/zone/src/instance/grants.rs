//! Loot as grants in the shop's ledger, from the instance's side: each kill's loot is queued
//! as a [`Grant`] under its key (`crate::loot`), spawned on the I/O runtime, and its answer
//! (the player's whole inventory, read after the grant committed) comes back as
//! [`Done::Granted`]; the instance sets the player's view to it and the next tick pushes it. The
//! zone never pushes an inventory it computed itself, so an item bought or granted elsewhere
//! while the player is in the world is in every inventory it pushes afterwards.
//!
//! One grant (or inventory read) per player is in flight at a time, in the order the kills
//! happened, so answers come back in commit order and a newer inventory is never replaced by an
//! older one. A grant that failed (MySQL down) stays at the head of its player's queue and is
//! sent again, with the same key, after a backoff (`loot_retry` doubling to `loot_retry_max`):
//! the ledger applies it once however often it is sent. The queues together hold at most
//! `loot_queue` operations; while full, the world drops no loot ([`World::set_loot_paused`]).
//! A grant the shop refuses (it cannot be, for loot) is dropped and logged. A stopping instance
//! tries what is still queued once more; what the process had queued when it died is lost, as
//! is the kill itself (the world's state since the last save is not durable either).

use std::collections::VecDeque;

use mmo_core::backoff::Backoff;
use mmo_shop::{Grant, ShopError};

use super::*;

/// One operation on a player's inventory.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A kill's loot.
    Grant(Grant),
    /// Read the inventory again (a grant answered while the player was being claimed).
    Refresh,
}

/// A player's queue.
struct Queue {
    ops: VecDeque<Op>,
    in_flight: bool,
    retry_at: Option<Instant>,
    backoff: Backoff,
}

/// The instance's queues of inventory operations.
pub(crate) struct Loot {
    queues: IdMap<PlayerId, Queue>,
    len: usize,
    /// `<run>` of this run's keys.
    run: String,
    /// Kills with loot so far in this run.
    kills: u64,
}

impl Loot {
    pub(crate) fn new(incarnation: &str) -> Loot {
        Loot { queues: IdMap::default(), len: 0, run: crate::loot::run_of(incarnation), kills: 0 }
    }

    /// Whether the player has operations queued or in flight.
    pub(crate) fn busy(&self, player: PlayerId) -> bool {
        self.queues.contains_key(&player)
    }
}

/// What a grant's spawned work answered.
pub(crate) enum GrantResult {
    /// The player's inventory after it.
    Inventory(Vec<ItemStack>),
    /// Try again later (MySQL unavailable, a timeout).
    Retry(String),
    /// Refused or invalid: dropped.
    Drop(String),
}

impl Instance {
    /// A kill's loot: queued as a grant under a new key.
    pub(super) fn looted(&mut self, player: PlayerId, npc: EntityId, npc_type: &str, items: &[ItemStack]) {
        let kill = self.loot.kills;
        self.loot.kills += 1;
        let g = crate::loot::kill_grant(player, &self.loot.run, kill, &self.key, npc_type, npc.0, items);
        self.queue_op(player, Op::Grant(g));
    }

    fn queue_op(&mut self, player: PlayerId, op: Op) {
        let (first, max) = (self.sh.cfg.loot_retry, self.sh.cfg.loot_retry_max);
        let q = self.loot.queues.entry(player).or_insert_with(|| Queue {
            ops: VecDeque::new(),
            in_flight: false,
            retry_at: None,
            backoff: Backoff::new(first, max),
        });
        q.ops.push_back(op);
        self.loot.len += 1;
        self.world.set_loot_paused(self.loot.len >= self.sh.cfg.loot_queue);
        gauge!(m::LOOT_QUEUED, "instance" => self.key.to_string()).set(self.loot.len as f64);
        self.pump_player(player);
    }

    /// Sends every queue's head that is not in flight and not waiting for its retry.
    pub(super) fn pump_loot(&mut self) {
        if self.loot.queues.is_empty() {
            return;
        }
        let now = Instant::now();
        let due: Vec<PlayerId> = self
            .loot
            .queues
            .iter()
            .filter(|(_, q)| !q.in_flight && q.retry_at.is_none_or(|at| at <= now))
            .map(|(p, _)| *p)
            .collect();
        for player in due {
            self.pump_player(player);
        }
    }

    fn pump_player(&mut self, player: PlayerId) {
        let Some(q) = self.loot.queues.get_mut(&player) else { return };
        if q.in_flight || q.retry_at.is_some_and(|at| at > Instant::now()) {
            return;
        }
        let Some(op) = q.ops.front().cloned() else { return };
        q.in_flight = true;
        q.retry_at = None;
        let (sh, tx) = (self.sh.clone(), self.done_tx.clone());
        self.sh.io.spawn(async move {
            let result = run_op(&sh, player, &op).await;
            let _ = tx.send(Done::Granted { player, result }).await;
        });
    }

    /// A grant's (or read's) answer.
    pub(super) fn granted(&mut self, player: PlayerId, result: GrantResult) {
        let Some(q) = self.loot.queues.get_mut(&player) else { return };
        q.in_flight = false;
        match result {
            GrantResult::Retry(e) => {
                let pause = q.backoff.next_pause();
                q.retry_at = Some(Instant::now() + pause);
                counter!(m::LOOT_RETRIES).increment(1);
                self.sh.loot_retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if q.backoff.at_max() {
                    tracing::warn!(player = player.0, error = e, instance = %self.key, "loot grant failing; retried");
                }
                return;
            }
            GrantResult::Drop(e) => {
                counter!(m::LOOT_DROPPED).increment(1);
                tracing::error!(player = player.0, error = e, instance = %self.key, "loot grant refused; dropped");
            }
            GrantResult::Inventory(items) => {
                if let Some(Op::Grant(_)) = q.ops.front() {
                    counter!(m::LOOT_GRANTED).increment(1);
                }
                if self.held.contains_key(&player) {
                    self.world.set_inventory(player, items);
                } else if let Some(p) = self.pending.get_mut(&player) {
                    // The claim's read may be older than this: read again once it is placed.
                    p.stale_inventory = true;
                }
            }
        }
        let (first, max) = (self.sh.cfg.loot_retry, self.sh.cfg.loot_retry_max);
        q.backoff = Backoff::new(first, max);
        q.ops.pop_front();
        self.loot.len -= 1;
        if q.ops.is_empty() {
            self.loot.queues.remove(&player);
        }
        self.world.set_loot_paused(self.loot.len >= self.sh.cfg.loot_queue);
        gauge!(m::LOOT_QUEUED, "instance" => self.key.to_string()).set(self.loot.len as f64);
        self.pump_player(player);
    }

    /// A player just placed whose inventory was read before a grant answered: read it again
    /// (behind its queued grants, if any: their answers are newer still).
    pub(super) fn refresh_inventory(&mut self, player: PlayerId) {
        if !self.loot.busy(player) {
            self.queue_op(player, Op::Refresh);
        }
    }

    /// The grants still queued (a stopping instance tries each once more).
    pub(super) fn take_queued_grants(&mut self) -> Vec<Grant> {
        let out = self
            .loot
            .queues
            .drain()
            .flat_map(|(_, q)| q.ops)
            .filter_map(|op| match op {
                Op::Grant(g) => Some(g),
                Op::Refresh => None,
            })
            .collect();
        self.loot.len = 0;
        out
    }
}

async fn run_op(sh: &Shared, player: PlayerId, op: &Op) -> GrantResult {
    let limit = sh.cfg.inventory_read_limit;
    let r = match op {
        Op::Grant(g) => {
            mmo_shop::grants::grant_and_inventory(&sh.store, &sh.bus, g, limit).await.map(|(_, i)| i)
        }
        Op::Refresh => {
            mmo_shop::grants::inventory_upto(&sh.store, player.0, limit).await.map_err(ShopError::from)
        }
    };
    match r {
        Ok(items) => GrantResult::Inventory(crate::loot::stacks(&items)),
        Err(e @ (ShopError::Refused(..) | ShopError::Invalid(_))) => GrantResult::Drop(e.to_string()),
        Err(e) => GrantResult::Retry(e.to_string()),
    }
}
