//! Registration and the three ways to log in, through gateway -> bus -> account server, against
//! real Redis and MariaDB: naming rules, case-insensitive uniqueness, guests and linking,
//! tokens, wrong-password limits, logout.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::*;
use mmo_proto::{
    ErrorCode, GetProfileReq, GetProfileResp, LinkAccountReq, LinkAccountResp, LoginResp, LogoutReq,
    LogoutResp, RegisterReq, RegisterResp,
};
use sha2::{Digest, Sha256};

fn register_req(username: &str, password: &str) -> RegisterReq {
    RegisterReq { username: username.into(), password: password.into(), display_name: String::new() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_login_and_a_wrong_password_is_refused() {
    let cl = cluster().await;
    let before = now_ms();
    let (mut alice, s) = cl.player("Alice").await;
    assert_ne!(s.player_id, 0);
    assert_eq!(s.token.len(), 43);
    let day = 24 * 3600 * 1000;
    assert!(s.token_expires_at_ms >= before + day && s.token_expires_at_ms <= now_ms() + day + 1000);
    let profile = s.profile.unwrap();
    assert_eq!((profile.player_id, profile.display_name.as_str()), (s.player_id, "Alice"));
    assert_eq!((profile.level, profile.experience, profile.guest), (1, 0, false));
    assert!(profile.created_at_ms >= before && profile.last_login_at_ms >= profile.created_at_ms);

    // Registered means logged in: this session may ask for its profile.
    let own = call::<_, GetProfileResp>(&mut alice, &GetProfileReq { player_id: 0 }).await.unwrap();
    assert_eq!(own.profile.unwrap().player_id, s.player_id);

    // Any case of the name logs in, to the same player.
    let (_c, again) = login(&cl, &password_login("aLiCe", &password_of("Alice"))).await.unwrap();
    assert_eq!(again.player_id, s.player_id);
    assert_ne!(again.token, s.token);

    // A wrong password and an unknown name get the same answer, and the session stays logged out.
    let mut c = cl.client().await;
    for req in [password_login("Alice", "not-the-password"), password_login("Nobody", "whatever-pass")] {
        assert_eq!(refused::<_, LoginResp>(&mut c, &req).await, ErrorCode::InvalidCredentials);
    }
    assert_eq!(
        refused::<_, GetProfileResp>(&mut c, &GetProfileReq { player_id: 0 }).await,
        ErrorCode::WrongStage
    );

    // Another player's profile by id; an unknown id is not found.
    let (mut bob, b) = cl.player("Bob").await;
    let p = call::<_, GetProfileResp>(&mut bob, &GetProfileReq { player_id: s.player_id }).await.unwrap();
    assert_eq!(p.profile.unwrap().display_name, "Alice");
    let missing = GetProfileReq { player_id: b.player_id + 1000 };
    assert_eq!(refused::<_, GetProfileResp>(&mut bob, &missing).await, ErrorCode::PlayerNotFound);

    // What MySQL holds: an argon2id hash at the configured cost, never the password; the profile.
    let (hash, key): (String, String) = cl
        .db
        .store()
        .exec_first("SELECT password_hash, username_key FROM accounts WHERE id = ?", (s.player_id,))
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
    assert!(!hash.contains("Alice-password"));
    assert_eq!(key, "alice");
    let (name, level, last_login): (String, u32, u64) = cl
        .db
        .store()
        .exec_first(
            "SELECT display_name, level, last_login_at_ms FROM profiles WHERE player_id = ?",
            (s.player_id,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((name.as_str(), level), ("Alice", 1));
    assert!(last_login >= again.profile.unwrap().last_login_at_ms);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_ignoring_case_and_follow_the_rules() {
    let cl = cluster().await;
    let mut c = cl.client().await;
    call::<_, RegisterResp>(&mut c, &register_req("Bob", "hunter2hunter2")).await.unwrap();
    for taken in ["bob", "BOB", "ＢＯＢ"] {
        let mut c = cl.client().await;
        let code = refused::<_, RegisterResp>(&mut c, &register_req(taken, "hunter2hunter2")).await;
        assert_eq!(code, ErrorCode::NameTaken, "{taken}");
    }
    let bad_names =
        ["ab", "abcdefghijklmnopq", "1abc", "_abc", "bob smith", "bob!", "admin", "Admin_2", "GM-x"];
    for name in bad_names {
        let mut c = cl.client().await;
        let code = refused::<_, RegisterResp>(&mut c, &register_req(name, "hunter2hunter2")).await;
        assert_eq!(code, ErrorCode::InvalidName, "{name:?}");
    }
    for password in ["short", "1234567", &"x".repeat(129)] {
        let mut c = cl.client().await;
        let code = refused::<_, RegisterResp>(&mut c, &register_req("Carol", password)).await;
        assert_eq!(code, ErrorCode::InvalidPassword, "{password:?}");
    }
    // Display names: spaces inside allowed, the same reserved words refused.
    let mut c = cl.client().await;
    let req = RegisterReq { display_name: "GM Carol".into(), ..register_req("Carol", "hunter2hunter2") };
    assert_eq!(refused::<_, RegisterResp>(&mut c, &req).await, ErrorCode::InvalidName);
    let req =
        RegisterReq { display_name: "Carol the Brave".into(), ..register_req("Carol", "hunter2hunter2") };
    let s = call::<_, RegisterResp>(&mut c, &req).await.unwrap().session.unwrap();
    assert_eq!(s.profile.unwrap().display_name, "Carol the Brave");
    // Letters of any script, unique ignoring case there too.
    let mut c = cl.client().await;
    call::<_, RegisterResp>(&mut c, &register_req("Ёжик", "hunter2hunter2")).await.unwrap();
    let mut c = cl.client().await;
    assert_eq!(
        refused::<_, RegisterResp>(&mut c, &register_req("ЁЖИК", "hunter2hunter2")).await,
        ErrorCode::NameTaken
    );

    // Two registrations racing for one name: exactly one wins.
    let (mut c1, mut c2) = (cl.client().await, cl.client().await);
    let (q1, q2) = (register_req("Racer", "hunter2hunter2"), register_req("racer", "hunter2hunter2"));
    let (r1, r2) = tokio::join!(call::<_, RegisterResp>(&mut c1, &q1), call::<_, RegisterResp>(&mut c2, &q2));
    assert_eq!(r1.is_ok() as u8 + r2.is_ok() as u8, 1, "{r1:?} {r2:?}");
    let loser = r1.err().or(r2.err()).unwrap();
    assert_eq!(loser.code(), ErrorCode::NameTaken);
    let n: Option<u64> = cl
        .db
        .store()
        .exec_first("SELECT COUNT(*) FROM accounts WHERE username_key = 'racer'", ())
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_links_a_username_and_then_logs_in_with_either() {
    let cl = cluster().await;
    let device = "device-0123456789abcdef";
    let (_first, g) = login(&cl, &device_login(device)).await.unwrap();
    let profile = g.profile.unwrap();
    assert!(profile.guest);
    assert_eq!(profile.display_name, format!("Guest-{}", g.player_id));

    // The same device finds the same guest.
    let (mut c, again) = login(&cl, &device_login(device)).await.unwrap();
    assert_eq!(again.player_id, g.player_id);

    let linked = call::<_, LinkAccountResp>(
        &mut c,
        &LinkAccountReq { username: "Dana".into(), password: "dana-password".into() },
    )
    .await
    .unwrap()
    .profile
    .unwrap();
    assert_eq!((linked.player_id, linked.guest, linked.display_name.as_str()), (g.player_id, false, "Dana"));
    let again = LinkAccountReq { username: "Dana2".into(), password: "dana-password".into() };
    assert_eq!(refused::<_, LinkAccountResp>(&mut c, &again).await, ErrorCode::AlreadyLinked);

    // Password and device both reach the same player now.
    let (_c, by_password) = login(&cl, &password_login("dana", "dana-password")).await.unwrap();
    assert_eq!(by_password.player_id, g.player_id);
    let (_c, by_device) = login(&cl, &device_login(device)).await.unwrap();
    assert_eq!(by_device.player_id, g.player_id);
    assert!(!by_device.profile.unwrap().guest);

    // Another guest cannot link a taken name, nor a bad one.
    let (mut other, o) = login(&cl, &device_login("another-device-0000000")).await.unwrap();
    assert_ne!(o.player_id, g.player_id);
    let taken = LinkAccountReq { username: "DANA".into(), password: "other-password".into() };
    assert_eq!(refused::<_, LinkAccountResp>(&mut other, &taken).await, ErrorCode::NameTaken);
    let bad = LinkAccountReq { username: "x".into(), password: "other-password".into() };
    assert_eq!(refused::<_, LinkAccountResp>(&mut other, &bad).await, ErrorCode::InvalidName);
    let bad = LinkAccountReq { username: "Olga".into(), password: "short".into() };
    assert_eq!(refused::<_, LinkAccountResp>(&mut other, &bad).await, ErrorCode::InvalidPassword);

    // Malformed device ids are refused.
    let mut c = cl.client().await;
    assert_eq!(refused::<_, LoginResp>(&mut c, &device_login("short")).await, ErrorCode::InvalidArgument);

    // MySQL holds the device id's SHA-256, not the id.
    let count = |v: String| {
        let store = cl.db.store().clone();
        async move {
            let n: Option<u64> =
                store.exec_first("SELECT COUNT(*) FROM accounts WHERE device_hash = ?", (v,)).await.unwrap();
            n.unwrap()
        }
    };
    assert_eq!(count(device.to_string()).await, 0);
    assert_eq!(count(hex(&Sha256::digest(device.as_bytes()))).await, 1);
    cl.finish().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_log_in_until_they_expire_and_forged_ones_do_not() {
    let cl = cluster_with(|cfg| cfg.token_ttl = Duration::from_secs(3600)).await;
    let (_c, s) = cl.player("Erin").await;
    assert!(s.token_expires_at_ms <= now_ms() + 3_600_000 && s.token_expires_at_ms > now_ms() + 3_500_000);

    let (_c, by_token) = login(&cl, &token_login(&s.token)).await.unwrap();
    assert_eq!(by_token.player_id, s.player_id);
    assert_ne!(by_token.token, s.token, "a token login gets a fresh token");
    // The one it logged in with stays valid.
    let (_c, again) = login(&cl, &token_login(&s.token)).await.unwrap();
    assert_eq!(again.player_id, s.player_id);

    let mut c = cl.client().await;
    for forged in ["A".repeat(43), "abc".to_string(), String::new(), format!("{}!", &s.token[1..])] {
        assert_eq!(refused::<_, LoginResp>(&mut c, &token_login(&forged)).await, ErrorCode::InvalidToken);
    }

    // Expiry is Redis dropping the key (tokens.rs: `<prefix>:token:<sha256 hex>`).
    let key = cl.bus.keys().token(&hex(&Sha256::digest(s.token.as_bytes())));
    let mut conn = cl.bus.conn().await.unwrap();
    let deleted: u32 = redis::cmd("DEL").arg(&key).query_async(&mut *conn).await.unwrap();
    assert_eq!(deleted, 1);
    let mut c = cl.client().await;
    assert_eq!(refused::<_, LoginResp>(&mut c, &token_login(&s.token)).await, ErrorCode::InvalidToken);
    // The fresh one still works.
    let (_c, fresh) = login(&cl, &token_login(&by_token.token)).await.unwrap();
    assert_eq!(fresh.player_id, s.player_id);
    cl.finish().await;
}

/// The error of a password login, whole.
async fn password_error(cl: &Cluster, name: &str, password: &str) -> mmo_proto::ErrorResp {
    login(cl, &password_login(name, password)).await.map(|(_, s)| s.player_id).expect_err("refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_limited_per_account() {
    let window = Duration::from_secs(600);
    let cl = cluster_with(|cfg| {
        cfg.max_failed_logins_per_account = 3;
        cfg.max_failed_logins_per_address = 100;
        cfg.failed_login_window = window;
    })
    .await;
    let (_c, s) = cl.player("Frank").await;
    cl.player("Gina").await;

    // Two wrong, then right: the count starts again.
    for _ in 0..2 {
        assert_eq!(
            password_error(&cl, "frank", "wrong-password").await.code(),
            ErrorCode::InvalidCredentials
        );
    }
    login(&cl, &password_login("Frank", &password_of("Frank"))).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            password_error(&cl, "FRANK", "wrong-password").await.code(),
            ErrorCode::InvalidCredentials
        );
    }
    // The fourth is refused before the password is looked at: even the right one.
    let err = password_error(&cl, "Frank", &password_of("Frank")).await;
    assert_eq!(err.code(), ErrorCode::TooManyAttempts);
    assert!(err.retry_after_ms > 0 && err.retry_after_ms <= window.as_millis() as u64, "{err:?}");
    assert!(!err.detail.is_empty());
    // Other accounts from the same address are not affected; nor are the account's tokens.
    login(&cl, &password_login("Gina", &password_of("Gina"))).await.unwrap();
    login(&cl, &token_login(&s.token)).await.unwrap();
    // Unknown names are limited the same way (nothing tells them apart).
    for _ in 0..3 {
        assert_eq!(
            password_error(&cl, "Ghost", "wrong-password").await.code(),
            ErrorCode::InvalidCredentials
        );
    }
    assert_eq!(password_error(&cl, "Ghost", "wrong-password").await.code(), ErrorCode::TooManyAttempts);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_limited_per_address() {
    let window = Duration::from_secs(300);
    let cl = cluster_with(|cfg| {
        cfg.max_failed_logins_per_account = 100;
        cfg.max_failed_logins_per_address = 3;
        cfg.failed_login_window = window;
    })
    .await;
    cl.player("Hana").await;
    // Right passwords do not count.
    for _ in 0..4 {
        login(&cl, &password_login("Hana", &password_of("Hana"))).await.unwrap();
    }
    // Three wrong ones, each for another name, from this address (every test client is 127.0.0.1).
    for name in ["Ivan", "Hana", "Jo-1"] {
        assert_eq!(password_error(&cl, name, "wrong-password").await.code(), ErrorCode::InvalidCredentials);
    }
    let err = password_error(&cl, "Hana", &password_of("Hana")).await;
    assert_eq!(err.code(), ErrorCode::TooManyAttempts);
    assert!(err.retry_after_ms > 0 && err.retry_after_ms <= window.as_millis() as u64, "{err:?}");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_tokens_and_closes_the_session() {
    let cl = cluster().await;
    let (mut c, s) = cl.player("Kim").await;
    let (_other, second) = login(&cl, &token_login(&s.token)).await.unwrap();
    let (mut c2, _) = login(&cl, &password_login("Kim", &password_of("Kim"))).await.unwrap();
    drop(c);
    call::<_, LogoutResp>(&mut c2, &LogoutReq {}).await.unwrap();
    assert_eq!(c2.expect_disconnect().await.unwrap(), ErrorCode::LoggedOut);
    // Every token of the player is revoked.
    for token in [&s.token, &second.token] {
        c = cl.client().await;
        assert_eq!(refused::<_, LoginResp>(&mut c, &token_login(token)).await, ErrorCode::InvalidToken);
    }
    // The password still works.
    login(&cl, &password_login("Kim", &password_of("Kim"))).await.unwrap();
    cl.finish().await;
}

/// proto/README.md (section 5.1) lists the default reserved words whole, as the config has them.
#[test]
fn the_protocol_document_lists_the_reserved_names() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/README.md")).unwrap();
    let flat = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let listed = flat
        .split("The reserved words, ignoring case, are by default: ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .expect("the list in section 5.1");
    let listed: Vec<&str> = listed.split(", ").collect();
    assert_eq!(listed, mmo_account::AccountConfig::default().reserved_names);
}
