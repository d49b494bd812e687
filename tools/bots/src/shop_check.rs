//! The `economy` scenario's final check, against the shop's tables in MySQL: every purchase a
//! bot was acknowledged (player, key, purchase id) must be the row `purchases` holds under
//! (player, key) — absent or under another id, it is **lost** — and must have been charged once:
//! the purchase's debits in `wallet_ledger` (reason "purchase", reference the purchase id) are
//! one per currency paid; more, and it is **duplicated**. The table's unique (player, key)
//! means a key cannot be two purchases; a charge twice would be extra ledger debits. Rows of
//! this run's keys that no bot was told about (the answer lost with a dropped connection, never
//! asked again) are counted apart: they are not an error.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::tally::EconomyTally;

/// Players per query.
const CHUNK: usize = 500;
/// Most time the whole check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Problems described at most.
const MAX_EXAMPLES: usize = 10;

/// Checks `e.acks` (keys starting with `nonce`) against the database at `url`; the result goes
/// into `e` (`checked`, `lost`, `duplicated`, or `check_error`).
pub(crate) async fn verify(url: &str, nonce: &str, e: &mut EconomyTally) {
    match tokio::time::timeout(CHECK_TIMEOUT, read(url, nonce, e)).await {
        Ok(Ok(())) => e.checked = true,
        Ok(Err(err)) => e.check_error = Some(format!("MySQL at {url}: {err}")),
        Err(_) => e.check_error = Some(format!("MySQL at {url}: no answer within {CHECK_TIMEOUT:?}")),
    }
}

async fn read(url: &str, nonce: &str, e: &mut EconomyTally) -> Result<(), mysql_async::Error> {
    let opts = mysql_async::Opts::from_url(url)?;
    let mut conn = mysql_async::Conn::new(opts).await?;
    let players: Vec<u64> = e.acks.iter().map(|a| a.player).collect::<HashSet<_>>().into_iter().collect();
    let mut rows: HashMap<(u64, String), u64> = HashMap::new();
    let mut debits: HashMap<String, u64> = HashMap::new();
    let like = format!("{nonce}-%");
    for chunk in players.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut params: Vec<mysql_async::Value> = chunk.iter().map(|p| (*p).into()).collect();
        params.push(like.clone().into());
        let found: Vec<(u64, String, u64)> = conn
            .exec(
                format!(
                    "SELECT player, idem_key, id FROM purchases WHERE player IN ({marks}) AND idem_key LIKE ?"
                ),
                params,
            )
            .await?;
        rows.extend(found.into_iter().map(|(p, k, id)| ((p, k), id)));
        let params: Vec<mysql_async::Value> = chunk.iter().map(|p| (*p).into()).collect();
        let counted: Vec<(String, u64)> = conn
            .exec(
                format!(
                    "SELECT reference, COUNT(*) FROM wallet_ledger WHERE player IN ({marks}) \
                     AND reason = 'purchase' GROUP BY reference"
                ),
                params,
            )
            .await?;
        debits.extend(counted);
    }
    let _ = conn.disconnect().await;
    let mut told = HashSet::new();
    let mut examples = Vec::new();
    let mut note = |what: String| {
        if examples.len() < MAX_EXAMPLES {
            examples.push(what);
        }
    };
    for a in &e.acks {
        told.insert((a.player, a.key.clone()));
        match rows.get(&(a.player, a.key.clone())) {
            Some(id) if *id == a.purchase_id => {}
            Some(id) => {
                e.lost += 1;
                note(format!(
                    "player {} key {}: acknowledged as purchase {}, stored as {id}",
                    a.player, a.key, a.purchase_id
                ));
                continue;
            }
            None => {
                e.lost += 1;
                note(format!(
                    "player {} key {}: purchase {} acknowledged, not stored",
                    a.player, a.key, a.purchase_id
                ));
                continue;
            }
        }
        let charged = debits.get(&a.purchase_id.to_string()).copied().unwrap_or(0);
        if charged > a.currencies as u64 {
            e.duplicated += 1;
            note(format!(
                "purchase {} (key {}): {charged} debits for {} currencies",
                a.purchase_id, a.key, a.currencies
            ));
        } else if charged < a.currencies as u64 {
            e.lost += 1;
            note(format!(
                "purchase {} (key {}): {charged} debits for {} currencies",
                a.purchase_id, a.key, a.currencies
            ));
        }
    }
    e.committed_unacked = rows.keys().filter(|k| !told.contains(*k)).count() as u64;
    e.check_examples = examples;
    Ok(())
}
