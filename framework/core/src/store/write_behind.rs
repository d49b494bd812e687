//! Write-behind: rows that change many times a second (player progress: position, hp, xp) are
//! kept in memory as a dirty set and written to MySQL in batches, instead of one statement per
//! change.
//!
//! The dirty set holds the newest value per key, so a player who moves 100 times between two
//! flushes costs one row. A flush takes the whole set at once (marking never waits on MySQL)
//! and writes it as multi-row upserts, `INSERT ... VALUES (..),(..) ... ON DUPLICATE KEY
//! UPDATE`, `batch_rows` rows per statement, each statement retried on conflicts on its own.
//! If a statement still fails, its rows and every row after it go back into the set, except
//! where a newer value was marked meanwhile: the newer one wins, nothing is lost, and nothing
//! older ever overwrites something newer. Flushes run one at a time for that reason.
//!
//! The set is bounded by `max_dirty` keys. Past half of it the flusher is woken early; at the
//! limit, a key that is not already waiting is refused with [`WriteBehindFull`] (overwrites of
//! waiting keys always succeed, since they do not grow the set). The caller still holds the
//! authoritative state in memory and marks it again later; refusing is the back-pressure signal
//! that MySQL is not keeping up. Rows put back after a failed flush are not refused: while one
//! flush is in flight the set can hold its rows plus up to `max_dirty` new keys.
//!
//! What a crash loses is at most `interval` of progress: [`WriteBehind::spawn_flusher`] flushes
//! every `interval` and once more on shutdown, and servers also call [`WriteBehind::flush`]
//! when a player leaves.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram};
use mysql_async::Value;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    Store, StoreError, WRITE_BEHIND_DIRTY, WRITE_BEHIND_FAILURES, WRITE_BEHIND_FLUSH_SECONDS,
    WRITE_BEHIND_REFUSED, WRITE_BEHIND_ROWS, WriteBehindConfig, check_ident, retry,
};
use crate::Shutdown;

/// MySQL's limit on placeholders in one prepared statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// Tries at the final flush on shutdown, since no later flush will save what it misses.
const FINAL_FLUSH_TRIES: u32 = 3;

/// A row type that write-behind can upsert: where it goes and what it holds.
///
/// ```
/// use mmo_core::store::Upsert;
/// use mysql_async::Value;
///
/// struct Progress { id: u64, level: i32, xp: i64 }
///
/// impl Upsert for Progress {
///     const TABLE: &'static str = "progress";
///     const COLUMNS: &'static [&'static str] = &["id", "level", "xp"];
///     const KEY_COLUMNS: &'static [&'static str] = &["id"];
///     fn write_params(&self, out: &mut Vec<Value>) {
///         out.extend([self.id.into(), self.level.into(), self.xp.into()]);
///     }
/// }
/// ```
pub trait Upsert {
    /// The table, `[A-Za-z0-9_]`.
    const TABLE: &'static str;
    /// Every column written, key columns included, in the order [`Upsert::write_params`]
    /// pushes values.
    const COLUMNS: &'static [&'static str];
    /// The columns of the table's primary (or a unique) key; a subset of `COLUMNS`. On a
    /// duplicate key every other column is overwritten.
    const KEY_COLUMNS: &'static [&'static str];
    /// A column that says who may write the row (an ownership token), or `None`. With one, an
    /// existing row is updated only if it still holds the same value as the row written: a
    /// writer that lost the row (a zone instance whose player was handed to another, or that
    /// another node took over) cannot overwrite the new owner's state with an older one. The
    /// fence itself is never changed by write-behind; ownership moves by statements of their own.
    const FENCE: Option<&'static str> = None;
    /// A column that says how new a row is (an integer that only grows for a key), or `None`.
    /// With one, an existing row is updated only if the written row's value is not lower (or
    /// the stored one is NULL): writers in several processes, or a direct
    /// [`WriteBehind::write_now`] racing a flush, cannot put an older state over a newer one.
    /// Within one dirty set too, a mark never replaces a waiting value of a higher
    /// [`Upsert::version`]. Not combined with `FENCE`.
    const VERSION: Option<&'static str> = None;
    /// The value of the `VERSION` column, for the dirty set's own comparison (None: always
    /// replace).
    fn version(&self) -> Option<i64> {
        None
    }
    /// Pushes exactly one value per column of `COLUMNS`, in that order.
    fn write_params(&self, out: &mut Vec<Value>);
}

