//! One bot: its start, its loop of requests on a fixed schedule, and its hold.
//!
//! A bot is one task that owns its connection (`conn.rs`) and waits for the first of: stop, the
//! measurement window opening, the socket readable, the socket writable (only while a write is
//! pending), or its next scheduled send.
//!
//! The schedule is open loop. Each measured request has a send time fixed in advance (window
//! start + a random phase + k * interval), and its latency runs from that time, not from when the
//! write happened: a stalled bot or a slow server shows up as latency instead of as fewer
//! requests (coordinated omission). Between measured requests a Ping goes out whenever the
//! server's heartbeat interval would otherwise pass in silence.
//!
//! In closed loop (`--closed-loop`) there is no schedule: the answer to one measured request, of
//! whatever kind, sets the next one's send time to the moment it arrived (but no sooner than the
//! server's rate limit allows), and latency runs from there.
//!
//! Life of a bot: wait for its connect slot, connect, Hello and the steps its scenario needs
//! (`session.rs`: log in, enter the world), heartbeat until the window opens, measure until it
//! closes, wait (bounded) for the last answers, report its tally, and then either close or, with
//! `--hold`, keep heartbeating until stopped. With `--login-concurrency` it holds one of the
//! swarm's permits from before the connect until it is ready. A bot whose start fails reports
//! and closes.
//!
//! What the measured request is, and what the bot makes of answers and pushes, is its scenario's
//! `Traffic` (`scenario/`). A scripted scenario (`match`) replaces the measurement: the bot hands
//! its connection to the scenario's `Script` for the window, then holds as any other.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mmo_proto::{DisconnectNtf, ErrorResp, HelloResp, ZoneEnterNtf};
use mmo_wire::{Flags, Frame, MsgType, Seq};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::{DRAIN, Shared, Window};
use crate::Options;
use crate::conn::{self, Conn, Fail, HELLO_SEQ, code_name};
use crate::scenario::{self, Heartbeat, Scripted, Stage, Traffic};
use crate::session;
use crate::tally::Tally;

/// Requests in flight per bot before the oldest is given up as lost: keeps a bot's memory bounded
/// when the server stops answering while the schedule goes on.
const MAX_PENDING: usize = 1024;
/// Stands in for the heartbeat when the server asks for none (`heartbeat_interval_ms` = 0).
const NO_HEARTBEAT: Duration = Duration::from_secs(24 * 3600);

/// Runs bot `index` to its end and sends its tally to `results`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    index: usize,
    connect_at: Instant,
    mut window: watch::Receiver<Option<Window>>,
    results: mpsc::Sender<Tally>,
) {
    let mut tally = Tally::new();
    let opened = tokio::select! {
        biased;
        () = shared.stop.cancelled() => None,
        c = start(&shared, index, connect_at, &mut tally) => c,
    };
    if let Some(script) = &shared.script {
        // Before settling: the window opens once every bot has settled, and a script reads the
        // seats then.
        script.seat(index, opened.as_ref().map(|o| o.player));
    }
    shared.progress.settle(tally.connected > 0, tally.login_ok > 0, opened.is_some());
    let Some(opened) = opened else {
        // The tally says why. A failed send means the swarm is gone and nobody is listening.
        let _ = results.send(tally).await;
        return;
    };
    let (player, placed) = (opened.player, opened.placed.clone());
    let mut bot = Bot::new(opened, &shared.opts);
    let alive = match &shared.script {
        Some(script) => {
            let scripted = Scripted {
                index,
                player,
                placed: placed.as_ref(),
                conn: &mut bot.conn,
                seq: &mut bot.seq,
                heartbeat: bot.heartbeat,
                stop: &shared.stop,
                window: &mut window,
                tally: &mut tally,
            };
            script.play(scripted).await
        }
        None => bot.measure(&shared, &mut window, &mut tally).await,
    };
    if alive {
        tally.held = 1;
    }
    let _ = results.send(tally).await;
    // Dropping the sender tells the swarm this bot has reported, even while it goes on holding.
    drop(results);
    if alive && shared.opts.hold {
        bot.hold(&shared).await;
    }
}

