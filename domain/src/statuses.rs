//! Statuses stored as text in PostgreSQL and returned by the API: one enum each, so a comparison
//! or an assignment with a misspelt status is a compile error. The database keeps its CHECK
//! constraints; `sqlx::Type` reads and writes the same lowercase words, and a query macro names
//! the type with `status AS "status: CampaignStatus"`.

use serde::{Deserialize, Serialize};

/// One enum per stored status: the variants, each word written once beside its variant, and the
/// list of all of them (for error messages that say what is allowed).
macro_rules! stored_words {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(type_name = "text")]
        pub enum $name {
            $(#[serde(rename = $word)] #[sqlx(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every status, in the order a record moves through them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored word (what the CHECK constraint allows).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word,)+ }
            }

            /// The status a word names, if it names one (what a filter or a request may send).
            pub fn parse(word: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|status| status.as_str() == word)
            }

            /// "a, b or c": the allowed words, for an error message.
            pub fn choices() -> String {
                let words: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                match words.split_last() {
                    Some((last, [])) => (*last).to_owned(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            }
        }

        // Written out rather than derived: the derive does not see `serde(rename)` through this
        // macro's literals and documented the variant names (`Open`) instead of the words.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($word,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_words! {
    /// Where a deal stands: `won` and `lost` close it (a deal reaching a stage with that key takes
    /// that status).
    DealStatus { Open = "open", Won = "won", Lost = "lost", }
}

impl DealStatus {
    /// The status a deal takes on reaching the stage with this key.
    pub fn of_stage(key: &str) -> DealStatus {
        DealStatus::parse(key).unwrap_or(DealStatus::Open)
    }
}

