//! Channel configuration: the provider settings a channel needs to talk to WAHA, and the
//! auto-reply and timing settings an operator controls. Shared by the API (which validates them
//! when a channel is created) and the activities (which apply them).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use ventros_workflows::ConversationTiming;

/// Longest greeting or away text accepted (WhatsApp allows far more; a greeting should not).
pub const MAX_AUTO_REPLY_CHARS: usize = 4_096;

use ventros_domain::language::LANGUAGES;

/// A text customers read: one for everyone, or one per language
/// (`{"pt": "Olá!", "en": "Hello!", "es": "¡Hola!"}`), of which each customer reads theirs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum LocalizedText {
    One(String),
    PerLanguage(BTreeMap<String, String>),
}

impl From<&str> for LocalizedText {
    fn from(text: &str) -> Self {
        LocalizedText::One(text.to_owned())
    }
}

impl LocalizedText {
    /// The text in `language` (`pt`, `en`, `es`), else the first given of Portuguese, English,
    /// Spanish.
    pub fn pick(&self, language: Option<&str>) -> &str {
        match self {
            LocalizedText::One(text) => text,
            LocalizedText::PerLanguage(texts) => language
                .and_then(|l| texts.get(l))
                .or_else(|| LANGUAGES.iter().find_map(|l| texts.get(*l)))
                .map_or("", String::as_str),
        }
    }

    fn validate(&self, field: &str) -> Result<(), String> {
        let texts: Vec<(&str, &String)> = match self {
            LocalizedText::One(text) => vec![("", text)],
            LocalizedText::PerLanguage(texts) if texts.is_empty() => {
                return Err(format!(
                    "settings.{field} must be a text, or texts by language (pt, en, es)"
                ));
            }
            LocalizedText::PerLanguage(texts) => {
                texts.iter().map(|(l, t)| (l.as_str(), t)).collect()
            }
        };
        for (language, text) in texts {
            if !language.is_empty() && !LANGUAGES.contains(&language) {
                return Err(format!(
                    "settings.{field}: {language:?} is not a language texts can be given in (pt, en, es)"
                ));
            }
            if text.trim().is_empty() || text.chars().count() > MAX_AUTO_REPLY_CHARS {
                let at = if language.is_empty() {
                    String::new()
                } else {
                    format!(".{language}")
                };
                return Err(format!(
                    "settings.{field}{at} must be 1 to {MAX_AUTO_REPLY_CHARS} characters"
                ));
            }
        }
        Ok(())
    }
}

/// How Ventros reaches a WAHA server and recognises its webhooks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WahaConfig {
    /// e.g. `http://localhost:3000`
    pub base_url: String,
    /// Sent as `X-Api-Key` on every call.
    pub api_key: String,
    /// The WAHA session name (`default` unless the server hosts several numbers).
    #[serde(default = "default_session")]
    pub session: String,
    /// When set, every webhook must carry a valid `X-Webhook-Hmac` (HMAC-SHA512 of the raw body).
    #[serde(default)]
    pub hmac_key: Option<String>,
}

fn default_session() -> String {
    "default".to_owned()
}

impl WahaConfig {
    pub fn validate(&self) -> Result<(), String> {
        let url = self.base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err("provider_config.base_url must be an http(s) URL".into());
        }
        if self.api_key.is_empty() {
            return Err("provider_config.api_key must not be empty".into());
        }
        // The session name goes into WAHA's URL paths: a plain name, never `../`.
        if self.session.is_empty()
            || self.session.len() > 64
            || !self
                .session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(
                "provider_config.session must be 1 to 64 letters, digits, '_' or '-'".into(),
            );
        }
        // Without a key anyone who guesses the webhook URL can forge messages and statuses.
        match self.hmac_key.as_deref() {
            None | Some("") => return Err("provider_config.hmac_key is required: the key WAHA signs its webhooks with (WHATSAPP_HOOK_HMAC_KEY or the session's webhook hmac.key), at least 16 characters".into()),
            Some(k) if k.len() < 16 => return Err("provider_config.hmac_key must be at least 16 characters".into()),
            Some(_) => {}
        }
        Ok(())
    }
}

/// Opening hours in a fixed UTC offset. Outside them the away message applies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BusinessHours {
    /// Offset of the business's local time from UTC, in minutes (São Paulo: -180).
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// Open windows; none at all means "always closed".
    #[serde(default)]
    pub windows: Vec<OpenWindow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenWindow {
    /// ISO weekdays: 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// `HH:MM`, local time, inclusive.
    pub start: String,
    /// `HH:MM`, local time, exclusive.
    pub end: String,
}

