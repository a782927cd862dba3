//! The clock every rule reads the time from. Tests and demo mode move it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Seconds added to the system time (demo mode can move time forward).
    offset: Arc<AtomicI64>,
    /// When set, the time stands still at this instant (tests).
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that stands at `at` until moved.
    pub fn fixed(at: i64) -> Self {
        Clock {
            offset: Arc::default(),
            fixed: Some(Arc::new(AtomicI64::new(at))),
        }
    }

    /// Unix seconds, UTC.
    pub fn now(&self) -> i64 {
        self.wall() + self.offset.load(Ordering::SeqCst)
    }

    /// The time without demo mode's moves: for checks against the outside world, such as
    /// the age of a webhook's signature.
    pub fn wall(&self) -> i64 {
        match &self.fixed {
            Some(at) => at.load(Ordering::SeqCst),
            None => chrono::Utc::now().timestamp(),
        }
    }

    /// Moves the clock forward by `secs`.
    /// Tests only (a fixed clock): real time passes, `secs` of it; the app's time moves
    /// with it.
    pub fn pass_real_time(&self, secs: i64) {
        if let Some(at) = &self.fixed {
            at.fetch_add(secs, Ordering::SeqCst);
        }
    }

    /// Seconds the clock has been moved ahead of real time (demo mode).
    pub fn ahead(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::SeqCst);
    }
}