/// [`WriteBehind::mark`] refused a new key because `max_dirty` keys are already waiting.
#[derive(Debug, thiserror::Error)]
#[error("write-behind of `{table}` is full: {max_dirty} rows are waiting to be written")]
pub struct WriteBehindFull {
    pub table: &'static str,
    pub max_dirty: usize,
}

/// The dirty set of one table, keyed by `K` (the row's id; ordered, because a flush writes
/// rows in key order). Cheap to clone: clones share the set.
pub struct WriteBehind<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for WriteBehind<K, V> {
    fn clone(&self) -> Self {
        WriteBehind { inner: Arc::clone(&self.inner) }
    }
}

impl<K, V: Upsert> std::fmt::Debug for WriteBehind<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehind")
            .field("table", &V::TABLE)
            .field("dirty", &self.inner.dirty.lock().len())
            .finish()
    }
}

struct Inner<K, V> {
    dirty: Mutex<HashMap<K, V>>,
    /// Held for a whole flush: two flushes in flight could write one key's older value after
    /// its newer one.
    flushing: tokio::sync::Mutex<()>,
    /// Wakes the flusher before its interval when the set fills up.
    wake: Notify,
    cfg: WriteBehindConfig,
    /// The statement for a full batch, built once.
    full_batch_sql: String,
    dirty_gauge: Gauge,
    rows: Counter,
    failures: Counter,
    refused: Counter,
    flush_seconds: Histogram,
}

