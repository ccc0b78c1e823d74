//! The workflows' decisions as plain functions: which way a burst is answered, when a debounce
//! window ends, what the campaign loop does next, how long a recipient sleeps.
//!
//! Workflow code is awkward to test in isolation (it needs a Temporal server or a recorded
//! history); these functions are not, so every branch of a decision is a unit test here, and the
//! workflows only carry the decision out. They take plain values and return plain values: no
//! context, no clock, no I/O, so they are deterministic by construction.

use std::time::Duration;

use uuid::Uuid;

use crate::contract::{AiReplyConfig, Assignment, ConversationTiming};

/// How a burst of customer messages is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyPath {
    /// No session is open (every message was a duplicate): nothing to answer.
    NoSession,
    /// A human holds the chat: the bot stays quiet.
    HeldByHuman,
    /// The channel answers with an AI agent.
    Agent { session_id: Uuid, ai: AiReplyConfig },
    /// The channel's auto-reply rules decide (greeting, away message, or nothing).
    AutoReply { session_id: Uuid },
}

/// At most one reply per burst; a human's hold wins over the agent, the agent over the rules.
pub fn reply_path(
    session_id: Option<Uuid>,
    assignment: Assignment,
    ai: Option<&AiReplyConfig>,
) -> ReplyPath {
    let Some(session_id) = session_id else {
        return ReplyPath::NoSession;
    };
    if assignment == Assignment::Human {
        return ReplyPath::HeldByHuman;
    }
    match ai {
        Some(ai) => ReplyPath::Agent {
            session_id,
            ai: ai.clone(),
        },
        None => ReplyPath::AutoReply { session_id },
    }
}

/// Why an agent's turn ends with the chat handed to a person, if it does: the agent had no answer
/// it trusted (below the channel's confidence threshold) or it asked for a person itself. Low
/// confidence is reported first: it is why no reply went out.
pub fn agent_handoff(reply_planned: bool, agent_asked_for_human: bool) -> Option<&'static str> {
    if !reply_planned {
        Some("low_confidence")
    } else if agent_asked_for_human {
        Some("agent_requested")
    } else {
        None
    }
}

/// How long to wait for the customer to go quiet, `elapsed_ms` into a debounce window: the quiet
/// time, cut short by what is left of the window's upper bound; `None` once the bound is reached.
pub fn debounce_wait(timing: &ConversationTiming, elapsed_ms: u64) -> Option<Duration> {
    if elapsed_ms >= timing.max_debounce_ms {
        return None;
    }
    let quiet = timing.debounce_ms.min(timing.max_debounce_ms - elapsed_ms);
    Some(Duration::from_millis(quiet))
}

/// What the campaign's dispatch loop sees.
#[derive(Debug, Clone, Copy)]
pub struct DispatchView {
    pub cancelled: bool,
    pub paused: bool,
    /// Recipients resolved from the segment and not started yet.
    pub buffered: usize,
    /// The segment has no more pages.
    pub exhausted: bool,
    pub in_flight: usize,
    pub max_in_flight: usize,
}

/// The campaign dispatch loop's next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchStep {
    /// Everyone is dispatched (or the run is cancelled): settle.
    Settle,
    /// Paused: wait for a control signal.
    WaitForControl,
    /// The buffer is empty and the segment has more: read the next page.
    ResolvePage,
    /// Every slot is taken: wait for a recipient to finish (or a control).
    WaitForSlot,
    /// Start this many recipients.
    Dispatch(usize),
}

/// Cancel wins over pause, pause over everything else; at most `max_in_flight` recipients are
/// being prepared or sent at once.
pub fn dispatch_step(v: DispatchView) -> DispatchStep {
    if v.cancelled {
        return DispatchStep::Settle;
    }
    if v.paused {
        return DispatchStep::WaitForControl;
    }
    if v.buffered == 0 {
        return if v.exhausted {
            DispatchStep::Settle
        } else {
            DispatchStep::ResolvePage
        };
    }
    match v.max_in_flight.saturating_sub(v.in_flight) {
        0 => DispatchStep::WaitForSlot,
        free => DispatchStep::Dispatch(free),
    }
}

/// The next wait between looks at a settling run's outstanding recipients: doubling, at most half
/// a minute, so a run completes soon after its last send without polling hard for a day.
pub fn settle_backoff(wait: Duration) -> Duration {
    (wait * 2).min(Duration::from_secs(30))
}

