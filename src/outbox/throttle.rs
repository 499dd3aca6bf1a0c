//! The lane's token bucket (`rate_per_second`, `rate_burst`), on the `governor` crate. Each
//! claim takes a permit first, so a lane never sends, nor polls the store, faster than its rate.
//! The bucket is per instance: several instances sharing one database each have their own.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// A token bucket; `C` is a fake clock in tests.
pub struct Throttle<C: Clock = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
}

impl Throttle {
    /// `None` when there is no limit (`per_second` is 0).
    pub fn new(per_second: f64, burst: u32) -> Option<Self> {
        Self::with_clock(per_second, burst, DefaultClock::default())
    }
}

impl<C: Clock> Throttle<C> {
    pub fn with_clock(per_second: f64, burst: u32, clock: C) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / per_second).ok()?;
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst.max(1))?);
        Some(Self {
            limiter: RateLimiter::direct_with_clock(quota, clock),
        })
    }

    /// Takes a permit now, or says how long until one is free.
    pub fn try_take(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_burst_then_the_rate() {
        let clock = FakeRelativeClock::default();
        let t = Throttle::with_clock(2.0, 3, clock.clone()).unwrap();
        for _ in 0..3 {
            assert_eq!(t.try_take(), Ok(()));
        }
        assert_eq!(t.try_take(), Err(Duration::from_millis(500)));
        clock.advance(Duration::from_millis(499));
        assert!(t.try_take().is_err());
        clock.advance(Duration::from_millis(1));
        assert_eq!(t.try_take(), Ok(()));
        assert!(t.try_take().is_err(), "one permit per 500 ms now");
        // A quiet spell refills the burst, not more.
        clock.advance(Duration::from_secs(60));
        let granted = (0..10).filter(|_| t.try_take().is_ok()).count();
        assert_eq!(granted, 3);
    }

    #[test]
    fn slow_rates_and_no_limit() {
        let clock = FakeRelativeClock::default();
        let t = Throttle::with_clock(0.5, 1, clock.clone()).unwrap();
        assert!(t.try_take().is_ok());
        assert_eq!(t.try_take(), Err(Duration::from_secs(2)));
        assert!(Throttle::new(0.0, 5).is_none());
        assert!(Throttle::new(f64::NAN, 5).is_none());
    }
}