/// A bot ready for the window.
struct Opened {
    conn: Conn,
    hello: HelloResp,
    /// The last seq used.
    seq: u32,
    /// At [`Stage::LoggedIn`] and beyond: the session's player id (else 0).
    player: u64,
    /// At [`Stage::InWorld`]: where the zone placed the bot.
    placed: Option<ZoneEnterNtf>,
}

/// Waits for the bot's turn, connects, says Hello and takes the steps up to its scenario's stage
/// (log in, enter the world). On failure the tally says why, and it returns `None`.
async fn start(shared: &Shared, index: usize, connect_at: Instant, tally: &mut Tally) -> Option<Opened> {
    sleep_until(connect_at).await;
    // Held until ready (or failed): the permit bounds bots between connect and session.
    let _permit = match &shared.login_slots {
        // Never closed; `None` would only mean the swarm is going away.
        Some(slots) => Some(slots.acquire().await.ok()?),
        None => None,
    };
    let opts = &shared.opts;
    let (mut conn, hello) = session::connect(opts.addr, &mut tally.errors).await?;
    tally.connected = 1;
    shared.progress.heartbeat_ms.store(hello.heartbeat_interval_ms, Ordering::Relaxed);
    let mut seq = HELLO_SEQ;
    let stage = opts.scenario.stage();
    let player = match stage {
        Stage::Connected => 0,
        Stage::LoggedIn | Stage::InWorld => session::log_in(&mut conn, opts, index, &mut seq, tally).await?,
    };
    let placed = match stage {
        Stage::InWorld => Some(session::enter_world(&mut conn, &mut seq, &mut tally.zone).await?),
        Stage::Connected | Stage::LoggedIn => None,
    };
    Some(Opened { conn, hello, seq, player, placed })
}

/// A request waiting for its answer.
struct Pending {
    seq: u32,
    /// When the schedule said to send it: the start of its latency.
    scheduled: Instant,
    /// Scheduled inside the window (counted), or a heartbeat (not counted).
    measured: bool,
}

/// A connected bot.
struct Bot {
    conn: Conn,
    /// What the bot's scenario sends, and what it makes of what comes back.
    traffic: Box<dyn Traffic>,
    /// Send the next measured request when the last is answered, not on a schedule.
    closed_loop: bool,
    heartbeat: Duration,
    /// Between measured requests; in closed loop, the least time between two.
    interval: Duration,
    /// The last seq used.
    seq: u32,
    /// In send order; the gateway answers in order, so the match is nearly always the front.
    pending: VecDeque<Pending>,
    /// When the last request of any kind went out: the heartbeat counts from it.
    last_sent: Instant,
    /// The next measured slot, while the window is open and has slots left.
    next_measured: Option<Instant>,
    window_start: Option<Instant>,
    window_end: Option<Instant>,
}

impl Bot {
    /// A bot on the connection `start` opened.
    fn new(opened: Opened, opts: &Options) -> Bot {
        let Opened { conn, hello, seq, placed, .. } = opened;
        let heartbeat = match hello.heartbeat_interval_ms {
            0 => NO_HEARTBEAT,
            ms => Duration::from_millis(ms.into()),
        };
        let workload = opts.scenario.workload();
        Bot {
            conn,
            traffic: workload.traffic(opts, placed.as_ref()),
            closed_loop: opts.closed_loop,
            heartbeat,
            interval: workload.bot_interval(opts, heartbeat),
            seq,
            pending: VecDeque::new(),
            last_sent: Instant::now(),
            next_measured: None,
            window_start: None,
            window_end: None,
        }
    }

