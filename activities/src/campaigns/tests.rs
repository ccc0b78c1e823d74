//! The schedule, window and send-time rules, without a database.

use super::*;

fn window(days: &[u8], start: &str, end: &str) -> SendWindow {
    serde_json::from_value(json!({"days": days, "start": start, "end": end})).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn windows_open_in_the_campaign_time_zone() {
    let tz: Tz = "America/Sao_Paulo".parse().unwrap(); // UTC-3, no DST since 2019
    let w = window(&[1, 2, 3, 4, 5], "09:00", "18:00");
    // Wednesday 2026-11-25 11:00 UTC = 08:00 local: before opening.
    let early = utc("2026-11-25T11:00:00Z");
    assert!(!w.contains(tz, early));
    assert_eq!(w.next_open(tz, early), Some(utc("2026-11-25T12:00:00Z")));
    // 15:00 local is inside: now.
    let inside = utc("2026-11-25T18:00:00Z");
    assert_eq!(w.next_open(tz, inside), Some(inside));
    // Friday 19:00 local → Monday 09:00 local.
    assert_eq!(
        w.next_open(tz, utc("2026-11-27T22:00:00Z")),
        Some(utc("2026-11-30T12:00:00Z"))
    );
}

#[test]
fn best_hour_lands_inside_the_window_or_not_at_all() {
    let tz: Tz = "America/Sao_Paulo".parse().unwrap();
    let w = window(&[1, 2, 3, 4, 5, 6, 7], "09:30", "18:00");
    let from = utc("2026-11-25T11:00:00Z"); // 08:00 local
    assert_eq!(w.at_hour(tz, from, 15), Some(utc("2026-11-25T18:00:00Z")));
    assert_eq!(
        w.at_hour(tz, from, 9),
        Some(utc("2026-11-25T12:30:00Z")),
        "the hour starts when the window does"
    );
    assert_eq!(w.at_hour(tz, from, 20), None, "outside the window");
    // 15:00 has passed today → tomorrow 15:00; inside the hour → now.
    assert_eq!(
        w.at_hour(tz, utc("2026-11-25T19:30:00Z"), 15),
        Some(utc("2026-11-26T18:00:00Z"))
    );
    assert_eq!(
        w.at_hour(tz, utc("2026-11-25T18:20:00Z"), 15),
        Some(utc("2026-11-25T18:20:00Z"))
    );
}

#[test]
fn windows_that_never_open_and_bad_schedules_are_refused() {
    assert!(window(&[], "09:00", "18:00").validate().is_err());
    assert!(window(&[1], "18:00", "09:00").validate().is_err());
    assert!(window(&[8], "09:00", "18:00").validate().is_err());
    assert!(window(&[1], "09:00", "09:01").validate().is_ok());
    assert!(serde_json::from_value::<SendWindow>(json!({"start": "9h", "end": "18:00"})).is_err());
    let now = utc("2026-11-25T12:00:00Z");
    assert!(
        CampaignSchedule::Once {
            at: utc("2026-11-25T11:59:59Z")
        }
        .validate(now)
        .is_err()
    );
    assert!(
        CampaignSchedule::Once {
            at: utc("2026-11-25T12:00:01Z")
        }
        .validate(now)
        .is_ok()
    );
    assert!(
        CampaignSchedule::Cron {
            expression: "every day".into()
        }
        .validate(now)
        .is_err()
    );
    for good in ["0 9 * * MON-FRI", "*/15 8-18 * * 1-5", "@daily"] {
        assert!(valid_cron(good).is_ok(), "{good}");
    }
    // Five fields but out of range, or six / seven: refused here, not by Temporal later.
    for bad in [
        "61 * * * *",
        "0 25 * * *",
        "0 9 * * FUNDAY",
        "a b c d e",
        "0 0 9 * * MON",
        "0 9 * * MON 2027",
        "@sometimes",
    ] {
        assert!(valid_cron(bad).is_err(), "{bad}");
    }
    assert!(
        CampaignSchedule::Interval { every_seconds: 5 }
            .validate(now)
            .is_err()
    );
    assert!(parse_time_zone("Mars/Olympus").is_err());
}
