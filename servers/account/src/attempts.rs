//! Wrong-password limits, counted in Redis so every account server instance sees the same
//! counts: one counter per username and one per client address, each living for a window that
//! starts at its first failure.
//!
//! An attempt *reserves* its place before the password is checked: one script checks both
//! counters and, if neither is at its limit, increments both. A password check therefore never
//! starts once a limit is reached, and a burst of parallel guesses cannot slip past the limit
//! between a check and an increment. A correct password gives the reservation back
//! ([`Attempts::succeeded`]): the username's counter is cleared and the address's decremented,
//! so only wrong passwords are counted.
//!
//! The username counter is keyed by the case-folded name whether or not the account exists, so
//! the limit behaves the same for unknown names and tells nothing about which exist. IPv6
//! addresses are counted per /64, the block one subscriber usually gets.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use mmo_core::bus::{Bus, BusError};

/// Checks both counters; when neither is at its limit, increments both (starting the window of a
/// new counter) and returns 0, else returns the milliseconds until the fullest one resets.
/// KEYS: the counters; ARGV[1]: window in ms; ARGV[1 + i]: the limit of KEYS[i].
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
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
",
    )
});

/// Gives a reservation back: clears KEYS[1] (the name) if ARGV[1] is 1, and decrements the
/// last key (the address) if ARGV[2] is 1 and it is still counting.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' then
  local key = KEYS[#KEYS]
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
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
        if name.is_none() && address.is_none() {
            return Ok(Ok(Reservation { name, address }));
        }
        let mut conn = bus.conn().await?;
        let wait: u64 = bus.timed(script.invoke_async(&mut *conn)).await?;
        Ok(if wait > 0 { Err(Duration::from_millis(wait)) } else { Ok(Reservation { name, address }) })
    }

    /// The password was right: clear the name's count and give the address its attempt back.
    pub async fn succeeded(&self, bus: &Bus, r: Reservation) -> Result<(), BusError> {
        let mut script = RELEASE.prepare_invoke();
        for k in [&r.name, &r.address].into_iter().flatten() {
            script.key(k);
        }
        if r.name.is_none() && r.address.is_none() {
            return Ok(());
        }
        script.arg(u8::from(r.name.is_some())).arg(u8::from(r.address.is_some()));
        let mut conn = bus.conn().await?;
        bus.timed(script.invoke_async::<()>(&mut *conn)).await
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
