//! The `[gateway]` section: what the gateway adds to the framework's `[listener]` limits.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Pings a session may send per second (burst of the same size); more are rejected with
    /// RATE_LIMITED and count as strikes. Default 20.
    pub ping_per_second: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig { ping_per_second: 20 }
    }
}
