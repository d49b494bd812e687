//! The `economy` scenario against a real cluster started in-process the way `mmo all` starts it
//! (gateway, accounts, shop with a starter balance and a catalog, leaderboard, the bus, MySQL):
//! bots buy with injected disconnects and submit scores, and every acknowledged purchase is
//! found once in MySQL. Then MariaDB is cut for the shop (and the rest of the cluster) while the
//! bots buy, through a `TcpProxy`: purchases fail fast with SHOP_STORE_UNAVAILABLE and are
//! retried with the same key, none acknowledged is lost or charged twice, and the pool recovers.
//!
//! Needs Redis at `MMO_REDIS_URL` and MySQL/MariaDB at `MMO_MYSQL_URL` (`scripts/services.sh`);
//! the cluster has its own key prefix and database, deleted at the end.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod cluster;

use std::path::Path;
use std::time::Duration;

use cluster::Cluster;
use mmo_bots::{Options, Report, Scenario};
use mmo_testkit::mysql;
use mmo_testkit::proxy::TcpProxy;

/// Prices such that a thousand gold buys a few items and then runs out.
const CATALOG: &str = r#"
[[item]]
id = 1
name = "Sword"
prices = { gold = 300 }

[[item]]
id = 2
name = "Shield"
prices = { gold = 120, gems = 2 }

[[item]]
id = 3
name = "Potion"
prices = { gold = 40 }
"#;

/// The shop's starter balance and the leaderboard's boards from config.example.toml.
fn economy_config(cfg: &mut mmo::Config) {
    cfg.shop.starter = [("gold".to_string(), 1000), ("gems".to_string(), 10)].into();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml");
    cfg.leaderboard = mmo::Config::load(Some(&example)).unwrap().leaderboard;
}

async fn start(name: &str, adjust: impl FnOnce(&mut mmo::Config)) -> Cluster {
    let cluster = Cluster::start(name, |cfg| {
        economy_config(cfg);
        adjust(cfg);
    })
    .await;
    mmo_shop::admin::load_catalog(cluster.store(), CATALOG).await.unwrap();
    cluster
}

fn opts(cluster: &Cluster, tag: &str) -> Options {
    Options {
        addr: cluster.addr,
        bots: 8,
        scenario: Scenario::Economy,
        duration: Duration::from_secs(3),
        run_tag: tag.into(),
        buy_rate: Some(2.0),
        mysql_url: Some(cluster.mysql_url()),
        ..Options::default()
    }
}

fn assert_checked(report: &Report) {
    println!("{report}");
    let e = report.economy.as_ref().expect("an economy report");
    assert!(e.checked, "{report}");
    assert_eq!((e.lost, e.duplicated, e.mismatched, e.refused), (0, 0, 0, 0), "{report}");
    assert_eq!(e.ready, 8, "{report}");
    assert!(e.purchases > 0, "{report}");
    assert!(report.passed(), "{:?}\n{report}", report.failures());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bots_buy_through_disconnects_and_every_acknowledged_purchase_is_stored_once() {
    let cluster = start("economy", |_| {}).await;
    let o = Options { disconnect_rate: Some(0.25), score_rate: Some(1.0), ..opts(&cluster, "shoppers") };
    let report = mmo_bots::run(o).await.unwrap();
    assert_checked(&report);
    let e = report.economy.as_ref().unwrap();
    assert!(e.disconnects > 0 && e.reconnects >= e.disconnects, "{report}");
    // Every retried intent is asked once more: the stored answer, replayed.
    assert!(e.replays > 0, "{report}");
    assert!(e.scores_ok > 0 && e.scores_ok == e.scores_sent, "{report}");
    // Bought with the starter money: what was debited is what the bots were told they paid.
    let spent: Option<i64> = cluster
        .store()
        .exec_first("SELECT CAST(-SUM(amount) AS SIGNED) FROM wallet_ledger WHERE reason = 'purchase' AND currency = 'gold'", ())
        .await
        .unwrap();
    assert!(spent.unwrap_or(0) > 0, "{report}");
    let text = report.to_string();
    for line in ["economy      ", "  purchases  ", "  check      0 lost, 0 duplicated"] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    let json = serde_json::to_value(&report).unwrap();
    for key in ["purchases_per_s", "replays", "disconnects", "insufficient_funds", "lost", "duplicated"] {
        assert!(json["economy"][key].is_number(), "economy lacks {key}: {json}");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_cut_while_bots_buy_loses_and_duplicates_nothing_and_the_pool_recovers() {
    // The cluster reaches MariaDB through a proxy the test cuts and restores; the MariaDB
    // service itself is never restarted, since other tests use it at the same time.
    let proxy = TcpProxy::start(mysql::server_addr(&mysql::server_url()).await).await;
    let proxied = proxy.addr();
    let cluster = start("economy-cut", |cfg| {
        cfg.mysql.url = mysql::url_through(&cfg.mysql.url, proxied);
        // Fail fast rather than wait out the default deadlines while the proxy is cut.
        cfg.mysql.connect_timeout = Duration::from_millis(500);
        cfg.shop.unavailable_retry = Duration::from_millis(200);
    })
    .await;
    // No disconnects and no scores: a reconnection's login and a score need MySQL too, and
    // this test is about purchases.
    let o = Options {
        duration: Duration::from_secs(8),
        disconnect_rate: Some(0.0),
        score_rate: Some(0.0),
        ..opts(&cluster, "cut")
    };
    let run = tokio::spawn(mmo_bots::run(o));
    // In the middle of the run: once the bots have bought something.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n: Option<u64> = cluster.store().exec_first("SELECT COUNT(*) FROM purchases", ()).await.unwrap();
        if n.unwrap_or(0) >= 8 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no purchases within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.cut();
    // The outage's length (what is tested is what happens during and after it, not a race).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restore();
    let restored_ms = mmo_core::clock::now_ms();
    let report = run.await.unwrap().unwrap();
    assert_checked(&report);
    let e = report.economy.as_ref().unwrap();
    // Refused fast while cut (retried with the same key), never left waiting for an answer.
    assert!(e.unavailable > 0, "{report}");
    assert_eq!((e.timeouts, e.unresolved), (0, 0), "{report}");
    // The pool recovered: purchases went on after the restore.
    let after: Option<u64> = cluster
        .store()
        .exec_first("SELECT COUNT(*) FROM purchases WHERE at_ms > ?", (restored_ms,))
        .await
        .unwrap();
    assert!(after.unwrap_or(0) > 0, "no purchase after the restore\n{report}");
    cluster.stop().await;
}
