//! The steps that take a bot from a TCP connect to where its scenario starts: connect and say
//! Hello, log in, enter the world. A scenario names the last step it needs
//! ([`Stage`](crate::scenario::Stage)); each step bounds its wait and counts how it went in the
//! bot's tally, a failure under its own kind.
//!
//! Logging in is with a device id, or by registering a username and, when the name is taken (a
//! rerun), logging in with its password (`login.rs` says who each bot is). Entering the world is
//! an EnterWorldReq, sent again after an UNAVAILABLE answer a bounded number of times.

use std::net::SocketAddr;
use std::time::Duration;

use mmo_proto::login_req::Credential;
use mmo_proto::{
    AuthSession, DeviceCredential, EnterWorldReq, EnterWorldResp, ErrorCode, HelloReq, HelloResp, LoginReq,
    LoginResp, PROTOCOL_VERSION, PasswordCredential, Platform, RegisterReq, RegisterResp, ZoneEnterNtf,
};
use mmo_wire::{Flags, MsgType, Seq};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use crate::Options;
use crate::conn::{Conn, Fail, expect};
use crate::login::{self, LoginMethod};
use crate::tally::{Errors, Tally, ZoneTally};

/// Time allowed for the TCP connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed from connected to HelloResp (the gateway's own deadline is 5 s by default).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed from the first login request to the session: beyond the gateway's request
/// timeout (10 s by default), so the server's own answer (UNAVAILABLE) is what a bot sees.
pub(crate) const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// EnterWorldReqs sent in all before an UNAVAILABLE answer counts as a failure.
const ENTER_ATTEMPTS: u32 = 10;
/// The least wait before sending EnterWorldReq again; the zone allows 2 per second and session,
/// and a faster retry would be RATE_LIMITED (a strike).
const ENTER_RETRY_MIN: Duration = Duration::from_millis(500);
/// Time allowed from the first EnterWorldReq to placed, retries included: every attempt the
/// gateway's request timeout (10 s), or all of them at the zone's retry_after (1 s).
const ENTER_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects and completes the handshake; on failure records why and returns `None`.
pub(crate) async fn connect(addr: SocketAddr, errors: &mut Errors) -> Option<(Conn, HelloResp)> {
    let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "connect failed");
            errors.record("connect", e);
            return None;
        }
        Err(_) => {
            errors.record("connect.timeout", format_args!("no connection within {CONNECT_TIMEOUT:?}"));
            return None;
        }
    };
    // Requests are tiny and latency is what is measured: Nagle's algorithm would hold them back.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    let mut conn = Conn::new(stream);
    let hello = HelloReq {
        protocol_version: PROTOCOL_VERSION,
        client_version: concat!(env!("CARGO_PKG_VERSION"), "+mmo-bots").to_owned(),
        platform: Platform::Linux.into(),
    };
    match timeout(HANDSHAKE_TIMEOUT, conn.hello(hello)).await {
        Ok(Ok(resp)) => Some((conn, resp)),
        Ok(Err(fail)) => {
            tracing::debug!(error = %fail, "handshake failed");
            errors.record(format!("handshake.{}", fail.kind()), &fail);
            None
        }
        Err(_) => {
            errors.record("handshake.timeout", format_args!("no HelloResp within {HANDSHAKE_TIMEOUT:?}"));
            None
        }
    }
}

/// Logs in as bot `index` the way `opts` says and counts the login (attempted, its latency, and
/// registered or failed and why) in `tally`. Returns the session's player id, if it has one.
pub(crate) async fn log_in(
    conn: &mut Conn,
    opts: &Options,
    index: usize,
    seq: &mut u32,
    tally: &mut Tally,
) -> Option<u64> {
    tally.login_attempted = 1;
    let began = Instant::now();
    match timeout(LOGIN_TIMEOUT, login_exchange(conn, opts.login, &opts.run_tag, index, seq)).await {
        Ok(Ok((player, registered))) => {
            tally.record_login_latency(began.elapsed());
            tally.login_ok = 1;
            tally.registered = u64::from(registered);
            Some(player)
        }
        Ok(Err(fail)) => {
            tracing::debug!(error = %fail, "login failed");
            tally.login_failed.record(fail.login_kind(), &fail);
            None
        }
        Err(_) => {
            tally.login_failed.record("timeout", format_args!("no session within {LOGIN_TIMEOUT:?}"));
            None
        }
    }
}