impl<K, V> WriteBehind<K, V>
where
    K: Eq + Hash + Ord + Send + Sync + 'static,
    V: Upsert + Send + Sync + 'static,
{
    /// Checks `V`'s table description and the limits, and builds the batch statement.
    pub fn new(cfg: WriteBehindConfig) -> Result<Self, StoreError> {
        check_ident(V::TABLE)?;
        for c in V::COLUMNS.iter().chain(V::KEY_COLUMNS) {
            check_ident(c)?;
        }
        let table = V::TABLE;
        if V::KEY_COLUMNS.is_empty() || !V::KEY_COLUMNS.iter().all(|k| V::COLUMNS.contains(k)) {
            return Err(StoreError::Config(format!(
                "{table}: KEY_COLUMNS must be a non-empty subset of COLUMNS"
            )));
        }
        if let Some(fence) = V::FENCE
            && (!V::COLUMNS.contains(&fence) || V::KEY_COLUMNS.contains(&fence))
        {
            return Err(StoreError::Config(format!("{table}: FENCE must be a non-key column of COLUMNS")));
        }
        if let Some(version) = V::VERSION
            && (!V::COLUMNS.contains(&version) || V::KEY_COLUMNS.contains(&version) || V::FENCE.is_some())
        {
            return Err(StoreError::Config(format!(
                "{table}: VERSION must be a non-key column of COLUMNS, and not with FENCE"
            )));
        }
        if (1..V::COLUMNS.len()).any(|i| V::COLUMNS[..i].contains(&V::COLUMNS[i])) {
            return Err(StoreError::Config(format!("{table}: a column is listed twice")));
        }
        if cfg.batch_rows == 0 || cfg.batch_rows.saturating_mul(V::COLUMNS.len()) > MAX_PLACEHOLDERS {
            return Err(StoreError::Config(format!(
                "write_behind.batch_rows must be between 1 and {} for `{table}` ({} columns)",
                MAX_PLACEHOLDERS / V::COLUMNS.len(),
                V::COLUMNS.len()
            )));
        }
        if cfg.max_dirty == 0 || cfg.interval.is_zero() {
            return Err(StoreError::Config("write_behind.max_dirty and interval must be > 0".into()));
        }
        Ok(WriteBehind {
            inner: Arc::new(Inner {
                dirty: Mutex::new(HashMap::new()),
                flushing: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                full_batch_sql: upsert_sql::<V>(cfg.batch_rows),
                cfg,
                dirty_gauge: metrics::gauge!(WRITE_BEHIND_DIRTY, "table" => table),
                rows: metrics::counter!(WRITE_BEHIND_ROWS, "table" => table),
                failures: metrics::counter!(WRITE_BEHIND_FAILURES, "table" => table),
                refused: metrics::counter!(WRITE_BEHIND_REFUSED, "table" => table),
                flush_seconds: metrics::histogram!(WRITE_BEHIND_FLUSH_SECONDS, "table" => table),
            }),
        })
    }

    /// Records `value` as the newest state of `key`, replacing any value still waiting (unless
    /// that one has a higher [`Upsert::version`]). Never waits. Refuses a key that is not
    /// waiting yet when `max_dirty` keys are.
    pub fn mark(&self, key: K, value: V) -> Result<(), WriteBehindFull> {
        let inner = &*self.inner;
        let max = inner.cfg.max_dirty;
        let len = {
            let mut dirty = inner.dirty.lock();
            if dirty.len() >= max && !dirty.contains_key(&key) {
                drop(dirty);
                inner.refused.increment(1);
                inner.wake.notify_one();
                return Err(WriteBehindFull { table: V::TABLE, max_dirty: max });
            }
            match dirty.entry(key) {
                Entry::Occupied(mut waiting) => {
                    let older =
                        matches!((waiting.get().version(), value.version()), (Some(w), Some(v)) if v < w);
                    if !older {
                        waiting.insert(value);
                    }
                }
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            }
            dirty.len()
        };
        inner.dirty_gauge.set(len as f64);
        if len >= max / 2 {
            inner.wake.notify_one();
        }
        Ok(())
    }

    /// Keys waiting to be written.
    pub fn len(&self) -> usize {
        self.inner.dirty.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every waiting row and returns how many were written. On an error, rows not
    /// written are waiting again (unless a newer value for their key arrived meanwhile) and
    /// the next flush retries them. Dropping the future part-way (a caller's own timeout) puts
    /// them back the same way.
    pub async fn flush(&self, store: &Store) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        let _one_at_a_time = inner.flushing.lock().await;
        let taken = {
            let mut dirty = inner.dirty.lock();
            let taken = std::mem::take(&mut *dirty);
            inner.dirty_gauge.set(0.0);
            taken
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let mut rows: Vec<(K, V)> = taken.into_iter().collect();
        // In key order, not the map's random order: neighbouring keys share index pages, so
        // the server touches far fewer of them, and two processes flushing overlapping keys
        // lock them in the same order instead of deadlocking each other.
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut pending = PutBack { inner, rows, written: 0 };
        let batch = inner.cfg.batch_rows;
        let mut failure = None;
        while pending.written < pending.rows.len() {
            let end = pending.rows.len().min(pending.written + batch);
            match self.write_chunk(store, &pending.rows[pending.written..end]).await {
                Ok(()) => pending.written = end,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        inner.flush_seconds.record(started.elapsed().as_secs_f64());
        match failure {
            None => Ok(pending.written),
            Some(e) => {
                inner.failures.increment(1);
                Err(e) // `pending` puts the rest back as it drops
            }
        }
    }

    /// Writes `rows` now, with the statement a flush uses (`batch_rows` per statement, each
    /// retried on conflicts), bypassing the dirty set: for a caller that must know its row is
    /// in MySQL, e.g. after [`WriteBehind::mark`] refused it. With a `VERSION` column it cannot
    /// undo a newer row a flush wrote, nor the other way round.
    pub async fn write_now(&self, store: &Store, rows: Vec<V>) -> Result<(), StoreError> {
        let rows: Vec<((), V)> = rows.into_iter().map(|v| ((), v)).collect();
        for chunk in rows.chunks(self.inner.cfg.batch_rows) {
            self.write_chunk(store, chunk).await?;
        }
        Ok(())
    }

    /// One upsert statement for `chunk` (at most `batch_rows` rows), retried on conflicts.
    async fn write_chunk<T>(&self, store: &Store, chunk: &[(T, V)]) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let tail_sql;
        let sql = if chunk.len() == inner.cfg.batch_rows {
            inner.full_batch_sql.as_str()
        } else {
            tail_sql = upsert_sql::<V>(chunk.len());
            tail_sql.as_str()
        };
        // Parameters are rebuilt per attempt rather than cloned: same cost, and the first
        // attempt needs no copy.
        retry(store.retry_policy(), || async move { store.upsert(sql, params_of(chunk)?).await }).await?;
        inner.rows.increment(chunk.len() as u64);
        Ok(())
    }

    /// Flushes every `interval` (sooner when the set passes half of `max_dirty`) until `token`
    /// is cancelled, then once more, retrying that last flush a few times since nothing runs
    /// after it. Failed flushes are logged; their rows wait for the next one.
    pub async fn run_flusher(self, store: Store, token: CancellationToken) {
        let table = V::TABLE;
        let mut tick = tokio::time::interval(self.inner.cfg.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; there is nothing to write yet
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => {}
                _ = self.inner.wake.notified() => {}
            }
            if let Err(e) = self.flush(&store).await {
                tracing::warn!(table, error = %e, waiting = self.len(), "write-behind: flush failed, rows kept");
            }
        }
        for attempt in 1..=FINAL_FLUSH_TRIES {
            match self.flush(&store).await {
                Ok(rows) => {
                    tracing::info!(table, rows, "write-behind: final flush done");
                    return;
                }
                Err(e) if attempt < FINAL_FLUSH_TRIES => {
                    tracing::warn!(table, error = %e, attempt, "write-behind: final flush failed, trying again");
                    tokio::time::sleep(store.retry_policy().pause(attempt)).await;
                }
                Err(e) => {
                    tracing::error!(table, error = %e, lost = self.len(), "write-behind: final flush failed, rows not saved");
                }
            }
        }
    }

    /// Spawns [`WriteBehind::run_flusher`] as a task that `shutdown` waits for, so the drain
    /// includes the final flush.
    pub fn spawn_flusher(&self, store: Store, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
        shutdown.spawn(self.clone().run_flusher(store, shutdown.token()))
    }
}

/// The rows one flush took. Whatever was not written when it drops (an error, or the flush
/// future dropped part-way) goes back into the dirty set, except for keys marked again
/// meanwhile: those hold a newer value. A statement is atomic, so "not written" is exactly the
/// rows from the first batch that did not succeed on.
struct PutBack<'a, K: Eq + Hash, V> {
    inner: &'a Inner<K, V>,
    rows: Vec<(K, V)>,
    written: usize,
}

