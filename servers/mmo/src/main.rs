//! `mmo`: starts the servers named on the command line and drains them on SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mmo::{Config, Role};
use mmo_core::Shutdown;
use mmo_core::shutdown::Signals;

#[derive(Parser, Debug)]
#[command(name = "mmo", version, about = "MMO server framework launcher")]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Configuration file (TOML); defaults apply without one.
    #[arg(long, short, env = "MMO_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    /// Only a zone node (the world: the maps of `[zone] maps`, and match instances).
    Zone,
    /// Only a matchmaking instance (parties, queues, ready checks, results).
    Matchmaking,
    /// Only a chat instance (channels, whispers, history, moderation).
    Chat,
    /// Only a shop instance (catalog, wallet, purchases, receipts).
    Shop,
    /// Only a leaderboard instance (boards, scores, ranks, seasons).
    Leaderboard,
    /// Apply every server's database migrations, then exit.
    Migrate,
    /// Change what the running servers use, without restarting them.
    Admin {
        #[command(subcommand)]
        command: Admin,
    },
}

#[derive(Subcommand, Debug)]
enum Admin {
    /// Client build policies.
    Version {
        #[command(subcommand)]
        command: VersionAdmin,
    },
    /// Accounts: bans.
    Account {
        #[command(subcommand)]
        command: AccountAdmin,
    },
    /// Matchmaking: the queues' rules.
    Matchmaking {
        #[command(subcommand)]
        command: MatchmakingAdmin,
    },
    /// Chat moderation: mute, unmute, kick from a channel, delete a message. Each action is
    /// written to the `chat_audit` table with the moderator's name.
    Chat {
        /// Who acts, as recorded in the audit trail.
        #[arg(long, default_value = "admin")]
        moderator: String,
        #[command(subcommand)]
        command: ChatAdmin,
    },
    /// The shop: the catalog, grants through the ledger, a player's wallet.
    Shop {
        #[command(subcommand)]
        command: ShopAdmin,
    },
    /// Leaderboards: rebuild a board from MySQL, roll a board's ended seasons over.
    Leaderboard {
        #[command(subcommand)]
        command: LeaderboardAdmin,
    },
}

#[derive(Subcommand, Debug)]
enum ShopAdmin {
    /// Replace the catalog from a TOML file (`[[item]] id, name, prices = { gold = 100 },
    /// limit, for_sale`): changed items get the next version, items not in the file are taken
    /// off sale.
    Catalog { file: PathBuf },
    /// Give (or, negative, take) a currency through the ledger (reason "admin"). The same
    /// `--key` again changes nothing.
    Grant {
        /// Username (any case) or player id.
        player: String,
        #[arg(long)]
        currency: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: i64,
        /// Why, kept as the ledger row's reference.
        #[arg(long)]
        reason: String,
        /// The grant's idempotency key; default: a new one.
        #[arg(long)]
        key: Option<String>,
    },
    /// A player's balances and last ledger rows.
    Wallet {
        /// Username (any case) or player id.
        player: String,
        /// Ledger rows to show.
        #[arg(long, default_value_t = 20)]
        rows: u32,
    },
}

#[derive(Subcommand, Debug)]
enum LeaderboardAdmin {
    /// Merge a board's stored entries (MySQL, lb_scores) into Redis, e.g. after Redis lost it.
    /// Entries already in Redis win unless worse; safe to run while the board is in use.
    Rebuild {
        /// The board's name (a key of [leaderboard.boards]).
        board: String,
        /// The season (default: the current one).
        #[arg(long)]
        season: Option<u64>,
    },
    /// Roll the board's ended seasons over now: final ranks into lb_results, rewards granted
    /// once per player. Running it again grants nothing more.
    Rollover {
        /// The board's name.
        board: String,
    },
}