/// Enters the world and counts it (attempted, its latency and retries, or failed and why) in
/// `z`. Returns where the zone placed the bot.
pub(crate) async fn enter_world(conn: &mut Conn, seq: &mut u32, z: &mut ZoneTally) -> Option<ZoneEnterNtf> {
    z.enter_attempted = 1;
    let began = Instant::now();
    match timeout(ENTER_TIMEOUT, enter_exchange(conn, seq, &mut z.enter_retries)).await {
        Ok(Ok(placed)) => {
            z.record_enter_latency(began.elapsed());
            z.entered = 1;
            Some(placed)
        }
        Ok(Err(fail)) => {
            tracing::debug!(error = %fail, "enter failed");
            z.enter_failed.record(fail.login_kind(), &fail);
            None
        }
        Err(_) => {
            z.enter_failed.record("timeout", format_args!("not in the world within {ENTER_TIMEOUT:?}"));
            None
        }
    }
}

/// Sends EnterWorldReq until placed: an UNAVAILABLE answer (the instance is not running right
/// now) is retried after its retry_after_ms, up to [`ENTER_ATTEMPTS`] requests in all (the
/// caller bounds the wait). Counts the retries in `retries`.
async fn enter_exchange(conn: &mut Conn, seq: &mut u32, retries: &mut u64) -> Result<ZoneEnterNtf, Fail> {
    let mut attempt = 1;
    loop {
        *seq += 1;
        let s = Seq(*seq);
        match conn.call(EnterWorldReq {}.to_frame_bytes(s, Flags::NONE), s).await {
            Ok(frame) => {
                let resp = expect::<EnterWorldResp>(&frame)?;
                return resp.zone.ok_or(Fail::NoZone);
            }
            Err(Fail::Rejected(e)) if e.code == ErrorCode::Unavailable as i32 && attempt < ENTER_ATTEMPTS => {
                attempt += 1;
                *retries += 1;
                sleep(Duration::from_millis(e.retry_after_ms).max(ENTER_RETRY_MIN)).await;
            }
            Err(fail) => return Err(fail),
        }
    }
}

/// Logs in as bot `index` (the caller bounds the wait). Returns the player id, and whether the
/// account was registered just now.
pub(crate) async fn login_exchange(
    conn: &mut Conn,
    method: LoginMethod,
    tag: &str,
    index: usize,
    seq: &mut u32,
) -> Result<(u64, bool), Fail> {
    let mut next_seq = || {
        *seq += 1;
        Seq(*seq)
    };
    let login = match method {
        LoginMethod::Device => {
            let device_id = login::device_id(tag, index);
            LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) }
        }
        LoginMethod::Password => {
            let username = login::username(tag, index);
            let register = RegisterReq {
                username: username.clone(),
                password: login::PASSWORD.to_owned(),
                display_name: String::new(),
            };
            let s = next_seq();
            match conn.call(register.to_frame_bytes(s, Flags::NONE), s).await {
                Ok(frame) => {
                    let resp = expect::<RegisterResp>(&frame)?;
                    let player = check_session(resp.session.as_ref(), RegisterResp::NAME)?;
                    return Ok((player, true));
                }
                // A rerun: the account is ours from an earlier run.
                Err(Fail::Rejected(e)) if e.code == ErrorCode::NameTaken as i32 => {}
                Err(fail) => return Err(fail),
            }
            let password = login::PASSWORD.to_owned();
            LoginReq { credential: Some(Credential::Password(PasswordCredential { username, password })) }
        }
    };
    let s = next_seq();
    let frame = conn.call(login.to_frame_bytes(s, Flags::NONE), s).await?;
    let resp = expect::<LoginResp>(&frame)?;
    let player = check_session(resp.session.as_ref(), LoginResp::NAME)?;
    Ok((player, false))
}

/// A session worth the name: a player and a token. Returns the player id.
fn check_session(session: Option<&AuthSession>, answer: &'static str) -> Result<u64, Fail> {
    match session {
        Some(s) if s.player_id != 0 && !s.token.is_empty() => Ok(s.player_id),
        _ => Err(Fail::NoSession(answer)),
    }
}
