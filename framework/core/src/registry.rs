//! All live sessions of this process, by id. A `DashMap` of handles: lookups clone the handle out
//! and release the shard lock at once, so no guard is ever held across an `.await`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::session::{QueueLimits, Session, SessionId};

#[derive(Clone, Default)]
pub struct Registry(Arc<Inner>);

#[derive(Default)]
struct Inner {
    sessions: DashMap<SessionId, Session>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("sessions", &self.len()).finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a session with a fresh id and registers it. The returned guard removes it again
    /// when dropped, so a connection task that ends in any way leaves no entry behind.
    pub fn open(&self, limits: QueueLimits) -> (Session, RegistryGuard) {
        let id = SessionId(self.0.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let session = Session::new(id, limits);
        self.0.sessions.insert(id, session.clone());
        (session, RegistryGuard { registry: self.clone(), id })
    }

    /// The session with this id, if it is live.
    pub fn session(&self, id: SessionId) -> Option<Session> {
        self.0.sessions.get(&id).map(|s| s.clone())
    }

    pub fn len(&self) -> usize {
        self.0.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.sessions.is_empty()
    }

    /// A snapshot of the live sessions (for broadcasts and shutdown).
    pub fn sessions(&self) -> Vec<Session> {
        self.0.sessions.iter().map(|e| e.value().clone()).collect()
    }
}

/// Removes its session from the registry when dropped.
pub struct RegistryGuard {
    registry: Registry,
    id: SessionId,
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        self.registry.0.sessions.remove(&self.id);
    }
}
