//! The launcher's library: the whole configuration file and the code that starts servers, so
//! one machine (`mmo all`) and a cluster (`mmo <server>` per process) run the same code path.

pub mod config;

use std::net::SocketAddr;

use mmo_core::Shutdown;
use mmo_core::bus::Bus;
use mmo_core::server::{Server, launch};
use mmo_core::store::{MigrationReport, Migrations, Store};

pub use config::Config;

/// Which servers a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Every server in one process.
    All,
    /// Only the gateway.
    Gateway,
    /// Only the diagnostics server (Echo, Time).
    Diagnostics,
    /// Only the version server (Hello).
    Version,
    /// Only the account server (register, login, profiles, friends).
    Account,
    /// Only a zone node (the world: map instances, match instances).
    Zone,
    /// Only a matchmaking instance (parties, queues, ready checks, results).
    Matchmaking,
    /// Only a chat instance (channels, whispers, history, moderation).
    Chat,
    /// Only an event-log instance (events stream to MySQL, the outbox relay, retention).
    Events,
    /// Only a leaderboard instance (boards, scores, ranks, seasons).
    Leaderboard,
    /// Only a shop instance (catalog, wallet, purchases, receipts).
    Shop,
    /// Apply every server's database migrations, then exit.
    Migrate,
}

/// The migrations of every built-in server, each under its owner's name (its tables, its
/// history table `_migrations_<owner>`).
pub fn migrations() -> Vec<Migrations> {
    mmo_core::server::tables_of(&servers(Role::All, &Config::default())).into_iter().cloned().collect()
}

/// Connects to MySQL (creating the database if configured to) and applies `migrations()`.
pub async fn migrate(cfg: &Config) -> anyhow::Result<Vec<MigrationReport>> {
    let tables = migrations();
    Ok(mmo_core::server::migrate(&cfg.mysql, tables.iter().collect()).await?.1)
}

/// The servers `role` runs, each declared by its crate with its section of `cfg`, in start
/// order: servers first, so their routes are published before the gateway loads the route
/// table. A game adds its own servers to such a list and hands it to
/// [`mmo_core::server::launch`].
pub fn servers(role: Role, cfg: &Config) -> Vec<Server> {
    let all = role == Role::All;
    let mut list = Vec::new();
    if all || role == Role::Diagnostics {
        list.push(mmo_diagnostics::server());
    }
    if all || role == Role::Version {
        list.push(mmo_version::server(cfg.listener.clone()));
    }
    if all || role == Role::Account {
        list.push(mmo_account::server(cfg.account.clone()));
    }
    if all || role == Role::Zone {
        list.push(mmo_zone::server(cfg.zone.clone(), cfg.write_behind.clone()));
    }
    if all || role == Role::Matchmaking {
        list.push(mmo_matchmaking::server(cfg.matchmaking.clone()));
    }
    if all || role == Role::Chat {
        list.push(mmo_chat::server(cfg.chat.clone()));
    }
    if all || role == Role::Events {
        list.push(mmo_eventlog::server(cfg.eventlog.clone()));
    }
    if all || role == Role::Leaderboard {
        list.push(mmo_leaderboard::server(cfg.leaderboard.clone()));
    }
    if all || role == Role::Shop {
        list.push(mmo_shop::server(cfg.shop.clone()));
    }
    if all || role == Role::Gateway {
        list.push(mmo_gateway::server(cfg.listener.clone(), cfg.gateway.clone()));
    }
    list
}

/// What the started servers left: the gateway's address, the bus, the zone node.
#[derive(Debug)]
pub struct Started {
    pub gateway: Option<SocketAddr>,
    pub bus: Bus,
    pub zone: Option<mmo_zone::ZoneNode>,
}

