//! MySQL going away under the shop, through a proxy the test cuts (the shared MariaDB is never
//! touched): a purchase fails fast with the retryable `SHOP_STORE_UNAVAILABLE` and a retry
//! hint; once MySQL is back, the same key buys once.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::{Duration, Instant};

use mmo_core::HandlerError;
use mmo_core::store::Store;
use mmo_proto::ErrorCode;
use mmo_shop::purchase::{self, Request};
use mmo_testkit::proxy::TcpProxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_fail_fast_and_retryable_while_mysql_is_down_and_buy_once_after() {
    let env = common::env().await;
    env.fund(5, "gold", 100).await;
    let mut cfg = env.db.config().clone();
    let proxy = TcpProxy::start(mmo_testkit::mysql::server_addr(&cfg.url).await).await;
    cfg.url = mmo_testkit::mysql::url_through(&cfg.url, proxy.addr());
    cfg.connect_timeout = Duration::from_secs(1);
    let store = Store::connect(&cfg).await.unwrap();
    let req = Request { player: 5, key: "down-1".into(), item_id: 1, quantity: 1, expected_version: 0 };

    proxy.cut();
    let start = Instant::now();
    let e = purchase::purchase(&store, &env.bus, 100, &req).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5), "failed fast: {:?}", start.elapsed());
    match e.into_handler(Duration::from_millis(700)) {
        HandlerError::Refused(r) => {
            assert_eq!(r.code, ErrorCode::ShopStoreUnavailable);
            assert_eq!(r.retry_after, Some(Duration::from_millis(700)));
        }
        other => panic!("{other:?}"),
    }

    proxy.restore();
    let deadline = Instant::now() + common::DEADLINE;
    let first = loop {
        match purchase::purchase(&store, &env.bus, 100, &req).await {
            Ok(r) => break r,
            Err(e) => {
                assert!(matches!(&e, mmo_shop::ShopError::Store(s) if s.is_unavailable()), "{e}");
                assert!(Instant::now() < deadline, "never recovered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let again = purchase::purchase(&store, &env.bus, 100, &req).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.purchase_id, first.purchase_id);
    assert_eq!(env.balance(5, "gold").await, 0);
    assert_eq!(env.count("SELECT COUNT(*) FROM purchases WHERE player = ?", 5).await, 1);
    env.finish().await;
}