stored_words! {
    /// A campaign's life: a `draft` is edited, `scheduled` waits for its Temporal Schedule,
    /// `running` while a run sends, `paused` by an operator; `completed` and `cancelled` are final.
    CampaignStatus {
        Draft = "draft",
        Scheduled = "scheduled",
        Running = "running",
        Paused = "paused",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

impl CampaignStatus {
    /// Whether nothing more will be sent for it.
    pub fn is_final(self) -> bool {
        matches!(self, CampaignStatus::Completed | CampaignStatus::Cancelled)
    }
}

stored_words! {
    /// One run of a campaign (one firing of its schedule).
    CampaignRunStatus { Running = "running", Completed = "completed", Cancelled = "cancelled", }
}

stored_words! {
    /// A campaign recipient, in the order one moves: chosen (`pending`), text and time picked
    /// (`scheduled`), message written (`sending`), then the message's receipts, then a reply.
    /// `skipped` (with a reason) and `failed` end it early.
    RecipientStatus {
        Pending = "pending",
        Scheduled = "scheduled",
        Sending = "sending",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Replied = "replied",
        Skipped = "skipped",
        Failed = "failed",
    }
}

impl RecipientStatus {
    /// The rank stored in `campaign_recipients.status_rank`: a status only ever moves to a
    /// higher rank, so "never backwards" is one SQL comparison.
    pub const fn rank(self) -> i32 {
        match self {
            RecipientStatus::Pending => 0,
            RecipientStatus::Scheduled => 1,
            RecipientStatus::Sending => 2,
            RecipientStatus::Sent => 3,
            RecipientStatus::Delivered => 4,
            RecipientStatus::Read => 5,
            RecipientStatus::Replied => 6,
            RecipientStatus::Skipped | RecipientStatus::Failed => 10,
        }
    }

    /// Written and not yet answered: a reply from the contact counts for the campaign only then.
    pub const ANSWERABLE: [&'static str; 4] = [
        RecipientStatus::Sending.as_str(),
        RecipientStatus::Sent.as_str(),
        RecipientStatus::Delivered.as_str(),
        RecipientStatus::Read.as_str(),
    ];
}

stored_words! {
    /// A merge of two contacts into one (the ContactMerge workflow's record).
    MergeStatus { Running = "running", Completed = "completed", }
}

stored_words! {
    /// A conversation session: `open` while the chat goes on, `closed` after inactivity or by an
    /// operator.
    SessionStatus { Open = "open", Closed = "closed", }
}

stored_words! {
    /// Where a conversation stands for the team: `open` (needs someone), `pending` (waiting on
    /// someone, back to open when the customer writes), `snoozed` (until a time), `resolved`.
    ConversationState { Open = "open", Pending = "pending", Snoozed = "snoozed", Resolved = "resolved", }
}

stored_words! {
    /// The kind of address a contact has on a channel: a WhatsApp phone (`…@c.us`), a WhatsApp
    /// hidden id (`…@lid`), a Messenger page-scoped id, an Instagram-scoped id.
    IdentityKind { WaUser = "wa_user", WaLid = "wa_lid", Psid = "psid", Igsid = "igsid", }
}

stored_words! {
    /// Who answers a conversation: the AI agent (`bot`) or a person (`human`).
    AssignedTo { Bot = "bot", Human = "human", }
}

stored_words! {
    /// Which way a message went.
    Direction { Inbound = "inbound", Outbound = "outbound", }
}

stored_words! {
    /// A stored message's status: `received` for a customer's message; an outbound one moves
    /// `pending` → `sent` → `delivered` → `read` (or `played`), or ends `failed` / `undelivered`.
    MessageStatus {
        Received = "received",
        Pending = "pending",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Played = "played",
        Failed = "failed",
        Undelivered = "undelivered",
    }
}

stored_words! {
    /// One delivery of an event to a webhook subscriber: `pending` until its first attempt,
    /// `retrying` after a failed one, then `delivered` or (retries spent) `failed`.
    WebhookDeliveryStatus {
        Pending = "pending",
        Retrying = "retrying",
        Delivered = "delivered",
        Failed = "failed",
    }
}

stored_words! {
    /// What a knowledge document was uploaded as: how its text is read and cut into passages.
    KnowledgeFormat {
        Markdown = "markdown",
        Text = "text",
        Html = "html",
        Pdf = "pdf",
        Csv = "csv",
    }
}

stored_words! {
    /// A knowledge document's indexing: `pending` until its latest version's passages are in,
    /// then `indexed`, or `failed` (with the reason) when its source cannot be read.
    KnowledgeStatus { Pending = "pending", Indexed = "indexed", Failed = "failed", }
}

stored_words! {
    /// What a ticket is about: a `support` problem, a `refund` or a `cancellation` request.
    TicketKind { Support = "support", Refund = "refund", Cancellation = "cancellation", }
}

stored_words! {
    /// A ticket's life: `open` until an operator starts on it (`in_progress`); `resolved` and
    /// `closed` end it (and may be reopened).
    TicketStatus { Open = "open", InProgress = "in_progress", Resolved = "resolved", Closed = "closed", }
}

impl TicketStatus {
    /// Whether the ticket still needs somebody.
    pub fn is_active(self) -> bool {
        matches!(self, TicketStatus::Open | TicketStatus::InProgress)
    }
}

stored_words! {
    /// A follow-up task: `open` until `done` or `cancelled`; only an open task is announced when due.
    TaskStatus { Open = "open", Done = "done", Cancelled = "cancelled", }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deal_statuses_are_the_lowercase_words_and_follow_closing_stages() {
        assert_eq!(serde_json::to_value(DealStatus::Won).unwrap(), "won");
        assert_eq!(
            serde_json::from_value::<DealStatus>("lost".into()).unwrap(),
            DealStatus::Lost
        );
        assert!(serde_json::from_value::<DealStatus>("closed".into()).is_err());
        assert_eq!(DealStatus::of_stage("won"), DealStatus::Won);
        assert_eq!(DealStatus::of_stage("lost"), DealStatus::Lost);
        assert_eq!(DealStatus::of_stage("proposal"), DealStatus::Open);
        assert_eq!(DealStatus::parse("closed"), None);
        assert_eq!(DealStatus::choices(), "open, won or lost");
    }

    /// The API document lists the words a client sends and reads, not the Rust variant names.
    #[test]
    fn the_documented_values_are_the_stored_words() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(SessionStatus::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["open", "closed"]));
        let schema = serde_json::to_value(RecipientStatus::schema()).unwrap();
        let words: Vec<&str> = RecipientStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(schema["enum"], serde_json::json!(words));
        assert_eq!(schema["type"], "string");
    }

    /// serde, `as_str`, `parse` and `Display` agree on every word of every status.
    #[test]
    fn every_status_round_trips_through_its_one_word() {
        fn check<T>(all: &[T], as_str: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
        where
            T: Copy + PartialEq + std::fmt::Debug + Serialize + std::fmt::Display,
        {
            for &status in all {
                assert_eq!(serde_json::to_value(status).unwrap(), as_str(status));
                assert_eq!(parse(as_str(status)), Some(status));
                assert_eq!(status.to_string(), as_str(status));
            }
            assert_eq!(parse("no such status"), None);
        }
        check(DealStatus::ALL, DealStatus::as_str, DealStatus::parse);
        check(
            CampaignStatus::ALL,
            CampaignStatus::as_str,
            CampaignStatus::parse,
        );
        check(
            CampaignRunStatus::ALL,
            CampaignRunStatus::as_str,
            CampaignRunStatus::parse,
        );
        check(
            RecipientStatus::ALL,
            RecipientStatus::as_str,
            RecipientStatus::parse,
        );
        check(MergeStatus::ALL, MergeStatus::as_str, MergeStatus::parse);
        check(
            SessionStatus::ALL,
            SessionStatus::as_str,
            SessionStatus::parse,
        );
        check(
            ConversationState::ALL,
            ConversationState::as_str,
            ConversationState::parse,
        );
        check(IdentityKind::ALL, IdentityKind::as_str, IdentityKind::parse);
        check(AssignedTo::ALL, AssignedTo::as_str, AssignedTo::parse);
        check(Direction::ALL, Direction::as_str, Direction::parse);
        check(
            MessageStatus::ALL,
            MessageStatus::as_str,
            MessageStatus::parse,
        );
    }

    /// The ranks the SQL relies on: forward statuses strictly increase, the two endings outrank
    /// them all.
    #[test]
    fn recipient_ranks_only_move_forward() {
        let forward = &RecipientStatus::ALL[..7];
        assert!(forward.windows(2).all(|w| w[0].rank() < w[1].rank()));
        for ending in [RecipientStatus::Skipped, RecipientStatus::Failed] {
            assert!(forward.iter().all(|s| s.rank() < ending.rank()));
        }
    }
}