impl BusinessHours {
    pub fn validate(&self) -> Result<(), String> {
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err("business_hours.utc_offset_minutes must be within ±840".into());
        }
        for w in &self.windows {
            if w.days.iter().any(|d| !(1..=7).contains(d)) {
                return Err("business_hours.windows[].days are ISO weekdays 1..=7".into());
            }
            let (start, end) = (parse_hhmm(&w.start), parse_hhmm(&w.end));
            match (start, end) {
                (Some(s), Some(e)) if s < e => {}
                _ => return Err("business_hours.windows[] needs start < end as HH:MM".into()),
            }
        }
        Ok(())
    }

    /// Whether the business is open at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now + ChronoDuration::minutes(i64::from(self.utc_offset_minutes));
        let day = local.weekday().number_from_monday() as u8;
        let time = local.time();
        self.windows.iter().any(|w| {
            w.days.contains(&day)
                && matches!((parse_hhmm(&w.start), parse_hhmm(&w.end)), (Some(s), Some(e)) if s <= time && time < e)
        })
    }
}

fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// Auto-reply rules and conversation timing of a channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Sent when a customer opens a new session (inside business hours); one text, or one per
    /// language.
    #[serde(default)]
    pub greeting: Option<LocalizedText>,
    /// Sent when a customer writes outside business hours; one text, or one per language.
    #[serde(default)]
    pub away_message: Option<LocalizedText>,
    /// None: always open.
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    /// The away message is not repeated within this many seconds in one session.
    #[serde(default = "defaults::away_cooldown_secs")]
    pub away_cooldown_secs: u64,
    #[serde(default = "defaults::debounce_ms")]
    pub debounce_ms: u64,
    #[serde(default = "defaults::max_debounce_ms")]
    pub max_debounce_ms: u64,
    #[serde(default = "defaults::inactivity_timeout_secs")]
    pub inactivity_timeout_secs: u64,
    /// An outbound message with no delivery receipt after this long is `undelivered`.
    #[serde(default = "defaults::ack_timeout_secs")]
    pub ack_timeout_secs: u64,
    /// How long after delivery the read receipt is still awaited.
    #[serde(default = "defaults::read_window_secs")]
    pub read_window_secs: u64,
    /// When set, replies come from an AI agent instead of the greeting/away rules.
    #[serde(default)]
    pub ai: Option<AiSettings>,
    /// How campaign messages go out. WAHA channels are always paced (the defaults when unset):
    /// see [`CampaignPacing`].
    #[serde(default)]
    pub campaign_pacing: Option<CampaignPacing>,
}

/// Campaign sending that protects a WhatsApp number. WAHA drives a personal WhatsApp account, and
/// WhatsApp bans accounts that send in bulk; WAHA's own advice is a random 30–60 s between
/// messages and "typing…" before each. No numeric limit is published, so the daily cap is a
/// conservative default an admin raises for a number with a history of conversations.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CampaignPacing {
    /// Campaign messages on this channel are at least this far apart…
    #[serde(default = "defaults::pacing_min_interval_secs")]
    pub min_interval_secs: u32,
    /// …and at most this far: each gap is drawn at random in between, so sends never tick like a
    /// machine.
    #[serde(default = "defaults::pacing_max_interval_secs")]
    pub max_interval_secs: u32,
    /// At most this many campaign messages per calendar day (in the campaign's time zone); the
    /// rest wait for the next day. `null`: no cap.
    #[serde(default = "defaults::pacing_daily_cap")]
    pub daily_cap: Option<u32>,
    /// Show "typing…" for a few seconds (longer for longer texts) before each campaign message.
    #[serde(default = "defaults::presence")]
    pub typing: bool,
}

impl Default for CampaignPacing {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults deserialize")
    }
}

impl CampaignPacing {
    pub fn validate(&self) -> Result<(), String> {
        if self.min_interval_secs > self.max_interval_secs || self.max_interval_secs > 3_600 {
            return Err(
                "settings.campaign_pacing: min_interval_secs must be <= max_interval_secs <= 3600"
                    .into(),
            );
        }
        if self.daily_cap.is_some_and(|cap| cap == 0 || cap > 100_000) {
            return Err(
                "settings.campaign_pacing.daily_cap must be 1 to 100000, or null for no cap".into(),
            );
        }
        Ok(())
    }

    /// How long "typing…" shows before a text: about a fast typist's pace, 2 to 8 seconds.
    pub fn typing_duration(text: &str) -> std::time::Duration {
        let chars = text.chars().count() as u64;
        std::time::Duration::from_millis((chars * 40).clamp(2_000, 8_000))
    }
}

