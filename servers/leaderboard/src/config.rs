//! The `[leaderboard]` section: the boards (`[leaderboard.boards.<name>]`, each with its
//! direction, mode, ranking style, score range, submit rate, season schedule, rewards and
//! limits), and the server's own settings (caches, the rollover lease, archives, queues).

use std::collections::BTreeMap;
use std::time::Duration;

use mmo_core::store::WriteBehindConfig;
use serde::Deserialize;

/// The most a score (or a cumulative sum) may be, either way: ZSET scores are doubles, exact
/// for integers up to 2^53.
pub const SCORE_LIMIT: i64 = 1 << 53;

/// Settings of the leaderboard server (the `[leaderboard]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LeaderboardConfig {
    /// The boards, by name (1-32 of a-z, 0-9, '_', '-'). Default: two examples, `weekly_points`
    /// (cumulative, descending, weekly seasons with rewards) and `race_time` (best, ascending,
    /// dense ranks, no seasons).
    pub boards: BTreeMap<String, BoardConfig>,
    /// Entries carry the player's display name (one cached MySQL read per page). Default true.
    pub show_names: bool,
    /// How long a player's friend list is cached (friends ranking, passed pushes). Default 10s.
    #[serde(with = "humantime_serde")]
    pub friends_cache: Duration,
    /// How often an instance tries the rollover lease and rolls ended seasons over. Default 30s.
    #[serde(with = "humantime_serde")]
    pub rollover_check: Duration,
    /// How long the rollover lease lasts without renewal. Default 2m.
    #[serde(with = "humantime_serde")]
    pub rollover_lease: Duration,
    /// How long an ended season's board stays readable in Redis after its rollover (its final
    /// ranks stay in MySQL, `lb_results`, for good). Default 7days.
    #[serde(with = "humantime_serde")]
    pub archive_ttl: Duration,
    /// Rows per pipeline when a board is rebuilt from MySQL. Default 1000.
    pub rebuild_batch: u32,
    /// How long an instance trusts a board it found in Redis before checking its marker again:
    /// a board Redis lost is rebuilt at the first use after this. Default 1s.
    #[serde(with = "humantime_serde")]
    pub built_check: Duration,
    /// How long one instance may hold a board's rebuild lock. Default 60s.
    #[serde(with = "humantime_serde")]
    pub rebuild_lock: Duration,
    /// Passed-friend pushes waiting to be worked out; beyond this they are dropped (counted,
    /// `mmo_leaderboard_notify_dropped_total`). Default 10000.
    pub notify_queue: u32,
    /// Boards one LeaderboardInfoReq may name. Default 64.
    pub max_info_boards: u32,
    /// Most submits one script call carries: an instance batches the submits that arrive while
    /// its calls are in flight (1-1000; a call holds Redis for ~8-15 us per submit).
    /// Default 256.
    pub submit_batch: u32,
    /// Submits waiting for the next script call; beyond it a submit waits for room. Default
    /// 10000.
    pub submit_queue: u32,
    /// Batched round trips an instance has in flight at once (1-16): while Redis runs one, the
    /// next ones are formed and sent. Default 4.
    pub submit_in_flight: u32,
    /// The write-behind of changed entries to `lb_scores` (the `[leaderboard.score_writes]`
    /// table, fields as `[write_behind]`): a crash loses at most `interval` of them, which
    /// only matters if Redis loses the board too. Default as `[write_behind]`.
    pub score_writes: WriteBehindConfig,
}

impl Default for LeaderboardConfig {
    fn default() -> Self {
        LeaderboardConfig {
            boards: example_boards(),
            show_names: true,
            friends_cache: Duration::from_secs(10),
            rollover_check: Duration::from_secs(30),
            rollover_lease: Duration::from_secs(120),
            archive_ttl: Duration::from_secs(7 * 24 * 3600),
            rebuild_batch: 1000,
            built_check: Duration::from_secs(1),
            rebuild_lock: Duration::from_secs(60),
            notify_queue: 10_000,
            max_info_boards: 64,
            submit_batch: 256,
            submit_queue: 10_000,
            submit_in_flight: 4,
            score_writes: WriteBehindConfig::default(),
        }
    }
}

