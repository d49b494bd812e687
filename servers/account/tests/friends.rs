//! Friends through the whole path (gateway -> bus -> account server) on real Redis and MariaDB:
//! requests, accepts, removals, blocks, the list with online flags, limits, and the FriendNtf
//! pushes the other player receives while online.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::*;
use mmo_core::session::PlayerId;
use mmo_proto::{
    ErrorCode, Friend, FriendAcceptReq, FriendAcceptResp, FriendBlockReq, FriendBlockResp, FriendListReq,
    FriendListResp, FriendNtf, FriendRemoveReq, FriendRemoveResp, FriendRequestReq, FriendRequestResp,
    FriendState, FriendUnblockReq, FriendUnblockResp, LogoutReq, LogoutResp,
};
use mmo_testkit::TestClient;

fn by_id(id: u64) -> FriendRequestReq {
    FriendRequestReq { player_id: id, username: String::new() }
}

async fn list(c: &mut TestClient) -> Vec<(u64, String, FriendState, bool)> {
    let resp = call::<_, FriendListResp>(c, &FriendListReq {}).await.unwrap();
    resp.friends.into_iter().map(|f| (f.player_id, f.display_name.clone(), f.state(), f.online)).collect()
}

fn seen(f: &Friend) -> (u64, &str, FriendState) {
    (f.player_id, f.display_name.as_str(), f.state())
}

async fn ntf(c: &mut TestClient) -> Friend {
    expect_push::<FriendNtf>(c).await.friend.unwrap()
}

