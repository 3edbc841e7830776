//! Office hours: a weekly schedule in a named time zone, with holidays. Outside them new
//! chats are not queued; the widget shows the hours and the callback form.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::clock::Timestamp;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Schedule {
    tz: TimeZone,
    /// Opening spans per weekday, Monday first.
    days: [Vec<(Time, Time)>; 7],
    holidays: HashSet<Date>,
    /// The configuration as written, shown to customers.
    pub view: HoursView,
}

/// A weekly schedule: each day lists "HH:MM-HH:MM" spans in `timezone`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfficeHoursConfig {
    pub enabled: bool,
    pub timezone: String,
    pub monday: Vec<String>,
    pub tuesday: Vec<String>,
    pub wednesday: Vec<String>,
    pub thursday: Vec<String>,
    pub friday: Vec<String>,
    pub saturday: Vec<String>,
    pub sunday: Vec<String>,
    /// Closed dates, "YYYY-MM-DD" in `timezone`.
    pub holidays: Vec<String>,
}

impl Default for OfficeHoursConfig {
    fn default() -> Self {
        let weekday = || vec!["09:00-17:00".to_owned()];
        OfficeHoursConfig {
            enabled: false,
            timezone: "UTC".into(),
            monday: weekday(),
            tuesday: weekday(),
            wednesday: weekday(),
            thursday: weekday(),
            friday: weekday(),
            saturday: Vec::new(),
            sunday: Vec::new(),
            holidays: Vec::new(),
        }
    }
}

/// What the widget shows a customer: the hours as configured.
#[derive(Debug, Clone, Serialize)]
pub struct HoursView {
    pub timezone: String,
    pub days: Vec<DayView>,
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayView {
    pub day: &'static str,
    pub hours: Vec<String>,
}

const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

impl Schedule {
    pub fn from_config(c: &OfficeHoursConfig) -> Result<Schedule, String> {
        let tz =
            TimeZone::get(&c.timezone).map_err(|e| format!("office_hours.timezone {:?}: {e}", c.timezone))?;
        let spans = [&c.monday, &c.tuesday, &c.wednesday, &c.thursday, &c.friday, &c.saturday, &c.sunday];
        let mut days: [Vec<(Time, Time)>; 7] = Default::default();
        for (i, written) in spans.iter().enumerate() {
            for span in written.iter() {
                days[i].push(parse_span(span).map_err(|e| format!("office_hours.{}: {e}", DAYS[i]))?);
            }
        }
        let holidays = c
            .holidays
            .iter()
            .map(|d| d.parse::<Date>().map_err(|e| format!("office_hours.holidays {d:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let view = HoursView {
            timezone: c.timezone.clone(),
            days: spans.iter().zip(DAYS).map(|(hours, day)| DayView { day, hours: hours.to_vec() }).collect(),
            holidays: c.holidays.clone(),
        };
        Ok(Schedule { tz, days, holidays, view })
    }

    /// The configured schedule when office hours are enabled, parsed once and shared by all
    /// that read it (the app's open/closed answers, SLA clocks). The configuration was
    /// validated on load, so an enabled schedule parses.
    pub fn enabled(c: &OfficeHoursConfig) -> Option<Arc<Schedule>> {
        c.enabled.then(|| Schedule::from_config(c).ok().map(Arc::new)).flatten()
    }

    pub fn is_open(&self, at: Timestamp) -> bool {
        let Ok(instant) = jiff::Timestamp::from_millisecond(at.0) else { return false };
        let local = instant.to_zoned(self.tz.clone()).datetime();
        if self.holidays.contains(&local.date()) {
            return false;
        }
        let day = weekday_index(local.weekday());
        let now = local.time();
        self.days[day].iter().any(|&(open, close)| open <= now && now < close)
    }

    /// The open stretch holding `at` (from `at` on), else the next one to open, looked for up
    /// to two years ahead; `None` when the schedule never opens. What SLA clocks count in.
    pub fn open_span_from(&self, at: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let local = jiff::Timestamp::from_millisecond(at.0).ok()?.to_zoned(self.tz.clone());
        let mut date = local.date();
        let millis = |date: Date, time: Time| -> Option<Timestamp> {
            let z = date.to_datetime(time).to_zoned(self.tz.clone()).ok()?;
            Some(Timestamp(z.timestamp().as_millisecond()))
        };
        for _ in 0..(2 * 366) {
            if !self.holidays.contains(&date) {
                let next_day = date.tomorrow().ok()?;
                let spans = self.days[weekday_index(date.weekday())].iter().filter_map(|&(open, close)| {
                    // "24:00" closes at the next midnight, not a moment before it.
                    let end = match close {
                        Time::MAX => millis(next_day, Time::midnight())?,
                        close => millis(date, close)?,
                    };
                    Some((millis(date, open)?.max(at), end))
                });
                if let Some(span) = spans.filter(|&(start, end)| start < end).min() {
                    return Some(span);
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

fn weekday_index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

/// "09:00-17:30"; "24:00" may close a span at midnight.
fn parse_span(span: &str) -> Result<(Time, Time), String> {
    let (open, close) = span.split_once('-').ok_or_else(|| format!("{span:?} is not HH:MM-HH:MM"))?;
    let time = |s: &str| -> Result<Time, String> {
        let s = s.trim();
        if s == "24:00" {
            return Ok(Time::MAX);
        }
        s.parse::<Time>().map_err(|e| format!("{s:?}: {e}"))
    };
    let (open, close) = (time(open)?, time(close)?);
    if open >= close {
        return Err(format!("{span:?} closes before it opens"));
    }
    Ok((open, close))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(tz: &str, holidays: &[&str]) -> Schedule {
        let c = OfficeHoursConfig {
            enabled: true,
            timezone: tz.into(),
            monday: vec!["09:00-12:00".into(), "13:00-17:00".into()],
            tuesday: vec![],
            saturday: vec!["10:00-24:00".into()],
            holidays: holidays.iter().map(|s| s.to_string()).collect(),
            ..OfficeHoursConfig::default()
        };
        Schedule::from_config(&c).unwrap()
    }

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp(rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond())
    }

    #[test]
    fn hours_are_kept_in_the_named_time_zone() {
        let s = schedule("Europe/Paris", &[]);
        // Monday 2026-11-23: Paris is UTC+1 in November.
        assert!(!s.is_open(at("2026-11-23T07:59:00Z")));
        assert!(s.is_open(at("2026-11-23T08:00:00Z")));
        assert!(!s.is_open(at("2026-11-23T11:30:00Z")), "lunch break");
        assert!(s.is_open(at("2026-11-23T12:00:00Z")));
        assert!(!s.is_open(at("2026-11-23T16:00:00Z")));
        assert!(!s.is_open(at("2026-11-24T10:00:00Z")), "no hours on tuesday");
        assert!(s.is_open(at("2026-11-28T22:59:00Z")), "saturday until midnight");
    }

    #[test]
    fn holidays_are_closed() {
        let s = schedule("UTC", &["2026-11-23"]);
        assert!(!s.is_open(at("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn bad_schedules_are_refused() {
        let mut c = OfficeHoursConfig { timezone: "Mars/Olympus".into(), ..Default::default() };
        assert!(Schedule::from_config(&c).is_err());
        c.timezone = "UTC".into();
        c.monday = vec!["17:00-09:00".into()];
        assert!(Schedule::from_config(&c).is_err());
        c.monday = vec!["nine to five".into()];
        assert!(Schedule::from_config(&c).is_err());
    }
}
