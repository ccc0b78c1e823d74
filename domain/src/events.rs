//! Outbox event types: what `outbox_events.event_type` holds, what webhook subscriptions name,
//! what the live stream sends to the web app and what the memory feed reads.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! event_types {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, subscribable: $sub:literal;)+) => {
        /// A domain event's type. Serialised as its dotted name (`message.received`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        pub enum EventType {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)+
        }

        impl EventType {
            /// Every event type, in the order the documentation lists them.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            /// The dotted name stored in the outbox and sent to subscribers.
            pub const fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)+ }
            }

            /// Whether a webhook subscription may name it (the public contract). The others are
            /// internal: they reach the live stream and the memory feed, never a customer's URL.
            pub const fn subscribable(self) -> bool {
                match self { $(EventType::$variant => $sub,)+ }
            }
        }

        impl FromStr for EventType {
            type Err = UnknownEventType;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(EventType::$variant),)+
                    _ => Err(UnknownEventType(s.to_owned())),
                }
            }
        }
    };
}

event_types! {
    /// A customer's message was stored (any channel).
    MessageReceived = "message.received", subscribable: true;
    /// A message to a customer was accepted by the provider.
    MessageSent = "message.sent", subscribable: true;
    /// A delivery receipt moved a message's status (delivered, read, failed).
    MessageStatusChanged = "message.status_changed", subscribable: true;
    /// A customer's files were fetched into storage (or could not be): the message's
    /// attachments are ready to show, with a voice note's words where a model is configured.
    MessageMediaStored = "message.media_stored", subscribable: true;
    /// A customer reacted to a message (Instagram, Messenger).
    MessageReaction = "message.reaction", subscribable: false;
    /// A conversation session started.
    SessionOpened = "session.opened", subscribable: true;
    /// A session moved between the agent, the queue and an operator.
    SessionAssignmentChanged = "session.assignment_changed", subscribable: true;
    /// A session ended (idle timeout or resolved by an operator).
    SessionClosed = "session.closed", subscribable: true;
    /// An open session moved between open, pending and snoozed (by an operator, the customer
    /// writing, or its snooze ending).
    SessionStateChanged = "session.state_changed", subscribable: true;
    /// A channel's provider session changed status (WAHA `session.status`: waiting for a scan,
    /// working, stopped, failed).
    ChannelStatusChanged = "channel.status_changed", subscribable: true;
    /// An AI agent answered a customer.
    AgentReplied = "agent.replied", subscribable: true;
    /// A contact was created.
    ContactCreated = "contact.created", subscribable: true;
    /// A contact's fields changed.
    ContactUpdated = "contact.updated", subscribable: true;
    /// A tag was added to a contact.
    ContactTagged = "contact.tagged", subscribable: true;
    /// A tag was removed from a contact.
    ContactUntagged = "contact.untagged", subscribable: true;
    /// Two contacts became one.
    ContactMerged = "contact.merged", subscribable: true;
    /// A contact asked not to receive campaigns.
    ContactOptedOut = "contact.opted_out", subscribable: true;
    /// A contact accepts campaigns again.
    ContactOptedIn = "contact.opted_in", subscribable: true;
    /// A deal was created.
    DealCreated = "deal.created", subscribable: true;
    /// A deal moved to another stage.
    DealStageChanged = "deal.stage_changed", subscribable: true;
    /// A deal was won, lost or reopened.
    DealStatusChanged = "deal.status_changed", subscribable: true;
    /// A deal was deleted.
    DealDeleted = "deal.deleted", subscribable: true;
    /// A ticket was opened (by an agent whose reply promised it, or by an operator).
    TicketOpened = "ticket.opened", subscribable: true;
    /// A ticket's status or assignee changed.
    TicketUpdated = "ticket.updated", subscribable: true;
    /// A follow-up task was created.
    TaskCreated = "task.created", subscribable: true;
    /// An open task reached its due time (its assignee, or the team, is told).
    TaskDue = "task.due", subscribable: true;
    /// A task was completed, cancelled, reassigned or moved.
    TaskUpdated = "task.updated", subscribable: true;
    /// An operator wrote a private note in a conversation (internal: never sent to a webhook).
    NoteAdded = "note.added", subscribable: false;
    /// A campaign was created.
    CampaignCreated = "campaign.created", subscribable: false;
    /// A campaign's definition or state changed.
    CampaignUpdated = "campaign.updated", subscribable: false;
    /// A campaign was scheduled (now, once or on a cron).
    CampaignScheduled = "campaign.scheduled", subscribable: false;
    /// A campaign was paused.
    CampaignPaused = "campaign.paused", subscribable: false;
    /// A paused campaign resumed.
    CampaignResumed = "campaign.resumed", subscribable: false;
    /// A campaign was cancelled.
    CampaignCancelled = "campaign.cancelled", subscribable: false;
    /// A campaign run started sending.
    CampaignRunStarted = "campaign.run_started", subscribable: false;
    /// A campaign message reached the provider (written by the `messages_campaign_recipient`
    /// trigger, migrations/sql/0006_campaigns.sql).
    CampaignRecipientSent = "campaign.recipient.sent", subscribable: false;
    /// A campaign message failed (the same trigger).
    CampaignRecipientFailed = "campaign.recipient.failed", subscribable: false;
    /// A campaign run sent to every recipient.
    CampaignRunCompleted = "campaign.run_completed", subscribable: false;
    /// A campaign run was cancelled.
    CampaignRunCancelled = "campaign.run_cancelled", subscribable: false;
    /// A campaign recipient was skipped (opted out, no address, ...).
    CampaignRecipientSkipped = "campaign.recipient.skipped", subscribable: false;
    /// A campaign recipient answered.
    CampaignRecipientReplied = "campaign.recipient.replied", subscribable: false;
}

impl EventType {
    /// The subscribable event types, for validation messages and the API's listing.
    pub fn subscribable_types() -> impl Iterator<Item = EventType> {
        Self::ALL.iter().copied().filter(|t| t.subscribable())
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventType(pub String);

impl fmt::Display for UnknownEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event type {:?}", self.0)
    }
}

impl std::error::Error for UnknownEventType {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for &t in EventType::ALL {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, serde_json::json!(t.as_str()));
            assert_eq!(serde_json::from_value::<EventType>(json).unwrap(), t);
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
        }
        assert!("message.recieved".parse::<EventType>().is_err());
    }

    #[test]
    fn names_are_unique_dotted_and_lowercase() {
        let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        for n in names {
            assert!(
                n.contains('.')
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{n}"
            );
        }
    }

    #[test]
    fn the_public_contract_is_the_documented_one() {
        // Removing or renaming a subscribable type breaks customers' integrations: this list only grows.
        let public: Vec<_> = EventType::subscribable_types()
            .map(EventType::as_str)
            .collect();
        assert_eq!(
            public,
            [
                "message.received",
                "message.sent",
                "message.status_changed",
                "message.media_stored",
                "session.opened",
                "session.assignment_changed",
                "session.closed",
                "session.state_changed",
                "channel.status_changed",
                "agent.replied",
                "contact.created",
                "contact.updated",
                "contact.tagged",
                "contact.untagged",
                "contact.merged",
                "contact.opted_out",
                "contact.opted_in",
                "deal.created",
                "deal.stage_changed",
                "deal.status_changed",
                "deal.deleted",
                "ticket.opened",
                "ticket.updated",
                "task.created",
                "task.due",
                "task.updated",
            ]
        );
    }
}