/// The `friends` rows, as (player, other, state).
async fn rows(cl: &Cluster) -> Vec<(u64, u64, u8)> {
    cl.db
        .store()
        .exec("SELECT player_id, other_id, state FROM friends ORDER BY player_id, other_id", ())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_accepts_and_removals_reach_the_other_player() {
    let cl = cluster().await;
    let (mut a, sa) = cl.player("Anna").await;
    let (mut b, sb) = cl.player("Boris").await;
    let (mut c, sc) = cl.player("Chen").await;
    let (ida, idb, idc) = (sa.player_id, sb.player_id, sc.player_id);

    // A asks B by username (any case); B is told at once.
    let req = FriendRequestReq { player_id: 0, username: "bORIS".into() };
    let r = call::<_, FriendRequestResp>(&mut a, &req).await.unwrap().friend.unwrap();
    assert_eq!(seen(&r), (idb, "Boris", FriendState::Outgoing));
    assert_eq!(seen(&ntf(&mut b).await), (ida, "Anna", FriendState::Incoming));
    assert_eq!(list(&mut a).await, vec![(idb, "Boris".into(), FriendState::Outgoing, false)]);
    assert_eq!(list(&mut b).await, vec![(ida, "Anna".into(), FriendState::Incoming, false)]);
    // Asking again changes nothing and tells nobody.
    let r = call::<_, FriendRequestResp>(&mut a, &by_id(idb)).await.unwrap().friend.unwrap();
    assert_eq!(r.state(), FriendState::Outgoing);

    // B accepts; A is told. Friends see each other online.
    let r = call::<_, FriendAcceptResp>(&mut b, &FriendAcceptReq { player_id: ida }).await.unwrap();
    assert_eq!(seen(&r.friend.unwrap()), (ida, "Anna", FriendState::Friend));
    assert_eq!(seen(&ntf(&mut a).await), (idb, "Boris", FriendState::Friend));
    assert_eq!(list(&mut a).await, vec![(idb, "Boris".into(), FriendState::Friend, true)]);
    assert_eq!(rows(&cl).await, vec![(ida, idb, 1), (idb, ida, 1)]);

    // Requests that cross: C asks A, then A asks C, which accepts.
    call::<_, FriendRequestResp>(&mut c, &by_id(ida)).await.unwrap();
    assert_eq!(seen(&ntf(&mut a).await), (idc, "Chen", FriendState::Incoming));
    let r = call::<_, FriendRequestResp>(&mut a, &by_id(idc)).await.unwrap().friend.unwrap();
    assert_eq!(r.state(), FriendState::Friend);
    assert_eq!(seen(&ntf(&mut c).await), (ida, "Anna", FriendState::Friend));

    // A removes B: B is told the relation ended; neither lists the other.
    call::<_, FriendRemoveResp>(&mut a, &FriendRemoveReq { player_id: idb }).await.unwrap();
    assert_eq!(seen(&ntf(&mut b).await), (ida, "Anna", FriendState::None));
    assert_eq!(list(&mut a).await, vec![(idc, "Chen".into(), FriendState::Friend, true)]);
    assert!(list(&mut b).await.is_empty());
    // Declining works the same way: B asks A, A declines.
    call::<_, FriendRequestResp>(&mut b, &by_id(ida)).await.unwrap();
    assert_eq!(ntf(&mut a).await.state(), FriendState::Incoming);
    call::<_, FriendRemoveResp>(&mut a, &FriendRemoveReq { player_id: idb }).await.unwrap();
    assert_eq!(seen(&ntf(&mut b).await), (ida, "Anna", FriendState::None));

    // A friend who logs out shows offline.
    call::<_, LogoutResp>(&mut c, &LogoutReq {}).await.unwrap();
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::LoggedOut);
    drop(c); // the gateway ends the session once the client has closed too
    cl.wait_presence(PlayerId(idc), false).await;
    assert_eq!(list(&mut a).await, vec![(idc, "Chen".into(), FriendState::Friend, false)]);

    // Requests that make no sense.
    let code = refused::<_, FriendRequestResp>(&mut a, &by_id(ida)).await;
    assert_eq!(code, ErrorCode::FriendInvalid);
    let code = refused::<_, FriendRequestResp>(&mut a, &by_id(idc + 1000)).await;
    assert_eq!(code, ErrorCode::PlayerNotFound);
    let nobody = FriendRequestReq { player_id: 0, username: "Nobody".into() };
    assert_eq!(refused::<_, FriendRequestResp>(&mut a, &nobody).await, ErrorCode::PlayerNotFound);
    let code = refused::<_, FriendAcceptResp>(&mut a, &FriendAcceptReq { player_id: idb }).await;
    assert_eq!(code, ErrorCode::FriendInvalid, "nothing to accept");
    assert_eq!(rows(&cl).await, vec![(ida, idc, 1), (idc, ida, 1)]);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_ends_the_relation_and_stops_requests_until_lifted() {
    let cl = cluster().await;
    let (mut a, sa) = cl.player("Dora").await;
    let (mut b, sb) = cl.player("Emil").await;
    let (ida, idb) = (sa.player_id, sb.player_id);
    call::<_, FriendRequestResp>(&mut a, &by_id(idb)).await.unwrap();
    ntf(&mut b).await;
    call::<_, FriendAcceptResp>(&mut b, &FriendAcceptReq { player_id: ida }).await.unwrap();
    ntf(&mut a).await;

    // A blocks B: B sees the friendship end (not the block).
    call::<_, FriendBlockResp>(&mut a, &FriendBlockReq { player_id: idb }).await.unwrap();
    assert_eq!(seen(&ntf(&mut b).await), (ida, "Dora", FriendState::None));
    assert_eq!(list(&mut a).await, vec![(idb, "Emil".into(), FriendState::Blocked, false)]);
    assert!(list(&mut b).await.is_empty());
    assert_eq!(rows(&cl).await, vec![(ida, idb, 4)]);
    // No request either way while the block stands.
    assert_eq!(refused::<_, FriendRequestResp>(&mut b, &by_id(ida)).await, ErrorCode::FriendBlocked);
    assert_eq!(refused::<_, FriendRequestResp>(&mut a, &by_id(idb)).await, ErrorCode::FriendBlocked);
    // Blocking again, or removing a blocked player, changes nothing.
    call::<_, FriendBlockResp>(&mut a, &FriendBlockReq { player_id: idb }).await.unwrap();
    call::<_, FriendRemoveResp>(&mut a, &FriendRemoveReq { player_id: idb }).await.unwrap();
    assert_eq!(rows(&cl).await, vec![(ida, idb, 4)]);

    // B blocks A too; A's unblock leaves B's block in place.
    call::<_, FriendBlockResp>(&mut b, &FriendBlockReq { player_id: ida }).await.unwrap();
    call::<_, FriendUnblockResp>(&mut a, &FriendUnblockReq { player_id: idb }).await.unwrap();
    assert_eq!(rows(&cl).await, vec![(idb, ida, 4)]);
    assert_eq!(refused::<_, FriendRequestResp>(&mut a, &by_id(idb)).await, ErrorCode::FriendBlocked);
    call::<_, FriendUnblockResp>(&mut b, &FriendUnblockReq { player_id: ida }).await.unwrap();
    assert!(rows(&cl).await.is_empty());

    // Lifted: requests work again.
    let r = call::<_, FriendRequestResp>(&mut b, &by_id(ida)).await.unwrap().friend.unwrap();
    assert_eq!(r.state(), FriendState::Outgoing);
    assert_eq!(seen(&ntf(&mut a).await), (idb, "Emil", FriendState::Incoming));
    assert_eq!(
        refused::<_, FriendBlockResp>(&mut a, &FriendBlockReq { player_id: ida }).await,
        ErrorCode::FriendInvalid
    );
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_requests_and_blocks_have_limits() {
    let cl = cluster_with(|cfg| {
        cfg.max_friends = 1;
        cfg.max_pending_requests = 2;
        cfg.max_blocked = 1;
    })
    .await;
    let (mut a, sa) = cl.player("Fay").await;
    let (mut b, sb) = cl.player("Gus").await;
    let (mut c, sc) = cl.player("Hal").await;
    let (_d, sd) = cl.player("Ida").await;
    let ida = sa.player_id;

    call::<_, FriendRequestResp>(&mut a, &by_id(sb.player_id)).await.unwrap();
    call::<_, FriendRequestResp>(&mut a, &by_id(sc.player_id)).await.unwrap();
    let code = refused::<_, FriendRequestResp>(&mut a, &by_id(sd.player_id)).await;
    assert_eq!(code, ErrorCode::FriendLimit, "two requests pending");

    ntf(&mut b).await;
    call::<_, FriendAcceptResp>(&mut b, &FriendAcceptReq { player_id: ida }).await.unwrap();
    ntf(&mut c).await;
    let code = refused::<_, FriendAcceptResp>(&mut c, &FriendAcceptReq { player_id: ida }).await;
    assert_eq!(code, ErrorCode::FriendLimit, "Fay has her one friend");

    call::<_, FriendBlockResp>(&mut a, &FriendBlockReq { player_id: sd.player_id }).await.unwrap();
    let code = refused::<_, FriendBlockResp>(&mut a, &FriendBlockReq { player_id: sc.player_id }).await;
    assert_eq!(code, ErrorCode::FriendLimit, "one block allowed");
    cl.finish().await;
}
