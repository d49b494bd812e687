//! Presence: one status per player, whatever its sessions do, with a privacy level and rich
//! presence, shown to friends and pushed to them when it changes.
//!
//! Nothing here is per session or per instance. What the client and the game set is a hash per
//! player in Redis ([`keys::presence`]: away, privacy, rich presence, the running match); whether
//! the player is online is read from the gateways' presence directory at the moment it is
//! shown. So a resumed session (its directory entry stays through the resume window) or a login
//! elsewhere (the new session takes the entry before the old one ends) never shows offline, and
//! any chat instance answers the same.
//!
//! Friends are told with [`announce`]: what a friend sees is computed once, compared with what
//! friends were last told (the hash's `seen`, swapped by one script, so a replayed event or a
//! change invisible to friends pushes nothing) and fanned out to the online friends, one
//! envelope per gateway ([`deliver::fan_out`]).

use std::collections::HashSet;

use mmo_core::bus::{Bus, BusError, node};
use mmo_core::session::PlayerId;
use mmo_proto::{
    FriendState, Party, PresenceInfo, PresenceNtf, PresencePrivacy, PresenceStatus, RichPresence,
};
use prost::Message;

use crate::error::ChatError;
use crate::{State, channels, deliver, keys};

/// What a player's presence hash holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    pub away: bool,
    pub privacy: PresencePrivacy,
    pub rich: Option<RichPresence>,
    /// The running match, "" for none.
    pub match_id: String,
    pub mode: String,
}

const FIELDS: [&str; 5] = ["away", "privacy", "rich", "match", "mode"];

fn parse(v: Vec<Option<Vec<u8>>>) -> Stored {
    let field = |i: usize| v.get(i).and_then(|b| b.as_deref());
    let text = |i: usize| field(i).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let privacy = text(1).parse::<i32>().ok().and_then(|p| PresencePrivacy::try_from(p).ok());
    Stored {
        away: field(0) == Some(b"1".as_slice()),
        privacy: match privacy {
            None | Some(PresencePrivacy::Unspecified) => PresencePrivacy::Friends,
            Some(p) => p,
        },
        rich: field(2).and_then(|b| RichPresence::decode(b).ok()),
        match_id: text(3),
        mode: text(4),
    }
}

/// The presence hashes of `players` (one pipeline).
pub async fn load_many(bus: &Bus, players: &[u64]) -> Result<Vec<Stored>, BusError> {
    if players.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for p in players {
        pipe.cmd("HMGET").arg(keys::presence(bus, *p)).arg(&FIELDS[..]);
    }
    let mut conn = bus.conn().await?;
    let rows: Vec<Vec<Option<Vec<u8>>>> = bus.timed(pipe.query_async(&mut *conn)).await?;
    Ok(rows.into_iter().map(parse).collect())
}

pub async fn load(bus: &Bus, player: u64) -> Result<Stored, BusError> {
    Ok(load_many(bus, &[player]).await?.pop().unwrap_or_default())
}

/// The joinable party of each of `players` (0: none): a party it is a member of that is not
/// queued. Read from the matchmaking server's keys (the party's owner), which chat cannot link.
pub async fn parties(bus: &Bus, players: &[u64]) -> Result<Vec<u64>, BusError> {
    if players.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> =
        players.iter().map(|p| bus.keys().owned("matchmaking", &format!("pp:{p}"))).collect();
    let mut conn = bus.conn().await?;
    let ids: Vec<Option<u64>> = bus.timed(redis::cmd("MGET").arg(&keys).query_async(&mut *conn)).await?;
    let mut out = vec![0; players.len()];
    for (i, id) in ids.iter().enumerate() {
        let Some(id) = *id else { continue };
        let key = bus.keys().owned("matchmaking", &format!("party:{id}"));
        let body: Option<Vec<u8>> =
            bus.timed(redis::cmd("HGET").arg(key).arg("b").query_async(&mut *conn)).await?;
        let Some(party) = body.and_then(|b| Party::decode(b.as_slice()).ok()) else { continue };
        if party.ticket == 0 && party.members.iter().any(|m| m.player == players[i]) {
            out[i] = id;
        }
    }
    Ok(out)
}

/// Someone who is not online, or whose presence the viewer may not see.
pub fn offline(player: u64) -> PresenceInfo {
    PresenceInfo { player, status: PresenceStatus::Offline as i32, ..Default::default() }
}

/// A player's real presence: offline without a session; else in a match, away or online.
pub fn real(player: u64, s: &Stored, online: bool, party_id: u64) -> PresenceInfo {
    if !online {
        return offline(player);
    }
    let in_match = !s.match_id.is_empty();
    let status = match (in_match, s.away) {
        (true, _) => PresenceStatus::InMatch,
        (false, true) => PresenceStatus::Away,
        (false, false) => PresenceStatus::Online,
    };
    PresenceInfo {
        player,
        status: status as i32,
        dnd: s.privacy == PresencePrivacy::Dnd,
        rich: s.rich.clone(),
        party_id,
        match_id: if in_match { s.match_id.clone() } else { String::new() },
        match_mode: if in_match { s.mode.clone() } else { String::new() },
    }
}

