//! Bans through the admin functions, and the game events the account server emits, against the
//! whole path (gateway -> bus -> account server) on real Redis and MariaDB.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::*;
use mmo_account::AccountError;
use mmo_core::session::PlayerId;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::{ErrorCode, LinkAccountReq, LinkAccountResp, LoginResp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_kicks_the_online_player_and_refuses_logins_with_reason_and_time_left() {
    let cl = cluster().await;
    let (mut online, s) = cl.player("Mallory").await;
    let store = cl.db.store();

    let hour = Duration::from_secs(3600);
    let banned = mmo_account::ban(store, &cl.bus, "MALLORY", "cheating", Some(hour)).await.unwrap();
    assert_eq!(banned.player, PlayerId(s.player_id));
    assert!(banned.kicked, "was online");
    assert_eq!(banned.tokens_revoked, 1);
    assert_eq!(online.expect_disconnect().await.unwrap(), ErrorCode::AccountBanned);
    drop(online); // the gateway ends the session once the client has closed too

    // Refused with the reason and the time left; the revoked token is simply invalid.
    let err = login(&cl, &password_login("Mallory", &password_of("Mallory"))).await.map(|_| ()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::AccountBanned);
    assert_eq!(err.detail, "cheating");
    let hour_ms = hour.as_millis() as u64;
    assert!(err.retry_after_ms > hour_ms - 60_000 && err.retry_after_ms <= hour_ms, "{err:?}");
    let mut c = cl.client().await;
    assert_eq!(refused::<_, LoginResp>(&mut c, &token_login(&s.token)).await, ErrorCode::InvalidToken);

    // A permanent ban, by id: no time left to wait for (and nobody to kick, once the gateway
    // has ended the kicked session).
    cl.wait_presence(PlayerId(s.player_id), false).await;
    let id = s.player_id.to_string();
    let permanent = mmo_account::ban(store, &cl.bus, &id, "botting", None).await.unwrap();
    assert_eq!((permanent.expires_at_ms, permanent.kicked), (None, false));
    let err = login(&cl, &password_login("mallory", &password_of("Mallory"))).await.map(|_| ()).unwrap_err();
    assert_eq!(
        (err.code(), err.detail.as_str(), err.retry_after_ms),
        (ErrorCode::AccountBanned, "botting", 0)
    );

    // Unban: the password works again.
    let unbanned = mmo_account::unban(store, &cl.bus, "Mallory").await.unwrap();
    assert!(unbanned.was_banned);
    assert!(!mmo_account::unban(store, &cl.bus, "Mallory").await.unwrap().was_banned);
    login(&cl, &password_login("Mallory", &password_of("Mallory"))).await.unwrap();

    // A ban whose time is over is lifted by the next login (device and token logins too).
    let (_g, guest) = login(&cl, &device_login("guest-device-00000000")).await.unwrap();
    let gid = guest.player_id.to_string();
    mmo_account::ban(store, &cl.bus, &gid, "spam", Some(Duration::ZERO)).await.unwrap();
    let (_g, again) = login(&cl, &device_login("guest-device-00000000")).await.unwrap();
    assert_eq!(again.player_id, guest.player_id);
    let left: Option<Option<u64>> =
        store.exec_first("SELECT banned_at_ms FROM accounts WHERE id = ?", (guest.player_id,)).await.unwrap();
    assert_eq!(left, Some(None), "the expired ban is cleared");
    mmo_account::ban(store, &cl.bus, &gid, "spam", Some(hour)).await.unwrap();
    let mut c = cl.client().await;
    let code = refused::<_, LoginResp>(&mut c, &device_login("guest-device-00000000")).await;
    assert_eq!(code, ErrorCode::AccountBanned);

    // Unknown accounts and over-long reasons are errors for the operator.
    let missing = mmo_account::ban(store, &cl.bus, "Nobody", "x", None).await;
    assert!(matches!(missing, Err(AccountError::NotFound(_))), "{missing:?}");
    let missing = mmo_account::unban(store, &cl.bus, "999999").await;
    assert!(matches!(missing, Err(AccountError::NotFound(_))), "{missing:?}");
    let long = mmo_account::ban(store, &cl.bus, "Mallory", &"x".repeat(256), None).await;
    assert!(matches!(long, Err(AccountError::Invalid(_))), "{long:?}");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_logins_links_and_bans_are_game_events() {
    let cl = cluster().await;
    let (_c, s) = cl.player("Nina").await;
    login(&cl, &password_login("Nina", &password_of("Nina"))).await.unwrap();
    login(&cl, &token_login(&s.token)).await.unwrap();
    let (mut g, guest) = login(&cl, &device_login("events-device-000000")).await.unwrap();
    let link = LinkAccountReq { username: "Oscar".into(), password: "oscar-password".into() };
    call::<_, LinkAccountResp>(&mut g, &link).await.unwrap();
    mmo_account::ban(cl.db.store(), &cl.bus, "Nina", "flooding", None).await.unwrap();
    mmo_account::unban(cl.db.store(), &cl.bus, "Nina").await.unwrap();
    // A wrong password is not an event.
    login(&cl, &password_login("Nina", "wrong-password")).await.map(|_| ()).unwrap_err();

    let events = cl.events().await;
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    let of = |player: u64| -> Vec<(String, Vec<(String, String)>)> {
        events
            .iter()
            // Logouts come from the gateway as sessions end: not this server's to check.
            .filter(|e| e.player == player && e.kind != "logout")
            .map(|e| {
                // The session id varies from run to run: checked below, not here.
                let attrs = match &e.detail {
                    Some(Detail::Login(l)) => vec![kv("method", &l.method)],
                    Some(Detail::Ban(b)) => {
                        vec![kv("reason", &b.reason), kv("until_ms", &b.until_ms.to_string())]
                    }
                    Some(Detail::Unban(u)) => vec![kv("by", &u.by)],
                    other => panic!("untyped {}: {other:?}", e.kind),
                };
                (e.kind.clone(), attrs)
            })
            .collect()
    };
    assert_eq!(
        of(s.player_id),
        vec![
            ("register".into(), vec![kv("method", "password")]),
            ("login".into(), vec![kv("method", "password")]),
            ("login".into(), vec![kv("method", "token")]),
            ("ban".into(), vec![kv("reason", "flooding"), kv("until_ms", "0")]),
            ("unban".into(), vec![kv("by", "admin")]),
        ]
    );
    assert_eq!(
        of(guest.player_id),
        vec![
            ("register".into(), vec![kv("method", "device")]),
            ("login".into(), vec![kv("method", "device")]),
            ("link".into(), vec![kv("method", "password")]),
        ]
    );
    // Every login names its session, so other servers can find it once the gateway claimed it.
    assert!(
        events
            .iter()
            .filter(|e| e.kind == "login")
            .all(|e| matches!(&e.detail, Some(Detail::Login(l)) if l.session != 0))
    );
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    assert!(events.iter().all(|e| e.node == "node-1" && e.at_ms > 0));
    cl.finish().await;
}
