//! Wrong-password limits, counted in Redis so every account server instance sees the same
//! counts: one counter per username and one per client address, each living for a window that
//! starts at its first failure.
//!
//! An attempt checks both counters before the password is looked at, and one script
//! *reserves* its place on the username's counter (increments it) if neither is at its limit: a
//! password check never starts once a limit is reached, and a burst of parallel guesses at one
//! account cannot slip past its limit between a check and an increment. A correct password clears
//! the username's counter ([`Attempts::succeeded`]). The address's counter is only incremented
//! by a wrong password ([`Attempts::failed`]): many players behind one NAT logging in at once
//! must not use up each other's attempts while their passwords are being checked. (Parallel
//! guesses from one address can overshoot its limit by the number of hashes in flight, which
//! `max_concurrent_hashes` bounds.)
//!
//! The username counter is keyed by the case-folded name whether or not the account exists, so
//! the limit behaves the same for unknown names and tells nothing about which exist. IPv6
//! addresses are counted per /64, the block one subscriber usually gets.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use mmo_core::bus::{Bus, BusError};

/// Checks the counters; when none is at its limit, increments those marked to reserve (starting
/// the window of a new counter) and returns 0, else returns the milliseconds until the fullest
/// one resets. KEYS: the counters; ARGV[1]: window in ms; ARGV[1 + i]: the limit of KEYS[i];
/// ARGV[1 + #KEYS + i]: '1' to increment KEYS[i].
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local wait = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = tonumber(ARGV[1])
      redis.call('PEXPIRE', key, ttl)
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  if ARGV[1 + #KEYS + i] == '1' and redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return 0
",
    )
});

/// Counts a wrong password against an address: increments KEYS[1], starting its window
/// (ARGV[1] ms) if it is new.
static FAILED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0
",
    )
});

/// The limits, from the config.
#[derive(Clone, Debug)]
pub struct Attempts {
    pub per_account: u32,
    pub per_address: u32,
    pub window: Duration,
}

/// A reserved attempt: the counters it incremented.
#[derive(Debug)]
pub struct Reservation {
    name: Option<String>,
    address: Option<String>,
}

impl Attempts {
    /// Reserves one password attempt for `name_key` (the folded username, if the name is valid)
    /// from `ip`. `Err(wait)` when a limit is reached: refuse with `TOO_MANY_ATTEMPTS`.
    pub async fn reserve(
        &self,
        bus: &Bus,
        name_key: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<Result<Reservation, Duration>, BusError> {
        let name = name_key.map(|k| bus.keys().owned("account", &format!("fails:name:{k}")));
        let address = ip.map(|ip| bus.keys().owned("account", &format!("fails:ip:{}", address_block(ip))));
        let mut script = RESERVE.prepare_invoke();
        script.arg(self.window.as_millis().max(1) as u64);
        if let Some(k) = &name {
            script.key(k).arg(self.per_account);
        }
        if let Some(k) = &address {
            script.key(k).arg(self.per_address);
        }
        // Reserve on the name only; the address counts failures (see the module docs).
        if name.is_some() {
            script.arg("1");
        }
        if address.is_some() {
            script.arg("0");
        }
        if name.is_none() && address.is_none() {
            return Ok(Ok(Reservation { name, address }));
        }
        let mut conn = bus.conn().await?;
        let wait: u64 = bus.timed(script.invoke_async(&mut *conn)).await?;
        Ok(if wait > 0 { Err(Duration::from_millis(wait)) } else { Ok(Reservation { name, address }) })
    }

    /// The password was right: clear the name's count.
    pub async fn succeeded(&self, bus: &Bus, r: Reservation) -> Result<(), BusError> {
        let Some(name) = &r.name else { return Ok(()) };
        let mut conn = bus.conn().await?;
        bus.timed(redis::cmd("DEL").arg(name).query_async::<()>(&mut *conn)).await
    }

    /// The password was wrong (or the user unknown): count it against the address too.
    pub async fn failed(&self, bus: &Bus, r: Reservation) -> Result<(), BusError> {
        let Some(address) = &r.address else { return Ok(()) };
        let mut conn = bus.conn().await?;
        let window = self.window.as_millis().max(1) as u64;
        bus.timed(FAILED.key(address).arg(window).invoke_async::<()>(&mut *conn)).await
    }
}

/// The unit an address is counted by: the address itself for IPv4, its /64 for IPv6.
fn address_block(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::address_block;

    #[test]
    fn addresses_are_counted_per_block() {
        assert_eq!(address_block("10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert_eq!(address_block("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert_eq!(
            address_block("2001:db8:1:2:aaaa::1".parse().unwrap()),
            address_block("2001:db8:1:2:bbbb::9".parse().unwrap())
        );
        assert_eq!(address_block("2001:db8:1:2::1".parse().unwrap()), "2001:db8:1:2::/64");
    }
}