#[derive(Subcommand, Debug)]
enum ChatAdmin {
    /// Mute a player: its messages get CHAT_MUTED with the time left.
    Mute {
        /// Username (any case) or player id.
        player: String,
        /// How long, e.g. "10m".
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a mute.
    Unmute {
        /// Username (any case) or player id.
        player: String,
    },
    /// Kick a player from a custom channel (it gets ChannelNtf KICKED).
    Kick {
        /// The custom channel's name.
        channel: String,
        /// Username (any case) or player id.
        player: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Delete a message: out of its channel's history and marked deleted in MySQL; its
    /// channel's members get ChannelNtf MESSAGE_DELETED.
    Delete {
        /// The message id (ChatMessage.id).
        message: u64,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
enum MatchmakingAdmin {
    /// Replace every queue's rules from a file (a table of modes, as under
    /// `[matchmaking.modes]`); every matchmaking instance switches within a second. A file that
    /// does not pass the checks is refused with the reason, and the running rules stay.
    Rules {
        /// The rule file (TOML).
        file: PathBuf,
    },
    /// Why a searching ticket is not matched: its nearest candidates in its queue and, for
    /// each, the rule that keeps them apart (rating window, region, block, party size, roles).
    Why {
        /// The ticket id (QueueJoinResp.ticket.id).
        ticket: u64,
    },
}

#[derive(Subcommand, Debug)]
enum AccountAdmin {
    /// Ban an account: its tokens are revoked, and it is disconnected (ACCOUNT_BANNED) if online.
    Ban {
        /// Username (any case) or player id.
        target: String,
        /// Shown to the player at login.
        #[arg(long)]
        reason: String,
        /// How long, e.g. "7d" or "12h"; permanent without it.
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Lift a ban.
    Unban {
        /// Username (any case) or player id.
        target: String,
    },
}

#[derive(Subcommand, Debug)]
enum VersionAdmin {
    /// Set a platform's latest and minimum builds and its patch manifest URL; the next Hello
    /// on every version server sees it.
    Publish {
        /// windows, macos, linux, android, ios or console.
        #[arg(long)]
        platform: String,
        /// Newest build (semver); older clients are told an update is available.
        #[arg(long)]
        latest: String,
        /// Oldest build allowed to play (semver); older clients must update.
        #[arg(long)]
        minimum: String,
        /// Where clients find the patch manifest, e.g. a CDN path per platform.
        #[arg(long)]
        manifest: String,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = Config::load(args.config.as_deref()).with_context(|| {
        format!("loading {}", args.config.as_deref().map_or("defaults".into(), |p| p.display().to_string()))
    })?;
    init_logging(&cfg);
    raise_fd_limit(cfg.listener.max_connections);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let role = match args.command {
        Command::All => Role::All,
        Command::Gateway => Role::Gateway,
        Command::Diagnostics => Role::Diagnostics,
        Command::Version => Role::Version,
        Command::Account => Role::Account,
        Command::Zone => Role::Zone,
        Command::Matchmaking => Role::Matchmaking,
        Command::Chat => Role::Chat,
        Command::Shop => Role::Shop,
        Command::Leaderboard => Role::Leaderboard,
        Command::Migrate => Role::Migrate,
        Command::Admin {
            command: Admin::Version { command: VersionAdmin::Publish { platform, latest, minimum, manifest } },
        } => {
            runtime.block_on(mmo::publish_version(&cfg, &platform, &latest, &minimum, &manifest))?;
            println!("published {platform}: latest {latest}, minimum {minimum}, manifest {manifest}");
            return Ok(());
        }
        Command::Admin {
            command: Admin::Account { command: AccountAdmin::Ban { target, reason, duration } },
        } => {
            let b = runtime.block_on(mmo::ban_account(&cfg, &target, &reason, duration))?;
            let until = match duration {
                Some(d) => format!("for {}", humantime::format_duration(d)),
                None => "permanently".into(),
            };
            println!(
                "banned player {} {until}; {} token(s) revoked; {}",
                b.player,
                b.tokens_revoked,
                if b.kicked { "disconnected" } else { "was offline" }
            );
            return Ok(());
        }
        Command::Admin { command: Admin::Matchmaking { command: MatchmakingAdmin::Rules { file } } } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let version = runtime.block_on(mmo::publish_rules(&cfg, &text))?;
            println!("published matchmaking rules version {version} from {}", file.display());
            return Ok(());
        }
        Command::Admin { command: Admin::Matchmaking { command: MatchmakingAdmin::Why { ticket } } } => {
            println!("{}", runtime.block_on(mmo::why_not_matched(&cfg, ticket))?);
            return Ok(());
        }
        Command::Admin { command: Admin::Chat { moderator, command } } => {
            let action = match command {
                ChatAdmin::Mute { player, duration, reason } => {
                    mmo::ChatAction::Mute { player, duration, reason }
                }
                ChatAdmin::Unmute { player } => mmo::ChatAction::Unmute { player },
                ChatAdmin::Kick { channel, player, reason } => {
                    mmo::ChatAction::Kick { channel, player, reason }
                }
                ChatAdmin::Delete { message, reason } => mmo::ChatAction::Delete { message, reason },
            };
            println!("{}", runtime.block_on(mmo::chat_admin(&cfg, &moderator, action))?);
            return Ok(());
        }
        Command::Admin { command: Admin::Shop { command } } => {
            let action = match command {
                ShopAdmin::Catalog { file } => mmo::ShopAction::Catalog {
                    text: std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?,
                },
                ShopAdmin::Grant { player, currency, amount, reason, key } => {
                    mmo::ShopAction::Grant { player, currency, amount, reason, key }
                }
                ShopAdmin::Wallet { player, rows } => mmo::ShopAction::Wallet { player, rows },
            };
            println!("{}", runtime.block_on(mmo::shop_admin(&cfg, action))?);
            return Ok(());
        }
        Command::Admin { command: Admin::Leaderboard { command } } => {
            let action = match command {
                LeaderboardAdmin::Rebuild { board, season } => {
                    mmo::LeaderboardAction::Rebuild { board, season }
                }
                LeaderboardAdmin::Rollover { board } => mmo::LeaderboardAction::Rollover { board },
            };
            println!("{}", runtime.block_on(mmo::leaderboard_admin(&cfg, action))?);
            return Ok(());
        }
        Command::Admin { command: Admin::Account { command: AccountAdmin::Unban { target } } } => {
            let u = runtime.block_on(mmo::unban_account(&cfg, &target))?;
            let what = if u.was_banned { "unbanned" } else { "was not banned" };
            println!("player {} {what}", u.player);
            return Ok(());
        }
    };
    runtime.block_on(run(role, cfg))
}

async fn run(role: Role, cfg: Config) -> anyhow::Result<()> {
    if role == Role::Migrate {
        let reports = mmo::migrate(&cfg).await?;
        if reports.iter().all(|r| r.applied.is_empty()) {
            println!("migrations: schema is current ({} owners)", reports.len());
        }
        for r in &reports {
            for m in &r.applied {
                println!("migrations: {} applied {m:?}", r.owner);
            }
        }
        return Ok(());
    }
    if cfg.metrics.enabled {
        mmo_core::metrics::install_prometheus(cfg.metrics.listen, mmo_zone::metrics::BUCKETS)
            .with_context(|| format!("metrics endpoint on {}", cfg.metrics.listen))?;
    }
    // Before anything announces readiness: an early signal must drain, not kill.
    let signals = Signals::install()?;
    let shutdown = Shutdown::new();
    let started = mmo::start(role, &cfg, &shutdown).await?;
    if let Some(addr) = started.gateway {
        tracing::info!(node = %cfg.node.id, %addr, "gateway listening");
        // A plain line on stdout too: scripts and tests read the bound address from it.
        println!("gateway listening on {addr}");
    }
    let signal = signals.first().await;
    tracing::info!(signal, grace = ?cfg.shutdown.grace, "shutting down");
    if shutdown.drain(cfg.shutdown.grace).await {
        tracing::info!("drained");
    } else {
        tracing::warn!(tasks = shutdown.tasks(), "grace period over; exiting with tasks still running");
    }
    if started.gateway.is_some()
        && let Err(e) = mmo_core::bus::relay::remove_inbox(&started.bus).await
    {
        tracing::warn!(error = %e, "could not remove this node's inbox");
    }
    Ok(())
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cfg.log.json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Descriptors a process needs besides its clients' sockets: pools, listeners, files.
const FD_HEADROOM: u64 = 256;

/// Raises the soft limit on open files to the hard one (a shell's default soft limit, often
/// 1024, would cap the gateway far below `max_connections`), and warns when even that is short.
fn raise_fd_limit(max_connections: usize) {
    let wanted = max_connections as u64 + FD_HEADROOM;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            max_connections,
            "the process may open {limit} files, fewer than max_connections needs ({wanted}): \
             raise the hard limit (ulimit -Hn, LimitNOFILE) or lower max_connections"
        ),
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
}
