//! Schedules (what Temporal Schedule a campaign gets) and send windows (when a message may go
//! out, in the campaign's time zone).

use super::*;

/// When a campaign runs: once at a time, now, or recurring (cron in the campaign's time zone, or a
/// fixed interval). Becomes the campaign's Temporal Schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CampaignSchedule {
    /// As soon as it is scheduled.
    Now,
    Once {
        at: DateTime<Utc>,
    },
    Cron {
        expression: String,
    },
    Interval {
        every_seconds: u64,
    },
}

/// A cron expression Temporal's schedules run: five fields (minute hour day month weekday) or a
/// descriptor such as `@daily`, every value in range (croner parses it as Temporal will).
pub(super) fn valid_cron(expression: &str) -> Result<(), String> {
    let shape = "schedule.expression must be a cron expression of 5 fields (minute hour day month weekday) or @hourly/@daily/@weekly/@monthly/@yearly";
    let expression = expression.trim();
    let fields = expression.split_whitespace().count();
    if expression.len() > 200 || !(fields == 5 || (fields == 1 && expression.starts_with('@'))) {
        return Err(shape.into());
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(expression)
        .map(|_| ())
        .map_err(|e| format!("{shape}: {e}"))
}

impl CampaignSchedule {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), String> {
        match self {
            CampaignSchedule::Now => Ok(()),
            CampaignSchedule::Once { at } if *at <= now => {
                Err(format!("schedule.at ({at}) is in the past"))
            }
            CampaignSchedule::Once { .. } => Ok(()),
            CampaignSchedule::Cron { expression } => valid_cron(expression),
            CampaignSchedule::Interval { every_seconds } if *every_seconds < 60 => {
                Err("schedule.every_seconds must be at least 60".into())
            }
            CampaignSchedule::Interval { every_seconds } if *every_seconds > 366 * 86_400 => {
                Err("schedule.every_seconds must be at most a year".into())
            }
            CampaignSchedule::Interval { .. } => Ok(()),
        }
    }

    pub fn is_recurring(&self) -> bool {
        matches!(
            self,
            CampaignSchedule::Cron { .. } | CampaignSchedule::Interval { .. }
        )
    }

    /// The Temporal Schedule spec; `Now` has none (the schedule is triggered once at creation).
    pub fn to_spec(&self, time_zone: &str) -> ScheduleSpec {
        match self {
            CampaignSchedule::Now => ScheduleSpec::default(),
            CampaignSchedule::Once { at } => {
                let calendar = ScheduleCalendarSpec::builder()
                    .year(at.year().to_string())
                    .month(at.month().to_string())
                    .day_of_month(at.day().to_string())
                    .hour(at.hour().to_string())
                    .minute(at.minute().to_string())
                    .second(at.second().to_string())
                    .comment("one-off campaign run")
                    .build();
                ScheduleSpec::from_calendar(calendar)
            }
            CampaignSchedule::Cron { expression } => ScheduleSpec::builder()
                .cron_strings(vec![expression.clone()])
                .timezone_name(time_zone)
                .build(),
            CampaignSchedule::Interval { every_seconds } => {
                ScheduleSpec::from_interval(Duration::from_secs(*every_seconds))
            }
        }
    }
}

/// The hours a campaign may send in: ISO weekdays (1 = Monday … 7 = Sunday) and a daily
/// `start`–`end` (local "HH:MM", start before end) in the campaign's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendWindow {
    #[serde(default = "every_day")]
    pub days: Vec<u8>,
    #[serde(with = "hh_mm")]
    pub start: NaiveTime,
    #[serde(with = "hh_mm")]
    pub end: NaiveTime,
}

pub(super) fn every_day() -> Vec<u8> {
    (1..=7).collect()
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            days: every_day(),
            start: NaiveTime::MIN,
            end: NaiveTime::from_hms_opt(23, 59, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

mod hh_mm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a HH:MM time")))
    }
}

impl SendWindow {
    /// A window that never opens is a mistake worth refusing up front.
    pub fn validate(&self) -> Result<(), String> {
        if self.days.is_empty() {
            return Err("send_window.days is empty: the window never opens".into());
        }
        if self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err("send_window.days are ISO weekdays, 1 (Monday) to 7 (Sunday)".into());
        }
        if self.start >= self.end {
            return Err(
                "send_window.start must be before send_window.end: the window never opens".into(),
            );
        }
        Ok(())
    }

    fn open_on(&self, date: NaiveDate) -> bool {
        self.days
            .contains(&(date.weekday().number_from_monday() as u8))
    }

    fn local(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let naive = date.and_time(time);
        // A time inside a DST gap does not exist: the first moment after the gap stands in.
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn contains(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz);
        self.open_on(local.date_naive()) && local.time() >= self.start && local.time() < self.end
    }

    /// `from` when the window is open then, else the next opening (within a week).
    pub fn next_open(&self, tz: Tz, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.contains(tz, from) {
            return Some(from);
        }
        let today = from.with_timezone(&tz).date_naive();
        (0..8)
            .filter_map(|d| today.checked_add_days(chrono::Days::new(d)))
            .filter(|date| self.open_on(*date))
            .filter_map(|date| Self::local(tz, date, self.start))
            .find(|opening| *opening > from)
    }

    /// The first moment at or after `from` that is inside the window and in local hour `hour`;
    /// `None` when the window never covers that hour.
    pub fn at_hour(&self, tz: Tz, from: DateTime<Utc>, hour: u32) -> Option<DateTime<Utc>> {
        let hour_start = NaiveTime::from_hms_opt(hour, 0, 0)?;
        let hour_end = NaiveTime::from_hms_opt(hour, 59, 59)?;
        let (lo, hi) = (hour_start.max(self.start), hour_end.min(self.end));
        if lo >= hi {
            return None;
        }
        let today = from.with_timezone(&tz).date_naive();
        for d in 0..8 {
            let Some(date) = today.checked_add_days(chrono::Days::new(d)) else {
                continue;
            };
            if !self.open_on(date) {
                continue;
            }
            let (Some(start), Some(end)) = (Self::local(tz, date, lo), Self::local(tz, date, hi))
            else {
                continue;
            };
            let candidate = start.max(from);
            if candidate < end {
                return Some(candidate);
            }
        }
        None
    }
}

pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone (e.g. America/Sao_Paulo)"))
}