impl<K: Eq + Hash, V> Drop for PutBack<'_, K, V> {
    fn drop(&mut self) {
        if self.written >= self.rows.len() {
            return;
        }
        let mut dirty = self.inner.dirty.lock();
        for (key, value) in self.rows.drain(self.written..) {
            if let Entry::Vacant(slot) = dirty.entry(key) {
                slot.insert(value);
            }
        }
        self.inner.dirty_gauge.set(dirty.len() as f64);
    }
}

/// The parameters of one batch, checking the row type keeps its promise of one value per column.
fn params_of<K, V: Upsert>(chunk: &[(K, V)]) -> Result<Vec<Value>, StoreError> {
    let cols = V::COLUMNS.len();
    let mut params = Vec::with_capacity(chunk.len() * cols);
    for (_, v) in chunk {
        v.write_params(&mut params);
    }
    if params.len() != chunk.len() * cols {
        return Err(StoreError::Config(format!(
            "{}: write_params gave {} values for {} rows of {cols} columns",
            V::TABLE,
            params.len(),
            chunk.len()
        )));
    }
    Ok(params)
}

/// `INSERT INTO t (a,b,c) VALUES (?,?,?),... ON DUPLICATE KEY UPDATE b=VALUES(b),c=VALUES(c)`
/// for `rows` rows. Names were checked by [`WriteBehind::new`]. `VALUES(col)` rather than
/// MySQL 8's row alias because MariaDB only understands the former (MySQL still accepts it).
/// With a fence `f`, each update is `c=IF(f=VALUES(f),VALUES(c),c)` and `f` is not assigned, so
/// every condition sees the row's own fence. With a version `n`, each update is
/// `c=IF(`n` IS NULL OR VALUES(`n`)>=`n`,VALUES(c),c)`, and `n` is assigned last (assignments
/// run left to right, so every condition sees the stored version).
fn upsert_sql<V: Upsert>(rows: usize) -> String {
    let cols: Vec<String> = V::COLUMNS.iter().map(|c| format!("`{c}`")).collect();
    let row = format!("({})", vec!["?"; cols.len()].join(","));
    let mut updates: Vec<String> = V::COLUMNS
        .iter()
        .filter(|c| !V::KEY_COLUMNS.contains(c) && Some(**c) != V::FENCE && Some(**c) != V::VERSION)
        .chain(V::VERSION.iter())
        .map(|c| match (V::FENCE, V::VERSION) {
            (Some(f), _) => format!("`{c}`=IF(`{f}`=VALUES(`{f}`),VALUES(`{c}`),`{c}`)"),
            (None, Some(n)) => format!("`{c}`=IF(`{n}` IS NULL OR VALUES(`{n}`)>=`{n}`,VALUES(`{c}`),`{c}`)"),
            (None, None) => format!("`{c}`=VALUES(`{c}`)"),
        })
        .collect();
    if updates.is_empty() {
        // Only key columns: nothing to update, but a duplicate must not be an error.
        let k = V::KEY_COLUMNS[0];
        updates.push(format!("`{k}`=`{k}`"));
    }
    let mut sql = String::with_capacity(64 + rows * (row.len() + 1) + updates.len() * 32);
    sql.push_str(&format!("INSERT INTO `{}` ({}) VALUES ", V::TABLE, cols.join(",")));
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&row);
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE ");
    sql.push_str(&updates.join(","));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(u32, u32);
    impl Upsert for Row {
        const TABLE: &'static str = "t";
        const COLUMNS: &'static [&'static str] = &["id", "v"];
        const KEY_COLUMNS: &'static [&'static str] = &["id"];
        fn write_params(&self, out: &mut Vec<Value>) {
            out.extend([self.0.into(), self.1.into()]);
        }
    }

    #[test]
    fn statement_shape() {
        assert_eq!(
            upsert_sql::<Row>(2),
            "INSERT INTO `t` (`id`,`v`) VALUES (?,?),(?,?) ON DUPLICATE KEY UPDATE `v`=VALUES(`v`)"
        );
    }

    struct Fenced(u32, u32, String);
    impl Upsert for Fenced {
        const TABLE: &'static str = "t";
        const COLUMNS: &'static [&'static str] = &["id", "v", "owner"];
        const KEY_COLUMNS: &'static [&'static str] = &["id"];
        const FENCE: Option<&'static str> = Some("owner");
        fn write_params(&self, out: &mut Vec<Value>) {
            out.extend([self.0.into(), self.1.into(), self.2.clone().into()]);
        }
    }

    #[test]
    fn a_fenced_statement_updates_only_rows_still_owned() {
        assert_eq!(
            upsert_sql::<Fenced>(1),
            "INSERT INTO `t` (`id`,`v`,`owner`) VALUES (?,?,?) ON DUPLICATE KEY UPDATE \
             `v`=IF(`owner`=VALUES(`owner`),VALUES(`v`),`v`)"
        );
    }

    struct Versioned(u32, u32, i64);
    impl Upsert for Versioned {
        const TABLE: &'static str = "t";
        const COLUMNS: &'static [&'static str] = &["id", "version", "v"];
        const KEY_COLUMNS: &'static [&'static str] = &["id"];
        const VERSION: Option<&'static str> = Some("version");
        fn write_params(&self, out: &mut Vec<Value>) {
            out.extend([self.0.into(), self.2.into(), self.1.into()]);
        }
        fn version(&self) -> Option<i64> {
            Some(self.2)
        }
    }

    #[test]
    fn a_versioned_statement_never_goes_back() {
        assert_eq!(
            upsert_sql::<Versioned>(1),
            "INSERT INTO `t` (`id`,`version`,`v`) VALUES (?,?,?) ON DUPLICATE KEY UPDATE \
             `v`=IF(`version` IS NULL OR VALUES(`version`)>=`version`,VALUES(`v`),`v`),\
             `version`=IF(`version` IS NULL OR VALUES(`version`)>=`version`,VALUES(`version`),`version`)"
        );
    }

    #[test]
    fn a_waiting_higher_version_is_kept() {
        let wb = WriteBehind::<u32, Versioned>::new(WriteBehindConfig::default()).expect("valid");
        wb.mark(1, Versioned(1, 10, 5)).expect("room");
        wb.mark(1, Versioned(1, 9, 4)).expect("an older mark is taken and ignored");
        assert_eq!(wb.inner.dirty.lock().get(&1).map(|r| r.1), Some(10));
        wb.mark(1, Versioned(1, 11, 5)).expect("an equal version replaces");
        assert_eq!(wb.inner.dirty.lock().get(&1).map(|r| r.1), Some(11));
    }

    #[test]
    fn newest_value_wins_and_the_set_is_bounded() {
        let cfg = WriteBehindConfig { max_dirty: 2, ..WriteBehindConfig::default() };
        let wb = WriteBehind::<u32, Row>::new(cfg).expect("valid");
        wb.mark(1, Row(1, 1)).expect("room");
        wb.mark(1, Row(1, 2)).expect("overwrite");
        wb.mark(2, Row(2, 1)).expect("room");
        assert_eq!(wb.len(), 2);
        assert!(wb.mark(3, Row(3, 1)).is_err(), "a new key past max_dirty is refused");
        wb.mark(2, Row(2, 9)).expect("overwrites always succeed");
        assert_eq!(wb.inner.dirty.lock().get(&1).map(|r| r.1), Some(2));
    }

    #[test]
    fn limits_are_checked() {
        let too_big = WriteBehindConfig { batch_rows: 40_000, ..WriteBehindConfig::default() };
        assert!(WriteBehind::<u32, Row>::new(too_big).is_err());
        let zero = WriteBehindConfig { batch_rows: 0, ..WriteBehindConfig::default() };
        assert!(WriteBehind::<u32, Row>::new(zero).is_err());
    }
}