    /// Plans the measured slots of `window`.
    fn open_window(&mut self, window: &Window) {
        // A random phase per bot spreads the swarm over one interval, so bots that connected in
        // the same millisecond do not all send in the same millisecond forever after. In closed
        // loop every bot starts at once; the answers spread them.
        let phase = if self.closed_loop { 0.0 } else { rand::random::<f64>() };
        let first = window.start + self.interval.mul_f64(phase);
        self.window_start = Some(window.start);
        self.window_end = Some(window.end);
        self.next_measured = (first < window.end).then_some(first);
    }

    /// When the next request is due: the next measured slot, or the heartbeat if it comes first.
    fn next_send(&self) -> Instant {
        let heartbeat = self.last_sent + self.heartbeat;
        self.next_measured.map_or(heartbeat, |m| m.min(heartbeat))
    }

    /// Sends every request that is due at `now` (more than one only if the bot fell behind: open
    /// loop catches up rather than skipping, and the latency shows how far behind it was).
    fn send_due(&mut self, now: Instant, tally: &mut Tally) -> Result<(), Fail> {
        while self.next_send() <= now {
            let heartbeat = self.last_sent + self.heartbeat;
            let (scheduled, measured) = match self.next_measured {
                Some(slot) if slot <= heartbeat => (slot, true),
                _ => (heartbeat, false),
            };
            // Wrapping after 4 billion requests on one connection is harmless: seqs are matched
            // against the few in flight.
            self.seq = self.seq.wrapping_add(1);
            let seq = Seq(self.seq);
            let frame = if measured {
                self.traffic.request(seq, scheduled)
            } else {
                Heartbeat.request(seq, scheduled)
            };
            self.conn.send(frame).map_err(Fail::Io)?;
            if measured {
                tally.sent += 1;
                tally.record_send_lag(now.saturating_duration_since(scheduled));
                self.next_measured = if self.closed_loop {
                    // Until the answer arrives: see `settled`.
                    None
                } else {
                    let next = scheduled + self.interval;
                    self.window_end.filter(|end| next < *end).map(|_| next)
                };
            }
            // Heartbeats are always pending; one-way requests (MoveReqs) never are: no answer
            // comes to one that is accepted.
            if !(measured && self.traffic.one_way()) {
                self.pending.push_back(Pending { seq: self.seq, scheduled, measured });
            }
            if self.pending.len() > MAX_PENDING
                && let Some(oldest) = self.pending.pop_front()
                && oldest.measured
            {
                tally.lost += 1;
            }
            // Heartbeats count from the actual send, so a stalled bot sends one, not a burst.
            self.last_sent = now;
        }
        Ok(())
    }

    fn take_pending(&mut self, seq: Seq) -> Option<Pending> {
        let i = self.pending.iter().position(|p| p.seq == seq.0)?;
        self.pending.remove(i)
    }

    fn measured_pending(&self) -> u64 {
        self.pending.iter().filter(|p| p.measured).count() as u64
    }

    /// A request got its answer (of any kind) at `now`. In closed loop, a measured one frees the
    /// next, due now or once the rate limit allows, if the window is still open.
    fn settled(&mut self, p: &Pending, now: Instant) {
        if self.closed_loop
            && p.measured
            && let Some(end) = self.window_end
            && now < end
        {
            self.next_measured = Some(now.max(p.scheduled + self.interval));
        }
    }

    /// Whether `now` is inside the measurement window (as cut short by an interrupt).
    fn in_window(&self, now: Instant) -> bool {
        self.window_start.is_some_and(|s| now >= s) && self.window_end.is_some_and(|e| now < e)
    }