/// Who may see a player's real presence, besides itself: not one it blocked, nobody while it
/// is invisible, its friends, and anyone when its privacy is EVERYONE.
pub fn visible(privacy: PresencePrivacy, friend: bool, blocked_viewer: bool) -> bool {
    !blocked_viewer
        && match privacy {
            PresencePrivacy::Invisible => false,
            PresencePrivacy::Everyone => true,
            _ => friend,
        }
}

/// What a player's friends see of it now. `ended`: a session (`"<node> <session>"`) that has
/// ended, though the directory may still name it for an instant.
pub async fn friend_view(
    st: &State,
    player: u64,
    ended: Option<&str>,
) -> Result<(Stored, PresenceInfo), ChatError> {
    let at = channels::where_is(&st.bus, player).await?;
    let online = at.as_deref().is_some_and(|a| Some(a) != ended);
    let stored = load(&st.bus, player).await?;
    let party = if online { parties(&st.bus, &[player]).await?[0] } else { 0 };
    let view = if visible(stored.privacy, true, false) {
        real(player, &stored, online, party)
    } else {
        offline(player)
    };
    Ok((stored, view))
}

/// A player's accepted friends.
pub async fn friends_of(st: &State, player: u64) -> Result<Vec<u64>, ChatError> {
    let list = mmo_account::friends::list(&st.store, PlayerId(player)).await?;
    Ok(list.into_iter().filter(|f| f.state == FriendState::Friend as i32).map(|f| f.player_id).collect())
}

/// Tells `player`'s online friends its presence, if it changed since they were last told.
/// Idempotent: at-least-once events may call it twice.
pub async fn announce(st: &State, player: u64, ended: Option<&str>) -> Result<(), ChatError> {
    let (_, view) = friend_view(st, player, ended).await?;
    if !remember(&st.bus, player, &view.encode_to_vec()).await? {
        return Ok(());
    }
    let friends = friends_of(st, player).await?;
    let blockers = st.people.blockers(&st.store, player).await?;
    let friends: Vec<u64> = friends.into_iter().filter(|f| !blockers.contains(f)).collect();
    let ids: Vec<PlayerId> = friends.iter().map(|f| PlayerId(*f)).collect();
    let members: Vec<(u64, String)> = friends
        .iter()
        .zip(node::presence_many(&st.bus, &ids).await?)
        .filter_map(|(f, p)| p.map(|p| (*f, format!("{} {}", p.node, p.session.0))))
        .collect();
    let ntf = PresenceNtf { presence: Some(view) };
    deliver::fan_out(&st.bus, &st.people, &members, |_| false, &ntf).await?;
    Ok(())
}

/// Swaps what friends were last told; whether it changed.
async fn remember(bus: &Bus, player: u64, view: &[u8]) -> Result<bool, BusError> {
    const SCRIPT: &str = "if redis.call('HGET', KEYS[1], 'seen') == ARGV[1] then return 0 end \
         redis.call('HSET', KEYS[1], 'seen', ARGV[1]) return 1";
    let mut conn = bus.conn().await?;
    let changed: i64 = bus
        .timed(redis::Script::new(SCRIPT).key(keys::presence(bus, player)).arg(view).invoke_async(&mut *conn))
        .await?;
    Ok(changed == 1)
}

/// What a client changes of its own presence (None: keep).
#[derive(Debug, Default)]
pub struct Change {
    pub away: Option<bool>,
    pub privacy: Option<PresencePrivacy>,
    /// Some(None): clear.
    pub rich: Option<Option<RichPresence>>,
}

/// Writes a client's change (one pipeline).
pub async fn set(bus: &Bus, player: u64, c: &Change) -> Result<(), BusError> {
    let key = keys::presence(bus, player);
    let mut pipe = redis::pipe();
    if let Some(away) = c.away {
        match away {
            true => pipe.cmd("HSET").arg(&key).arg("away").arg(1).ignore(),
            false => pipe.cmd("HDEL").arg(&key).arg("away").ignore(),
        };
    }
    if let Some(p) = c.privacy {
        pipe.cmd("HSET").arg(&key).arg("privacy").arg(p as i32).ignore();
    }
    match &c.rich {
        Some(Some(r)) => pipe.cmd("HSET").arg(&key).arg("rich").arg(r.encode_to_vec()).ignore(),
        Some(None) => pipe.cmd("HDEL").arg(&key).arg("rich").ignore(),
        None => &mut pipe,
    };
    let mut conn = bus.conn().await?;
    bus.timed(pipe.query_async::<()>(&mut *conn)).await?;
    Ok(())
}

