//! PartyCreateReq, PartyInviteReq, PartyRespondReq, PartyLeaveReq, PartyKickReq,
//! PartyPromoteReq, PartyGetReq; and a member's session ending.

use mmo_core::bus::node;
use mmo_core::clock::now_ms;
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{
    ErrorCode, Party, PartyCreateReq, PartyCreateResp, PartyEvent, PartyGetReq, PartyGetResp, PartyInvite,
    PartyInviteNtf, PartyInviteReq, PartyInviteResp, PartyKickReq, PartyKickResp, PartyLeaveReq,
    PartyLeaveResp, PartyMember, PartyNtf, PartyPromoteReq, PartyPromoteResp, PartyRespondReq,
    PartyRespondResp, TicketEndReason,
};

use super::me;
use crate::error::MmError;
use crate::{State, notify, parties, queueing, tickets};

fn refuse(code: ErrorCode) -> MmError {
    MmError::refused(code)
}

/// The party as a member sees it: open invites only.
fn shown(p: &Party) -> Party {
    let mut p = p.clone();
    p.invites = parties::live_invites(&p, now_ms());
    p
}

/// Tells the members of `party` (but `except`) what happened, and cancels the party's ticket
/// if its membership or lead changed while queued.
async fn changed(
    st: &State,
    before: &Party,
    after: Option<&Party>,
    event: PartyEvent,
    subject: u64,
    except: u64,
) {
    crate::chat::party(&st.bus, Some(before), after).await;
    if let Some(after) = after {
        let ntf = PartyNtf { party: Some(shown(after)), event: event as i32, player: subject };
        let to: Vec<u64> = after.members.iter().map(|m| m.player).filter(|p| *p != except).collect();
        notify::players(st, &to, &ntf).await;
    }
    let roster_changed = matches!(
        event,
        PartyEvent::Joined
            | PartyEvent::Left
            | PartyEvent::Kicked
            | PartyEvent::Promoted
            | PartyEvent::Disconnected
    );
    if roster_changed
        && before.ticket != 0
        && let Ok(Some(row)) = tickets::get(&st.bus, before.ticket).await
        && let Err(e) = queueing::cancel(st, &row, TicketEndReason::PartyChanged).await
    {
        tracing::warn!(error = %e, ticket = row.id, "queued party changed; its ticket not cancelled");
    }
}

async fn my_party(st: &State, me: u64) -> Result<Party, MmError> {
    Ok(parties::of_player(&st.bus, me).await?.ok_or_else(|| refuse(ErrorCode::NotInParty))?.party)
}

pub async fn handle_party_create(
    ctx: Ctx<State>,
    _: PartyCreateReq,
) -> Result<PartyCreateResp, HandlerError> {
    let party = parties::create(&ctx.state().bus, me(&ctx)?, now_ms()).await?;
    crate::chat::party(&ctx.state().bus, None, Some(&party)).await;
    Ok(PartyCreateResp { party: Some(party) })
}

pub async fn handle_party_invite(
    ctx: Ctx<State>,
    req: PartyInviteReq,
) -> Result<PartyInviteResp, HandlerError> {
    let st = ctx.state();
    let me = me(&ctx)?;
    let target = req.player;
    if target == 0 || target == me {
        return Err(HandlerError::Reject(ErrorCode::InvalidArgument));
    }
    let party = my_party(st, me).await?;
    if party.leader != me {
        return Err(HandlerError::Reject(ErrorCode::NotPartyLeader));
    }
    // A block either way, or an invitee who is not online: the invite is not delivered, and
    // the inviter is not told which.
    let blocks = mmo_account::friends::blocks_cached(&st.bus, &st.store, &[PlayerId(target)])
        .await
        .map_err(HandlerError::from)?;
    let online = node::online_many(&st.bus, &[PlayerId(target)]).await.map_err(MmError::from)?;
    if blocks.iter().any(|(a, b)| (a.0 == target && b.0 == me) || (a.0 == me && b.0 == target))
        || online != [true]
    {
        return Err(HandlerError::Reject(ErrorCode::InviteRefused));
    }
    let now = now_ms();
    let expires_ms = now + st.cfg.invite_ttl.as_millis() as u64;
    let limit = st.cfg.max_party_size as usize;
    let mut invite = |p: &Party| -> Result<_, ErrorCode> {
        if p.leader != me {
            return Err(ErrorCode::NotPartyLeader);
        }
        if p.members.iter().any(|m| m.player == target) {
            return Err(ErrorCode::AlreadyInParty);
        }
        let mut p = p.clone();
        p.invites = parties::live_invites(&p, now).into_iter().filter(|i| i.player != target).collect();
        if p.members.len() + p.invites.len() >= limit {
            return Err(ErrorCode::PartyFull);
        }
        p.invites.push(PartyInvite { player: target, expires_ms });
        Ok((Some(p), Vec::new(), Vec::new()))
    };
    let (before, after) = parties::update(&st.bus, party.id, &mut invite).await?;
    notify::players(st, &[target], &PartyInviteNtf { party: party.id, from_player: me, expires_ms }).await;
    changed(st, &before, after.as_ref(), PartyEvent::Invited, target, me).await;
    Ok(PartyInviteResp { party: after.as_ref().map(shown) })
}

