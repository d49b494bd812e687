//! The `[matchmaking]` section: how the matchers run, party limits, and the queues (`modes`),
//! each with its own rules. The modes can be replaced at run time without a restart
//! (`mmo admin matchmaking rules <file>`, see [`crate::rules`]); a rule set that does not pass
//! [`Modes::validate`] is refused with the reason and the running one stays.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::matcher::{Role, Rules};

/// Settings of the matchmaking server (the `[matchmaking]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MatchmakingConfig {
    /// How often the holder of a queue's lease runs a matching pass over it. Default 500ms.
    #[serde(with = "humantime_serde")]
    pub pass_interval: Duration,
    /// How long a matcher's lease on a queue lasts unless renewed (every third of it). A
    /// matchmaking instance that dies gives its queues up to another after at most this.
    /// Default 3s.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Members of a party, the leader included. Modes may allow fewer (`max_party`). Default 5.
    pub max_party_size: u32,
    /// How long a party invite stays open. Default 60s.
    #[serde(with = "humantime_serde")]
    pub invite_ttl: Duration,
    /// How long a finished ticket (assigned, cancelled, expired) and a finished ready check stay
    /// readable in Redis. Default 10m.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How long a started match's roster is kept for its result to be recorded against. A result
    /// arriving later is refused (logged). Default 24h.
    #[serde(with = "humantime_serde")]
    pub match_ttl: Duration,
    /// How long to wait for a zone node to start a match instance. Default 10s.
    #[serde(with = "humantime_serde")]
    pub instance_timeout: Duration,
    /// The queues, by name (the `mode` of QueueJoinReq).
    pub modes: Modes,
}

impl Default for MatchmakingConfig {
    fn default() -> Self {
        MatchmakingConfig {
            pass_interval: Duration::from_millis(500),
            lease_ttl: Duration::from_secs(3),
            max_party_size: 5,
            invite_ttl: Duration::from_secs(60),
            retention: Duration::from_secs(600),
            match_ttl: Duration::from_secs(24 * 3600),
            instance_timeout: Duration::from_secs(10),
            modes: Modes::default(),
        }
    }
}

impl MatchmakingConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.pass_interval.is_zero() || self.lease_ttl < self.pass_interval * 2 {
            return Err("matchmaking: pass_interval must be > 0 and lease_ttl at least twice it".into());
        }
        if self.max_party_size == 0 {
            return Err("matchmaking.max_party_size must be at least 1".into());
        }
        self.modes.validate().map_err(|e| format!("matchmaking.modes: {e}"))
    }
}

/// The queues by name.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct Modes(pub BTreeMap<String, ModeRules>);

impl Default for Modes {
    /// Two modes on the built-in `arena` map: `duel` (1 v 1) and `team` (3 v 3, backfilled).
    fn default() -> Self {
        let duel = ModeRules { team_size: 1, teams: 2, ..ModeRules::default() };
        let team = ModeRules { team_size: 3, teams: 2, max_party: 3, backfill: true, ..ModeRules::default() };
        Modes([("duel".to_string(), duel), ("team".to_string(), team)].into_iter().collect())
    }
}

/// One queue's rules.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModeRules {
    /// Players per team. Default 1.
    pub team_size: u32,
    /// Teams per match (1: everyone on one side, co-op). Default 2.
    pub teams: u32,
    /// Roles each team must fill, e.g. `[{ name = "tank", per_team = 1 }, ...]`; their
    /// `per_team` add up to `team_size`. Empty (default): no roles.
    pub roles: Vec<RoleRule>,
    /// The largest party this mode takes (at most `team_size`: a party is never split). 0
    /// (default): `team_size`.
    pub max_party: u32,
    /// The zone map a match instance of this mode runs. Default "arena".
    pub map: String,
    /// The largest rating difference between tickets of one match at first. Default 100.
    pub rating_window: f64,
    /// How much the window widens per second a ticket has waited. Default 10.
    pub widen_per_sec: f64,
    /// The widest the window gets. Default 1000.
    pub max_window: f64,
    /// The regions matches run in; a player's latency to each comes with its ticket. Default
    /// ["default"] (a client that reports no latency is taken to be close to it).
    pub regions: Vec<String>,
    /// A region is acceptable for a player only at or below this round trip. Default 150ms.
    pub max_latency_ms: u32,
    /// How long players have to accept a proposed match. Default 15s.
    #[serde(with = "humantime_serde")]
    pub ready_timeout: Duration,
    /// The cooldown after declining (or missing) a ready check; it doubles with each repeat
    /// within `penalty_memory`, up to `max_penalty`. Default 30s.
    #[serde(with = "humantime_serde")]
    pub decline_penalty: Duration,
    /// Default 10m.
    #[serde(with = "humantime_serde")]
    pub max_penalty: Duration,
    /// How long a decline counts towards the next one's penalty. Default 1h.
    #[serde(with = "humantime_serde")]
    pub penalty_memory: Duration,
    /// A ticket searching longer than this expires. Default 10m.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Whether a player who leaves a running match of this mode is replaced: its place becomes
    /// a backfill ticket in this queue, filled by a searching solo player who joins the match
    /// in progress. Default false (true for the built-in `team` mode).
    pub backfill: bool,
    /// Currencies each player of the winning team gets for a match, e.g. `{ gold = 10 }`:
    /// granted through the shop's ledger (reason "match_reward", key `match:<match id>`, so
    /// once per player and match however often the result arrives) when the result is
    /// recorded. The winners are the players of the teams ranked first (every tied team; in a
    /// one-team mode, everyone); the amounts are those of the rules in force then. At most 8
    /// currencies, each amount above 0. Default none.
    pub rewards: BTreeMap<String, i64>,
}

