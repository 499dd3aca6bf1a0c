//! Faults the simulator injects: by rate (seeded dice) or by a script of one-shot faults taken
//! by the next calls in order, so tests are deterministic. This module only decides which fault
//! a call gets; the server and the DVCQG handler carry it out.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

/// The value of a `Retry-After` header (RFC 9110 allows both forms; the gateway must read both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    Seconds(u64),
    HttpDate(SystemTime),
}

impl RetryAfter {
    pub fn header_value(&self) -> String {
        match self {
            Self::Seconds(s) => s.to_string(),
            Self::HttpDate(t) => httpdate::fmt_http_date(*t),
        }
    }
}

/// One fault, applied to one call to `/integration` or `/share`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 503 with `Retry-After`; nothing applied.
    Http503 { retry_after: RetryAfter },
    /// HTTP 429 with `Retry-After`; nothing applied.
    Http429 { retry_after: RetryAfter },
    /// HTTP 500 without an envelope; nothing applied.
    Http500,
    /// The call is processed normally after this delay (a client that times out first leaves
    /// nothing applied).
    Slow { delay: Duration },
    /// The call is applied at once and answered after this delay, so a client that times out
    /// has had its work done (script only; rates use [`Fault::DropAfterApply`] for that case).
    SlowAfterApply { delay: Duration },
    /// The connection is closed without an answer; nothing applied.
    DropBeforeApply,
    /// The call is applied (and its answer remembered under its request id), then the connection
    /// is closed without an answer.
    DropAfterApply,
    /// Envelope `error_code` 9; nothing applied.
    EnvelopeTemporary,
    /// Item code 9 for the items at these positions (0-based) of a write batch; the others are
    /// applied. Empty means every other item (positions 1, 3, …; position 0 for a single item).
    ItemTemporary { items: Vec<usize> },
    /// Every session and token expires before the call is looked at.
    ExpireSessions,
    /// The call is answered as if applied, but the portal loses what it changed: the dossiers
    /// it names are as they were before (script only; for reconciliation's drift).
    Lose,
}

impl Fault {
    /// The name counted in [`super::SimStats::faults_injected`].
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http503 { .. } => "http_503",
            Self::Http429 { .. } => "http_429",
            Self::Http500 => "http_500",
            Self::Slow { .. } => "slow",
            Self::SlowAfterApply { .. } => "slow_after_apply",
            Self::DropBeforeApply => "drop_before_apply",
            Self::DropAfterApply => "drop_after_apply",
            Self::EnvelopeTemporary => "envelope_temporary",
            Self::ItemTemporary { .. } => "item_temporary",
            Self::ExpireSessions => "session_expiry",
            Self::Lose => "lose",
        }
    }
}

/// Chance per call (0..1) of each fault; at most one fault per call, rolled in field order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRates {
    pub http503: f64,
    pub http429: f64,
    pub http500: f64,
    pub slow: f64,
    pub drop_before_apply: f64,
    pub drop_after_apply: f64,
    pub envelope_temporary: f64,
    pub item_temporary: f64,
    pub session_expiry: f64,
    /// Delay of a slow answer.
    pub slow_ms: u64,
    /// `Retry-After` seconds on 429/503 rolled by rate.
    pub retry_after_secs: u64,
    /// Send that `Retry-After` as an HTTP date (now + seconds) instead of seconds.
    pub retry_after_as_date: bool,
}

impl FaultRates {
    /// Rates must be probabilities and their sum at most 1, since one call gets one fault.
    pub fn validate(&self) -> Result<(), String> {
        let rates = self.rates();
        if let Some((name, r)) = rates.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            return Err(format!("fault rate {name} = {r} is not between 0 and 1"));
        }
        let total: f64 = rates.iter().map(|(_, r)| r).sum();
        if total > 1.0 + 1e-9 {
            return Err(format!("fault rates add up to {total}, more than 1"));
        }
        Ok(())
    }

    fn rates(&self) -> [(&'static str, f64); 9] {
        [
            ("http503", self.http503),
            ("http429", self.http429),
            ("http500", self.http500),
            ("slow", self.slow),
            ("drop_before_apply", self.drop_before_apply),
            ("drop_after_apply", self.drop_after_apply),
            ("envelope_temporary", self.envelope_temporary),
            ("item_temporary", self.item_temporary),
            ("session_expiry", self.session_expiry),
        ]
    }

    fn any(&self) -> bool {
        self.rates().iter().any(|(_, r)| *r > 0.0)
    }
}

pub(super) struct FaultState {
    pub(super) rates: FaultRates,
    pub(super) script: VecDeque<Fault>,
    pub(super) injected: BTreeMap<String, u64>,
    rng: StdRng,
}

impl FaultState {
    pub(super) fn new(rates: FaultRates, seed: u64) -> Self {
        Self {
            rates,
            script: VecDeque::new(),
            injected: BTreeMap::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The fault for the next call: the script first, then the dice.
    pub(super) fn next(&mut self) -> Option<Fault> {
        let fault = match self.script.pop_front() {
            Some(f) => Some(f),
            None => self.roll(),
        };
        if let Some(f) = &fault {
            *self.injected.entry(f.kind().to_string()).or_default() += 1;
        }
        fault
    }

    fn roll(&mut self) -> Option<Fault> {
        // The common benchmark case has no rates at all: skip the dice.
        if !self.rates.any() {
            return None;
        }
        let dice: f64 = self.rng.gen();
        let r = &self.rates;
        let retry_after = if r.retry_after_as_date {
            RetryAfter::HttpDate(SystemTime::now() + Duration::from_secs(r.retry_after_secs))
        } else {
            RetryAfter::Seconds(r.retry_after_secs)
        };
        let candidates = [
            (
                r.http503,
                Fault::Http503 {
                    retry_after: retry_after.clone(),
                },
            ),
            (r.http429, Fault::Http429 { retry_after }),
            (r.http500, Fault::Http500),
            (
                r.slow,
                Fault::Slow {
                    delay: Duration::from_millis(r.slow_ms),
                },
            ),
            (r.drop_before_apply, Fault::DropBeforeApply),
            (r.drop_after_apply, Fault::DropAfterApply),
            (r.envelope_temporary, Fault::EnvelopeTemporary),
            (r.item_temporary, Fault::ItemTemporary { items: Vec::new() }),
            (r.session_expiry, Fault::ExpireSessions),
        ];
        let mut edge = 0.0;
        for (rate, fault) in candidates {
            edge += rate;
            if dice < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// Which positions of an `n`-item batch a [`Fault::ItemTemporary`] hits.
pub(super) fn temporary_positions(items: &[usize], n: usize) -> Vec<bool> {
    let mut hit = vec![false; n];
    if items.is_empty() {
        if n == 1 {
            hit[0] = true;
        }
        for (i, h) in hit.iter_mut().enumerate() {
            if i % 2 == 1 {
                *h = true;
            }
        }
    } else {
        for &i in items {
            if let Some(h) = hit.get_mut(i) {
                *h = true;
            }
        }
    }
    hit
}
