//! Score submits, batched. Handlers queue their submit and wait; one task per instance takes
//! everything queued (up to `submit_batch`), groups it by board-season (and whether ranks are
//! read back) in arrival order, and sends one submit-script call per group, all in one
//! pipelined round trip, with at most `submit_in_flight` such round trips at once. While they
//! are in flight new submits queue and go together in the next one: under light load a submit
//! waits for nothing, under heavy load one script call carries many, which is what lets a board
//! take far more updates per second than one script call per submit would.
//!
//! Every entry a call improved goes to the scores' write-behind (`lb_scores`,
//! [`crate::store::ScoreRow`]). Round trips in flight together may be answered in any order,
//! so a row carries its version and the write-behind never replaces a waiting row of a higher
//! version, in memory or in MySQL. When the write-behind is full (MySQL is behind) the row goes
//! back with the reply and the handler writes it itself before answering, which slows submits
//! to what MySQL takes instead of dropping rows. A crash loses at most the write-behind's
//! interval of `lb_scores` writes, whose entries Redis still holds (the board is only rebuilt
//! from MySQL when Redis lost it too).

use std::sync::Arc;

use mmo_core::Shutdown;
use mmo_core::bus::{Bus, BusError};
use mmo_core::store::WriteBehind;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::config::LeaderboardConfig;
use crate::keys::BoardKeys;
use crate::ranking::{self, Submitted};
use crate::store::{ScoreKey, ScoreRow};

/// Script calls made, and submits they carried (their ratio is the batch size).
pub const CALLS: &str = "mmo_leaderboard_submit_calls_total";
pub const SUBMITS: &str = "mmo_leaderboard_submits_total";

/// The scores' write-behind.
pub type Writer = WriteBehind<ScoreKey, ScoreRow>;

/// What a submit did, and the row the handler must write itself (the write-behind was full).
#[derive(Debug)]
pub struct Outcome {
    pub submitted: Submitted,
    pub unsaved: Option<ScoreRow>,
}

struct Job {
    board: Arc<str>,
    season: u64,
    player: u64,
    score: i64,
    now_ms: u64,
    rank: bool,
    reply: oneshot::Sender<Result<Outcome, BusError>>,
}

/// The handlers' side of the queue.
#[derive(Clone, Debug)]
pub struct Submitter(mpsc::Sender<Job>);

impl Submitter {
    /// Starts the task. `cfg.submit_queue` submits wait at most; beyond it a submit waits for
    /// room (the bus's handler concurrency bounds how many can).
    pub fn start(bus: Bus, cfg: Arc<LeaderboardConfig>, writer: Writer, sd: &Shutdown) -> Submitter {
        let (tx, rx) = mpsc::channel(cfg.submit_queue as usize);
        sd.spawn(run(bus, cfg, writer, rx, sd.clone()));
        Submitter(tx)
    }