impl Default for ModeRules {
    fn default() -> Self {
        ModeRules {
            team_size: 1,
            teams: 2,
            roles: Vec::new(),
            max_party: 0,
            map: "arena".into(),
            rating_window: 100.0,
            widen_per_sec: 10.0,
            max_window: 1000.0,
            regions: vec!["default".into()],
            max_latency_ms: 150,
            ready_timeout: Duration::from_secs(15),
            decline_penalty: Duration::from_secs(30),
            max_penalty: Duration::from_secs(600),
            penalty_memory: Duration::from_secs(3600),
            max_wait: Duration::from_secs(600),
            backfill: false,
            rewards: BTreeMap::new(),
        }
    }
}

/// A role a team must fill `per_team` times.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    pub name: String,
    pub per_team: u32,
}

impl ModeRules {
    /// The largest party this mode takes.
    pub fn party_limit(&self) -> u32 {
        if self.max_party == 0 { self.team_size } else { self.max_party.min(self.team_size) }
    }

    /// Players in one match.
    pub fn players(&self) -> usize {
        (self.team_size * self.teams) as usize
    }

    /// The matcher's view of these rules.
    pub fn matcher_rules(&self) -> Rules {
        Rules {
            team_size: self.team_size as usize,
            teams: self.teams as usize,
            roles: self
                .roles
                .iter()
                .map(|r| Role { name: r.name.clone(), per_team: r.per_team as usize })
                .collect(),
            rating_window: self.rating_window,
            widen_per_sec: self.widen_per_sec,
            max_window: self.max_window,
            regions: self.regions.clone(),
            max_latency_ms: self.max_latency_ms,
        }
    }

    /// A role's bit in a role mask (`Member::roles`), by name.
    pub fn role_bit(&self, name: &str) -> Option<u32> {
        self.roles.iter().position(|r| r.name == name).map(|i| 1 << i)
    }

    fn validate(&self) -> Result<(), String> {
        let finite = |v: f64| v.is_finite() && v >= 0.0;
        if self.team_size == 0 || self.teams == 0 {
            return Err("team_size and teams must be at least 1".into());
        }
        if self.team_size * self.teams > 100 {
            return Err(format!("{} players per match; at most 100", self.team_size * self.teams));
        }
        if self.max_party > self.team_size {
            return Err(format!(
                "max_party {} is over team_size {} (a party is never split)",
                self.max_party, self.team_size
            ));
        }
        if self.map.is_empty() {
            return Err("map is empty".into());
        }
        if self.rewards.len() > 8 {
            return Err("rewards: at most 8 currencies".into());
        }
        if let Some((c, n)) =
            self.rewards.iter().find(|(c, n)| !mmo_shop::wallet::valid_currency(c) || **n <= 0)
        {
            return Err(format!(
                "rewards: {c:?} = {n}: currencies are 1-32 of a-z, 0-9, '_', amounts above 0"
            ));
        }
        if !finite(self.rating_window) || !finite(self.widen_per_sec) || !finite(self.max_window) {
            return Err("rating_window, widen_per_sec and max_window must be finite and not negative".into());
        }
        if self.max_window < self.rating_window {
            return Err(format!(
                "max_window {} is under rating_window {}",
                self.max_window, self.rating_window
            ));
        }
        if self.regions.is_empty() || self.regions.len() > 32 {
            return Err("regions: between 1 and 32".into());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.regions.iter().find(|r| !seen.insert(r.as_str())) {
            return Err(format!("region {dup:?} is listed twice"));
        }
        if !self.roles.is_empty() {
            if self.roles.len() > 16 {
                return Err("at most 16 roles".into());
            }
            let sum: u32 = self.roles.iter().map(|r| r.per_team).sum();
            if sum != self.team_size {
                return Err(format!("roles' per_team add up to {sum}, not team_size {}", self.team_size));
            }
            let mut names = std::collections::HashSet::new();
            if let Some(dup) = self.roles.iter().find(|r| r.name.is_empty() || !names.insert(r.name.as_str()))
            {
                return Err(format!("role {:?} is empty or listed twice", dup.name));
            }
        }
        if self.ready_timeout.is_zero() || self.max_wait.is_zero() {
            return Err("ready_timeout and max_wait must be over 0".into());
        }
        if self.max_penalty < self.decline_penalty {
            return Err("max_penalty is under decline_penalty".into());
        }
        Ok(())
    }
}

impl Modes {
    /// Checks every mode; the error names the first bad one and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.0.is_empty() {
            return Err("no modes".into());
        }
        for (name, mode) in &self.0 {
            if name.is_empty()
                || name.len() > 32
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!("mode name {name:?}: 1-32 of a-z, A-Z, 0-9, '_', '-'"));
            }
            mode.validate().map_err(|e| format!("mode {name:?}: {e}"))?;
        }
        Ok(())
    }

    /// Parses and checks a rule file's text: a table of modes, as under `[matchmaking.modes]`
    /// (`[duel]`, `team_size = 1`, ...).
    pub fn parse(text: &str) -> Result<Modes, String> {
        let modes: Modes = toml::from_str(text).map_err(|e| e.to_string())?;
        modes.validate()?;
        Ok(modes)
    }
}
