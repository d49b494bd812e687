//! The `match` scenario's figures: the `match` object of the JSON report, and its verdict.

use super::*;

/// The `match` scenario's figures (the `match` object of the JSON report).
#[derive(Clone, Debug, Serialize)]
pub struct MatchReport {
    /// The queue joined (`--match-mode`).
    pub mode: String,
    /// The fraction of bots meant to play in parties, and the largest party.
    pub party_share: f64,
    pub party_size: u32,
    /// The fraction of ready checks a bot declines.
    pub decline_rate: f64,
    /// Seconds a bot stays in its match instance.
    pub match_secs: f64,
    /// Bots placed in the world (they queue from there), and those that could not be.
    pub entered: u64,
    pub enter_failed: u64,
    pub enter_failed_by_kind: BTreeMap<String, u64>,
    /// Parties formed with every member, and their players (leaders included).
    pub parties: u64,
    pub party_players: u64,
    /// Bots that queue tickets (solo bots and party leaders).
    pub queuers: u64,
    /// Queuers that never got a ticket in the window, by the last refusal (or why they never
    /// asked).
    pub never_queued: u64,
    pub never_queued_by_kind: BTreeMap<String, u64>,
    pub never_queued_examples: BTreeMap<String, String>,
    /// Tickets opened (QueueJoinResps).
    pub tickets: u64,
    /// QueueJoinReqs refused QUEUE_COOLDOWN: a decline penalty being waited out.
    pub cooldowns: u64,
    /// Ready checks received by the players (MatchProposalNtf), and how they answered.
    pub proposals: u64,
    pub accepted: u64,
    pub declined: u64,
    /// Answers that came too late: the check had already failed (PROPOSAL_NOT_FOUND).
    pub proposals_gone: u64,
    /// Tickets put back in the queue after another player declined (TicketNtf REQUEUED).
    pub requeued: u64,
    /// Other TicketNtfs to queuers, by reason (`DECLINED`, `NO_SERVER`, `EXPIRED`, ...).
    pub ticket_notices: BTreeMap<String, u64>,
    /// Distinct matches started in the window (by match id), and per second of the window.
    pub matches: u64,
    pub matches_per_s: f64,
    /// MatchStartNtfs received (one per player and match).
    pub starts: u64,
    /// Of those, backfills (a match in progress, in a leaver's place).
    pub backfills: u64,
    /// Matches a bot was placed in and left with LeaveInstanceReq.
    pub played: u64,
    /// Per ticket, from QueueJoinResp to MatchStartNtf (across failed ready checks).
    pub time_to_match_ms: Latency,
    /// Tickets behind `time_to_match_ms`.
    pub time_to_match_samples: u64,
    /// From MatchStartNtf to placed in the match's instance.
    pub enter_match_ms: Latency,
    /// Steps that went wrong (a refused or unanswered request, a party not formed, a match
    /// never entered), by kind.
    pub failed: u64,
    pub failed_by_kind: BTreeMap<String, u64>,
    pub failed_examples: BTreeMap<String, String>,
    /// No ticket matched twice, no player in two matches at once, rosters that agree.
    pub checks: MatchChecks,
}

impl MatchReport {
    pub(super) fn new(
        settings: MatchSettings,
        m: &MatchTally,
        z: &ZoneTally,
        duration_s: f64,
    ) -> MatchReport {
        let latency = |h: Option<&Histogram<u64>>| h.map(Latency::from_histogram).unwrap_or_default();
        let matches = m.ledger.rosters.len() as u64;
        MatchReport {
            mode: settings.mode,
            party_share: settings.party_share,
            party_size: settings.party_size,
            decline_rate: settings.decline_rate,
            match_secs: settings.match_secs,
            entered: z.entered,
            enter_failed: z.enter_failed.total(),
            enter_failed_by_kind: z.enter_failed.by_kind.clone(),
            parties: m.parties,
            party_players: m.party_players,
            queuers: m.queuers,
            never_queued: m.never_queued.total(),
            never_queued_by_kind: m.never_queued.by_kind.clone(),
            never_queued_examples: m.never_queued.examples.clone(),
            tickets: m.tickets,
            cooldowns: m.cooldowns,
            proposals: m.proposals,
            accepted: m.accepted,
            declined: m.declined,
            proposals_gone: m.proposals_gone,
            requeued: m.requeued,
            ticket_notices: m.ticket_notices.clone(),
            matches,
            matches_per_s: per_s(matches, duration_s),
            starts: m.starts,
            backfills: m.backfills,
            played: m.played,
            time_to_match_ms: latency(m.time_to_match_us.as_ref()),
            time_to_match_samples: m.time_to_match_us.as_ref().map_or(0, Histogram::len),
            enter_match_ms: latency(m.enter_match_us.as_ref()),
            failed: m.failed.total(),
            failed_by_kind: m.failed.by_kind.clone(),
            failed_examples: m.failed.examples.clone(),
            checks: MatchChecks::run(&m.ledger),
        }
    }

    /// Why the run failed, as far as matchmaking goes.
    pub(super) fn failures(&self, why: &mut Vec<String>) {
        let kinds = |by: &BTreeMap<String, u64>| {
            by.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
        };
        if self.enter_failed > 0 {
            why.push(format!(
                "{} of {} bots could not enter the world ({})",
                self.enter_failed,
                self.entered + self.enter_failed,
                kinds(&self.enter_failed_by_kind)
            ));
        }
        if self.never_queued > 0 {
            let mut line = format!(
                "{} of {} queuers could not queue ({})",
                self.never_queued,
                self.queuers,
                kinds(&self.never_queued_by_kind)
            );
            if self.never_queued_by_kind.contains_key("QUEUE_COOLDOWN") {
                line.push_str("; penalties from an earlier run with this --run-tag? try --run-tag random");
            }
            why.push(line);
        }
        if self.entered > 0 && self.matches == 0 {
            why.push(format!("no match started ({} tickets, {} ready checks)", self.tickets, self.proposals));
        }
        if self.failed > 0 {
            why.push(format!("{} matchmaking steps failed ({})", self.failed, kinds(&self.failed_by_kind)));
        }
        self.checks.failures(why);
    }
}