/// Replies from the agent service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    /// `RouterAgent` (default) picks the specialist; any agent type answers directly.
    #[serde(default = "defaults::agent_type")]
    pub agent_type: String,
    /// Below this confidence the chat goes to a human instead of getting the agent's reply.
    /// f64 here (the workflow takes an f32): stored as f32 it would come back as 0.6000000238….
    #[serde(default = "defaults::confidence_threshold")]
    pub confidence_threshold: f64,
    /// Mark messages seen and show "typing…" while the agent works.
    #[serde(default = "defaults::presence")]
    pub presence: bool,
}

impl AiSettings {
    pub fn reply_config(&self) -> ventros_workflows::AiReplyConfig {
        ventros_workflows::AiReplyConfig {
            agent_type: self.agent_type.clone(),
            confidence_threshold: self.confidence_threshold as f32,
            presence: self.presence,
        }
    }
}

mod defaults {
    pub(super) fn away_cooldown_secs() -> u64 {
        3_600
    }
    pub(super) fn debounce_ms() -> u64 {
        1_500
    }
    pub(super) fn max_debounce_ms() -> u64 {
        10_000
    }
    pub(super) fn inactivity_timeout_secs() -> u64 {
        30 * 60
    }
    pub(super) fn ack_timeout_secs() -> u64 {
        10 * 60
    }
    pub(super) fn read_window_secs() -> u64 {
        3 * 24 * 60 * 60
    }
    pub(super) fn agent_type() -> String {
        "RouterAgent".into()
    }
    pub(super) fn confidence_threshold() -> f64 {
        0.45
    }
    pub(super) fn presence() -> bool {
        true
    }
    pub(super) fn pacing_min_interval_secs() -> u32 {
        30
    }
    pub(super) fn pacing_max_interval_secs() -> u32 {
        60
    }
    pub(super) fn pacing_daily_cap() -> Option<u32> {
        Some(200)
    }
}

impl Default for ChannelSettings {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults deserialize")
    }
}

impl ChannelSettings {
    pub fn validate(&self) -> Result<(), String> {
        for (field, text) in [
            ("greeting", &self.greeting),
            ("away_message", &self.away_message),
        ] {
            if let Some(text) = text {
                text.validate(field)?;
            }
        }
        if let Some(hours) = &self.business_hours {
            hours.validate()?;
        }
        if self.max_debounce_ms < self.debounce_ms || self.max_debounce_ms > 120_000 {
            return Err("settings.max_debounce_ms must be >= debounce_ms and <= 120000".into());
        }
        if self.inactivity_timeout_secs == 0 || self.inactivity_timeout_secs > 30 * 24 * 3600 {
            return Err("settings.inactivity_timeout_secs must be 1 s to 30 days".into());
        }
        if self.ack_timeout_secs == 0 || self.read_window_secs == 0 {
            return Err("settings.ack_timeout_secs and read_window_secs must be positive".into());
        }
        if let Some(pacing) = &self.campaign_pacing {
            pacing.validate()?;
        }
        if let Some(ai) = &self.ai {
            if ai.agent_type.is_empty()
                || ai.agent_type.len() > 100
                || !ai.agent_type.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(
                    "settings.ai.agent_type must be an agent type such as RouterAgent".into(),
                );
            }
            if !(0.0..=1.0).contains(&ai.confidence_threshold) {
                return Err("settings.ai.confidence_threshold must be between 0 and 1".into());
            }
        }
        Ok(())
    }

    /// The pacing campaign sends follow on a channel of `kind`: WAHA channels always have one (the
    /// safe defaults unless the admin set other values); Meta's channels only when set.
    pub fn campaign_pacing_for(&self, kind: &str) -> Option<CampaignPacing> {
        match (self.campaign_pacing, kind) {
            (Some(pacing), _) => Some(pacing),
            (None, "waha") => Some(CampaignPacing::default()),
            (None, _) => None,
        }
    }

    pub fn timing(&self) -> ConversationTiming {
        ConversationTiming {
            debounce_ms: self.debounce_ms,
            max_debounce_ms: self.max_debounce_ms,
            inactivity_timeout_secs: self.inactivity_timeout_secs,
        }
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.business_hours.as_ref().is_none_or(|h| h.is_open(now))
    }
}

/// The automatic reply a message gets, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoReply {
    Greeting(String),
    Away(String),
}

