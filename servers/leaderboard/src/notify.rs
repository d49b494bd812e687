//! LeaderboardPassedNtf: after a submit that moved a player up on a board that asks for it
//! (`notify_friends_passed`), its friends it passed (ranked above its old entry, below its new
//! one) are told, if online, through the bus (`push_to_player`: the gateway holding them).
//! Worked out off the request path by one task per instance, from a bounded queue; a full queue
//! drops the push (counted in `mmo_leaderboard_notify_dropped_total`). A player who had no entry
//! before passes nobody.

use std::sync::Arc;

use mmo_core::Shutdown;
use mmo_core::bus::{Bus, node};
use mmo_core::session::PlayerId;
use mmo_core::store::Store;
use mmo_proto::{LeaderboardEntry, LeaderboardPassedNtf};
use tokio::sync::mpsc;

use crate::config::BoardConfig;
use crate::error::LbError;
use crate::keys::BoardKeys;
use crate::people::People;
use crate::ranking::{self, Entry};

/// Pushes dropped because the queue was full.
pub const DROPPED: &str = "mmo_leaderboard_notify_dropped_total";
/// Pushes sent.
pub const SENT: &str = "mmo_leaderboard_passed_total";

/// One improved submit to check.
#[derive(Debug)]
pub struct Job {
    pub board: String,
    pub cfg: BoardConfig,
    pub season: u64,
    /// The submitter's entry before (member, ZSET score) and now.
    pub old: (String, i64),
    pub new: Entry,
}

/// The queue's sending side.
#[derive(Clone, Debug)]
pub struct Notifier(mpsc::Sender<Job>);

impl Notifier {
    /// Queues a job, or drops it when the queue is full.
    pub fn queue(&self, job: Job) {
        if self.0.try_send(job).is_err() {
            metrics::counter!(DROPPED).increment(1);
        }
    }
}

/// Starts the worker.
pub fn start(
    bus: Bus,
    store: Store,
    people: Arc<People>,
    show_names: bool,
    cap: usize,
    sd: &Shutdown,
) -> Notifier {
    let (tx, mut rx) = mpsc::channel::<Job>(cap);
    let token = sd.token();
    sd.spawn(async move {
        loop {
            let job = tokio::select! {
                () = token.cancelled() => break,
                j = rx.recv() => match j { Some(j) => j, None => break },
            };
            if let Err(e) = passed(&bus, &store, &people, show_names, &job).await {
                tracing::warn!(error = %e, board = job.board, "leaderboard passed push failed");
            }
        }
    });
    Notifier(tx)
}

fn wire(e: &Entry, name: String) -> LeaderboardEntry {
    LeaderboardEntry { player: e.player, name, score: e.score, rank: e.rank, achieved_ms: e.achieved_ms }
}

/// Finds the friends the job's player passed and pushes to those online. Returns how many were
/// pushed to.
pub async fn passed(
    bus: &Bus,
    store: &Store,
    people: &People,
    show_names: bool,
    job: &Job,
) -> Result<usize, LbError> {
    let friends = people.friends(store, job.new.player).await?;
    if friends.is_empty() {
        return Ok(0);
    }
    let keys = BoardKeys::new(bus, &job.board, job.season);
    let entries = ranking::of(bus, &keys, &job.cfg, &friends).await?;
    let old = (job.old.1, job.old.0.as_str());
    let new = job.new.order(&job.cfg);
    let passed: Vec<&Entry> =
        entries.iter().filter(|f| f.order(&job.cfg) > new && f.order(&job.cfg) < old).collect();
    if passed.is_empty() {
        return Ok(0);
    }
    let names = if show_names {
        let ids: Vec<u64> = passed.iter().map(|e| e.player).chain([job.new.player]).collect();
        people.names(store, &ids).await?
    } else {
        Default::default()
    };
    let name = |p: u64| names.get(&p).cloned().unwrap_or_default();
    let mut sent = 0;
    for f in passed {
        let ntf = LeaderboardPassedNtf {
            board: job.board.clone(),
            season: job.season,
            friend: Some(wire(&job.new, name(job.new.player))),
            you: Some(wire(f, name(f.player))),
        };
        if node::push_to_player(bus, PlayerId(f.player), &ntf).await? {
            sent += 1;
        }
    }
    metrics::counter!(SENT).increment(sent as u64);
    Ok(sent)
}
