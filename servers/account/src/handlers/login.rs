//! LoginReq: logs in with a username and password, a device id (the first login with a new one
//! creates a guest account) or a token from an earlier login (which gets a fresh token; the old
//! one stays valid until it expires).

use mmo_core::bus::{events, tokens};
use mmo_core::{Ctx, HandlerError};
use mmo_proto::bus::Login;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::login_req::Credential;
use mmo_proto::{AuthSession, DeviceCredential, ErrorCode, LoginReq, LoginResp, PasswordCredential};

use crate::accounts::{self, ER_DUP_ENTRY, Lookup, NewAccount};
use crate::auth::{count_refusal, open_session, refuse_if_banned};
use crate::error::OrInternal as _;
use crate::{State, names};

pub async fn handle_login(ctx: Ctx<State>, req: LoginReq) -> Result<LoginResp, HandlerError> {
    let session = match req.credential {
        Some(Credential::Password(c)) => with_password(&ctx, c).await?,
        Some(Credential::Device(c)) => with_device(&ctx, c).await?,
        Some(Credential::Token(t)) => with_token(&ctx, &t).await?,
        None => return Err(HandlerError::Reject(ErrorCode::InvalidArgument)),
    };
    Ok(LoginResp { session: Some(session) })
}

async fn with_password(ctx: &Ctx<State>, c: PasswordCredential) -> Result<AuthSession, HandlerError> {
    let st = ctx.state();
    let key = names::login_key(&c.username);
    // The attempt is reserved against both limits before any password is looked at.
    let reservation = match st.attempts.reserve(&st.bus, key.as_deref(), ctx.session().peer_ip()).await {
        Ok(Ok(r)) => r,
        Ok(Err(wait)) => {
            count_refusal("password", "throttled");
            return Err(HandlerError::refuse(
                ErrorCode::TooManyAttempts,
                "too many wrong passwords, try again later",
                Some(wait),
            ));
        }
        Err(e) => return Err(HandlerError::internal(e)),
    };
    let account = match &key {
        Some(k) => accounts::find(&st.store, Lookup::NameKey(k)).await.or_internal()?,
        None => None,
    };
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    // An unknown user is verified against a dummy hash: it takes as long as a wrong password.
    let matched = match names::password(&c.password) {
        Some(password) => st.hasher.verify(password.clone(), stored.clone()).await.or_internal()?,
        None => false,
    };
    let (Some(account), true) = (account, matched) else {
        count_refusal("password", "invalid");
        if let Err(e) = st.attempts.failed(&st.bus, reservation).await {
            tracing::warn!(error = %e, "could not count the wrong password against the address");
        }
        return Err(HandlerError::Reject(ErrorCode::InvalidCredentials));
    };
    if let Err(e) = st.attempts.succeeded(&st.bus, reservation).await {
        tracing::warn!(error = %e, "could not reset the wrong-password count");
    }
    refuse_if_banned(st, &account).await.inspect_err(|_| count_refusal("password", "banned"))?;
    if let (Some(stored), Some(password)) = (stored, names::password(&c.password))
        && st.hasher.needs_rehash(&stored)
    {
        // The hashing cost changed since this password was stored: store it at the new cost.
        match st.hasher.hash(password).await {
            Ok(h) => accounts::set_password_hash(&st.store, account.id, &h).await.or_internal()?,
            Err(e) => tracing::warn!(error = %e, player = %account.id, "password not rehashed"),
        }
    }
    open_session(ctx, account.id, "login", "password").await
}

async fn with_device(ctx: &Ctx<State>, c: DeviceCredential) -> Result<AuthSession, HandlerError> {
    let st = ctx.state();
    if !names::device_id_ok(&c.device_id) {
        return Err(HandlerError::Reject(ErrorCode::InvalidArgument));
    }
    let device_hash = accounts::device_hash(&c.device_id);
    let by_device = Lookup::Device(&device_hash);
    let account = match accounts::find(&st.store, by_device).await.or_internal()? {
        Some(a) => a,
        None => {
            match accounts::create(&st.store, &NewAccount::Guest { device_hash: device_hash.clone() }).await {
                Ok(player) => {
                    let detail =
                        Detail::Login(Login { method: "device".into(), session: ctx.session().id().0 });
                    events::emit_typed(&st.bus, "register", player, detail);
                }
                // The same device logged in twice at once: the other login created it.
                Err(e) if e.server_code() == Some(ER_DUP_ENTRY) => {}
                Err(e) => return Err(HandlerError::internal(e)),
            }
            accounts::find(&st.store, by_device)
                .await
                .or_internal()?
                .ok_or_else(|| HandlerError::internal("guest account vanished after creation"))?
        }
    };
    refuse_if_banned(st, &account).await.inspect_err(|_| count_refusal("device", "banned"))?;
    open_session(ctx, account.id, "login", "device").await
}

async fn with_token(ctx: &Ctx<State>, token: &str) -> Result<AuthSession, HandlerError> {
    let st = ctx.state();
    let account = match tokens::verify(&st.bus, token).await.or_internal()? {
        Some(player) => accounts::find(&st.store, Lookup::Id(player.0)).await.or_internal()?,
        None => None,
    };
    let Some(account) = account else {
        count_refusal("token", "invalid");
        return Err(HandlerError::Reject(ErrorCode::InvalidToken));
    };
    refuse_if_banned(st, &account).await.inspect_err(|_| count_refusal("token", "banned"))?;
    open_session(ctx, account.id, "login", "token").await
}