/// The default boards (see config.example.toml).
fn example_boards() -> BTreeMap<String, BoardConfig> {
    let gold = |n: i64| BTreeMap::from([("gold".to_string(), n)]);
    let weekly = BoardConfig {
        mode: Mode::Cumulative,
        max_score: 1_000_000_000_000,
        reset: Period::Weekly,
        rewards: vec![
            RewardConfig {
                from_rank: 1,
                to_rank: 1,
                currencies: gold(1000),
                items: vec![ItemConfig { item: 1, count: 1 }],
            },
            RewardConfig { from_rank: 2, to_rank: 10, currencies: gold(300), items: Vec::new() },
            RewardConfig { from_rank: 11, to_rank: 100, currencies: gold(50), items: Vec::new() },
        ],
        notify_friends_passed: true,
        ..BoardConfig::default()
    };
    let race = BoardConfig {
        direction: Direction::Ascending,
        ranking: Ranking::Dense,
        min_score: 1,
        max_score: 3_600_000,
        ..BoardConfig::default()
    };
    BTreeMap::from([("weekly_points".to_string(), weekly), ("race_time".to_string(), race)])
}

/// Which scores rank first.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher first (points).
    #[default]
    Descending,
    /// Lower first (race times).
    Ascending,
}

impl Direction {
    /// The factor from a score to its ZSET score (always ranked ascending).
    pub fn sign(self) -> i64 {
        match self {
            Direction::Descending => -1,
            Direction::Ascending => 1,
        }
    }
}

/// What a player's entry is.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Its best submit.
    #[default]
    Best,
    /// The sum of its submits, kept within the range.
    Cumulative,
}

/// The rank numbers entries show.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Ranking {
    /// 1, 2, 2, 4.
    #[default]
    Competition,
    /// 1, 2, 2, 3.
    Dense,
    /// 1, 2, 3, 4 (ties in board order: earlier achieved first).
    Ordinal,
}

/// When a board's seasons reset: `none`, `daily`, `weekly`, `monthly` or a duration ("3days").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Period {
    #[default]
    None,
    Daily,
    Weekly,
    /// Calendar months, on the anchor's day of the month and time of day (UTC).
    Monthly,
    Every(Duration),
}

impl TryFrom<String> for Period {
    type Error = String;
    fn try_from(s: String) -> Result<Period, String> {
        Ok(match s.as_str() {
            "none" => Period::None,
            "daily" => Period::Daily,
            "weekly" => Period::Weekly,
            "monthly" => Period::Monthly,
            other => {
                Period::Every(humantime::parse_duration(other).map_err(|e| {
                    format!("reset {other:?}: none, daily, weekly, monthly or a duration ({e})")
                })?)
            }
        })
    }
}

/// One reward: what each player whose final rank is in `from_rank..=to_rank` gets.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    pub from_rank: u32,
    pub to_rank: u32,
    /// Currency name -> amount, e.g. `{ gold = 500 }`.
    pub currencies: BTreeMap<String, i64>,
    /// Items: `[{ item = 1001, count = 1 }]`.
    pub items: Vec<ItemConfig>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ItemConfig {
    pub item: u32,
    pub count: i64,
}

