//! Custom channels' passwords, hashed with argon2id (a lighter cost than accounts': a channel
//! password guards a chat room, not an account) on blocking threads.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ChatError;

fn argon2() -> Result<Argon2<'static>, ChatError> {
    let params = Params::new(4096, 1, 1, None).map_err(|e| ChatError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password`, with a fresh salt.
pub async fn hash(password: String) -> Result<String, ChatError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| ChatError::Hash(e.to_string()))?;
        let hash = argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| ChatError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    })
    .await
    .map_err(|e| ChatError::Hash(e.to_string()))?
}

/// Whether `password` matches `phc`.
pub async fn verify(password: String, phc: String) -> Result<bool, ChatError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc).map_err(|e| ChatError::Hash(e.to_string()))?;
        Ok(argon2()?.verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| ChatError::Hash(e.to_string()))?
}
