//! All live sessions of this process, by id. A `DashMap` of handles: lookups clone the handle out
//! and release the shard lock at once, so no guard is ever held across an `.await`.
//!
//! A session lives as long as its [`RegistryGuard`]. Usually the connection task holds it; when a
//! logged-in client's connection drops, the guard is *parked* here for the resume window
//! ([`Registry::park`]), and either a resuming connection takes it ([`Registry::unpark`]) or the
//! window ends and it is dropped. Dropping the guard is the one place a session ends: the end
//! hook ([`Registry::on_end`]) runs there (presence release, logout event).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Notify;

use crate::session::{Session, SessionId, SessionLimits};

type EndHook = Box<dyn Fn(&Session) + Send + Sync>;

#[derive(Clone, Default)]
pub struct Registry(Arc<Inner>);

#[derive(Default)]
struct Inner {
    sessions: DashMap<SessionId, Session>,
    /// Sessions without a connection, waiting to be resumed: guard and park generation.
    parked: DashMap<SessionId, (RegistryGuard, u64)>,
    /// Resumed sessions on their way to the connection that resumed them, by that
    /// connection's (temporary) session id.
    handover: DashMap<SessionId, (Session, RegistryGuard)>,
    /// Woken when a session is parked or ends, for [`Registry::take_over`].
    parked_or_ended: Notify,
    next_id: AtomicU64,
    next_park: AtomicU64,
    on_end: OnceLock<EndHook>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("sessions", &self.len()).field("parked", &self.parked()).finish()
    }
}

/// How often a parked session checks whether it was kicked or the process is shutting down.
const PARK_POLL: Duration = Duration::from_millis(250);

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a session with a fresh id and registers it. The returned guard removes it again
    /// when dropped, so a connection task that ends in any way leaves no entry behind.
    pub fn open(&self, limits: SessionLimits) -> (Session, RegistryGuard) {
        let id = SessionId(self.0.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let session = Session::new(id, limits);
        self.0.sessions.insert(id, session.clone());
        (session, RegistryGuard { registry: self.clone(), id })
    }

    /// Sets what runs when a session ends (once; later calls are ignored). It runs on the task
    /// that drops the guard and must not block: spawn anything slow.
    pub fn on_end(&self, hook: impl Fn(&Session) + Send + Sync + 'static) {
        let _ = self.0.on_end.set(Box::new(hook));
    }

    /// The session with this id, if it is live (connected or parked).
    pub fn session(&self, id: SessionId) -> Option<Session> {
        self.0.sessions.get(&id).map(|s| s.clone())
    }

    pub fn len(&self) -> usize {
        self.0.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.sessions.is_empty()
    }

    /// Sessions parked for resume.
    pub fn parked(&self) -> usize {
        self.0.parked.len()
    }

    /// A snapshot of the live sessions (for broadcasts and shutdown).
    pub fn sessions(&self) -> Vec<Session> {
        self.0.sessions.iter().map(|e| e.value().clone()).collect()
    }

    /// Keeps a session whose connection is gone for `window`: it stays registered (pushes to it
    /// queue up) until [`Registry::unpark`] takes it, it is kicked or shut down, or the window
    /// ends; then the guard is dropped and the session ends.
    pub fn park(&self, guard: RegistryGuard, window: Duration) {
        let id = guard.id;
        let Some(session) = self.session(id) else { return };
        session.detach();
        let generation = self.0.next_park.fetch_add(1, Ordering::Relaxed);
        self.0.parked.insert(id, (guard, generation));
        metrics::gauge!(crate::metrics::SESSIONS_PARKED).increment(1.0);
        self.0.parked_or_ended.notify_waiters();
        let registry = self.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + window;
            loop {
                let now = tokio::time::Instant::now();
                if now >= deadline || session.closing_reason().is_some() || session.shutdown_requested() {
                    break;
                }
                tokio::time::sleep_until(deadline.min(now + PARK_POLL)).await;
                if registry.0.parked.get(&id).is_none_or(|e| e.1 != generation) {
                    return; // resumed (and maybe parked again: that park has its own watcher)
                }
            }
            let ended = registry.0.parked.remove_if(&id, |_, e| e.1 == generation);
            if let Some((_, (guard, _))) = ended {
                metrics::gauge!(crate::metrics::SESSIONS_PARKED).decrement(1.0);
                drop(guard);
            }
        });
    }

    /// Takes a parked session's guard, for a resuming connection. `None` if it is not parked.
    pub fn unpark(&self, id: SessionId) -> Option<RegistryGuard> {
        let (_, (guard, _)) = self.0.parked.remove(&id)?;
        metrics::gauge!(crate::metrics::SESSIONS_PARKED).decrement(1.0);
        Some(guard)
    }

    /// Takes `session` for another connection: at once if it is parked; otherwise its connection
    /// (which has not noticed it is dead yet) is asked to let go, and this waits until it has
    /// parked the session, at most `within`. `None` if the session ended or closed instead, or
    /// was not let go of in time.
    pub async fn take_over(&self, session: &Session, within: Duration) -> Option<RegistryGuard> {
        let id = session.id();
        if let Some(guard) = self.unpark(id) {
            return Some(guard);
        }
        session.request_takeover();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before looking, so a park between the look and the wait still wakes it.
            let event = self.0.parked_or_ended.notified();
            tokio::pin!(event);
            event.as_mut().enable();
            if let Some(guard) = self.unpark(id) {
                return Some(guard);
            }
            if session.closing_reason().is_some() || self.session(id).is_none() {
                return None;
            }
            if tokio::time::timeout_at(deadline, event).await.is_err() {
                return self.unpark(id);
            }
        }
    }

    /// Hands `session` (taken with [`Registry::take_over`]) to the connection of `to`, which
    /// serves it instead of `to` from right after the handler that called this returns (its reply
    /// is written first); `to` then ends. This is how a handler moves a client's connection onto
    /// a session that outlived an earlier connection (resume).
    pub fn hand_over(&self, to: &Session, session: Session, guard: RegistryGuard) {
        self.0.handover.insert(to.id(), (session, guard));
        to.request_adoption();
    }

    /// The session handed over to the connection of `to`, if any (see [`Registry::hand_over`]).
    pub(crate) fn take_handover(&self, to: &Session) -> Option<(Session, RegistryGuard)> {
        if !to.take_adoption() {
            return None;
        }
        self.0.handover.remove(&to.id()).map(|(_, v)| v)
    }
}

