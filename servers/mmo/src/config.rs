//! The configuration file: one section per part. `config.example.toml` at the repository root
//! lists every field with its default; a test checks it parses to exactly these defaults.

use std::path::Path;

use mmo_account::AccountConfig;
use mmo_chat::ChatConfig;
use mmo_core::bus::BusConfig;
use mmo_core::config::{ConfigError, from_toml_file};
use mmo_core::store::{MysqlConfig, WriteBehindConfig};
use mmo_core::{ListenerConfig, MetricsConfig, ShutdownConfig};
use mmo_gateway::GatewayConfig;
use mmo_leaderboard::LeaderboardConfig;
use mmo_matchmaking::MatchmakingConfig;
use mmo_shop::ShopConfig;
use mmo_zone::ZoneServerConfig;
use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub listener: ListenerConfig,
    pub gateway: GatewayConfig,
    pub account: AccountConfig,
    pub zone: ZoneServerConfig,
    pub matchmaking: MatchmakingConfig,
    pub chat: ChatConfig,
    pub shop: ShopConfig,
    pub leaderboard: LeaderboardConfig,
    pub bus: BusConfig,
    pub mysql: MysqlConfig,
    pub write_behind: WriteBehindConfig,
    pub metrics: MetricsConfig,
    pub shutdown: ShutdownConfig,
    pub log: LogConfig,
}

/// This process as a node of the cluster.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique node id; empty means "<hostname>-<pid>". Env `MMO_NODE_ID` overrides. Default "".
    pub id: String,
}

/// Logging.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. "info" or "mmo_core=debug,info". Env `RUST_LOG` overrides.
    /// Default "info".
    pub filter: String,
    /// Log lines as JSON objects instead of text. Default false.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { filter: "info".into(), json: false }
    }
}

impl Config {
    /// Reads the file (or takes the defaults without one), applies the environment and checks it.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cfg: Config = match path {
            Some(p) => from_toml_file(p)?,
            None => Config::default(),
        };
        mmo_core::config::env_override(&mut cfg.node.id, "MMO_NODE_ID");
        cfg.bus.apply_env();
        cfg.mysql.apply_env();
        if cfg.node.id.is_empty() {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let host = host.trim();
            cfg.node.id = format!("{}-{}", if host.is_empty() { "node" } else { host }, std::process::id());
        }
        cfg.listener.validate()?;
        cfg.account.validate()?;
        cfg.zone.validate().map_err(ConfigError::Invalid)?;
        cfg.matchmaking.validate().map_err(ConfigError::Invalid)?;
        cfg.chat.validate().map_err(ConfigError::Invalid)?;
        cfg.shop.validate().map_err(ConfigError::Invalid)?;
        cfg.leaderboard.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
    }
}