/// One board (`[leaderboard.boards.<name>]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BoardConfig {
    /// "descending" (higher first) or "ascending". Default "descending".
    pub direction: Direction,
    /// "best" or "cumulative". Default "best".
    pub mode: Mode,
    /// "competition" (1224), "dense" (1223) or "ordinal" (1234). Default "competition".
    pub ranking: Ranking,
    /// Lowest score accepted (cumulative: lowest sum). Default 0.
    pub min_score: i64,
    /// Highest score accepted (cumulative: highest sum, where it stops). Default 1000000000.
    pub max_score: i64,
    /// One submit per this per player on average (a token bucket); 0: no limit. Default 1s.
    #[serde(with = "humantime_serde")]
    pub submit_interval: Duration,
    /// Submits a player may make at once before the interval applies. Default 5.
    pub submit_burst: u32,
    /// Season resets: "none", "daily", "weekly", "monthly" or a duration. Default "none".
    pub reset: Period,
    /// A reset instant (RFC 3339, UTC); the others are whole periods from it.
    /// Default "2024-01-01T00:00:00Z" (a Monday, midnight).
    pub reset_anchor: String,
    /// Rewards by final rank, granted once per player at the season's rollover. Default none.
    pub rewards: Vec<RewardConfig>,
    /// Push LeaderboardPassedNtf to an online friend a submit passes. Default false.
    pub notify_friends_passed: bool,
    /// Most entries one LeaderboardTopReq returns. Default 100.
    pub max_top: u32,
    /// Most entries above and below the sender one LeaderboardAroundReq returns. Default 25.
    pub max_around: u32,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            direction: Direction::Descending,
            mode: Mode::Best,
            ranking: Ranking::Competition,
            min_score: 0,
            max_score: 1_000_000_000,
            submit_interval: Duration::from_secs(1),
            submit_burst: 5,
            reset: Period::None,
            reset_anchor: "2024-01-01T00:00:00Z".into(),
            rewards: Vec::new(),
            notify_friends_passed: false,
            max_top: 100,
            max_around: 25,
        }
    }
}

/// A board name: 1-32 of a-z, 0-9, '_', '-'.
pub fn board_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl BoardConfig {
    /// The anchor in ms since the Unix epoch.
    pub fn anchor_ms(&self) -> Result<i64, String> {
        let t = humantime::parse_rfc3339(&self.reset_anchor)
            .map_err(|e| format!("reset_anchor {:?}: {e}", self.reset_anchor))?;
        let ms = t.duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_millis();
        i64::try_from(ms).map_err(|e| e.to_string())
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        let err = |m: String| Err(format!("leaderboard.boards.{name}: {m}"));
        if !board_name_ok(name) {
            return err("a board name is 1-32 of a-z, 0-9, '_', '-'".into());
        }
        if self.min_score > self.max_score || self.min_score < -SCORE_LIMIT || self.max_score > SCORE_LIMIT {
            return err(format!("min_score <= max_score, both within +-2^53 ({SCORE_LIMIT})"));
        }
        if !self.submit_interval.is_zero() && self.submit_burst == 0 {
            return err("submit_burst must be at least 1".into());
        }
        if self.max_top == 0 || self.max_top > 1000 || self.max_around > 500 {
            return err("max_top must be 1-1000 and max_around at most 500".into());
        }
        let anchor = match self.anchor_ms() {
            Ok(a) => a,
            Err(e) => return err(e),
        };
        match self.reset {
            Period::Every(d) if d < Duration::from_secs(1) => return err("reset must be at least 1s".into()),
            Period::Monthly if crate::calendar::civil(anchor).2 > 28 => {
                return err("a monthly reset's anchor must be on day 1-28".into());
            }
            _ => {}
        }
        for r in &self.rewards {
            if r.from_rank == 0 || r.from_rank > r.to_rank {
                return err(format!("reward ranks {}..={} (1-based, from <= to)", r.from_rank, r.to_rank));
            }
            if r.currencies.values().any(|a| *a <= 0) || r.items.iter().any(|i| i.count <= 0) {
                return err("reward amounts must be over 0".into());
            }
        }
        Ok(())
    }
}

impl LeaderboardConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        for (name, b) in &self.boards {
            b.validate(name)?;
        }
        if self.rebuild_batch == 0 || self.notify_queue == 0 || self.max_info_boards == 0 {
            return Err(
                "leaderboard: rebuild_batch, notify_queue and max_info_boards must be at least 1".into()
            );
        }
        if self.rollover_check.is_zero() || self.rollover_lease <= self.rollover_check {
            return Err("leaderboard: rollover_check must be over 0 and under rollover_lease".into());
        }
        if self.rebuild_lock.is_zero() {
            return Err("leaderboard: rebuild_lock must be over 0".into());
        }
        if !(1..=1000).contains(&self.submit_batch)
            || self.submit_queue == 0
            || !(1..=16).contains(&self.submit_in_flight)
        {
            return Err(
                "leaderboard: submit_batch must be 1-1000, submit_queue at least 1, submit_in_flight 1-16"
                    .into(),
            );
        }
        Ok(())
    }
}
