//! One bot's `economy` counts and, merged, the swarm's: purchase intents and how each ended,
//! the disconnects injected and the retries they caused, scores, and every acknowledged
//! purchase for the final check against MySQL (`shop_check.rs`), whose result lands here too.

use super::Errors;

/// An acknowledged purchase: who bought, under which key, the id the server gave it and how
/// many currencies it paid (one ledger debit each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EconomyAck {
    pub player: u64,
    pub key: String,
    pub purchase_id: u64,
    pub currencies: usize,
}

/// The `economy` scenario's counts.
#[derive(Debug, Default)]
pub struct EconomyTally {
    /// Bots that read the catalog and their wallet, ready to buy.
    pub ready: u64,
    /// Purchase intents started (one key each).
    pub intents: u64,
    /// Intents answered with a PurchaseResp: acknowledged purchases.
    pub acked: u64,
    /// PurchaseResps that said `replayed` (a retry of a key the server had already committed).
    pub replays: u64,
    /// Connections dropped on purpose right after a PurchaseReq went out.
    pub disconnects: u64,
    /// Reconnections (after a dropped connection, injected or not) and those that failed.
    pub reconnects: u64,
    /// Intents refused with SHOP_INSUFFICIENT_FUNDS (expected once the starter money is spent).
    pub insufficient: u64,
    /// Answers SHOP_STORE_UNAVAILABLE or UNAVAILABLE, each retried with the same key.
    pub unavailable: u64,
    /// Requests that got no answer in time and were retried on a new connection.
    pub timeouts: u64,
    /// Intents refused with any other code, by code (fail the run).
    pub refused: Errors,
    /// Intents given up without an answer (reconnecting failed, or the window's drain ended).
    pub unresolved: u64,
    /// Answers for one key that disagree (purchase id, price, items) with an earlier one.
    pub mismatched: u64,
    pub mismatch_examples: Vec<String>,
    /// ScoreSubmitReqs sent, answered, refused by code.
    pub scores_sent: u64,
    pub scores_ok: u64,
    pub scores_refused: Errors,
    /// Every acknowledged purchase.
    pub acks: Vec<EconomyAck>,
    /// Set by the final check: acknowledged purchases absent from MySQL (or under another id),
    /// those charged more than once, rows of this run nobody was told about, and why the check
    /// could not run.
    pub checked: bool,
    pub lost: u64,
    pub duplicated: u64,
    pub committed_unacked: u64,
    pub check_examples: Vec<String>,
    pub check_error: Option<String>,
}

/// Mismatches described at most.
const MAX_EXAMPLES: usize = 10;

impl EconomyTally {
    pub fn mismatch(&mut self, what: String) {
        self.mismatched += 1;
        if self.mismatch_examples.len() < MAX_EXAMPLES {
            self.mismatch_examples.push(what);
        }
    }

    pub fn merge(&mut self, other: EconomyTally) {
        self.ready += other.ready;
        self.intents += other.intents;
        self.acked += other.acked;
        self.replays += other.replays;
        self.disconnects += other.disconnects;
        self.reconnects += other.reconnects;
        self.insufficient += other.insufficient;
        self.unavailable += other.unavailable;
        self.timeouts += other.timeouts;
        self.refused.merge(other.refused);
        self.unresolved += other.unresolved;
        self.mismatched += other.mismatched;
        for e in other.mismatch_examples {
            if self.mismatch_examples.len() < MAX_EXAMPLES {
                self.mismatch_examples.push(e);
            }
        }
        self.scores_sent += other.scores_sent;
        self.scores_ok += other.scores_ok;
        self.scores_refused.merge(other.scores_refused);
        self.acks.extend(other.acks);
    }
}
