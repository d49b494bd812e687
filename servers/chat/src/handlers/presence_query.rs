//! PresenceQueryReq: the presence of a few players (a friend list), each as far as its privacy
//! lets the sender see it; the others appear offline.

use std::collections::HashSet;

use mmo_core::bus::node;
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, PresenceQueryReq, PresenceQueryResp};

use super::me;
use crate::error::ChatError;
use crate::{State, presence};

pub async fn handle_presence_query(
    ctx: Ctx<State>,
    req: PresenceQueryReq,
) -> Result<PresenceQueryResp, HandlerError> {
    let st = ctx.state();
    let viewer = me(&ctx)?;
    if req.players.len() > st.cfg.max_presence_query as usize {
        return Err(ChatError::refused(ErrorCode::ChatLimit).into());
    }
    let friends: HashSet<u64> = presence::friends_of(st, viewer).await?.into_iter().collect();
    let blockers = st.people.blockers(&st.store, viewer).await.map_err(ChatError::from)?;
    let ids: Vec<PlayerId> = req.players.iter().map(|p| PlayerId(*p)).collect();
    let online = node::online_many(&st.bus, &ids).await.map_err(ChatError::from)?;
    let stored = presence::load_many(&st.bus, &req.players).await.map_err(ChatError::from)?;
    let seen: Vec<bool> = req
        .players
        .iter()
        .zip(&stored)
        .map(|(p, s)| *p == viewer || presence::visible(s.privacy, friends.contains(p), blockers.contains(p)))
        .collect();
    // Parties are looked up only for those shown online.
    let shown: Vec<u64> = req
        .players
        .iter()
        .zip(&seen)
        .zip(&online)
        .filter(|((_, v), o)| **v && **o)
        .map(|((p, _), _)| *p)
        .collect();
    let parties = presence::parties(&st.bus, &shown).await.map_err(ChatError::from)?;
    let mut party_of = shown.into_iter().zip(parties);
    let presences = req
        .players
        .iter()
        .zip(stored.iter().zip(seen.iter().zip(&online)))
        .map(|(p, (s, (v, o)))| match v {
            true => {
                let party = if *o { party_of.next().map_or(0, |(_, id)| id) } else { 0 };
                presence::real(*p, s, *o, party)
            }
            false => presence::offline(*p),
        })
        .collect();
    Ok(PresenceQueryResp { presences })
}
