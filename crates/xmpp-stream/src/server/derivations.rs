//! How many password checks the tokio shell runs at once on tokio's
//! blocking pool ([`DerivationLimit::max`]), across every connection that
//! shares the limit.
//!
//! A check derives a key with PBKDF2 (thousands of hash iterations by
//! design). Run on the async worker threads, a flood of PLAIN attempts for
//! a known user would stall every other connection on those threads.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Caps the password derivations (PBKDF2, for PLAIN) running at once,
/// across every connection whose [`ServerConfig`](super::ServerConfig)
/// shares it (clones share). Beyond the cap, a login is answered with
/// `<temporary-auth-failure/>` at once rather than queued.
#[derive(Clone)]
pub struct DerivationLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl DerivationLimit {
    /// At most `max` derivations at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        DerivationLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many derivations are running now.
    pub fn in_flight(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    pub(super) fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }
}

impl Default for DerivationLimit {
    /// Twice the available cores: a burst of logins is absorbed, and the
    /// async threads still get their share of the CPU.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        DerivationLimit::new(2 * cores)
    }
}

impl fmt::Debug for DerivationLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DerivationLimit")
            .field("max", &self.max)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}
