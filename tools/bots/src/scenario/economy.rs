//! `economy`: a game's shop under retries. Every bot logs in as `login` does (a device login,
//! so a reconnection is the same player), reads its wallet (the shop grants the starter
//! balance, `[shop] starter`, on a player's first request) and the catalog. Through the window
//! it starts a purchase intent at `--buy-rate` on a fixed schedule (a phase of its own): a
//! random item it can afford (any item once it can afford none), under a new idempotency key
//! `<run nonce>-<bot>-<n>`. At `--score-rate` it submits a score to `--board`.
//!
//! A purchase attempt is, with probability `--disconnect-rate`, sent and the connection dropped
//! at once (before the answer); the bot reconnects, logs in again and retries **the same key**.
//! SHOP_STORE_UNAVAILABLE and UNAVAILABLE are retried the same way after their hint; a request
//! without an answer in time is retried on a new connection. The intent ends with the first
//! PurchaseResp (replayed or not: the first try may or may not have committed), with
//! SHOP_INSUFFICIENT_FUNDS (expected once the starter money is spent: counted, not an error), or
//! with another refusal (an error). After a retried intent the bot asks once more with the key
//! and checks that the stored answer is the same purchase (id, price, items).
//!
//! Each bot asks one thing at a time (`Conn::call`, bounded): the scenario needs no book of
//! requests in flight. After the window the script's `finish` checks every acknowledged
//! purchase against MySQL (`shop_check.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use anyhow::ensure;
use mmo_proto::{
    CatalogReq, CatalogResp, ErrorCode, PingReq, PingResp, PurchaseReq, PurchaseResp, ScoreSubmitReq,
    ScoreSubmitResp, ShopItem, WalletReq, WalletResp, ZoneEnterNtf,
};
use mmo_wire::{Flags, Frame, MsgType, Seq};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::{Heartbeat, Script, Scripted, Stage, Traffic, Workload, wall_us};
use crate::conn::{Fail, HELLO_SEQ, code_name, expect};
use crate::login::LoginMethod;
use crate::tally::{EconomyAck, Errors, Tally};
use crate::window::Window;
use crate::{Options, session, shop_check};

/// Purchase intents per second and bot without `--buy-rate`.
pub const DEFAULT_BUY_RATE: f64 = 1.0;
/// Without `--disconnect-rate`.
pub const DEFAULT_DISCONNECT_RATE: f64 = 0.05;
/// Score submits per second and bot without `--score-rate`.
pub const DEFAULT_SCORE_RATE: f64 = 0.2;
/// The board without `--board`: the first of config.example.toml's `[leaderboard.boards]`.
pub const DEFAULT_BOARD: &str = "weekly_points";
/// The shop's database without `--mysql-url` or `MMO_MYSQL_URL`.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mmo";
/// The shop allows 5 PurchaseReqs a second per session (a retried intent sends more than one).
const MAX_BUY_RATE: f64 = 4.0;
const MAX_SCORE_RATE: f64 = 10.0;
/// How long an answer may take: beyond the gateway's request timeout (10 s by default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts of one intent (the first and its retries) before it is given up.
const MAX_ATTEMPTS: u32 = 30;
/// Reconnections in a row before the bot gives up.
const RECONNECT_ATTEMPTS: u32 = 5;
/// Bounds of the wait before retrying after a hint (SHOP_STORE_UNAVAILABLE, RATE_LIMITED).
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Tries at reading the wallet and the catalog before the window.
const PREPARE_ATTEMPTS: u32 = 10;

/// The `economy` options with their defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct EconomySettings {
    pub buy_rate: f64,
    pub disconnect_rate: f64,
    /// 0: no scores.
    pub score_rate: f64,
    pub board: String,
    pub mysql_url: String,
}

impl EconomySettings {
    pub fn new(opts: &Options) -> EconomySettings {
        let env_url = std::env::var("MMO_MYSQL_URL").ok().filter(|v| !v.is_empty());
        EconomySettings {
            buy_rate: opts.buy_rate.unwrap_or(DEFAULT_BUY_RATE),
            disconnect_rate: opts.disconnect_rate.unwrap_or(DEFAULT_DISCONNECT_RATE),
            score_rate: opts.score_rate.unwrap_or(DEFAULT_SCORE_RATE),
            board: opts.board.clone().unwrap_or_else(|| DEFAULT_BOARD.to_owned()),
            mysql_url: opts.mysql_url.clone().or(env_url).unwrap_or_else(|| DEFAULT_MYSQL_URL.to_owned()),
        }
    }
}