    /// Handles one frame from the server, read at `now` (`wall_us` on the wall clock, for a bot
    /// whose traffic listens). `Err` means the connection is over.
    fn handle(&mut self, frame: Frame, now: Instant, wall_us: u64, tally: &mut Tally) -> Result<(), Fail> {
        let h = frame.header;
        let counted = self.traffic.listens() && self.in_window(now);
        if counted {
            self.traffic.on_window_frame(&frame, tally);
        }
        if h.id == DisconnectNtf::ID {
            return Err(conn::disconnected(&frame));
        }
        if h.flags.contains(Flags::PUSH) {
            if let Err(check) = self.traffic.on_push(&frame, counted.then_some(wall_us), tally) {
                tally.errors.record(check.kind(), check);
            }
            return Ok(());
        }
        if h.id == ErrorResp::ID {
            // An answer, but a refusal: not lost, not answered, an error.
            let pending = self.take_pending(h.seq);
            if let Some(p) = &pending {
                self.settled(p, now);
            }
            let fail = conn::rejected(&frame);
            // With nothing pending, the refusal of a one-way request, which the scenario may
            // count as its own (a MoveReq's: a rejection of the walk), by its code.
            let refusals = match &fail {
                Fail::Rejected(e) if pending.is_none() => {
                    self.traffic.refusals(e, tally).map(|errors| (errors, code_name(e.code)))
                }
                _ => None,
            };
            match refusals {
                Some((errors, code)) => errors.record(code, format_args!("seq {}: {fail}", h.seq.0)),
                None => tally.errors.record(fail.kind(), format_args!("seq {}: {fail}", h.seq.0)),
            }
            return Ok(());
        }
        let Some(p) = self.take_pending(h.seq) else {
            tally.duplicated += 1;
            return Ok(());
        };
        self.settled(&p, now);
        let answer =
            if p.measured { self.traffic.check_answer(&frame) } else { Heartbeat.check_answer(&frame) };
        if let Err(check) = answer {
            tally.errors.record(check.kind(), check);
            return Ok(());
        }
        if p.measured {
            tally.answered += 1;
            tally.record_latency(now.saturating_duration_since(p.scheduled));
        }
        Ok(())
    }

    /// Handles every complete frame already read.
    fn handle_buffered(&mut self, tally: &mut Tally) -> Result<(), Fail> {
        // One clock reading per read: the frames arrived together. The wall clock only where
        // frames carry the server's, for traffic that listens (zone).
        let now = Instant::now();
        let wall_us = if self.traffic.listens() { scenario::wall_us() } else { 0 };
        while let Some(frame) = self.conn.next_frame()? {
            self.handle(frame, now, wall_us, tally)?;
        }
        Ok(())
    }

    fn on_readable(&mut self, ready: io::Result<()>, tally: &mut Tally) -> Result<(), Fail> {
        ready.map_err(Fail::Io)?;
        self.conn.read_some()?;
        self.handle_buffered(tally)
    }

    /// Records why the connection ended; what was in flight will never be answered.
    fn fail(&mut self, fail: Fail, tally: &mut Tally) {
        tracing::debug!(error = %fail, "bot connection ended");
        tally.errors.record(fail.kind(), &fail);
        tally.lost += self.measured_pending();
        self.pending.clear();
    }

