//! The report as text, for people: what `mmo-bots` prints at the end of a run.

use std::fmt;

use super::{Latency, LoginReport, MatchReport, Report, ZoneReport};
use crate::scenario::Scenario;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_ms;
        write!(f, "scenario     {}", self.scenario.name())?;
        if let Some(payload) = self.payload {
            write!(f, ", payload {payload} B")?;
        }
        match self.rate {
            _ if self.closed_loop => writeln!(f, ", closed loop")?,
            Some(rate) => {
                let what = if self.scenario == Scenario::Zone { "MoveReqs" } else { "requests" };
                writeln!(f, ", {rate:.0} {what}/s scheduled")?;
            }
            None => writeln!(f)?,
        }
        writeln!(
            f,
            "bots         {} (connected {}, ramp-up {:.2} s)",
            self.bots, self.connected, self.ramp_up_s
        )?;
        if let Some(login) = &self.login {
            write!(f, "{login}")?;
            if self.scenario == Scenario::Login {
                writeln!(f, "heartbeats   (the measured requests below)")?;
            }
        }
        let note = if self.interrupted { " (interrupted)" } else { "" };
        writeln!(f, "duration     {:.2} s{note}", self.duration_s)?;
        if let Some(zone) = &self.zone {
            // MoveReqs are one-way: nothing is answered, lost or timed by the request.
            write!(f, "{zone}")?;
        } else if let Some(matches) = &self.matches {
            // A script, not a schedule: no measured requests.
            write!(f, "{matches}")?;
        } else {
            writeln!(f, "sent         {}", self.sent)?;
            writeln!(f, "answered     {}", self.answered)?;
            writeln!(f, "lost         {}", self.lost)?;
            writeln!(f, "duplicated   {}", self.duplicated)?;
        }
        if let Some(economy) = &self.economy {
            write!(f, "{economy}")?;
        }
        if let Some(chat) = &self.chat {
            write!(f, "{chat}")?;
        }
        writeln!(f, "errors       {}", self.errors)?;
        for (kind, n) in &self.errors_by_kind {
            let example = self.error_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "  {kind:<32} {n:>8}  e.g. {example}")?;
        }
        if self.zone.is_none() && self.matches.is_none() {
            writeln!(f, "throughput   {:.1} answered/s", self.throughput_per_s)?;
            writeln!(
                f,
                "latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3})",
                l.p50, l.p90, l.p99, l.max, l.mean
            )?;
        }
        write!(f, "send lag ms  mean {:.3}  max {:.3}", self.send_lag_ms.mean, self.send_lag_ms.max)?;
        if let Some(rss) = &self.server_rss {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            write!(
                f,
                "\nserver rss   {:.1} MiB before, {:.1} MiB after, {} sessions (pid {}): ",
                mib(rss.before_bytes),
                mib(rss.after_bytes),
                rss.sessions,
                rss.pid
            )?;
            match rss.per_session_bytes {
                Some(b) => write!(f, "{b:.0} B per session")?,
                None => f.write_str("no sessions")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for LoginReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pacing = match (self.rate, self.concurrency) {
            (_, Some(n)) => format!("at most {n} at once"),
            (Some(r), None) => format!("{r:.0}/s scheduled"),
            (None, None) => String::new(),
        };
        writeln!(f, "login        {}, run tag {}, {pacing}", self.method.name(), self.run_tag)?;
        let registered =
            if self.registered > 0 { format!(" ({} registered)", self.registered) } else { String::new() };
        writeln!(
            f,
            "  logins     {} ok{registered}, {} failed of {} in {:.2} s: {:.1} logins/s",
            self.ok, self.failed, self.attempted, self.phase_s, self.per_s
        )?;
        for (kind, n) in &self.failed_by_kind {
            let example = self.failed_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "    {kind:<30} {n:>8}  e.g. {example}")?;
        }
        let l = &self.latency_ms;
        writeln!(
            f,
            "  latency ms p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3})",
            l.p50, l.p90, l.p99, l.max, l.mean
        )?;
        writeln!(f, "  sessions   {} held at the end, {} lost", self.sessions_held, self.sessions_lost)
    }
}

