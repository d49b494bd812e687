//! The `chat` scenario's figures and its loss check over what every bot saw (the merged
//! [`ChatLedger`]): a message acknowledged to its sender and scheduled after another bot joined
//! the channel must have reached that bot, if its connection lasted to the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use super::{Latency, per_s};
use crate::scenario::ChatSettings;
use crate::tally::{ChatLedger, ChatTally};

/// Lost deliveries described at most; the count goes on.
const MAX_EXAMPLES: usize = 10;

/// The `chat` scenario's figures (the `chat` object of the JSON report).
#[derive(Clone, Debug, Serialize)]
pub struct ChatReport {
    /// The channel: a custom channel's name, or `world`.
    pub channel: String,
    /// ChatSendReqs per second and bot, as scheduled.
    pub rate: f64,
    /// Bots in the channel, and those that never got in (by the last refusal, or `timeout`).
    pub joined: u64,
    pub join_failed: u64,
    pub join_failed_by_kind: BTreeMap<String, u64>,
    /// ChatSendReqs written in the window, and those the server acknowledged (ChatSendResp).
    pub sent: u64,
    pub acked: u64,
    /// ChatSendReqs refused, by code (`CHAT_SLOW_MODE`: over the server's rate limit).
    pub refused: u64,
    pub refused_by_code: BTreeMap<String, u64>,
    /// This run's messages received (each message id once per bot), from the window's start to
    /// the end of its drain, and per second of the window.
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    /// Deliveries the acknowledged messages owed to the bots in the channel when each was
    /// scheduled that stayed to the end, and those never received.
    pub expected: u64,
    pub lost: u64,
    /// A message id received again by the same bot.
    pub duplicated: u64,
    /// Messages in the channel that were not this run's bots'.
    pub other: u64,
    /// From a message's scheduled time to its receipt.
    pub latency_ms: Latency,
    /// Anything else that went wrong, by kind.
    pub failed: u64,
    pub failed_by_kind: BTreeMap<String, u64>,
    /// The first few lost deliveries, described.
    pub lost_examples: Vec<String>,
}

impl ChatReport {
    pub(crate) fn new(settings: ChatSettings, c: &ChatTally, duration_s: f64) -> ChatReport {
        let (expected, lost, lost_examples) = losses(&c.ledger);
        ChatReport {
            channel: settings.channel,
            rate: settings.rate,
            joined: c.joined,
            join_failed: c.join_failed.total(),
            join_failed_by_kind: c.join_failed.by_kind.clone(),
            sent: c.sent,
            acked: c.acked,
            refused: c.refused.total(),
            refused_by_code: c.refused.by_kind.clone(),
            deliveries: c.deliveries,
            deliveries_per_s: per_s(c.deliveries, duration_s),
            expected,
            lost,
            duplicated: c.duplicated,
            other: c.other,
            latency_ms: c.delivery_latency_us.as_ref().map(Latency::from_histogram).unwrap_or_default(),
            failed: c.failed.total(),
            failed_by_kind: c.failed.by_kind.clone(),
            lost_examples,
        }
    }

    /// Why the run failed, as far as chat goes.
    pub(crate) fn failures(&self, why: &mut Vec<String>) {
        let kinds = |by: &BTreeMap<String, u64>| {
            by.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
        };
        if self.join_failed > 0 {
            why.push(format!(
                "{} of {} bots could not join {} ({})",
                self.join_failed,
                self.joined + self.join_failed,
                self.channel,
                kinds(&self.join_failed_by_kind)
            ));
        }
        if self.refused > 0 {
            why.push(format!(
                "{} of {} messages refused ({})",
                self.refused,
                self.sent,
                kinds(&self.refused_by_code)
            ));
        }
        if self.acked > 0 && self.deliveries == 0 && self.expected > 0 {
            why.push(format!("{} messages acknowledged but none delivered", self.acked));
        }
        if self.lost > 0 {
            why.push(format!("{} of {} chat deliveries lost", self.lost, self.expected));
        }
        if self.duplicated > 0 {
            why.push(format!("{} chat deliveries duplicated", self.duplicated));
        }
        if self.failed > 0 {
            why.push(format!("{} chat steps failed ({})", self.failed, kinds(&self.failed_by_kind)));
        }
    }
}

/// Deliveries owed, and those missing with a few described.
fn losses(ledger: &ChatLedger) -> (u64, u64, Vec<String>) {
    let received: HashMap<usize, HashSet<u64>> =
        ledger.received.iter().map(|(bot, ids)| (*bot, ids.iter().copied().collect())).collect();
    let none = HashSet::new();
    let (mut expected, mut lost, mut examples) = (0, 0, Vec::new());
    for ack in &ledger.acks {
        for m in &ledger.members {
            let owed = m.stayed && m.index != ack.sender && m.joined_at.is_some_and(|j| j <= ack.at);
            if !owed {
                continue;
            }
            expected += 1;
            if !received.get(&m.index).unwrap_or(&none).contains(&ack.id) {
                lost += 1;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(format!(
                        "message {} of bot {} never reached bot {}",
                        ack.id, ack.sender, m.index
                    ));
                }
            }
        }
    }
    (expected, lost, examples)
}

impl fmt::Display for ChatReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chat         channel {}, {} messages/s per bot", self.channel, self.rate)?;
        writeln!(f, "  members    {} joined, {} could not", self.joined, self.join_failed)?;
        writeln!(
            f,
            "  messages   {} sent, {} acknowledged, {} refused",
            self.sent, self.acked, self.refused
        )?;
        for (code, n) in &self.refused_by_code {
            writeln!(f, "    {code:<30} {n:>8}")?;
        }
        writeln!(
            f,
            "  deliveries {} ({:.1}/s), {} expected, {} lost, {} duplicated, {} other messages",
            self.deliveries, self.deliveries_per_s, self.expected, self.lost, self.duplicated, self.other
        )?;
        for e in &self.lost_examples {
            writeln!(f, "    {e}")?;
        }
        let l = &self.latency_ms;
        writeln!(
            f,
            "  latency ms p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (scheduled send to receipt)",
            l.p50, l.p90, l.p99, l.max
        )?;
        for (kind, n) in &self.failed_by_kind {
            writeln!(f, "  failed     {kind} x{n}")?;
        }
        Ok(())
    }
}
