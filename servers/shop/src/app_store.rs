//! App Store signed transactions (StoreKit 2 `jwsRepresentation`), verified locally: a compact
//! JWS whose header carries `alg: ES256` and the certificate chain (`x5c`: leaf, intermediate,
//! optionally the root). The chain must be signed link by link up to the configured root
//! certificate (Apple Root CA - G3 in production), every certificate valid now and every
//! issuer a CA; the leaf's P-256 key must verify the signature over `header.payload`; the
//! payload's `bundleId` must be the app's, and a revoked transaction is refused. What comes
//! out is the payload's `productId` and `transactionId`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mmo_proto::ReceiptPlatform;
use serde::Deserialize;
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate};

use crate::config::AppStoreConfig;
use crate::receipts::{ReceiptError, ReceiptValidator, Verified, Verifying};

/// Most certificates an `x5c` header may carry.
const MAX_CHAIN: usize = 4;
/// Longest transaction id kept (App Store ids are decimal strings of about 16 digits).
const MAX_TRANSACTION_ID: usize = 64;

/// The App Store validator: the root certificate and the app's bundle id.
#[derive(Clone, Debug)]
pub struct AppStore {
    root_der: Vec<u8>,
    bundle_id: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    x5c: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    transaction_id: String,
    product_id: String,
    bundle_id: String,
    #[serde(default)]
    revocation_date: Option<serde_json::Value>,
}

fn bad(m: impl Into<String>) -> ReceiptError {
    ReceiptError(m.into())
}

impl AppStore {
    /// A validator trusting the root certificate in `root_pem` (PEM) for `bundle_id`.
    pub fn new(root_pem: &[u8], bundle_id: &str) -> Result<AppStore, String> {
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(root_pem).map_err(|e| format!("root certificate PEM: {e}"))?;
        X509Certificate::from_der(&pem.contents).map_err(|e| format!("root certificate: {e}"))?;
        Ok(AppStore { root_der: pem.contents, bundle_id: bundle_id.to_string() })
    }

    /// The validator `[shop.app_store]` configures (reads `root_cert`).
    pub fn from_config(cfg: &AppStoreConfig) -> Result<AppStore, String> {
        let pem = std::fs::read(&cfg.root_cert).map_err(|e| format!("{}: {e}", cfg.root_cert.display()))?;
        AppStore::new(&pem, &cfg.bundle_id)
    }

    /// Verifies `jws` as of `now` (seconds since the Unix epoch).
    pub fn verify_at(&self, jws: &str, now: i64) -> Result<Verified, ReceiptError> {
        let mut parts = jws.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not a compact JWS"));
        };
        let decode = |s: &str| {
            URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|e| bad(format!("base64: {e}")))
        };
        let header: Header =
            serde_json::from_slice(&decode(h64)?).map_err(|e| bad(format!("header: {e}")))?;
        if header.alg != "ES256" {
            return Err(bad(format!("alg {}", header.alg)));
        }
        if header.x5c.is_empty() || header.x5c.len() > MAX_CHAIN {
            return Err(bad("x5c must hold 1-4 certificates"));
        }
        let ders = header
            .x5c
            .iter()
            .map(|c| STANDARD.decode(c).map_err(|e| bad(format!("x5c base64: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let certs = ders
            .iter()
            .map(|d| X509Certificate::from_der(d).map(|(_, c)| c).map_err(|e| bad(format!("x5c: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let (_, root) = X509Certificate::from_der(&self.root_der).map_err(|e| bad(format!("root: {e}")))?;
        let at = ASN1Time::from_timestamp(now).map_err(|e| bad(format!("time: {e}")))?;
        // The chain the signature rests on: x5c's certificates, minus the root if it was sent
        // (it must then be the configured one), then the configured root.
        let mut chain: Vec<&X509Certificate> = certs.iter().collect();
        if ders.len() > 1 && ders.last().is_some_and(|d| *d == self.root_der) {
            chain.pop();
        }
        chain.push(&root);
        for c in &chain {
            if !c.validity().is_valid_at(at) {
                return Err(bad(format!("certificate {} not valid now", c.subject())));
            }
        }
        for pair in chain.windows(2) {
            let (child, issuer) = (pair[0], pair[1]);
            if !issuer.is_ca() {
                return Err(bad(format!("{} is not a CA", issuer.subject())));
            }
            child
                .verify_signature(Some(issuer.public_key()))
                .map_err(|e| bad(format!("{} not signed by {}: {e}", child.subject(), issuer.subject())))?;
        }
        if chain.len() < 2 {
            return Err(bad("no chain"));
        }
        let leaf = chain[0];
        let sig = decode(s64)?;
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            leaf.public_key().subject_public_key.data.as_ref(),
        );
        let signed = &jws[..h64.len() + 1 + p64.len()];
        key.verify(signed.as_bytes(), &sig).map_err(|_| bad("signature does not verify"))?;
        let payload: Payload =
            serde_json::from_slice(&decode(p64)?).map_err(|e| bad(format!("payload: {e}")))?;
        if payload.bundle_id != self.bundle_id {
            return Err(bad(format!("bundle {}", payload.bundle_id)));
        }
        if payload.revocation_date.is_some() {
            return Err(bad("revoked"));
        }
        let id_ok = !payload.transaction_id.is_empty()
            && payload.transaction_id.len() <= MAX_TRANSACTION_ID
            && payload.transaction_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !id_ok || payload.product_id.is_empty() {
            return Err(bad("transactionId or productId missing or malformed"));
        }
        Ok(Verified { product_id: payload.product_id, transaction_id: payload.transaction_id })
    }
}

impl ReceiptValidator for AppStore {
    fn platform(&self) -> ReceiptPlatform {
        ReceiptPlatform::AppStore
    }

    fn verify<'a>(&'a self, signed: &'a str) -> Verifying<'a> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Box::pin(async move { self.verify_at(signed, now) })
    }
}