impl fmt::Display for ZoneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retries =
            if self.enter_retries > 0 { format!(" ({} retries)", self.enter_retries) } else { String::new() };
        let l = &self.enter_latency_ms;
        writeln!(
            f,
            "enter        {} ok, {} failed of {}{retries}; latency ms p50 {:.3}  p99 {:.3}  max {:.3}",
            self.entered, self.enter_failed, self.enter_attempted, l.p50, l.p99, l.max
        )?;
        for (kind, n) in &self.enter_failed_by_kind {
            let example = self.enter_failed_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "  {kind:<32} {n:>8}  e.g. {example}")?;
        }
        writeln!(
            f,
            "moves        {} sent ({:.0}/s, {} per bot and s), {} rejected",
            self.moves_sent, self.moves_per_s, self.move_hz, self.moves_rejected
        )?;
        for (code, n) in &self.moves_rejected_by_code {
            let example = self.moves_rejected_examples.get(code).map_or("", String::as_str);
            writeln!(f, "  {code:<32} {n:>8}  e.g. {example}")?;
        }
        let k = &self.updates_by_kind;
        writeln!(
            f,
            "updates      {} ({:.0}/s): {} moves, {} enters, {} leaves, {} stops",
            self.updates, self.updates_per_s, k.moves, k.enters, k.leaves, k.stops
        )?;
        let fr = &self.frames;
        writeln!(
            f,
            "frames/s     positions {:.0}, tick {:.0}, enter {:.0}; {:.2} MB/s received ({} bytes)",
            fr.positions.per_s,
            fr.tick.per_s,
            fr.enter.per_s,
            self.bytes_per_s / 1e6,
            self.bytes
        )?;
        let u = &self.update_latency_ms;
        writeln!(
            f,
            "update ms    p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3}; {} frames, tick to receipt)",
            u.p50, u.p90, u.p99, u.max, u.mean, self.update_latency_samples
        )?;
        if let Some(server) = &self.server {
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            match server.headline() {
                Some((name, s)) => {
                    let ratio = if server.updates_per_s > 0.0 {
                        format!(" (bots received {:.2}x)", self.updates_per_s / server.updates_per_s)
                    } else {
                        String::new()
                    };
                    writeln!(
                        f,
                        "server tick  instance {name} ({} players): {} ticks ({:.1}/s), p50 {} ms  p90 {} ms  \
                         p99 {} ms  (mean {} ms), {} overruns",
                        s.players,
                        s.ticks,
                        s.ticks_per_s,
                        ms(s.tick_p50_ms),
                        ms(s.tick_p90_ms),
                        ms(s.tick_p99_ms),
                        ms(s.tick_mean_ms),
                        s.overruns
                    )?;
                    writeln!(f, "server sent  {:.0} updates/s, all instances{ratio}", server.updates_per_s)?;
                }
                None => writeln!(f, "server tick  no zone instance at {}", server.url)?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for MatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |l: &Latency| {
            format!(
                "p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}  (mean {:.1})",
                l.p50, l.p90, l.p99, l.max, l.mean
            )
        };
        let list = |by: &std::collections::BTreeMap<String, u64>| {
            by.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
        };
        writeln!(
            f,
            "match        mode {}, parties of up to {} for {:.0}% of the bots, {:.0}% of checks declined, \
             {} s per match",
            self.mode,
            self.party_size,
            self.party_share * 100.0,
            self.decline_rate * 100.0,
            self.match_secs
        )?;
        writeln!(f, "enter        {} ok, {} failed", self.entered, self.enter_failed)?;
        for (kind, n) in &self.enter_failed_by_kind {
            writeln!(f, "  {kind:<32} {n:>8}")?;
        }
        writeln!(f, "parties      {} formed ({} players)", self.parties, self.party_players)?;
        writeln!(
            f,
            "queue        {} queuers, {} never queued; {} tickets, {} refused QUEUE_COOLDOWN",
            self.queuers, self.never_queued, self.tickets, self.cooldowns
        )?;
        for (kind, n) in &self.never_queued_by_kind {
            let example = self.never_queued_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "  {kind:<32} {n:>8}  e.g. {example}")?;
        }
        writeln!(
            f,
            "ready checks {} received: {} accepted, {} declined, {} answered too late; {} tickets requeued",
            self.proposals, self.accepted, self.declined, self.proposals_gone, self.requeued
        )?;
        if !self.ticket_notices.is_empty() {
            writeln!(f, "tickets out  {}", list(&self.ticket_notices))?;
        }
        writeln!(
            f,
            "matches      {} started ({:.2}/s), {} player starts ({} backfills), {} played to the end",
            self.matches, self.matches_per_s, self.starts, self.backfills, self.played
        )?;
        writeln!(f, "to match ms  {}  ({} tickets)", ms(&self.time_to_match_ms), self.time_to_match_samples)?;
        writeln!(f, "placed ms    {}  (MatchStartNtf to in the instance)", ms(&self.enter_match_ms))?;
        writeln!(f, "failed       {}", self.failed)?;
        for (kind, n) in &self.failed_by_kind {
            let example = self.failed_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "  {kind:<32} {n:>8}  e.g. {example}")?;
        }
        let c = &self.checks;
        if c.passed() {
            writeln!(
                f,
                "checks       ok: no ticket matched twice, no player in two matches at once, rosters agree"
            )
        } else {
            writeln!(
                f,
                "checks       FAILED: {} tickets matched twice, {} players in two matches at once, {} \
                 rosters disagreeing",
                c.tickets_matched_twice, c.players_in_two_matches, c.rosters_disagreeing
            )?;
            for why in &c.examples {
                writeln!(f, "  {why}")?;
            }
            Ok(())
        }
    }
}