/// Starts the servers of `role` on the current runtime with the launcher; their tasks watch
/// `shutdown`.
pub async fn start(role: Role, cfg: &Config, shutdown: &Shutdown) -> anyhow::Result<Started> {
    if role == Role::Migrate {
        anyhow::bail!("`migrate` is not a server role; call mmo::migrate");
    }
    let list = servers(role, cfg);
    // MySQL only for a process whose servers keep tables (a gateway alone needs none).
    let mysql = list.iter().any(|s| !s.migrations().is_empty()).then_some(&cfg.mysql);
    let launched = launch(list, &cfg.bus, &cfg.node.id, mysql, shutdown).await?;
    Ok(Started { gateway: launched.listening(), zone: launched.handle(), bus: launched.bus })
}

/// `mmo admin version publish`: sets a platform's build policy; takes effect at the next Hello.
pub async fn publish_version(
    cfg: &Config,
    platform: &str,
    latest: &str,
    minimum: &str,
    manifest_url: &str,
) -> anyhow::Result<()> {
    let platform = mmo_proto::Platform::from_str_name(&platform.to_ascii_uppercase()).ok_or_else(|| {
        anyhow::anyhow!("unknown platform {platform:?} (windows, macos, linux, android, ios, console)")
    })?;
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    mmo_version::publish(&store, &bus, platform, latest, minimum, manifest_url).await?;
    Ok(())
}

/// `mmo admin events show`: a player's (player id, or username) newest `limit` events, newest first,
/// one line each (time, kind, detail as JSON).
pub async fn events_show(cfg: &Config, player: &str, limit: u32) -> anyhow::Result<String> {
    let (store, _bus, _shutdown) = admin_connect(cfg).await?;
    // An id is taken as it is: a player's events outlive its account.
    let id = match player.parse::<u64>() {
        Ok(id) => id,
        Err(_) => mmo_account::resolve(&store, player).await?.0,
    };
    Ok(mmo_eventlog::admin::show(&store, id, limit).await?)
}

/// `mmo admin events export`: the events of `[since, until)` (widened to whole UTC days) as
/// newline-delimited JSON, one file per day in `dir`. Returns what it wrote.
pub async fn events_export(
    cfg: &Config,
    since_ms: u64,
    until_ms: u64,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<mmo_eventlog::admin::DayFile>> {
    let tables = migrations();
    let (store, _) = mmo_core::server::migrate(&cfg.mysql, tables.iter().collect()).await?;
    Ok(mmo_eventlog::admin::export(&store, since_ms, until_ms, dir).await?)
}

/// Connects what an admin command needs: the schema (migrated), MySQL and a bus node of its own.
async fn admin_connect(cfg: &Config) -> anyhow::Result<(Store, Bus, Shutdown)> {
    let tables = migrations();
    let (store, _) = mmo_core::server::migrate(&cfg.mysql, tables.iter().collect()).await?;
    let shutdown = Shutdown::new();
    let bus = Bus::connect(cfg.bus.clone(), format!("{}-admin", cfg.node.id), &shutdown).await?;
    Ok((store, bus, shutdown))
}

/// `mmo admin matchmaking rules`: checks a rule file and publishes it to every matchmaking
/// instance. Returns its version.
pub async fn publish_rules(cfg: &Config, text: &str) -> anyhow::Result<u64> {
    let shutdown = Shutdown::new();
    let bus = Bus::connect(cfg.bus.clone(), format!("{}-admin", cfg.node.id), &shutdown).await?;
    Ok(mmo_matchmaking::rules::publish(&bus, text).await?)
}

/// `mmo admin matchmaking why`: why a searching ticket is not matched, as text (its nearest
/// candidates and the rule that keeps each apart).
pub async fn why_not_matched(cfg: &Config, ticket: u64) -> anyhow::Result<String> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    let rules = std::sync::Arc::new(mmo_matchmaking::rules::LiveRules::new(cfg.matchmaking.modes.clone()));
    mmo_matchmaking::rules::refresh(&bus, &rules).await?;
    let state =
        mmo_matchmaking::State { bus, store, cfg: cfg.matchmaking.clone(), rules, reads: Default::default() };
    Ok(match state.explain(ticket).await? {
        Some(why) => why.to_string(),
        None => format!("ticket {ticket} is not searching (unknown, matched, cancelled or expired)"),
    })
}

