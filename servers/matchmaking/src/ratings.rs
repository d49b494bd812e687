//! Glicko-2 ratings per mode. (Interim: every player at the default rating; the MySQL-backed
//! version replaces this.)

use std::collections::HashMap;

use mmo_core::store::{Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    pub rating: f64,
    pub deviation: f64,
    pub volatility: f64,
}

impl Default for Rating {
    fn default() -> Self {
        Rating { rating: 1500.0, deviation: 350.0, volatility: 0.06 }
    }
}

/// Players' current ratings in `mode`.
pub async fn get(_store: &Store, _mode: &str, players: &[u64]) -> Result<HashMap<u64, Rating>, StoreError> {
    Ok(players.iter().map(|p| (*p, Rating::default())).collect())
}
