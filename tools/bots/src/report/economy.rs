//! The `economy` scenario's figures, text and verdict: purchases and how they went (replays,
//! injected disconnects, insufficient funds, retries), scores, and the final check against
//! MySQL (lost, duplicated) that `shop_check.rs` ran.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::{Latency, per_s};
use crate::scenario::EconomySettings;
use crate::tally::EconomyTally;

/// The `economy` scenario's figures (the `economy` object of the JSON report).
#[derive(Clone, Debug, Serialize)]
pub struct EconomyReport {
    /// Purchase intents per second and bot, as scheduled; the fraction of attempts that dropped
    /// the connection; scores per second and bot, to `board`.
    pub buy_rate: f64,
    pub disconnect_rate: f64,
    pub score_rate: f64,
    pub board: String,
    /// Bots that read their wallet and a catalog with items.
    pub ready: u64,
    /// Purchase intents (one key each), and those acknowledged with a PurchaseResp.
    pub intents: u64,
    pub purchases: u64,
    /// Acknowledged purchases per second of the window.
    pub purchases_per_s: f64,
    /// From a PurchaseReq written to its answer (PurchaseResp or a refusal), on one connection.
    pub latency_ms: Latency,
    /// PurchaseResps marked `replayed` (a retried key found committed), including the second
    /// asking after every retried intent.
    pub replays: u64,
    /// Connections dropped right after a PurchaseReq, and reconnections in all.
    pub disconnects: u64,
    pub reconnects: u64,
    /// Intents refused SHOP_INSUFFICIENT_FUNDS (expected once the starter money is spent).
    pub insufficient_funds: u64,
    /// SHOP_STORE_UNAVAILABLE, UNAVAILABLE or RATE_LIMITED answers, each retried with the key.
    pub unavailable: u64,
    /// Requests without an answer in time, retried on a new connection.
    pub timeouts: u64,
    /// Intents refused with another code, by code.
    pub refused: u64,
    pub refused_by_code: BTreeMap<String, u64>,
    /// Intents given up without an answer.
    pub unresolved: u64,
    /// Answers for one key that were not the same purchase.
    pub mismatched: u64,
    pub scores_sent: u64,
    pub scores_ok: u64,
    pub scores_refused_by_code: BTreeMap<String, u64>,
    /// Whether the final check ran; why not.
    pub checked: bool,
    pub check_error: Option<String>,
    /// Acknowledged purchases absent from MySQL (or under another id, or not charged).
    pub lost: u64,
    /// Acknowledged purchases charged more than once.
    pub duplicated: u64,
    /// Rows of this run's keys no bot was told about (an answer lost with its connection).
    pub committed_unacked: u64,
    /// The first few problems, described.
    pub examples: Vec<String>,
}

impl EconomyReport {
    pub(crate) fn new(
        s: EconomySettings,
        e: &EconomyTally,
        latency: Latency,
        duration_s: f64,
    ) -> EconomyReport {
        let mut examples = e.mismatch_examples.clone();
        examples.extend(e.check_examples.iter().cloned());
        EconomyReport {
            buy_rate: s.buy_rate,
            disconnect_rate: s.disconnect_rate,
            score_rate: s.score_rate,
            board: s.board,
            ready: e.ready,
            intents: e.intents,
            purchases: e.acked,
            purchases_per_s: per_s(e.acked, duration_s),
            latency_ms: latency,
            replays: e.replays,
            disconnects: e.disconnects,
            reconnects: e.reconnects,
            insufficient_funds: e.insufficient,
            unavailable: e.unavailable,
            timeouts: e.timeouts,
            refused: e.refused.total(),
            refused_by_code: e.refused.by_kind.clone(),
            unresolved: e.unresolved,
            mismatched: e.mismatched,
            scores_sent: e.scores_sent,
            scores_ok: e.scores_ok,
            scores_refused_by_code: e.scores_refused.by_kind.clone(),
            checked: e.checked,
            check_error: e.check_error.clone(),
            lost: e.lost,
            duplicated: e.duplicated,
            committed_unacked: e.committed_unacked,
            examples,
        }
    }

    /// Why the run failed, as far as the economy goes.
    pub(crate) fn failures(&self, why: &mut Vec<String>) {
        let kinds = |by: &BTreeMap<String, u64>| {
            by.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
        };
        if let Some(e) = &self.check_error {
            why.push(format!("the purchases could not be checked: {e}"));
        }
        if self.lost > 0 {
            why.push(format!("{} of {} acknowledged purchases lost", self.lost, self.purchases));
        }
        if self.duplicated > 0 {
            why.push(format!(
                "{} of {} acknowledged purchases charged twice",
                self.duplicated, self.purchases
            ));
        }
        if self.mismatched > 0 {
            why.push(format!("{} keys answered with different purchases", self.mismatched));
        }
        if self.refused > 0 {
            why.push(format!("{} purchases refused ({})", self.refused, kinds(&self.refused_by_code)));
        }
        if self.intents > 0 && self.purchases == 0 {
            why.push(format!("{} purchase intents but none acknowledged", self.intents));
        }
        let scores_refused: u64 = self.scores_refused_by_code.values().sum();
        if scores_refused > 0 {
            why.push(format!("{scores_refused} scores refused ({})", kinds(&self.scores_refused_by_code)));
        }
    }
}

impl fmt::Display for EconomyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "economy      {} intents/s per bot, disconnect rate {}, {} scores/s per bot to {}",
            self.buy_rate, self.disconnect_rate, self.score_rate, self.board
        )?;
        writeln!(
            f,
            "  purchases  {} of {} intents ({:.1}/s), {} insufficient funds, {} refused, {} unresolved",
            self.purchases,
            self.intents,
            self.purchases_per_s,
            self.insufficient_funds,
            self.refused,
            self.unresolved
        )?;
        for (code, n) in &self.refused_by_code {
            writeln!(f, "    {code:<30} {n:>8}")?;
        }
        let l = &self.latency_ms;
        writeln!(
            f,
            "  latency ms p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (PurchaseReq to its answer)",
            l.p50, l.p90, l.p99, l.max
        )?;
        writeln!(
            f,
            "  retries    {} disconnects injected, {} reconnects, {} replays, {} unavailable, {} timeouts, {} mismatched",
            self.disconnects, self.reconnects, self.replays, self.unavailable, self.timeouts, self.mismatched
        )?;
        writeln!(f, "  scores     {} sent, {} accepted", self.scores_sent, self.scores_ok)?;
        for (code, n) in &self.scores_refused_by_code {
            writeln!(f, "    {code:<30} {n:>8}")?;
        }
        match &self.check_error {
            Some(e) => writeln!(f, "  check      not run: {e}")?,
            None => writeln!(
                f,
                "  check      {} lost, {} duplicated (MySQL), {} committed but not acknowledged",
                self.lost, self.duplicated, self.committed_unacked
            )?,
        }
        for e in &self.examples {
            writeln!(f, "    {e}")?;
        }
        Ok(())
    }
}
