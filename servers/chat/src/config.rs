//! The `[chat]` section: text limits, history, whispers kept offline, the rate limit and its
//! escalation (slow mode, then a mute), the word list, caches and retention, presence limits.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Settings of the chat server (the `[chat]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Longest message, in Unicode code points (not bytes). Default 256.
    pub max_message_chars: u32,
    /// Messages kept per channel in Redis (a capped stream), sent on join and counted as unread.
    /// Default 50.
    pub history_len: u32,
    /// Whispers kept for a player who is offline; beyond this the oldest are dropped. Default 50.
    pub max_offline_whispers: u32,
    /// Custom channels one player may be in at once. Default 20.
    pub max_channels_per_player: u32,
    /// Custom channels in the cluster. Default 10000.
    pub max_custom_channels: u32,
    /// Messages a player may send in one second before slow mode starts. Default 5.
    pub rate_per_sec: u32,
    /// In slow mode, one message per this. Default 2s.
    #[serde(with = "humantime_serde")]
    pub slow_mode_interval: Duration,
    /// How long slow mode lasts after the last time the rate was exceeded. Default 30s.
    #[serde(with = "humantime_serde")]
    pub slow_mode_duration: Duration,
    /// This many messages (sent or refused) within `mute_window` mute the sender. Default 11.
    pub mute_messages: u32,
    /// Default 1s.
    #[serde(with = "humantime_serde")]
    pub mute_window: Duration,
    /// How long a flood mutes. Default 10s.
    #[serde(with = "humantime_serde")]
    pub mute_duration: Duration,
    /// A file of words to mask with `*`, one per line (`#` starts a comment), matched ignoring
    /// case; empty: no filter. Reloaded when the file changes. Default "".
    pub word_list: PathBuf,
    /// How often the word list file is checked for changes. Default 5s.
    #[serde(with = "humantime_serde")]
    pub word_list_poll: Duration,
    /// How long a sender's blocks are cached: a new block takes effect within this. Default 2s.
    #[serde(with = "humantime_serde")]
    pub block_cache: Duration,
    /// How long messages are kept in MySQL. Default 30d.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often messages past `retention` are deleted. Default 1h.
    #[serde(with = "humantime_serde")]
    pub cleanup_interval: Duration,
    /// Messages waiting to be written to MySQL; beyond this they are dropped (counted,
    /// `mmo_chat_store_dropped_total`) rather than slowing chat down. Default 10000.
    pub write_queue: u32,
    /// Message ids one report may name. Default 20.
    pub max_report_ids: u32,
    /// How long the server waits for a new login's session to appear before it adds the player
    /// to the world channel and delivers its offline whispers. Default 5s.
    #[serde(with = "humantime_serde")]
    pub login_wait: Duration,
    /// Largest rich presence a client may set, in bytes: its text, and each value's key and
    /// value plus 2. Default 256.
    pub max_rich_presence_bytes: u32,
    /// Players one PresenceQueryReq may name. Default 100.
    pub max_presence_query: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_message_chars: 256,
            history_len: 50,
            max_offline_whispers: 50,
            max_channels_per_player: 20,
            max_custom_channels: 10_000,
            rate_per_sec: 5,
            slow_mode_interval: Duration::from_secs(2),
            slow_mode_duration: Duration::from_secs(30),
            mute_messages: 11,
            mute_window: Duration::from_secs(1),
            mute_duration: Duration::from_secs(10),
            word_list: PathBuf::new(),
            word_list_poll: Duration::from_secs(5),
            block_cache: Duration::from_secs(2),
            retention: Duration::from_secs(30 * 24 * 3600),
            cleanup_interval: Duration::from_secs(3600),
            write_queue: 10_000,
            max_report_ids: 20,
            login_wait: Duration::from_secs(5),
            max_rich_presence_bytes: 256,
            max_presence_query: 100,
        }
    }
}

impl ChatConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_message_chars == 0 || self.history_len == 0 || self.write_queue == 0 {
            return Err("chat: max_message_chars, history_len and write_queue must be at least 1".into());
        }
        if self.rate_per_sec == 0 || self.mute_messages < 2 {
            return Err("chat: rate_per_sec must be at least 1 and mute_messages at least 2".into());
        }
        if self.mute_window.is_zero() || self.mute_duration.is_zero() || self.slow_mode_interval.is_zero() {
            return Err("chat: mute_window, mute_duration and slow_mode_interval must be over 0".into());
        }
        if self.word_list_poll.is_zero() || self.cleanup_interval.is_zero() {
            return Err("chat: word_list_poll and cleanup_interval must be over 0".into());
        }
        Ok(())
    }
}
