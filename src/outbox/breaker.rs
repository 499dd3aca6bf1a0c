//! The circuit breaker of a lane: after `threshold` consecutive failed batches (transport error,
//! 5xx, "try again later": the peer is unwell, not our data) the lane stops claiming, so queued
//! messages burn no attempts while the peer is down. After `cool_down` one probe batch is let
//! through (half-open); its success closes the breaker, its failure opens it again.
//!
//! Pure: the caller passes `now` and logs the [`Transition`]s; the lane keeps one `Breaker`
//! behind a mutex shared by its workers.

use std::time::{Duration, Instant};

/// What the breaker lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Everything.
    Closed,
    /// Nothing, until the cool-down is over.
    Open,
    /// One probe batch at a time.
    HalfOpen,
}

/// A batch may be claimed; hand the ticket back with [`Breaker::record`] once it was sent, or
/// [`Breaker::release`] if nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    probe: bool,
}

/// The answer of [`Breaker::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Go(Ticket),
    /// Claim nothing; ask again after this long (`None`: when a probe in flight has answered).
    Wait(Option<Duration>),
}

/// A change of state, to be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened { failures: u32 },
    HalfOpened,
    Closed,
    Reopened,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    /// 0: never opens.
    threshold: u32,
    cool_down: Duration,
    state: State,
}

impl Breaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold,
            cool_down,
            state: State::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> BreakerState {
        match self.state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether nothing may be claimed now: open and cooling down, or its one probe in flight.
    pub fn blocks(&self, now: Instant) -> bool {
        match self.state {
            State::Open { until } => now < until,
            State::HalfOpen { probing } => probing,
            State::Closed { .. } => false,
        }
    }

    /// How long until it may let a batch through (`None`: once the probe in flight answers).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        match self.state {
            State::Open { until } if now < until => Some(until - now),
            _ => None,
        }
    }

    /// Whether a batch may be claimed now.
    pub fn admit(&mut self, now: Instant) -> (Admit, Option<Transition>) {
        let go = |probe| Admit::Go(Ticket { probe });
        match self.state {
            State::Closed { .. } => (go(false), None),
            State::Open { until } if now < until => (Admit::Wait(Some(until - now)), None),
            State::Open { .. } => {
                self.state = State::HalfOpen { probing: true };
                (go(true), Some(Transition::HalfOpened))
            }
            State::HalfOpen { probing: true } => (Admit::Wait(None), None),
            State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                (go(true), None)
            }
        }
    }

    /// Nothing was sent under `ticket` (nothing due, rate limit, expired messages, paused
    /// credentials): it tells nothing about the peer's health.
    pub fn release(&mut self, ticket: Ticket) {
        if ticket.probe {
            if let State::HalfOpen { probing: true } = self.state {
                self.state = State::HalfOpen { probing: false };
            }
        }
    }

    /// A batch sent under `ticket` ended; `failed` when the peer itself failed.
    pub fn record(&mut self, ticket: Ticket, failed: bool, now: Instant) -> Option<Transition> {
        if self.threshold == 0 {
            return None;
        }
        match (self.state, ticket.probe) {
            (State::HalfOpen { .. }, true) if failed => {
                self.state = State::Open {
                    until: now + self.cool_down,
                };
                Some(Transition::Reopened)
            }
            (State::HalfOpen { .. }, true) => {
                self.state = State::Closed { failures: 0 };
                Some(Transition::Closed)
            }
            (State::Closed { failures }, false) if failed => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    self.state = State::Open {
                        until: now + self.cool_down,
                    };
                    Some(Transition::Opened { failures })
                } else {
                    self.state = State::Closed { failures };
                    None
                }
            }
            (State::Closed { .. }, false) => {
                self.state = State::Closed { failures: 0 };
                None
            }
            // A batch sent before the breaker opened answers late: the breaker has decided.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    fn ticket(b: &mut Breaker, now: Instant) -> Ticket {
        match b.admit(now).0 {
            Admit::Go(t) => t,
            other => panic!("expected a ticket, got {other:?}"),
        }
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        for _ in 0..2 {
            let t = ticket(&mut b, t0);
            assert_eq!(b.record(t, true, t0), None);
        }
        // A success in between starts the count again.
        let t = ticket(&mut b, t0);
        b.record(t, false, t0);
        for _ in 0..2 {
            let t = ticket(&mut b, t0);
            assert_eq!(b.record(t, true, t0), None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        let t = ticket(&mut b, t0);
        assert_eq!(
            b.record(t, true, t0),
            Some(Transition::Opened { failures: 3 })
        );
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admit(t0 + COOL / 2).0, Admit::Wait(Some(COOL / 2)));
    }

    #[test]
    fn one_probe_after_the_cool_down_and_success_closes() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        let t = ticket(&mut b, t0);
        b.record(t, true, t0);
        let later = t0 + COOL;
        let (admit, tr) = b.admit(later);
        let Admit::Go(probe) = admit else {
            panic!("{admit:?}")
        };
        assert_eq!(tr, Some(Transition::HalfOpened));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.admit(later).0, Admit::Wait(None), "one probe at a time");
        assert_eq!(b.record(probe, false, later), Some(Transition::Closed));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(matches!(b.admit(later).0, Admit::Go(_)));
    }

    #[test]
    fn failed_probe_reopens_for_another_cool_down() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        let t = ticket(&mut b, t0);
        b.record(t, true, t0);
        let at = t0 + COOL + Duration::from_secs(1);
        let probe = ticket(&mut b, at);
        assert_eq!(b.record(probe, true, at), Some(Transition::Reopened));
        assert_eq!(b.admit(at + COOL / 3).0, Admit::Wait(Some(COOL - COOL / 3)));
        assert!(matches!(b.admit(at + COOL).0, Admit::Go(_)));
    }

    #[test]
    fn a_probe_with_nothing_to_send_is_given_back() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        let t = ticket(&mut b, t0);
        b.record(t, true, t0);
        let probe = ticket(&mut b, t0 + COOL);
        b.release(probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let again = ticket(&mut b, t0 + COOL);
        assert_eq!(again, probe);
    }

    #[test]
    fn late_answers_do_not_move_an_open_breaker() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        let early = ticket(&mut b, t0);
        let failing = ticket(&mut b, t0);
        b.record(failing, true, t0);
        assert_eq!(b.record(early, false, t0), None);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn zero_threshold_never_opens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(0, COOL);
        for _ in 0..100 {
            let t = ticket(&mut b, t0);
            assert_eq!(b.record(t, true, t0), None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
