//! Coalesced reads: concurrent callers that each need a few keys from MySQL share one query.
//!
//! At a few thousand queue joins a second, one MySQL query per join per table costs more than
//! everything else the join does. A [`Coalescer`] lets at most `max_in_flight` loads run at
//! once; a caller arriving while all are busy waits in line, and the next load takes every
//! waiting caller's keys at once (up to `max_batch` callers). Alone, a caller loads at once
//! with no added wait; under load, one query answers dozens of joins.
//!
//! No task of its own: the caller that finds a free slot leads a load; when it is done, it
//! hands the slot to the first caller still waiting (who then leads the next load with
//! everyone waiting), else frees it. A failed load, or a leader dropped mid-load, sends its
//! followers back to load their own keys alone, so each gets its own answer or error.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// What a waiting caller is told.
enum Turn<K, V> {
    /// The load that included its keys, with everything it read.
    Done(Arc<HashMap<K, V>>),
    /// The load failed or was abandoned: load alone.
    Alone,
    /// A slot is free and is now its own: lead the next load.
    Lead,
}

struct Waiter<K, V> {
    keys: Vec<K>,
    tx: oneshot::Sender<Turn<K, V>>,
}

struct Inner<K, V> {
    waiting: VecDeque<Waiter<K, V>>,
    in_flight: usize,
}

/// See the module documentation.
pub struct Coalescer<K, V> {
    inner: Mutex<Inner<K, V>>,
    max_in_flight: usize,
    max_batch: usize,
}

impl<K, V> std::fmt::Debug for Coalescer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").field("max_in_flight", &self.max_in_flight).finish_non_exhaustive()
    }
}

impl<K: Clone + Eq + Hash, V: Clone> Coalescer<K, V> {
    pub fn new(max_in_flight: usize, max_batch: usize) -> Self {
        Coalescer {
            inner: Mutex::new(Inner { waiting: VecDeque::new(), in_flight: 0 }),
            max_in_flight: max_in_flight.max(1),
            max_batch: max_batch.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // A panic while holding this lock leaves the queue consistent (every change is one
        // statement): carry on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The values of `keys` (a key `load` did not answer is absent), loaded together with
    /// whatever other callers need at the same time. `load` must answer every key it is given
    /// that exists, whoever asked for it.
    pub async fn get<F, Fut, E>(&self, keys: Vec<K>, load: F) -> Result<HashMap<K, V>, E>
    where
        F: Fn(Vec<K>) -> Fut,
        Fut: std::future::Future<Output = Result<HashMap<K, V>, E>>,
    {
        let rx = {
            let mut inner = self.lock();
            if inner.in_flight < self.max_in_flight {
                inner.in_flight += 1;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                inner.waiting.push_back(Waiter { keys: keys.clone(), tx });
                Some(rx)
            }
        };
        if let Some(rx) = rx {
            match rx.await {
                Ok(Turn::Done(all)) => return Ok(pick(&all, &keys)),
                Ok(Turn::Lead) => {}
                Ok(Turn::Alone) | Err(_) => return load(keys).await,
            }
        }
        // Leading: the slot is ours until `slot` is dropped, even if this future is.
        let mut slot = Slot { owner: self, followers: Vec::new() };
        let mut all_keys = keys.clone();
        {
            let mut inner = self.lock();
            let n = inner.waiting.len().min(self.max_batch);
            for w in inner.waiting.drain(..n) {
                all_keys.extend(w.keys.iter().cloned());
                slot.followers.push(w.tx);
            }
        }
        let loaded = load(dedup(all_keys)).await;
        match loaded {
            Ok(map) => {
                let mine = pick(&map, &keys);
                let all = Arc::new(map);
                for tx in slot.followers.drain(..) {
                    // A follower that gave up is no one's concern.
                    let _ = tx.send(Turn::Done(all.clone()));
                }
                Ok(mine)
            }
            // Followers load alone (on drop) and get their own answer.
            Err(e) => Err(e),
        }
    }
}

/// The keys' values out of a load's answer.
fn pick<K: Eq + Hash + Clone, V: Clone>(all: &HashMap<K, V>, keys: &[K]) -> HashMap<K, V> {
    keys.iter().filter_map(|k| all.get(k).map(|v| (k.clone(), v.clone()))).collect()
}

fn dedup<K: Eq + Hash + Clone>(keys: Vec<K>) -> Vec<K> {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.into_iter().filter(|k| seen.insert(k.clone())).collect()
}

/// A leader's slot: on drop (done, failed or abandoned), followers not yet answered load alone,
/// and the slot passes to the first caller still waiting, else is freed.
struct Slot<'a, K, V> {
    owner: &'a Coalescer<K, V>,
    followers: Vec<oneshot::Sender<Turn<K, V>>>,
}

impl<K, V> Drop for Slot<'_, K, V> {
    fn drop(&mut self) {
        for tx in self.followers.drain(..) {
            let _ = tx.send(Turn::Alone);
        }
        let mut inner = self.owner.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(w) = inner.waiting.pop_front() {
            if w.tx.send(Turn::Lead).is_ok() {
                return;
            }
        }
        inner.in_flight -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_loads_and_each_gets_its_keys() {
        let c = Arc::new(Coalescer::<u64, u64>::new(1, 100));
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..50u64 {
            let (c, loads) = (c.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                c.get(vec![i, i + 1000], |keys| {
                    let loads = loads.clone();
                    async move {
                        loads.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        // Key 1000+ has no value: absent from the answer.
                        Ok::<_, ()>(keys.into_iter().filter(|k| *k < 1000).map(|k| (k, k * 2)).collect())
                    }
                })
                .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let got = t.await.unwrap().unwrap();
            assert_eq!(got, HashMap::from([(i as u64, i as u64 * 2)]));
        }
        assert!(loads.load(Ordering::Relaxed) < 50, "some loads were shared");
        assert_eq!(c.lock().in_flight, 0);
    }

    #[tokio::test]
    async fn a_failed_load_sends_followers_to_load_alone() {
        let c = Arc::new(Coalescer::<u64, u64>::new(1, 100));
        let mut tasks = Vec::new();
        for i in 0..10u64 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.get(vec![i], |keys| async move {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    // Any load with key 0 fails: its followers then succeed alone.
                    if keys.contains(&0) { Err(()) } else { Ok(keys.into_iter().map(|k| (k, k)).collect()) }
                })
                .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let got = t.await.unwrap();
            if i == 0 {
                assert_eq!(got, Err(()));
            } else {
                assert_eq!(got, Ok(HashMap::from([(i as u64, i as u64)])));
            }
        }
        assert_eq!(c.lock().in_flight, 0);
    }
}
