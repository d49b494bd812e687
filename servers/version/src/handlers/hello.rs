//! HelloReq: checks the protocol and the client build against its platform's policy. OK and
//! update-available move the session to `Versioned`; update-required answers with the manifest
//! URL and closes the connection (`UPDATE_REQUIRED`).

use mmo_core::{Ctx, HandlerError, Stage};
use mmo_proto::{ErrorCode, HelloReq, HelloResp, PROTOCOL_VERSION, Platform, VersionStatus};

use crate::State;

pub async fn handle_hello(ctx: Ctx<State>, req: HelloReq) -> Result<HelloResp, HandlerError> {
    if req.protocol_version != PROTOCOL_VERSION {
        return Err(HandlerError::Kick(ErrorCode::UnsupportedProtocol));
    }
    let client =
        parse_client_version(&req.client_version).ok_or(HandlerError::Reject(ErrorCode::InvalidArgument))?;
    let platform = Platform::try_from(req.platform).unwrap_or(Platform::Unspecified);
    let build = ctx.state().builds.build_for(platform).await.map_err(HandlerError::internal)?;
    let mut resp = ctx.state().listener.hello_resp(ctx.session().id());
    if let Some(b) = build {
        let status = if client < b.minimum {
            VersionStatus::UpdateRequired
        } else if client < b.latest {
            VersionStatus::UpdateAvailable
        } else {
            VersionStatus::Ok
        };
        resp.version_status = status as i32;
        if status != VersionStatus::Ok {
            resp.latest_version = b.latest.to_string();
            resp.minimum_version = b.minimum.to_string();
            resp.manifest_url = b.manifest_url;
        }
        if status == VersionStatus::UpdateRequired {
            // The answer goes out first, then the notice, then the connection closes.
            ctx.session().kick(ErrorCode::UpdateRequired, "client build too old");
            return Ok(resp);
        }
    }
    ctx.session().set_stage(Stage::Versioned);
    Ok(resp)
}

/// `MAJOR.MINOR.PATCH[-pre][+build]`; a two-part `MAJOR.MINOR` is read as `MAJOR.MINOR.0`.
fn parse_client_version(v: &str) -> Option<semver::Version> {
    if v.len() > 64 {
        return None;
    }
    semver::Version::parse(v).ok().or_else(|| semver::Version::parse(&format!("{v}.0")).ok())
}

#[cfg(test)]
mod tests {
    use super::parse_client_version;

    #[test]
    fn client_versions() {
        assert_eq!(parse_client_version("1.4.2").unwrap().to_string(), "1.4.2");
        assert_eq!(parse_client_version("1.4").unwrap().to_string(), "1.4.0");
        assert!(parse_client_version("0.1.0+mmo-bots").is_some());
        for bad in ["", "one", "1", "1.x", &"9".repeat(70)] {
            assert!(parse_client_version(bad).is_none(), "{bad}");
        }
    }
}