/// How long a campaign recipient sleeps before claiming its send, and whether the wait is long
/// enough (over `park_threshold_ms`) to report it as parked (best send time, pacing, rate limit).
/// `None` when the moment has come.
pub fn recipient_wait(
    now_ms: i64,
    until_ms: i64,
    park_threshold_ms: i64,
) -> Option<(Duration, bool)> {
    if until_ms <= now_ms {
        return None;
    }
    let wait = until_ms - now_ms;
    Some((Duration::from_millis(wait as u64), wait > park_threshold_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ai() -> AiReplyConfig {
        AiReplyConfig {
            agent_type: "RouterAgent".into(),
            confidence_threshold: 0.6,
            presence: true,
        }
    }

    #[test]
    fn a_burst_is_answered_by_the_human_the_agent_or_the_rules_in_that_order() {
        let session = Some(Uuid::from_u128(7));
        assert_eq!(
            reply_path(None, Assignment::Bot, Some(&ai())),
            ReplyPath::NoSession
        );
        assert_eq!(
            reply_path(session, Assignment::Human, Some(&ai())),
            ReplyPath::HeldByHuman
        );
        assert_eq!(
            reply_path(session, Assignment::Human, None),
            ReplyPath::HeldByHuman
        );
        assert_eq!(
            reply_path(session, Assignment::Bot, Some(&ai())),
            ReplyPath::Agent {
                session_id: Uuid::from_u128(7),
                ai: ai()
            }
        );
        assert_eq!(
            reply_path(session, Assignment::Bot, None),
            ReplyPath::AutoReply {
                session_id: Uuid::from_u128(7)
            }
        );
    }

    #[test]
    fn an_agent_hands_over_when_it_has_no_trusted_answer_or_asks_to() {
        assert_eq!(agent_handoff(true, false), None);
        assert_eq!(agent_handoff(true, true), Some("agent_requested"));
        assert_eq!(agent_handoff(false, false), Some("low_confidence"));
        assert_eq!(agent_handoff(false, true), Some("low_confidence"));
    }

    #[test]
    fn debounce_waits_for_quiet_but_never_past_its_bound() {
        let timing = ConversationTiming {
            debounce_ms: 1_500,
            max_debounce_ms: 10_000,
            inactivity_timeout_secs: 1_800,
        };
        assert_eq!(
            debounce_wait(&timing, 0),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(
            debounce_wait(&timing, 9_000),
            Some(Duration::from_millis(1_000)),
            "the last window is cut to the bound"
        );
        assert_eq!(debounce_wait(&timing, 10_000), None);
        assert_eq!(debounce_wait(&timing, 12_000), None);
    }

    #[test]
    fn the_campaign_loop_cancels_pauses_reads_waits_and_dispatches_into_free_slots() {
        let base = DispatchView {
            cancelled: false,
            paused: false,
            buffered: 10,
            exhausted: false,
            in_flight: 3,
            max_in_flight: 8,
        };
        assert_eq!(dispatch_step(base), DispatchStep::Dispatch(5));
        let full = DispatchView {
            in_flight: 8,
            ..base
        };
        assert_eq!(dispatch_step(full), DispatchStep::WaitForSlot);
        let over = DispatchView {
            in_flight: 9,
            ..base
        };
        assert_eq!(
            dispatch_step(over),
            DispatchStep::WaitForSlot,
            "a lowered limit never underflows"
        );
        let drained = DispatchView {
            buffered: 0,
            ..base
        };
        assert_eq!(dispatch_step(drained), DispatchStep::ResolvePage);
        let done = DispatchView {
            buffered: 0,
            exhausted: true,
            ..base
        };
        assert_eq!(dispatch_step(done), DispatchStep::Settle);
        let paused = DispatchView {
            paused: true,
            ..base
        };
        assert_eq!(dispatch_step(paused), DispatchStep::WaitForControl);
        let cancelled = DispatchView {
            cancelled: true,
            paused: true,
            ..base
        };
        assert_eq!(dispatch_step(cancelled), DispatchStep::Settle);
    }

    #[test]
    fn settling_polls_less_often_up_to_half_a_minute() {
        let mut wait = Duration::from_secs(1);
        let mut seen = vec![];
        for _ in 0..7 {
            wait = settle_backoff(wait);
            seen.push(wait.as_secs());
        }
        assert_eq!(seen, [2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn a_recipient_sleeps_until_its_moment_and_long_waits_are_parked() {
        assert_eq!(recipient_wait(1_000, 1_000, 5_000), None);
        assert_eq!(recipient_wait(2_000, 1_000, 5_000), None);
        assert_eq!(
            recipient_wait(1_000, 3_000, 5_000),
            Some((Duration::from_millis(2_000), false))
        );
        assert_eq!(
            recipient_wait(1_000, 6_000, 5_000),
            Some((Duration::from_millis(5_000), false)),
            "exactly the threshold is not parked"
        );
        assert_eq!(
            recipient_wait(0, 3_600_000, 5_000),
            Some((Duration::from_secs(3_600), true))
        );
    }
}
