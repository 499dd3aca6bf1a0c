//! Maintenance windows: recurring spells when a peer is known to be down, during which its lane
//! sends nothing (so no attempt is burned) and after which it resumes by itself. Pure: `now` is
//! an argument.
//!
//! Cron expressions follow the one rule of [`crate::time`]: Vietnam time, whatever the server's
//! time zone.

use chrono::{DateTime, Utc};

use super::config::MaintenanceWindowConfig;
use crate::time::Cron;

/// One recurring window: starts at each time of `schedule` and lasts `duration`.
#[derive(Debug, Clone)]
pub struct MaintenanceWindow {
    schedule: Cron,
    duration: chrono::Duration,
}

impl MaintenanceWindow {
    pub fn parse(cfg: &MaintenanceWindowConfig) -> Result<Self, String> {
        let schedule = Cron::parse(&cfg.cron).map_err(|e| format!("maintenance cron {e}"))?;
        let minutes = i64::try_from(cfg.duration_minutes)
            .ok()
            .filter(|m| (1..=366 * 24 * 60).contains(m))
            .ok_or_else(|| {
                format!(
                    "maintenance duration_minutes {} is outside 1..=527040",
                    cfg.duration_minutes
                )
            })?;
        Ok(Self {
            schedule,
            duration: chrono::Duration::minutes(minutes),
        })
    }

    /// When the window that covers `now` ends, if one does. A window that started at `s` covers
    /// `[s, s + duration)`.
    pub fn active_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // The latest start at or before `now`: its window ends last of all that cover `now`.
        let start = self.schedule.latest_at_or_before(now)?;
        let end = start + self.duration;
        (end > now).then_some(end)
    }
}

/// When the pause that covers `now` ends: windows that overlap or touch are one pause.
pub fn paused_until(windows: &[MaintenanceWindow], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut until: Option<DateTime<Utc>> = None;
    // Bounded: each round moves `until` to the end of another window.
    for _ in 0..=windows.len() * 4 {
        let at = until.unwrap_or(now);
        let next = windows
            .iter()
            .filter_map(|w| w.active_until(at))
            .max()
            .filter(|end| until.is_none_or(|u| *end > u));
        match next {
            Some(end) => until = Some(end),
            None => break,
        }
    }
    until
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::vietnam;
    use chrono::TimeZone;

    fn window(cron: &str, minutes: u64) -> MaintenanceWindow {
        MaintenanceWindow::parse(&MaintenanceWindowConfig {
            cron: cron.into(),
            duration_minutes: minutes,
        })
        .unwrap()
    }

    /// A time given in Vietnam time, as UTC.
    fn vn(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        vietnam()
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn saturday_night_window_in_vietnam_time() {
        // 2026-11-21 is a Saturday.
        let w = window("0 0 23 * * Sat", 120);
        assert_eq!(w.active_until(vn(2026, 11, 21, 22, 59)), None);
        assert_eq!(
            w.active_until(vn(2026, 11, 21, 23, 0)),
            Some(vn(2026, 11, 22, 1, 0))
        );
        // Past midnight, into Sunday: still the Saturday window.
        assert_eq!(
            w.active_until(vn(2026, 11, 22, 0, 30)),
            Some(vn(2026, 11, 22, 1, 0))
        );
        assert_eq!(w.active_until(vn(2026, 11, 22, 1, 0)), None, "end excluded");
        assert_eq!(w.active_until(vn(2026, 11, 20, 23, 30)), None, "Friday");
        // 23:00 in Vietnam is 16:00 UTC.
        let utc = Utc.with_ymd_and_hms(2026, 11, 21, 16, 30, 0).unwrap();
        assert!(w.active_until(utc).is_some());
    }

    #[test]
    fn a_window_longer_than_its_period_ends_after_the_latest_start() {
        let w = window("0 * * * * *", 60);
        assert_eq!(
            w.active_until(vn(2026, 11, 22, 3, 0) + chrono::Duration::seconds(30)),
            Some(vn(2026, 11, 22, 4, 0))
        );
    }

    #[test]
    fn touching_windows_are_one_pause() {
        let ws = vec![window("0 0 1 * * *", 60), window("0 0 2 * * *", 30)];
        assert_eq!(
            paused_until(&ws, vn(2026, 11, 22, 1, 10)),
            Some(vn(2026, 11, 22, 2, 30))
        );
        assert_eq!(paused_until(&ws, vn(2026, 11, 22, 3, 0)), None);
        assert_eq!(paused_until(&[], vn(2026, 11, 22, 3, 0)), None);
    }

    #[test]
    fn bad_windows_are_refused() {
        assert!(MaintenanceWindow::parse(&MaintenanceWindowConfig {
            cron: "every saturday".into(),
            duration_minutes: 10,
        })
        .is_err());
        assert!(MaintenanceWindow::parse(&MaintenanceWindowConfig {
            cron: "0 0 23 * * Sat".into(),
            duration_minutes: 0,
        })
        .is_err());
    }
}