    /// Submits `score` for `player` on a board (a name of `cfg.boards`) and season, at
    /// `now_ms`, and waits for the script's answer, with the entry's rank if `rank` (else its
    /// rank is 0: one sorted-set lookup less in Redis).
    pub async fn submit(
        &self,
        board: &str,
        season: u64,
        player: u64,
        score: i64,
        now_ms: u64,
        rank: bool,
    ) -> Result<Outcome, BusError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { board: board.into(), season, player, score, now_ms, rank, reply };
        let stopped = || BusError::Pool("the leaderboard's submit task has stopped".into());
        self.0.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(
    bus: Bus,
    cfg: Arc<LeaderboardConfig>,
    writer: Writer,
    mut rx: mpsc::Receiver<Job>,
    sd: Shutdown,
) {
    let max = cfg.submit_batch as usize;
    let token = sd.token();
    let in_flight = Arc::new(Semaphore::new(cfg.submit_in_flight as usize));
    loop {
        let permit = tokio::select! {
            _ = token.cancelled() => break,
            p = in_flight.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let mut jobs = Vec::with_capacity(max);
        tokio::select! {
            _ = token.cancelled() => break,
            n = rx.recv_many(&mut jobs, max) => if n == 0 { break },
        }
        let (bus, cfg, writer) = (bus.clone(), cfg.clone(), writer.clone());
        sd.spawn(async move {
            call(&bus, &cfg, &writer, jobs).await;
            drop(permit);
        });
    }
    // Whatever is still queued at shutdown is answered, not left hanging.
    rx.close();
    while let Some(job) = rx.recv().await {
        let _ = job.reply.send(Err(BusError::Pool("the leaderboard is shutting down".into())));
    }
}

/// Every job gets `e` (one per job: a Redis error is not `Clone`). Unavailability stays
/// unavailability, so clients are told to retry.
fn fail(jobs: Vec<Job>, e: &BusError) {
    for job in jobs {
        let each = if e.is_unavailable() {
            BusError::Pool(e.to_string())
        } else {
            BusError::Conflict(e.to_string())
        };
        let _ = job.reply.send(Err(each));
    }
}

/// Sends the pipeline; when Redis lost the scripts (a restart, SCRIPT FLUSH: nothing ran) it
/// loads them and sends it once more.
async fn send(bus: &Bus, pipe: &redis::Pipeline) -> Result<Vec<Vec<redis::Value>>, BusError> {
    let once = || async {
        let mut conn = bus.conn().await?;
        bus.timed(pipe.query_async(&mut *conn)).await
    };
    match once().await {
        Err(BusError::Redis(e)) if e.kind() == redis::ErrorKind::NoScriptError => {
            ranking::load(bus).await?;
            once().await
        }
        r => r,
    }
}

/// One round trip for `jobs`: a script call per board-season and rank read-back, in
/// first-arrival order.
async fn call(bus: &Bus, cfg: &LeaderboardConfig, writer: &Writer, jobs: Vec<Job>) {
    let mut groups: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        match groups
            .iter_mut()
            .find(|g| g[0].board == job.board && g[0].season == job.season && g[0].rank == job.rank)
        {
            Some(g) => g.push(job),
            None => groups.push(vec![job]),
        }
    }
    let mut pipe = redis::pipe();
    for g in &groups {
        // Jobs only name configured boards (the handler looked the board up first).
        let Some(bcfg) = cfg.boards.get(&*g[0].board) else { continue };
        let keys = BoardKeys::new(bus, &g[0].board, g[0].season);
        let submits: Vec<(u64, i64, u64)> = g.iter().map(|j| (j.player, j.score, j.now_ms)).collect();
        pipe.invoke_script(&ranking::invocation(&keys, bcfg, false, g[0].rank, &submits));
    }
    let replies = match send(bus, &pipe).await {
        Ok(r) => r,
        Err(e) => {
            fail(groups.into_iter().flatten().collect(), &e);
            return;
        }
    };
    metrics::counter!(CALLS).increment(groups.len() as u64);
    let mut replies = replies.into_iter();
    for g in groups {
        let Some(bcfg) = cfg.boards.get(&*g[0].board) else {
            fail(g, &BusError::Conflict("unknown board".into()));
            continue;
        };
        let answers = replies.next().unwrap_or_default();
        metrics::counter!(SUBMITS).increment(g.len() as u64);
        for (i, job) in g.into_iter().enumerate() {
            let w = ranking::REPLY_WIDTH;
            let Some(answer) = answers.get(i * w..(i + 1) * w) else {
                let _ =
                    job.reply.send(Err(BusError::Conflict("the submit script answered too little".into())));
                continue;
            };
            let submitted = ranking::submitted(bcfg, answer);
            let mut unsaved = None;
            if let Submitted::Done { improved: true, entry, .. } = &submitted {
                let row = ScoreRow::new(
                    job.board.clone(),
                    bcfg,
                    job.season,
                    (entry.player, entry.score, entry.achieved_ms),
                );
                if writer.mark(row.key(), row.clone()).is_err() {
                    unsaved = Some(row);
                }
            }
            let _ = job.reply.send(Ok(Outcome { submitted, unsaved }));
        }
    }
}