    /// Heartbeats until the window opens, sends measured requests through it, then waits for the
    /// last answers until the drain deadline. Returns whether the connection is still usable.
    async fn measure(
        &mut self,
        shared: &Shared,
        window_rx: &mut watch::Receiver<Option<Window>>,
        tally: &mut Tally,
    ) -> bool {
        let mut window = *window_rx.borrow_and_update();
        if let Some(w) = &window {
            self.open_window(w);
        }
        // Hello's answer may have arrived together with more frames.
        if let Err(fail) = self.handle_buffered(tally) {
            self.fail(fail, tally);
            return false;
        }
        let mut stopping = false;
        let timer = sleep_until(self.wake_at(window.as_ref()));
        tokio::pin!(timer);
        loop {
            if let Some(w) = &window
                && self.next_measured.is_none()
                && !self.listening(Instant::now())
            {
                if self.measured_pending() == 0 {
                    return true;
                }
                if Instant::now() >= w.drain_until {
                    tally.lost += self.measured_pending();
                    self.pending.retain(|p| !p.measured);
                    return true;
                }
            }
            tokio::select! {
                biased;
                () = shared.stop.cancelled(), if !stopping => {
                    // Interrupted: no more measured requests; answers already due get a short drain.
                    stopping = true;
                    self.next_measured = None;
                    // Nor does an answer free another in closed loop.
                    self.window_end = self.window_end.map(|end| end.min(Instant::now()));
                    match &mut window {
                        None => return true,
                        Some(w) => w.drain_until = w.drain_until.min(Instant::now() + DRAIN),
                    }
                }
                changed = window_rx.changed(), if window.is_none() => {
                    if changed.is_err() {
                        // The swarm is gone; so is anyone to report to.
                        return true;
                    }
                    window = *window_rx.borrow_and_update();
                    if let Some(w) = &window {
                        self.open_window(w);
                    }
                }
                ready = self.conn.readable() => {
                    let mut read = self.on_readable(ready, tally);
                    if self.closed_loop && read.is_ok() {
                        // The answer just read is usually what frees the next request: send it
                        // now rather than through the timer, which rounds up to its next
                        // millisecond tick.
                        read = self.send_due(Instant::now(), tally);
                    }
                    if let Err(fail) = read {
                        self.fail(fail, tally);
                        return false;
                    }
                }
                ready = self.conn.writable(), if self.conn.writing() => {
                    if let Err(e) = ready.and_then(|()| self.conn.flush()) {
                        self.fail(Fail::Io(e), tally);
                        return false;
                    }
                }
                () = &mut timer => {
                    if let Err(fail) = self.send_due(Instant::now(), tally) {
                        self.fail(fail, tally);
                        return false;
                    }
                }
            }
            timer.as_mut().reset(self.wake_at(window.as_ref()));
        }
    }

    /// The window is still open and the traffic listens (`zone`), so the bot still counts what
    /// arrives, even after its last slot.
    fn listening(&self, now: Instant) -> bool {
        self.traffic.listens() && self.window_end.is_some_and(|end| now < end)
    }

    /// The next time the loop must wake without the socket: a send, the window's end (`zone`),
    /// or the drain deadline.
    fn wake_at(&self, window: Option<&Window>) -> Instant {
        let send = self.next_send();
        match window {
            Some(_) if self.next_measured.is_none() && self.listening(Instant::now()) => {
                self.window_end.map_or(send, |end| send.min(end))
            }
            Some(w) if self.next_measured.is_none() => send.min(w.drain_until),
            _ => send,
        }
    }

    /// Keeps the connection open with heartbeats only, until stopped or the connection fails.
    /// Errors go to the swarm's hold tally, since this bot's report is already sent.
    async fn hold(&mut self, shared: &Shared) {
        let progress = &shared.progress;
        progress.held.fetch_add(1, Ordering::Relaxed);
        let mut tally = Tally::new();
        let timer = sleep_until(self.next_send());
        tokio::pin!(timer);
        let fail = loop {
            tokio::select! {
                biased;
                () = shared.stop.cancelled() => break None,
                ready = self.conn.readable() => {
                    if let Err(fail) = self.on_readable(ready, &mut tally) {
                        break Some(fail);
                    }
                }
                ready = self.conn.writable(), if self.conn.writing() => {
                    if let Err(e) = ready.and_then(|()| self.conn.flush()) {
                        break Some(Fail::Io(e));
                    }
                }
                () = &mut timer => {
                    if let Err(fail) = self.send_due(Instant::now(), &mut tally) {
                        break Some(fail);
                    }
                }
            }
            timer.as_mut().reset(self.next_send());
        };
        progress.held.fetch_sub(1, Ordering::Relaxed);
        if let Some(fail) = fail {
            tracing::debug!(error = %fail, "held connection ended");
            tally.errors.record(fail.kind(), &fail);
        }
        if tally.errors.total() > 0 {
            progress
                .hold_errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .merge(tally.errors);
        }
    }
}