pub async fn handle_party_respond(
    ctx: Ctx<State>,
    req: PartyRespondReq,
) -> Result<PartyRespondResp, HandlerError> {
    let st = ctx.state();
    let me = me(&ctx)?;
    let now = now_ms();
    let limit = st.cfg.max_party_size as usize;
    let accept = req.accept;
    let mut respond = |p: &Party| -> Result<_, ErrorCode> {
        if !parties::live_invites(p, now).iter().any(|i| i.player == me) {
            return Err(ErrorCode::InviteNotFound);
        }
        let mut p = p.clone();
        p.invites = parties::live_invites(&p, now).into_iter().filter(|i| i.player != me).collect();
        if !accept {
            return Ok((Some(p), Vec::new(), Vec::new()));
        }
        if p.members.len() >= limit {
            return Err(ErrorCode::PartyFull);
        }
        p.members.push(PartyMember { player: me, joined_ms: now });
        Ok((Some(p), vec![me], Vec::new()))
    };
    let (before, after) = match parties::update(&st.bus, req.party, &mut respond).await {
        Err(MmError::Refused(ErrorCode::NotInParty, _)) => {
            return Err(HandlerError::Reject(ErrorCode::InviteNotFound));
        }
        r => r?,
    };
    let event = if accept { PartyEvent::Joined } else { PartyEvent::Declined };
    changed(st, &before, after.as_ref(), event, me, me).await;
    Ok(PartyRespondResp { party: if accept { after.as_ref().map(shown) } else { None } })
}

/// Takes `player` out of its party (leaving, or its session ended).
pub async fn leave(st: &State, player: u64, event: PartyEvent) -> Result<(), MmError> {
    let party = my_party(st, player).await?;
    let mut leave = |p: &Party| -> Result<_, ErrorCode> {
        if !p.members.iter().any(|m| m.player == player) {
            return Err(ErrorCode::NotInParty);
        }
        Ok((parties::without(p, player), Vec::new(), vec![player]))
    };
    let (before, after) = parties::update(&st.bus, party.id, &mut leave).await?;
    changed(st, &before, after.as_ref(), event, player, player).await;
    Ok(())
}

pub async fn handle_party_leave(ctx: Ctx<State>, _: PartyLeaveReq) -> Result<PartyLeaveResp, HandlerError> {
    leave(ctx.state(), me(&ctx)?, PartyEvent::Left).await?;
    Ok(PartyLeaveResp {})
}

pub async fn handle_party_kick(ctx: Ctx<State>, req: PartyKickReq) -> Result<PartyKickResp, HandlerError> {
    let st = ctx.state();
    let me = me(&ctx)?;
    let target = req.player;
    if target == me {
        return Err(HandlerError::Reject(ErrorCode::InvalidArgument));
    }
    let party = my_party(st, me).await?;
    let mut kick = |p: &Party| -> Result<_, ErrorCode> {
        if p.leader != me {
            return Err(ErrorCode::NotPartyLeader);
        }
        if !p.members.iter().any(|m| m.player == target) {
            return Err(ErrorCode::NotInParty);
        }
        Ok((parties::without(p, target), Vec::new(), vec![target]))
    };
    let (before, after) = parties::update(&st.bus, party.id, &mut kick).await?;
    notify::players(
        st,
        &[target],
        &PartyNtf { party: None, event: PartyEvent::Kicked as i32, player: target },
    )
    .await;
    changed(st, &before, after.as_ref(), PartyEvent::Kicked, target, me).await;
    Ok(PartyKickResp { party: after.as_ref().map(shown) })
}

pub async fn handle_party_promote(
    ctx: Ctx<State>,
    req: PartyPromoteReq,
) -> Result<PartyPromoteResp, HandlerError> {
    let st = ctx.state();
    let me = me(&ctx)?;
    let target = req.player;
    let party = my_party(st, me).await?;
    let mut promote = |p: &Party| -> Result<_, ErrorCode> {
        if p.leader != me {
            return Err(ErrorCode::NotPartyLeader);
        }
        if !p.members.iter().any(|m| m.player == target) {
            return Err(ErrorCode::NotInParty);
        }
        let mut p = p.clone();
        p.leader = target;
        Ok((Some(p), Vec::new(), Vec::new()))
    };
    let (before, after) = parties::update(&st.bus, party.id, &mut promote).await?;
    if target != me {
        changed(st, &before, after.as_ref(), PartyEvent::Promoted, target, me).await;
    }
    Ok(PartyPromoteResp { party: after.as_ref().map(shown) })
}

pub async fn handle_party_get(ctx: Ctx<State>, _: PartyGetReq) -> Result<PartyGetResp, HandlerError> {
    let st = ctx.state();
    let party = parties::of_player(&st.bus, me(&ctx)?).await.map_err(MmError::from)?;
    Ok(PartyGetResp { party: party.map(|r| shown(&r.party)) })
}
