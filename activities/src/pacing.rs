//! Campaign pacing per channel: the moments campaign messages may go out so that a WhatsApp
//! number driven through WAHA never sends like a bulk sender (see [`CampaignPacing`]). Slots are
//! reserved in the database (`channel_campaign_pacing`), so every campaign on the channel, on
//! every worker, shares one clock and one daily count.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rand::Rng;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use ventros_channels::channel::CampaignPacing;
use ventros_store::StoreError;

/// A channel's pacing clock (a row of `channel_campaign_pacing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacingClock {
    /// No campaign message goes out before this.
    pub next_slot_at: Option<DateTime<Utc>>,
    /// The day `slots_on_day` counts, in the campaign's time zone.
    pub slot_day: Option<NaiveDate>,
    pub slots_on_day: u32,
}

/// The first moment at or after `earliest` a campaign message may go out, and the clock after
/// reserving it: `gap` later for the next one, and one more on that day's count. A day whose cap
/// is used up sends nothing more: the slot moves to the start of the next day.
pub fn reserve(
    pacing: &CampaignPacing,
    clock: PacingClock,
    earliest: DateTime<Utc>,
    tz: Tz,
    gap: Duration,
) -> (DateTime<Utc>, PacingClock) {
    let mut slot = clock
        .next_slot_at
        .map_or(earliest, |next| next.max(earliest));
    let mut day = slot.with_timezone(&tz).date_naive();
    let mut count = if clock.slot_day == Some(day) {
        clock.slots_on_day
    } else {
        0
    };
    if let Some(cap) = pacing.daily_cap
        && count >= cap
    {
        day = day.succ_opt().unwrap_or(day);
        slot = start_of_day(day, tz).max(slot);
        count = 0;
    }
    (
        slot,
        PacingClock {
            next_slot_at: Some(slot + gap),
            slot_day: Some(day),
            slots_on_day: count + 1,
        },
    )
}

/// Midnight of `day` in `tz` (the first instant of the day where a DST change skips midnight).
fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut at = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..4 {
        if let Some(local) = tz.from_local_datetime(&at).earliest() {
            return local.with_timezone(&Utc);
        }
        at += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// A random gap between `min_interval_secs` and `max_interval_secs`.
pub fn random_gap(pacing: &CampaignPacing) -> Duration {
    let (min, max) = (
        u64::from(pacing.min_interval_secs) * 1_000,
        u64::from(pacing.max_interval_secs) * 1_000,
    );
    Duration::milliseconds(rand::rng().random_range(min..=max) as i64)
}

/// Reserves the channel's next campaign slot at or after `earliest` (locks the channel's clock
/// until the transaction ends, so concurrent claims queue up behind each other).
pub async fn reserve_slot(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    channel_id: Uuid,
    pacing: &CampaignPacing,
    earliest: DateTime<Utc>,
    tz: Tz,
) -> Result<DateTime<Utc>, StoreError> {
    sqlx::query!(
        "INSERT INTO channel_campaign_pacing (channel_id, tenant_id) VALUES ($1, $2) ON CONFLICT (channel_id) DO NOTHING",
        channel_id,
        tenant_id,
    )
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query!(
        "SELECT next_slot_at, slot_day, slots_on_day FROM channel_campaign_pacing WHERE channel_id = $1 FOR UPDATE",
        channel_id,
    )
    .fetch_one(&mut **tx)
    .await?;
    let clock = PacingClock {
        next_slot_at: row.next_slot_at,
        slot_day: row.slot_day,
        slots_on_day: row.slots_on_day.max(0) as u32,
    };
    let (slot, clock) = reserve(pacing, clock, earliest, tz, random_gap(pacing));
    sqlx::query!(
        "UPDATE channel_campaign_pacing SET next_slot_at = $2, slot_day = $3, slots_on_day = $4, updated_at = now() WHERE channel_id = $1",
        channel_id,
        clock.next_slot_at,
        clock.slot_day,
        clock.slots_on_day as i32,
    )
    .execute(&mut **tx)
    .await?;
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, h, m, 0).unwrap()
    }

    #[test]
    fn sends_are_spaced_and_capped_per_local_day() {
        let pacing = CampaignPacing {
            min_interval_secs: 30,
            max_interval_secs: 60,
            daily_cap: Some(2),
            typing: true,
        };
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let gap = Duration::seconds(45);
        let (first, clock) = reserve(&pacing, PacingClock::default(), at(12, 0), tz, gap);
        assert_eq!(first, at(12, 0));
        // A claim a moment later waits for the gap.
        let (second, clock) = reserve(&pacing, clock, at(12, 0) + Duration::seconds(1), tz, gap);
        assert_eq!(second, at(12, 0) + gap);
        // The cap of 2 is reached: the third waits for midnight in São Paulo (03:00 UTC).
        let (third, clock) = reserve(&pacing, clock, at(12, 5), tz, gap);
        assert_eq!(third, Utc.with_ymd_and_hms(2026, 12, 3, 3, 0, 0).unwrap());
        assert_eq!(clock.slots_on_day, 1);
        assert_eq!(clock.slot_day, NaiveDate::from_ymd_opt(2026, 12, 3));
    }

    #[test]
    fn a_quiet_channel_sends_at_once_and_without_a_cap_never_waits_for_tomorrow() {
        let pacing = CampaignPacing {
            min_interval_secs: 0,
            max_interval_secs: 0,
            daily_cap: None,
            typing: false,
        };
        let mut clock = PacingClock::default();
        for _ in 0..1_000 {
            let (slot, next) = reserve(&pacing, clock, at(23, 59), Tz::UTC, Duration::zero());
            assert_eq!(slot, at(23, 59));
            clock = next;
        }
        // An old clock does not hold a send back.
        let stale = PacingClock {
            next_slot_at: Some(at(1, 0)),
            slot_day: NaiveDate::from_ymd_opt(2026, 12, 1),
            slots_on_day: 9,
        };
        assert_eq!(
            reserve(
                &CampaignPacing::default(),
                stale,
                at(12, 0),
                Tz::UTC,
                Duration::seconds(30)
            )
            .0,
            at(12, 0)
        );
    }

    #[test]
    fn gaps_are_drawn_within_the_bounds() {
        let pacing = CampaignPacing {
            min_interval_secs: 30,
            max_interval_secs: 60,
            ..CampaignPacing::default()
        };
        let gaps: Vec<i64> = (0..200)
            .map(|_| random_gap(&pacing).num_milliseconds())
            .collect();
        assert!(gaps.iter().all(|g| (30_000..=60_000).contains(g)));
        assert!(gaps.iter().any(|g| *g != gaps[0]), "jittered, not constant");
    }
}
