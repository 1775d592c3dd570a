//! Injected time, so background work and tests replay: the system clock, or a manual one.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Real time moved on by an offset: a simulated clock for demos and browser tests that
/// keeps running (so retries and the scheduler still progress) and can jump ahead. Tests
/// start one [`OffsetClock::stopped_at`] a fixed instant, so it moves only when moved on.
#[derive(Debug, Default)]
pub struct OffsetClock {
    /// `None`: real time.
    stopped_at: Option<DateTime<Utc>>,
    offset: Mutex<Duration>,
}

impl OffsetClock {
    /// A simulated clock standing at `t` until it is moved on (the console's tests).
    pub fn stopped_at(t: DateTime<Utc>) -> Self {
        OffsetClock {
            stopped_at: Some(t),
            offset: Mutex::default(),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        self.stopped_at.unwrap_or_else(Utc::now)
            + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_stopped_simulated_clock_moves_only_when_moved_on() {
        let start = Utc.with_ymd_and_hms(2026, 12, 8, 4, 30, 0).unwrap();
        let clock = OffsetClock::stopped_at(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::minutes(90));
        assert_eq!(clock.now(), start + Duration::minutes(90));
    }
}