/// The bytes rich presence counts against its limit: its text, and each key and value plus 2.
pub fn rich_size(r: &RichPresence) -> usize {
    r.text.len() + r.values.iter().map(|v| v.key.len() + v.value.len() + 2).sum::<usize>()
}

/// The players of a match started (or backfilled into it): in a match until it closes.
pub async fn match_started(bus: &Bus, match_id: &str, mode: &str, players: &[u64]) -> Result<(), BusError> {
    if match_id.is_empty() || players.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for p in players {
        pipe.cmd("HSET")
            .arg(keys::presence(bus, *p))
            .arg("match")
            .arg(match_id)
            .arg("mode")
            .arg(mode)
            .ignore();
        pipe.cmd("SADD").arg(keys::match_players(bus, match_id)).arg(*p).ignore();
    }
    let mut conn = bus.conn().await?;
    bus.timed(pipe.query_async::<()>(&mut *conn)).await?;
    Ok(())
}

/// A match closed: every player it had (those named and those recorded at its start) is no
/// longer in it, unless it is already in another. Returns them.
pub async fn match_closed(bus: &Bus, match_id: &str, named: &[u64]) -> Result<Vec<u64>, BusError> {
    const SCRIPT: &str = "if redis.call('HGET', KEYS[1], 'match') == ARGV[1] then \
         redis.call('HDEL', KEYS[1], 'match', 'mode') end return 0";
    if match_id.is_empty() {
        return Ok(Vec::new());
    }
    let set = keys::match_players(bus, match_id);
    let mut conn = bus.conn().await?;
    let recorded: Vec<u64> = bus.timed(redis::cmd("SMEMBERS").arg(&set).query_async(&mut *conn)).await?;
    let all: Vec<u64> = named.iter().chain(&recorded).copied().collect::<HashSet<_>>().into_iter().collect();
    let script = redis::Script::new(SCRIPT);
    for p in &all {
        let _: i64 =
            bus.timed(script.key(keys::presence(bus, *p)).arg(match_id).invoke_async(&mut *conn)).await?;
    }
    bus.timed(redis::cmd("DEL").arg(&set).query_async::<()>(&mut *conn)).await?;
    Ok(all)
}

/// A player left a running match (the zone's `match_left`): no longer in it, though the match
/// goes on.
pub async fn match_left(bus: &Bus, match_id: &str, player: u64) -> Result<(), BusError> {
    const SCRIPT: &str = "if redis.call('HGET', KEYS[1], 'match') == ARGV[1] then \
         redis.call('HDEL', KEYS[1], 'match', 'mode') end redis.call('SREM', KEYS[2], ARGV[2]) return 0";
    if match_id.is_empty() {
        return Ok(());
    }
    let mut conn = bus.conn().await?;
    let _: i64 = bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(keys::presence(bus, player))
                .key(keys::match_players(bus, match_id))
                .arg(match_id)
                .arg(player)
                .invoke_async(&mut *conn),
        )
        .await?;
    Ok(())
}

/// A session ended for good: what belonged to the sessions (away, rich presence) goes, unless
/// the player has another session now.
pub async fn session_ended(bus: &Bus, player: u64) -> Result<(), BusError> {
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::cmd("HDEL")
            .arg(keys::presence(bus, player))
            .arg("away")
            .arg("rich")
            .query_async::<()>(&mut *conn),
    )
    .await?;
    Ok(())
}

/// A player's privacy level.
pub async fn privacy(bus: &Bus, player: u64) -> Result<PresencePrivacy, BusError> {
    Ok(load(bus, player).await?.privacy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmo_proto::PresenceValue;

    #[test]
    fn who_sees_what() {
        use PresencePrivacy::*;
        assert!(visible(Friends, true, false) && !visible(Friends, false, false));
        assert!(visible(Dnd, true, false) && !visible(Dnd, false, false));
        assert!(visible(Everyone, false, false));
        assert!(!visible(Invisible, true, false));
        assert!(!visible(Everyone, true, true), "a blocked viewer sees nothing");
    }

    #[test]
    fn status_is_offline_then_match_then_away() {
        let s = Stored { away: true, match_id: "m1".into(), mode: "duel".into(), ..Default::default() };
        assert_eq!(real(1, &s, false, 9), offline(1));
        let p = real(1, &s, true, 9);
        assert_eq!((p.status(), p.match_mode.as_str(), p.party_id), (PresenceStatus::InMatch, "duel", 9));
        let s = Stored { match_id: String::new(), ..s };
        assert_eq!(real(1, &s, true, 0).status(), PresenceStatus::Away);
        assert_eq!(real(1, &Stored::default(), true, 0).status(), PresenceStatus::Online);
    }

    #[test]
    fn rich_presence_size_counts_every_pair() {
        let r = RichPresence {
            text: "abc".into(),
            values: vec![PresenceValue::default(), PresenceValue { key: "k".into(), value: "vv".into() }],
        };
        assert_eq!(rich_size(&r), 3 + 2 + 5);
    }
}