/// Removes its session from the registry when dropped: the session ends.
pub struct RegistryGuard {
    registry: Registry,
    id: SessionId,
}

impl RegistryGuard {
    pub fn id(&self) -> SessionId {
        self.id
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        // The end hook runs before the session leaves the map, so a session no longer listed has
        // had its end handled (its logout event queued, its bound servers told).
        if let Some(session) = self.registry.session(self.id)
            && let Some(hook) = self.registry.0.on_end.get()
        {
            hook(&session);
        }
        self.registry.0.sessions.remove(&self.id);
        self.registry.0.parked_or_ended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old connection's side of a takeover: it notices the request and parks the session
    /// after `after`.
    fn let_go_after(registry: &Registry, session: &Session, guard: RegistryGuard, after: Duration) {
        let (registry, session) = (registry.clone(), session.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            assert!(session.takeover_requested());
            registry.park(guard, Duration::from_secs(30));
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_takeover_wakes_when_the_session_is_parked_not_on_a_poll() {
        let registry = Registry::new();
        let (session, guard) = registry.open(SessionLimits::default());
        let started = tokio::time::Instant::now();
        let_go_after(&registry, &session, guard, Duration::from_millis(703));
        let guard = registry.take_over(&session, Duration::from_secs(2)).await.expect("taken over");
        assert_eq!(started.elapsed(), Duration::from_millis(703));
        assert_eq!(guard.id(), session.id());
        assert_eq!(registry.parked(), 0);

        // Handed to another connection's session, which adopts it once.
        let (temporary, _temporary_guard) = registry.open(SessionLimits::default());
        registry.hand_over(&temporary, session.clone(), guard);
        let (adopted, _) = registry.take_handover(&temporary).expect("handed over");
        assert_eq!(adopted.id(), session.id());
        assert!(registry.take_handover(&temporary).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_takeover_gives_up_when_the_session_ends_or_is_never_let_go() {
        let registry = Registry::new();
        let (session, guard) = registry.open(SessionLimits::default());
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(301)).await;
            drop(guard); // the old connection ended the session instead
        });
        assert!(registry.take_over(&session, Duration::from_secs(2)).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_millis(301));

        let (stuck, _guard) = registry.open(SessionLimits::default());
        let started = tokio::time::Instant::now();
        assert!(registry.take_over(&stuck, Duration::from_secs(2)).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