/// The auto-reply rules: outside business hours the away message (at most once per cooldown),
/// otherwise a greeting for a session that just opened; in the customer's `language` when the
/// text is given in it.
pub fn choose_auto_reply(
    settings: &ChannelSettings,
    now: DateTime<Utc>,
    session_opened: bool,
    last_away_sent_at: Option<DateTime<Utc>>,
    language: Option<&str>,
) -> Result<AutoReply, &'static str> {
    if !settings.is_open(now) {
        let Some(away) = &settings.away_message else {
            return Err("closed_without_away_message");
        };
        let cooled = last_away_sent_at
            .is_none_or(|t| now - t >= ChronoDuration::seconds(settings.away_cooldown_secs as i64));
        return if cooled {
            Ok(AutoReply::Away(away.pick(language).to_owned()))
        } else {
            Err("away_cooldown")
        };
    }
    match (&settings.greeting, session_opened) {
        (Some(greeting), true) => Ok(AutoReply::Greeting(greeting.pick(language).to_owned())),
        _ => Err("no_rule"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn weekdays_9_to_18() -> BusinessHours {
        BusinessHours {
            utc_offset_minutes: -180,
            windows: vec![OpenWindow {
                days: vec![1, 2, 3, 4, 5],
                start: "09:00".into(),
                end: "18:00".into(),
            }],
        }
    }

    #[test]
    fn business_hours_use_the_local_offset() {
        let hours = weekdays_9_to_18();
        // Wednesday 2026-11-25 12:30 UTC is 09:30 in UTC-3: open.
        assert!(hours.is_open(Utc.with_ymd_and_hms(2026, 11, 25, 12, 30, 0).unwrap()));
        // 11:59 UTC is 08:59 local: closed.
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 11, 25, 11, 59, 0).unwrap()));
        // Saturday: closed.
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 11, 28, 14, 0, 0).unwrap()));
    }

    #[test]
    fn away_beats_greeting_and_respects_the_cooldown() {
        let settings = ChannelSettings {
            greeting: Some("hi".into()),
            away_message: Some("closed".into()),
            business_hours: Some(BusinessHours {
                utc_offset_minutes: 0,
                windows: vec![],
            }),
            ..ChannelSettings::default()
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        assert_eq!(
            choose_auto_reply(&settings, now, true, None, None),
            Ok(AutoReply::Away("closed".into()))
        );
        let recently = now - ChronoDuration::minutes(5);
        assert_eq!(
            choose_auto_reply(&settings, now, false, Some(recently), None),
            Err("away_cooldown")
        );
    }

    #[test]
    fn texts_by_language_reach_each_customer_in_theirs() {
        let settings: ChannelSettings = serde_json::from_value(serde_json::json!({
            "greeting": {"pt": "Olá! Como podemos ajudar?", "en": "Hi! How can we help?"},
            "away_message": "Fechado / Closed",
        }))
        .unwrap();
        settings.validate().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let greet = |language| choose_auto_reply(&settings, now, true, None, language);
        assert_eq!(
            greet(Some("en")),
            Ok(AutoReply::Greeting("Hi! How can we help?".into()))
        );
        assert_eq!(
            greet(Some("pt")),
            Ok(AutoReply::Greeting("Olá! Como podemos ajudar?".into()))
        );
        // Not given in Spanish, or the language is unknown: Portuguese first.
        assert_eq!(
            greet(Some("es")),
            Ok(AutoReply::Greeting("Olá! Como podemos ajudar?".into()))
        );
        assert_eq!(
            greet(None),
            Ok(AutoReply::Greeting("Olá! Como podemos ajudar?".into()))
        );
        // One text for everyone still works as before, and reads back the same.
        assert_eq!(
            serde_json::to_value(&settings.away_message).unwrap(),
            serde_json::json!("Fechado / Closed")
        );

        let refused = |greeting: serde_json::Value| {
            serde_json::from_value::<ChannelSettings>(serde_json::json!({"greeting": greeting}))
                .map_err(|e| e.to_string())
                .and_then(|s| s.validate())
                .unwrap_err()
        };
        assert!(refused(serde_json::json!({"fr": "Bonjour"})).contains("\"fr\" is not a language"));
        assert!(refused(serde_json::json!({})).contains("texts by language"));
        assert!(
            refused(serde_json::json!({"pt": " "})).contains("settings.greeting.pt must be 1 to")
        );
    }

    #[test]
    fn greeting_only_for_a_new_session() {
        let settings = ChannelSettings {
            greeting: Some("hi".into()),
            ..ChannelSettings::default()
        };
        let now = Utc::now();
        assert_eq!(
            choose_auto_reply(&settings, now, true, None, None),
            Ok(AutoReply::Greeting("hi".into()))
        );
        assert_eq!(
            choose_auto_reply(&settings, now, false, None, None),
            Err("no_rule")
        );
    }

    #[test]
    fn invalid_settings_are_refused() {
        let mut s = ChannelSettings {
            debounce_ms: 5_000,
            max_debounce_ms: 1_000,
            ..ChannelSettings::default()
        };
        assert!(s.validate().is_err());
        s.max_debounce_ms = 10_000;
        assert!(s.validate().is_ok());
        let unknown: Result<ChannelSettings, _> = serde_json::from_str(r#"{"greting":"typo"}"#);
        assert!(unknown.is_err());
    }
}
