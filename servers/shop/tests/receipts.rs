//! App Store receipts: the tests make their own root, intermediate and leaf certificates
//! (rcgen) and sign JWS transactions with the leaf's key. A valid one grants its product once;
//! forged ones (bad signature, another root, a tampered payload, another app, an expired
//! certificate, another algorithm) and replayed ones are refused with their codes.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mmo_proto::*;
use mmo_shop::app_store::AppStore;
use mmo_shop::config::{AppStoreConfig, ProductGrant};
use mmo_shop::receipts;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const BUNDLE: &str = "com.example.game";

struct Chain {
    root_pem: String,
    x5c: Vec<String>,
    leaf_key: KeyPair,
}

fn params(name: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    p
}

/// Root (P-384) -> intermediate (P-384) -> leaf (P-256), as Apple's chain is; `leaf_expired`
/// gives the leaf a validity that ended in 2001.
fn chain_with(leaf_expired: bool) -> Chain {
    let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let root = params("Test Root CA", true).self_signed(&root_key).unwrap();
    let inter_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let inter = params("Test Intermediate", true).signed_by(&inter_key, &root, &root_key).unwrap();
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut lp = params("Test Leaf", false);
    if leaf_expired {
        lp.not_before = rcgen::date_time_ymd(2000, 1, 1);
        lp.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let leaf = lp.signed_by(&leaf_key, &inter, &inter_key).unwrap();
    let x5c = [leaf.der(), inter.der(), root.der()].iter().map(|d| STANDARD.encode(d.as_ref())).collect();
    Chain { root_pem: root.pem(), x5c, leaf_key }
}

fn chain() -> Chain {
    chain_with(false)
}

fn payload(transaction: &str, product: &str, bundle: &str) -> String {
    format!(
        r#"{{"transactionId":"{transaction}","originalTransactionId":"{transaction}","productId":"{product}","bundleId":"{bundle}","signedDate":1764000000000,"environment":"Sandbox"}}"#
    )
}

fn sign_with(c: &Chain, alg: &str, payload: &str) -> String {
    let header = serde_json::json!({ "alg": alg, "x5c": c.x5c }).to_string();
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let rng = ring::rand::SystemRandom::new();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &c.leaf_key.serialize_der(),
        &rng,
    )
    .unwrap();
    let sig = key.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn sign(c: &Chain, payload: &str) -> String {
    sign_with(c, "ES256", payload)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn a_valid_transaction_verifies_and_forged_ones_do_not() {
    let c = chain();
    let v = AppStore::new(c.root_pem.as_bytes(), BUNDLE).unwrap();
    let good = sign(&c, &payload("2000000123", "gems.100", BUNDLE));
    let ok = v.verify_at(&good, now()).unwrap();
    assert_eq!((ok.transaction_id.as_str(), ok.product_id.as_str()), ("2000000123", "gems.100"));

    // A signature that is not the leaf's.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    sig[10] ^= 1;
    parts[2] = URL_SAFE_NO_PAD.encode(&sig);
    assert_eq!(v.verify_at(&parts.join("."), now()).unwrap_err().0, "signature does not verify");
    // A payload changed after signing (another product), the signature kept.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(payload("2000000123", "gems.10000", BUNDLE));
    assert_eq!(v.verify_at(&parts.join("."), now()).unwrap_err().0, "signature does not verify");
    // A chain of another root, signed correctly by its own leaf.
    let other = chain();
    let e = v.verify_at(&sign(&other, &payload("2000000124", "gems.100", BUNDLE)), now()).unwrap_err();
    assert!(e.0.contains("not signed by"), "{e}");
    // Another app's transaction.
    let e = v.verify_at(&sign(&c, &payload("2000000125", "gems.100", "com.other")), now()).unwrap_err();
    assert_eq!(e.0, "bundle com.other");
    // An expired leaf; another algorithm; garbage.
    let old = chain_with(true);
    let v_old = AppStore::new(old.root_pem.as_bytes(), BUNDLE).unwrap();
    let e = v_old.verify_at(&sign(&old, &payload("2000000126", "gems.100", BUNDLE)), now()).unwrap_err();
    assert!(e.0.contains("not valid now"), "{e}");
    assert!(v.verify_at(&sign_with(&c, "none", &payload("2000000127", "gems.100", BUNDLE)), now()).is_err());
    assert!(v.verify_at("a.b", now()).is_err());
    assert!(v.verify_at("", now()).is_err());
    // A revoked transaction.
    let revoked =
        payload("2000000128", "gems.100", BUNDLE).replace('}', r#","revocationDate":1764000001000}"#);
    assert_eq!(v.verify_at(&sign(&c, &revoked), now()).unwrap_err().0, "revoked");
}

fn products() -> BTreeMap<String, ProductGrant> {
    let mut p = BTreeMap::new();
    p.insert(
        "gems.100".to_string(),
        ProductGrant {
            currencies: [("gems".to_string(), 100)].into_iter().collect(),
            items: [("7".to_string(), 1)].into_iter().collect(),
        },
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receipt_is_redeemed_once_and_forged_ones_never() {
    let env = common::env().await;
    let c = chain();
    let v = AppStore::new(c.root_pem.as_bytes(), BUNDLE).unwrap();
    let good = sign(&c, &payload("2000000200", "gems.100", BUNDLE));
    let r = receipts::redeem(env.store(), &env.bus, &v, &products(), 21, &good).await.unwrap();
    assert_eq!(r.balances, vec![Balance { currency: "gems".into(), amount: 100 }]);
    assert_eq!(env.items(21, 7).await, 1);
    // Replayed by the same player, and by another: nothing more.
    for player in [21, 22] {
        let e = receipts::redeem(env.store(), &env.bus, &v, &products(), player, &good).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::ShopReceiptAlreadyRedeemed));
    }
    assert_eq!(env.balance(21, "gems").await, 100);
    assert_eq!(env.balance(22, "gems").await, 0);
    assert_eq!(env.ledger_sum(21, "gems").await, 100);
    // Forged: another root's chain; a product the server does not sell.
    let forged = sign(&chain(), &payload("2000000201", "gems.100", BUNDLE));
    let e = receipts::redeem(env.store(), &env.bus, &v, &products(), 21, &forged).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::ShopReceiptInvalid));
    let unknown = sign(&c, &payload("2000000202", "coins.1", BUNDLE));
    let e = receipts::redeem(env.store(), &env.bus, &v, &products(), 21, &unknown).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::ShopReceiptInvalid));
    // Ten redemptions of one new receipt at once: one grant.
    let fresh = sign(&c, &payload("2000000203", "gems.100", BUNDLE));
    let mut tasks = Vec::new();
    for player in 30..40 {
        let (store, bus, v, fresh) = (env.store().clone(), env.bus.clone(), v.clone(), fresh.clone());
        tasks.push(tokio::spawn(async move {
            receipts::redeem(&store, &bus, &v, &products(), player, &fresh).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::ShopReceiptAlreadyRedeemed), "{e}"),
        }
    }
    assert_eq!(ok, 1);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receipt_through_the_gateway() {
    let env = common::env().await;
    let c = chain();
    let dir = std::env::temp_dir().join(format!("mmo-shop-receipts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.pem");
    std::fs::write(&root, &c.root_pem).unwrap();
    let cfg = mmo_shop::ShopConfig {
        app_store: Some(AppStoreConfig { root_cert: root, bundle_id: BUNDLE.into(), products: products() }),
        ..Default::default()
    };
    let (addr, _shop) = common::cluster(&env, cfg).await;
    let mut p = common::guest(addr, "payer").await;
    let signed = sign(&c, &payload("2000000300", "gems.100", BUNDLE));
    let req = ReceiptRedeemReq { platform: ReceiptPlatform::AppStore as i32, signed_transaction: signed };
    let r: ReceiptRedeemResp = p.ok(&req).await;
    assert_eq!((r.transaction_id.as_str(), r.product_id.as_str()), ("2000000300", "gems.100"));
    p.refused::<_, ReceiptRedeemResp>(&req, ErrorCode::ShopReceiptAlreadyRedeemed).await;
    let forged = ReceiptRedeemReq { signed_transaction: "x.y.z".into(), ..req.clone() };
    p.refused::<_, ReceiptRedeemResp>(&forged, ErrorCode::ShopReceiptInvalid).await;
    let w: WalletResp = p.ok(&WalletReq {}).await;
    assert_eq!(w.balances, vec![Balance { currency: "gems".into(), amount: 100 }]);
    std::fs::remove_dir_all(&dir).unwrap();
    env.finish().await;
}
