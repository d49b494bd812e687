//! QueueJoinReq, QueueLeaveReq, QueueStatusReq, LatencyReportReq, MatchAcceptReq.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{
    LatencyReportReq, LatencyReportResp, MatchAcceptReq, MatchAcceptResp, QueueJoinReq, QueueJoinResp,
    QueueLeaveReq, QueueLeaveResp, QueueStatusReq, QueueStatusResp, TicketState,
};

use super::me;
use crate::{State, queueing, ready, tickets};

pub async fn handle_queue_join(ctx: Ctx<State>, req: QueueJoinReq) -> Result<QueueJoinResp, HandlerError> {
    let st = ctx.state();
    let row = queueing::join(st, me(&ctx)?, &req.mode, req.latencies, req.roles).await?;
    let ticket = crate::notify::view(st, &row, row.state).await.map_err(HandlerError::internal)?;
    Ok(QueueJoinResp { ticket: Some(ticket) })
}

pub async fn handle_queue_leave(ctx: Ctx<State>, _: QueueLeaveReq) -> Result<QueueLeaveResp, HandlerError> {
    queueing::leave(ctx.state(), me(&ctx)?).await?;
    Ok(QueueLeaveResp {})
}

pub async fn handle_queue_status(
    ctx: Ctx<State>,
    _: QueueStatusReq,
) -> Result<QueueStatusResp, HandlerError> {
    let st = ctx.state();
    let Some(row) = tickets::of_player(&st.bus, me(&ctx)?).await.map_err(HandlerError::internal)? else {
        return Ok(QueueStatusResp { ticket: None });
    };
    let state = if row.state == TicketState::Unspecified { TicketState::Searching } else { row.state };
    let ticket = crate::notify::view(st, &row, state).await.map_err(HandlerError::internal)?;
    Ok(QueueStatusResp { ticket: Some(ticket) })
}

pub async fn handle_latency_report(
    ctx: Ctx<State>,
    req: LatencyReportReq,
) -> Result<LatencyReportResp, HandlerError> {
    queueing::report_latency(&ctx.state().bus, me(&ctx)?, &req.latencies).await?;
    Ok(LatencyReportResp {})
}

pub async fn handle_match_accept(
    ctx: Ctx<State>,
    req: MatchAcceptReq,
) -> Result<MatchAcceptResp, HandlerError> {
    let st = ctx.state_arc();
    ready::respond(&st, me(&ctx)?, req.proposal, req.accept).await?;
    Ok(MatchAcceptResp {})
}
