//! The ticket state machine under concurrency, against real Redis: two matchmaking instances
//! over thousands of tickets with ready checks failing under them never put a ticket into two
//! proposals; a queue whose matcher died moves to another within the lease time, and the dead
//! one's late commit is refused.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::collections::HashMap;
use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::clock::now_ms;
use mmo_matchmaking::proposals::{self, CommitRefused, NewProposal};
use mmo_matchmaking::tickets;
use mmo_matchmaking::{Enqueue, Matchmaking, MatchmakingConfig};
use mmo_proto::TicketState;
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

struct Env {
    redis: TestRedis,
    db: TestDb,
    shutdowns: Vec<Shutdown>,
}

impl Env {
    async fn new() -> Env {
        let db = TestDb::new().await;
        for m in [
            mmo_account::migrations(),
            mmo_eventlog::migrations(),
            mmo_shop::migrations(),
            mmo_matchmaking::migrations(),
        ] {
            db.store().migrate(&m).await.unwrap();
        }
        Env { redis: TestRedis::new(), db, shutdowns: Vec::new() }
    }

    /// A matchmaking instance on a bus node of its own (another process, as Redis sees it).
    async fn instance(&mut self, node: &str, cfg: MatchmakingConfig) -> Matchmaking {
        let shutdown = Shutdown::new();
        let bus = self.redis.bus(node, &shutdown).await;
        let mm = common::matchmaking(&bus, &self.db, cfg, &shutdown).await;
        self.shutdowns.push(shutdown);
        mm
    }

    async fn finish(self) {
        for s in &self.shutdowns {
            s.trigger();
        }
        for s in &self.shutdowns {
            s.drain(Duration::from_secs(5)).await;
        }
        self.db.cleanup().await;
        drop(self.redis);
    }
}

fn solo(mode: &str, player: u64) -> Enqueue {
    Enqueue { mode: mode.into(), players: vec![player], ..Default::default() }
}

/// Checks every ticket: a proposed one is in exactly the pending proposal it names, and no
/// pending proposal shares a ticket with another. Returns (searching, proposed).
async fn check(mm: &Matchmaking, ids: &[u64]) -> (usize, usize) {
    let mut owner: HashMap<u64, u64> = HashMap::new();
    let (mut searching, mut proposed) = (0, 0);
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        let t = tickets::get(&mm.bus, *id).await.unwrap().unwrap();
        match t.state {
            TicketState::Searching => searching += 1,
            TicketState::Proposed => {
                proposed += 1;
                if seen.insert(t.proposal) {
                    let p = proposals::get(&mm.bus, t.proposal).await.unwrap().unwrap();
                    assert_eq!(p.state, "pending");
                    for member in &p.tickets {
                        if let Some(other) = owner.insert(*member, p.id) {
                            panic!("ticket {member} in proposals {other} and {}", p.id);
                        }
                    }
                }
                assert_eq!(
                    owner.get(id),
                    Some(&t.proposal),
                    "ticket {id} names a proposal that does not hold it"
                );
            }
            // A decline's ticket.
            TicketState::Cancelled => {}
            s => panic!("ticket {id} is {s:?}"),
        }
    }
    (searching, proposed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_thousands_of_tickets_never_propose_a_ticket_twice() {
    let mut env = Env::new().await;
    let mut cfg = common::test_config();
    cfg.pass_interval = Duration::from_millis(30);
    for m in cfg.modes.0.values_mut() {
        m.ready_timeout = Duration::from_secs(120);
        m.rating_window = 10_000.0;
        m.max_window = 10_000.0;
    }
    let a = env.instance("mm-a", cfg.clone()).await;
    let b = env.instance("mm-b", cfg).await;
    // 2000 tickets queued through both instances at once.
    let (qa, qb) = (a.clone(), b.clone());
    let left = tokio::spawn(async move {
        let mut ids = Vec::new();
        for p in 0..1000u64 {
            ids.push(qa.enqueue(&solo("duel", 1 + 2 * p)).await.unwrap());
        }
        ids
    });
    let right = tokio::spawn(async move {
        let mut ids = Vec::new();
        for p in 0..1000u64 {
            ids.push(qb.enqueue(&solo("duel", 2 + 2 * p)).await.unwrap());
        }
        ids
    });
    let mut ids = left.await.unwrap();
    ids.extend(right.await.unwrap());
    // Everything gets proposed, in pairs, whichever instance holds the lease.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (searching, proposed) = check(&a, &ids).await;
        if searching == 0 {
            assert_eq!(proposed, 2000);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{searching} tickets still searching");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Churn: one player of every other proposal declines; the other ticket goes back and is
    // proposed again, while both instances keep matching.
    let mut declined = 0;
    for id in ids.iter().step_by(4) {
        let t = tickets::get(&a.bus, *id).await.unwrap().unwrap();
        if t.state == TicketState::Proposed {
            let via = if declined % 2 == 0 { &a } else { &b };
            if mmo_matchmaking::ready::decline(via, t.proposal, t.body.members[0].player).await.is_ok() {
                declined += 1;
            }
        }
        if declined % 200 == 0 {
            check(&b, &ids).await;
        }
    }
    assert!(declined > 300, "{declined}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open: Vec<u64> = {
        let mut v = Vec::new();
        for id in &ids {
            let t = tickets::get(&a.bus, *id).await.unwrap().unwrap();
            if t.state != TicketState::Cancelled {
                v.push(*id);
            }
        }
        v
    };
    assert_eq!(open.len(), 2000 - declined);
    check(&a, &open).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_matchers_queue_moves_within_the_lease_time_and_its_late_commit_is_refused() {
    let mut env = Env::new().await;
    let cfg = common::test_config();
    let ttl = cfg.lease_ttl;
    // The old holder: takes the queue's lease, then dies (never renews).
    let shutdown = Shutdown::new();
    let bus = env.redis.bus("mm-dead", &shutdown).await;
    let dead = proposals::lease(&bus, "duel", 0, ttl.as_millis() as u64).await.unwrap();
    assert!(dead > 0);
    let taken_at = tokio::time::Instant::now();
    let b = env.instance("mm-b", cfg).await;
    let t1 = b.enqueue(&solo("duel", 1)).await.unwrap();
    let t2 = b.enqueue(&solo("duel", 2)).await.unwrap();
    // The live instance cannot match before the lease lapses...
    tokio::time::sleep(ttl / 3).await;
    if taken_at.elapsed() < ttl {
        assert_eq!(tickets::get(&bus, t1).await.unwrap().unwrap().state, TicketState::Searching);
    }
    // ...and takes the queue over soon after.
    let deadline = taken_at + ttl + Duration::from_secs(2);
    while tickets::get(&bus, t1).await.unwrap().unwrap().state != TicketState::Proposed {
        assert!(tokio::time::Instant::now() < deadline, "queue not taken over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The dead holder wakes up and commits what it had found: refused, nothing changes.
    let t3 = b.enqueue(&solo("duel", 3)).await.unwrap();
    let _ = t2;
    let late = NewProposal {
        id: proposals::next_id(&bus).await.unwrap(),
        mode: "duel".into(),
        tickets: vec![t3],
        players: vec![3],
        region: "default".into(),
        teams: vec![vec![3]],
        roles: Vec::new(),
        deadline_ms: now_ms() + 10_000,
    };
    assert_eq!(proposals::commit(&bus, dead, &late).await.unwrap(), Err(CommitRefused::Fenced));
    assert_eq!(tickets::get(&bus, t3).await.unwrap().unwrap().state, TicketState::Searching);
    shutdown.trigger();
    env.finish().await;
}
