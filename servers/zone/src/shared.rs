//! What a zone node's parts share: the node's connections and configuration, the instances'
//! handler table, the write-behind of progress, and the instances running here. The node
//! ([`crate::node`]) builds it; each instance ([`crate::instance`]) holds it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use mmo_core::bus::Bus;
use mmo_core::store::{Store, WriteBehind};
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::ProgressRow;
use crate::{MapDef, Table, ZoneServerConfig};

/// What the node's parts share.
pub(crate) struct Shared {
    pub bus: Bus,
    pub store: Store,
    pub cfg: ZoneServerConfig,
    pub maps: HashMap<String, MapDef>,
    pub table: Table,
    pub progress: WriteBehind<u64, ProgressRow>,
    /// The runtime that does the node's Redis and MySQL work.
    pub io: Handle,
    pub workers: Vec<Handle>,
    pub next_worker: AtomicUsize,
    /// Loot grants that failed and were queued for a retry, by every instance here.
    pub loot_retries: AtomicU64,
    /// Instances running here: instance -> (incarnation, its stop token, is a match).
    pub local: Mutex<HashMap<String, Local>>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

/// An instance running on this node.
pub(crate) struct Local {
    pub incarnation: String,
    pub stop: CancellationToken,
    pub is_match: bool,
}

impl Shared {
    /// An instance finished: it is no longer local.
    pub(crate) fn forget(&self, instance: &str, incarnation: &str) {
        let mut local = self.local.lock();
        if local.get(instance).is_some_and(|l| l.incarnation == incarnation) {
            if let Some(l) = local.remove(instance) {
                l.stop.cancel();
            }
            metrics::gauge!(crate::metrics::INSTANCES).decrement(1.0);
        }
    }
}