/// What `mmo admin chat` does.
#[derive(Clone, Debug)]
pub enum ChatAction {
    /// Mute a player for a while.
    Mute { player: String, duration: std::time::Duration, reason: String },
    /// Lift a mute.
    Unmute { player: String },
    /// Kick a player from a custom channel.
    Kick { channel: String, player: String, reason: String },
    /// Delete a message.
    Delete { message: u64, reason: String },
}

/// `mmo admin chat ...`: a moderator's action, audited in `chat_audit` under `moderator`.
/// Returns what happened, as text.
pub async fn chat_admin(cfg: &Config, moderator: &str, action: ChatAction) -> anyhow::Result<String> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    let out = match action {
        ChatAction::Mute { player: p, duration, reason } => {
            let id = mmo_account::resolve(&store, &p).await?;
            mmo_chat::admin::mute(&store, &bus, moderator, id.0, duration, &reason).await?;
            format!("player {id} muted for {}", humantime::format_duration(duration))
        }
        ChatAction::Unmute { player: p } => {
            let id = mmo_account::resolve(&store, &p).await?;
            let was = mmo_chat::admin::unmute(&store, &bus, moderator, id.0).await?;
            format!("player {id} {}", if was { "unmuted" } else { "was not muted" })
        }
        ChatAction::Kick { channel, player: p, reason } => {
            let id = mmo_account::resolve(&store, &p).await?;
            let was = mmo_chat::admin::kick(&store, &bus, moderator, &channel, id.0, &reason).await?;
            format!("player {id} {} {channel}", if was { "kicked from" } else { "was not in" })
        }
        ChatAction::Delete { message, reason } => {
            let history = cfg.chat.history_len;
            let found = mmo_chat::admin::delete(&store, &bus, moderator, message, &reason, history).await?;
            format!(
                "message {message} {}",
                if found { "deleted" } else { "not found (recorded in the audit anyway)" }
            )
        }
    };
    // Notices to players are envelopes: make sure they are written before the process exits.
    bus.flush(cfg.bus.command_timeout).await;
    Ok(out)
}

/// `mmo admin account ban`: bans an account (by username or player id) for `duration` (None:
/// permanently), revokes its tokens and disconnects it if online.
pub async fn ban_account(
    cfg: &Config,
    target: &str,
    reason: &str,
    duration: Option<std::time::Duration>,
) -> anyhow::Result<mmo_account::Banned> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    let banned = mmo_account::ban(&store, &bus, target, reason, duration).await?;
    // The kick and the event are envelopes: make sure they are written before the process exits.
    bus.flush(cfg.bus.command_timeout).await;
    Ok(banned)
}

/// `mmo admin account unban`.
pub async fn unban_account(cfg: &Config, target: &str) -> anyhow::Result<mmo_account::Unbanned> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    let unbanned = mmo_account::unban(&store, &bus, target).await?;
    bus.flush(cfg.bus.command_timeout).await;
    Ok(unbanned)
}

/// What `mmo admin leaderboard` does.
#[derive(Clone, Debug)]
pub enum LeaderboardAction {
    /// Merge a board's stored entries (MySQL) into Redis; `season` None: the current one.
    Rebuild { board: String, season: Option<u64> },
    /// Roll over the board's ended seasons now (final ranks, rewards granted once).
    Rollover { board: String },
}