pub(super) struct Economy;

impl Workload for Economy {
    fn name(&self) -> &'static str {
        "economy"
    }

    fn stage(&self) -> Stage {
        Stage::LoggedIn
    }

    fn validate(&self, opts: &Options) -> anyhow::Result<()> {
        ensure!(
            opts.ping_interval.is_none(),
            "--ping-interval is not for economy: its bots ping only as heartbeat"
        );
        ensure!(
            opts.login == LoginMethod::Device,
            "economy logs in with --login device (a reconnection is the same player)"
        );
        let s = EconomySettings::new(opts);
        ensure!(
            s.buy_rate.is_finite() && s.buy_rate > 0.0 && s.buy_rate <= MAX_BUY_RATE,
            "--buy-rate must be more than 0 and at most {MAX_BUY_RATE}"
        );
        ensure!((0.0..=1.0).contains(&s.disconnect_rate), "--disconnect-rate must be 0 to 1");
        ensure!(
            s.score_rate.is_finite() && (0.0..=MAX_SCORE_RATE).contains(&s.score_rate),
            "--score-rate must be 0 to {MAX_SCORE_RATE}"
        );
        ensure!(!s.board.is_empty() && s.board.len() <= 32, "--board must be 1-32 characters");
        Ok(())
    }

    /// No schedule of the swarm's: the script buys on its own (`--buy-rate`).
    fn interval(&self, _: &Options) -> Option<Duration> {
        None
    }

    fn traffic(&self, _: &Options, _: Option<&ZoneEnterNtf>) -> Box<dyn Traffic> {
        Box::new(Heartbeat)
    }

    fn script(&self, opts: &Options) -> Option<Box<dyn Script>> {
        Some(Box::new(Shoppers {
            settings: EconomySettings::new(opts),
            addr: opts.addr,
            tag: opts.run_tag.clone(),
            nonce: format!("{:08x}", rand::random::<u32>()),
        }))
    }
}

/// The run's script: the settings, how to reconnect, and the nonce every key of the run starts
/// with (so a rerun with the same accounts uses new keys, and the check finds this run's rows).
struct Shoppers {
    settings: EconomySettings,
    addr: SocketAddr,
    tag: String,
    nonce: String,
}

impl Script for Shoppers {
    fn seat(&self, _index: usize, _player: Option<u64>) {}

    fn play<'a>(&'a self, bot: Scripted<'a>) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(Shopper::new(self, bot).play())
    }

    fn finish<'a>(&'a self, tally: &'a mut Tally) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(shop_check::verify(&self.settings.mysql_url, &self.nonce, &mut tally.economy))
    }
}

/// How a purchase attempt ended.
enum Attempt {
    /// The intent is over (answered, refused, or given up).
    Done,
    /// Try the same key again.
    Retry,
}

/// One bot playing the script.
struct Shopper<'a> {
    shop: &'a Shoppers,
    bot: Scripted<'a>,
    rng: StdRng,
    catalog: Vec<ShopItem>,
    /// What the bot believes it has, from WalletResp and PurchaseResps.
    balances: BTreeMap<String, i64>,
    /// When the last request went out: the heartbeat counts from it.
    last_sent: Instant,
    intents: u64,
}