/// `mmo admin leaderboard ...`: returns what happened, as text.
pub async fn leaderboard_admin(cfg: &Config, action: LeaderboardAction) -> anyhow::Result<String> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    let lb = &cfg.leaderboard;
    lb.validate().map_err(|e| anyhow::anyhow!(e))?;
    let now = mmo_core::clock::now_ms() as i64;
    let current = |board: &str| -> anyhow::Result<u64> {
        let b = lb
            .boards
            .get(board)
            .ok_or_else(|| anyhow::anyhow!("no board {board:?} in [leaderboard.boards]"))?;
        Ok(mmo_leaderboard::season::at(b, now).season)
    };
    let out = Ok(match action {
        LeaderboardAction::Rebuild { board, season } => {
            let season = match season {
                Some(s) => s,
                None => current(&board)?,
            };
            let rows = mmo_leaderboard::rebuild::rebuild(&bus, &store, lb, &board, season).await?;
            format!("board {board} season {season}: {rows} stored entries merged into Redis")
        }
        LeaderboardAction::Rollover { board } => {
            current(&board)?;
            let rewards = mmo_leaderboard::shop::ShopRewards { store: store.clone(), bus: bus.clone() };
            let reports =
                mmo_leaderboard::rollover::board(&bus, &store, lb, Some(&rewards), &board, now).await?;
            if reports.is_empty() {
                format!("board {board}: no ended season to roll over")
            } else {
                reports
                    .iter()
                    .map(|r| {
                        format!(
                            "board {} season {}: {} players ranked, {} rewards granted{}",
                            r.board,
                            r.season,
                            r.players,
                            r.granted,
                            if r.done { "" } else { " (some rewards still waiting)" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    });
    // Grant events are envelopes: make sure they are written before the process exits.
    bus.flush(cfg.bus.command_timeout).await;
    out
}

/// What `mmo admin shop` does.
#[derive(Clone, Debug)]
pub enum ShopAction {
    /// Replace the catalog from a catalog file's text.
    Catalog { text: String },
    /// Grant a currency through the ledger; `key` (default: a new one) makes it happen once.
    Grant { player: String, currency: String, amount: i64, reason: String, key: Option<String> },
    /// A player's balances and last ledger rows.
    Wallet { player: String, rows: u32 },
}

/// `mmo admin shop ...`; returns what happened, as text.
pub async fn shop_admin(cfg: &Config, action: ShopAction) -> anyhow::Result<String> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    store.migrate(&mmo_eventlog::migrations()).await?;
    let out = match action {
        ShopAction::Catalog { text } => {
            let r = mmo_shop::admin::load_catalog(&store, &text).await?;
            format!(
                "catalog loaded: {} added, {} changed (new versions), {} unchanged, {} taken off sale",
                r.added, r.changed, r.unchanged, r.withdrawn
            )
        }
        ShopAction::Grant { player, currency, amount, reason, key } => {
            let id = mmo_account::resolve(&store, &player).await?;
            let key = key.unwrap_or_else(|| format!("{}-{}", mmo_core::clock::now_ms(), std::process::id()));
            let g =
                mmo_shop::admin::grant_currency(&store, &bus, id.0, &currency, amount, &key, &reason).await?;
            match g {
                mmo_shop::Granted::Applied => format!("player {id}: {amount:+} {currency} (key admin:{key})"),
                mmo_shop::Granted::AlreadyApplied => {
                    format!("player {id}: key admin:{key} was granted before; nothing changed")
                }
            }
        }
        ShopAction::Wallet { player, rows } => {
            let id = mmo_account::resolve(&store, &player).await?;
            let (balances, ledger) = mmo_shop::admin::wallet(&store, id.0, rows).await?;
            let mut out = format!("player {id}\nbalances:");
            if balances.is_empty() {
                out.push_str(" none");
            }
            for (c, n) in balances {
                out.push_str(&format!("\n  {c}: {n}"));
            }
            out.push_str("\nledger (newest first):");
            for r in ledger {
                out.push_str(&format!(
                    "\n  #{} {} {:+} {} -> {} ({}: {})",
                    r.id, r.at_ms, r.amount, r.currency, r.balance_after, r.reason, r.reference
                ));
            }
            out
        }
    };
    bus.flush(cfg.bus.command_timeout).await;
    Ok(out)
}