impl<'a> Shopper<'a> {
    fn new(shop: &'a Shoppers, bot: Scripted<'a>) -> Shopper<'a> {
        Shopper {
            shop,
            rng: StdRng::from_rng(&mut rand::rng()),
            catalog: Vec::new(),
            balances: BTreeMap::new(),
            last_sent: Instant::now(),
            intents: 0,
            bot,
        }
    }

    async fn play(mut self) -> bool {
        match self.run().await {
            Ok(()) => true,
            Err(fail) => {
                tracing::debug!(error = %fail, "economy bot gave up");
                self.bot.tally.errors.record(fail.kind(), &fail);
                false
            }
        }
    }

    async fn run(&mut self) -> Result<(), Fail> {
        self.prepare().await?;
        let Some(w) = self.wait_window().await? else { return Ok(()) };
        let phase = (self.bot.index as f64 * 0.618_033_988_75).fract();
        let buy_every = Duration::from_secs_f64(1.0 / self.shop.settings.buy_rate);
        let score_every = (self.shop.settings.score_rate > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / self.shop.settings.score_rate));
        let mut next_buy = w.start + buy_every.mul_f64(phase);
        let mut next_score = score_every.map(|e| w.start + e.mul_f64(phase));
        loop {
            let wake = [Some(next_buy), next_score, Some(self.last_sent + self.bot.heartbeat), Some(w.end)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(w.end);
            tokio::select! {
                biased;
                () = self.bot.stop.cancelled() => return Ok(()),
                () = sleep_until(wake) => {}
            }
            let now = Instant::now();
            if now >= w.end {
                return Ok(());
            }
            if next_buy <= now {
                let at = next_buy;
                // Slots missed while an intent was retried are skipped, not sent in a burst.
                next_buy = (next_buy + buy_every).max(now);
                self.buy(at, &w).await?;
            } else if let (Some(at), Some(every)) = (next_score, score_every)
                && at <= now
            {
                next_score = Some((at + every).max(now));
                self.score().await?;
            } else if now >= self.last_sent + self.bot.heartbeat {
                self.ping().await?;
            }
        }
    }

    /// Reads the wallet (which grants the starter balance) and the catalog.
    async fn prepare(&mut self) -> Result<(), Fail> {
        for attempt in 1..=PREPARE_ATTEMPTS {
            let read = async {
                let w = expect::<WalletResp>(&self.ask(&WalletReq {}).await?)?;
                let c = expect::<CatalogResp>(&self.ask(&CatalogReq {}).await?)?;
                Ok::<_, Fail>((w, c))
            }
            .await;
            match read {
                Ok((w, c)) => {
                    self.balances = w.balances.into_iter().map(|b| (b.currency, b.amount)).collect();
                    self.catalog = c.items;
                    if self.catalog.is_empty() {
                        self.bot.tally.economy.refused.record("empty_catalog", "CatalogResp without items");
                    } else {
                        self.bot.tally.economy.ready += 1;
                    }
                    return Ok(());
                }
                Err(Fail::Rejected(e)) if retryable(e.code) && attempt < PREPARE_ATTEMPTS => {
                    sleep(hint(e.retry_after_ms)).await;
                }
                Err(fail) => return Err(fail),
            }
        }
        Ok(())
    }

    /// Heartbeats until the window opens (`None`: the run ended first).
    async fn wait_window(&mut self) -> Result<Option<Window>, Fail> {
        loop {
            if let Some(w) = *self.bot.window.borrow_and_update() {
                return Ok(Some(w));
            }
            let heartbeat = self.last_sent + self.bot.heartbeat;
            tokio::select! {
                biased;
                () = self.bot.stop.cancelled() => return Ok(None),
                changed = self.bot.window.changed() => if changed.is_err() {
                    return Ok(None);
                },
                () = sleep_until(heartbeat) => self.ping().await?,
            }
        }
    }

    async fn ping(&mut self) -> Result<(), Fail> {
        match self.ask(&PingReq { client_time_ms: wall_us() / 1000 }).await {
            Ok(frame) => expect::<PingResp>(&frame).map(drop),
            Err(Fail::Rejected(e)) => {
                self.bot.tally.errors.record("ping.refused", Fail::Rejected(e));
                Ok(())
            }
            Err(_) => self.reconnect().await,
        }
    }

    async fn score(&mut self) -> Result<(), Fail> {
        let score = self.rng.random_range(1..=1000);
        let req = ScoreSubmitReq { board: self.shop.settings.board.clone(), score, skip_rank: false };
        self.bot.tally.economy.scores_sent += 1;
        match self.ask(&req).await {
            Ok(frame) => {
                expect::<ScoreSubmitResp>(&frame)?;
                self.bot.tally.economy.scores_ok += 1;
                Ok(())
            }
            Err(Fail::Rejected(e)) => {
                self.bot.tally.economy.scores_refused.record(code_name(e.code), Fail::Rejected(e));
                Ok(())
            }
            Err(fail) => {
                self.bot.tally.economy.scores_refused.record(fail.kind(), &fail);
                self.reconnect().await
            }
        }
    }

    /// A random item the bot can afford, or any item when it can afford none.
    fn pick(&mut self) -> Option<ShopItem> {
        let affordable: Vec<&ShopItem> = self
            .catalog
            .iter()
            .filter(|i| {
                i.prices.iter().all(|p| self.balances.get(&p.currency).copied().unwrap_or(0) >= p.amount)
            })
            .collect();
        let from = if affordable.is_empty() { self.catalog.iter().collect() } else { affordable };
        if from.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..from.len());
        Some(from[i].clone())
    }

    /// One purchase intent, scheduled at `at`, under a new key, to its end.
    async fn buy(&mut self, at: Instant, w: &Window) -> Result<(), Fail> {
        let Some(item) = self.pick() else { return Ok(()) };
        self.intents += 1;
        let key = format!("{}-{}-{}", self.shop.nonce, self.bot.index, self.intents);
        let req = PurchaseReq { key, item_id: item.item_id, quantity: 1, expected_version: 0 };
        let t = &mut *self.bot.tally;
        t.economy.intents += 1;
        t.sent += 1;
        t.record_send_lag(Instant::now().saturating_duration_since(at));
        let mut retried = false;
        for _ in 0..MAX_ATTEMPTS {
            if Instant::now() >= w.drain_until {
                break;
            }
            match self.attempt(&req, &item, retried).await? {
                Attempt::Done => return Ok(()),
                Attempt::Retry => retried = true,
            }
        }
        self.bot.tally.economy.unresolved += 1;
        self.bot.tally.lost += 1;
        Ok(())
    }

    async fn attempt(&mut self, req: &PurchaseReq, item: &ShopItem, retried: bool) -> Result<Attempt, Fail> {
        if self.shop.settings.disconnect_rate > 0.0
            && self.rng.random_bool(self.shop.settings.disconnect_rate)
        {
            self.send_and_drop(req).await;
            self.bot.tally.economy.disconnects += 1;
            self.reconnect().await?;
            return Ok(Attempt::Retry);
        }
        let sent = Instant::now();
        let answer = self.ask(req).await;
        let e = &mut self.bot.tally.economy;
        match answer {
            Ok(frame) => {
                let resp = expect::<PurchaseResp>(&frame)?;
                self.bot.tally.record_latency(sent.elapsed());
                self.bot.tally.answered += 1;
                self.acked(req, resp, retried).await?;
                Ok(Attempt::Done)
            }
            Err(Fail::Rejected(r)) => match ErrorCode::try_from(r.code) {
                Ok(ErrorCode::ShopInsufficientFunds) => {
                    e.insufficient += 1;
                    self.bot.tally.answered += 1;
                    self.bot.tally.record_latency(sent.elapsed());
                    // It has less than this item's price in one of them, at least.
                    for p in &item.prices {
                        let b = self.balances.entry(p.currency.clone()).or_default();
                        *b = (*b).min(p.amount - 1);
                    }
                    Ok(Attempt::Done)
                }
                Ok(ErrorCode::ShopStoreUnavailable | ErrorCode::Unavailable | ErrorCode::RateLimited) => {
                    e.unavailable += 1;
                    sleep(hint(r.retry_after_ms)).await;
                    Ok(Attempt::Retry)
                }
                _ => {
                    e.refused.record(code_name(r.code), Fail::Rejected(r));
                    self.bot.tally.answered += 1;
                    Ok(Attempt::Done)
                }
            },
            Err(fail) => {
                if is_timeout(&fail) {
                    e.timeouts += 1;
                }
                tracing::debug!(error = %fail, "purchase attempt failed; reconnecting");
                self.reconnect().await?;
                Ok(Attempt::Retry)
            }
        }
    }

    /// An intent's PurchaseResp: counted, kept for the check, and after a retry compared with
    /// the stored answer asked once more.
    async fn acked(&mut self, req: &PurchaseReq, resp: PurchaseResp, retried: bool) -> Result<(), Fail> {
        for b in &resp.balances {
            self.balances.insert(b.currency.clone(), b.amount);
        }
        let e = &mut self.bot.tally.economy;
        e.acked += 1;
        e.replays += u64::from(resp.replayed);
        e.acks.push(EconomyAck {
            player: self.bot.player,
            key: req.key.clone(),
            purchase_id: resp.purchase_id,
            currencies: resp.paid.len(),
        });
        if !retried {
            return Ok(());
        }
        match self.ask(req).await {
            Ok(frame) => {
                let again = expect::<PurchaseResp>(&frame)?;
                let e = &mut self.bot.tally.economy;
                e.replays += u64::from(again.replayed);
                let same = again.replayed
                    && (again.purchase_id, again.item_id, again.quantity, &again.paid, &again.items)
                        == (resp.purchase_id, resp.item_id, resp.quantity, &resp.paid, &resp.items);
                if !same {
                    e.mismatch(format!("key {}: first {resp:?}, again {again:?}", req.key));
                }
            }
            // Only asked to compare: a refusal or a lost connection here changes nothing bought.
            Err(Fail::Rejected(_)) => {}
            Err(_) => self.reconnect().await?,
        }
        Ok(())
    }

    /// Sends the request and closes the connection before any answer can be read.
    async fn send_and_drop(&mut self, req: &PurchaseReq) {
        *self.bot.seq = self.bot.seq.wrapping_add(1);
        let frame = req.to_frame_bytes(Seq(*self.bot.seq), Flags::NONE);
        if self.bot.conn.send(frame).is_ok() {
            while self.bot.conn.writing() {
                let ready = timeout(REQUEST_TIMEOUT, self.bot.conn.writable()).await;
                if !matches!(ready, Ok(Ok(()))) || self.bot.conn.flush().is_err() {
                    break;
                }
            }
        }
        self.bot.conn.shutdown().await;
    }

    /// A new connection, Hello and the same device login; the old connection is dropped.
    async fn reconnect(&mut self) -> Result<(), Fail> {
        let mut errors = Errors::default();
        let mut last = Fail::Eof;
        for attempt in 0..RECONNECT_ATTEMPTS {
            if attempt > 0 {
                sleep(Duration::from_millis(200) * attempt).await;
            }
            let Some((conn, _hello)) = session::connect(self.shop.addr, &mut errors).await else { continue };
            *self.bot.conn = conn;
            *self.bot.seq = HELLO_SEQ;
            let login = session::login_exchange(
                self.bot.conn,
                LoginMethod::Device,
                &self.shop.tag,
                self.bot.index,
                self.bot.seq,
            );
            match timeout(session::LOGIN_TIMEOUT, login).await {
                Ok(Ok((player, _))) if player == self.bot.player => {
                    self.bot.tally.economy.reconnects += 1;
                    self.last_sent = Instant::now();
                    return Ok(());
                }
                Ok(Ok((player, _))) => {
                    let why = format!("logged in again as {player}, not {}", self.bot.player);
                    self.bot.tally.errors.record("economy.other_player", why);
                    return Err(Fail::NoSession(mmo_proto::LoginResp::NAME));
                }
                Ok(Err(fail)) => last = fail,
                Err(_) => last = Fail::Io(io::Error::new(io::ErrorKind::TimedOut, "login timed out")),
            }
        }
        self.bot.tally.errors.merge(errors);
        Err(last)
    }

    /// Sends a request and waits (bounded) for its answer on the current connection.
    async fn ask<M: MsgType>(&mut self, msg: &M) -> Result<Frame, Fail> {
        *self.bot.seq = self.bot.seq.wrapping_add(1);
        let seq = Seq(*self.bot.seq);
        self.last_sent = Instant::now();
        match timeout(REQUEST_TIMEOUT, self.bot.conn.call(msg.to_frame_bytes(seq, Flags::NONE), seq)).await {
            Ok(answer) => answer,
            Err(_) => Err(Fail::Io(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))),
        }
    }
}

/// Refusals a request is sent again for, with the same key.
fn retryable(code: i32) -> bool {
    matches!(
        ErrorCode::try_from(code),
        Ok(ErrorCode::ShopStoreUnavailable | ErrorCode::Unavailable | ErrorCode::RateLimited)
    )
}

/// The wait a retry hint asks for, within bounds.
fn hint(retry_after_ms: u64) -> Duration {
    Duration::from_millis(retry_after_ms).clamp(RETRY_MIN, RETRY_MAX)
}

fn is_timeout(fail: &Fail) -> bool {
    matches!(fail, Fail::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}
