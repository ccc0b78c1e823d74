//! The tool catalog: every tool's name, description, input schema, annotations and the REST call
//! it makes. Most tools are one API call described as data ([`Call::Rest`]) and take what that
//! call takes: their input schemas are generated from the API's OpenAPI document
//! ([`crate::schemas`]), and here they only add descriptions for LLM clients. The few that
//! combine calls or choose between routes are [`Call::Custom`], with schemas written here, and
//! live in `server.rs`.

use reqwest::Method;
use serde_json::{Map, Value, json};

/// What a tool does to the CRM, for the MCP annotations (`readOnlyHint`, `destructiveHint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    Read,
    /// Creates or changes something that can be changed back.
    Write,
    /// Sends to a customer, merges, cancels, removes: cannot be undone.
    Destructive,
}

#[derive(Debug, Clone)]
pub enum Call {
    /// `method path`: `{name}` segments come from the arguments of that name; the other arguments
    /// go in the query string (GET, DELETE) or the JSON body (POST, PATCH).
    Rest { method: Method, path: &'static str },
    /// Handled in code (several calls, or a choice of route).
    Custom,
}

/// What a tool adds to the API's own description of its call's arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Args {
    /// Descriptions written for an LLM client, in place of the API's.
    pub describe: &'static [(&'static str, &'static str)],
    /// Arguments the tool requires beyond what the API requires.
    pub required: &'static [&'static str],
    /// Only these of the call's arguments (a narrower tool over a general route).
    pub only: Option<&'static [&'static str]>,
}

/// Where a tool's input schema comes from.
#[derive(Debug, Clone)]
pub enum Input {
    /// Written here (a [`Call::Custom`] tool).
    Schema(Value),
    /// Generated from the API's description of the tool's REST call.
    Api(Args),
}

pub struct ToolSpec {
    pub name: &'static str,
    pub group: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input: Input,
    /// The input schema clients see ([`catalog`] fills it in for API tools).
    pub schema: Value,
    pub effect: Effect,
    /// Calling it twice with the same arguments changes nothing more.
    pub idempotent: bool,
    pub call: Call,
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn id(description: &str) -> Value {
    json!({"type": "string", "format": "uuid", "description": description})
}

fn integer(description: &str, min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max, "description": description})
}

fn one_of(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

fn object(description: &str) -> Value {
    json!({"type": "object", "description": description})
}

/// An input schema written here: these properties, these required, nothing else.
fn schema(properties: &[(&str, Value)], required: &[&str]) -> Input {
    let props: Map<String, Value> = properties
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Input::Schema(
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}),
    )
}

/// The API call's arguments, with these descriptions and these also required.
fn args(
    describe: &'static [(&'static str, &'static str)],
    required: &'static [&'static str],
) -> Input {
    Input::Api(Args {
        describe,
        required,
        only: None,
    })
}

/// Only these of the API call's arguments, all required that the API requires.
fn only(names: &'static [&'static str]) -> Input {
    Input::Api(Args {
        only: Some(names),
        required: &names[..1],
        ..Args::default()
    })
}

fn rest(method: Method, path: &'static str) -> Call {
    Call::Rest { method, path }
}

#[allow(clippy::too_many_arguments)]
fn tool(
    name: &'static str,
    group: &'static str,
    title: &'static str,
    description: &'static str,
    input: Input,
    effect: Effect,
    idempotent: bool,
    call: Call,
) -> ToolSpec {
    let schema = match &input {
        Input::Schema(schema) => schema.clone(),
        Input::Api(_) => Value::Null,
    };
    ToolSpec {
        name,
        group,
        title,
        description,
        input,
        schema,
        effect,
        idempotent,
        call,
    }
}

/// Every tool, in catalog order, with its input schema.
pub fn catalog() -> Vec<ToolSpec> {
    let generated = crate::schemas::committed();
    let mut specs = specs();
    for spec in &mut specs {
        if let Input::Api(_) = spec.input {
            spec.schema = generated.get(spec.name).cloned().unwrap_or_else(|| {
                panic!(
                    "no generated schema for tool {}: run scripts/gen-api-types.sh",
                    spec.name
                )
            });
        }
    }
    specs
}

/// Every tool, in catalog order; API tools' schemas are not filled in yet.
pub fn specs() -> Vec<ToolSpec> {
    use Effect::*;
    let contact_id = || ("contact_id", id("The contact's id"));
    let conversation_id = || ("conversation_id", id("The conversation's id"));
    let period = || {
        [
            (
                "from",
                string("Start of the period, RFC 3339 (default: 30 days before `to`)"),
            ),
            ("to", string("End of the period, RFC 3339 (default: now)")),
        ]
    };
    vec![
        // Account
        tool("get_account", "account", "Who am I", "The tenant and the role this connection acts as (from its API key). Call first to learn what you may do: viewers read; agents also reply and edit contacts and deals; admins also manage channels.",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/me")),
        // Contacts
        tool("search_contacts", "contacts", "Search contacts", "Finds contacts by name or free text (`q`), phone number, tag or custom attribute (`key:value`), or identity on a channel. Returns id, name, tags, identities (WhatsApp number, Messenger PSID, Instagram IGSID) and last activity, newest first. Use get_contact for the full profile.",
            args(&[("q", "Name or text to search for"), ("phone", "Phone number, digits only or with +"), ("tag", "Only contacts with this tag"), ("attribute", "`key:value` of a custom attribute"), ("channel_id", "Only contacts with an identity on this channel")], &[]),
            Read, true, rest(Method::GET, "/api/v1/contacts")),
        tool("get_contact", "contacts", "Get contact", "A contact's full profile: name, tags, custom attributes, opt-out, identities per channel, deals and conversations.",
            args(&[], &["contact_id"]), Read, true, rest(Method::GET, "/api/v1/contacts/{contact_id}")),
        tool("create_contact", "contacts", "Create contact", "Creates a contact with optional tags, custom attributes and channel identities (`[{channel_id, kind: wa_user|wa_lid|psid|igsid, external_id}]`, e.g. `5511999990000@c.us` for WhatsApp).",
            args(&[("display_name", "The contact's name"), ("tags", "Tags"), ("custom_attributes", "Custom attributes, string keys"), ("identities", "Channel identities")], &[]),
            Write, false, rest(Method::POST, "/api/v1/contacts")),
        tool("update_contact", "contacts", "Update contact", "Changes a contact's name, merges custom attributes (a null value removes a key), replaces its tags, or opts it out of (or back into) campaigns.",
            args(&[("display_name", "New name"), ("custom_attributes", "Attributes to set; null removes one"), ("tags", "The complete new tag list"), ("opted_out", "true: no campaigns reach this contact")], &["contact_id"]),
            Write, true, rest(Method::PATCH, "/api/v1/contacts/{contact_id}")),
        tool("tag_contact", "contacts", "Tag contact", "Adds one tag to a contact (nothing changes if it already has it).",
            args(&[("tag", "The tag")], &["contact_id", "tag"]), Write, true, rest(Method::POST, "/api/v1/contacts/{contact_id}/tags")),
        tool("untag_contact", "contacts", "Remove tag", "Removes one tag from a contact.",
            args(&[("tag", "The tag")], &["contact_id", "tag"]), Write, true, rest(Method::DELETE, "/api/v1/contacts/{contact_id}/tags/{tag}")),
        tool("merge_contacts", "contacts", "Merge contacts", "Folds `merge_contact_id` into `contact_id` (the same person on two channels): identities, conversations, deals, memories and graph move; tags and attributes combine; the folded contact remains only as a tombstone. Cannot be undone. Returns the merge; it completes in seconds (a durable workflow).",
            args(&[("merge_contact_id", "The contact to fold into contact_id")], &["contact_id", "merge_contact_id"]),
            Destructive, true, rest(Method::POST, "/api/v1/contacts/{contact_id}/merge")),
        // Conversations
        tool("list_conversations", "conversations", "List conversations", "Conversations (sessions) with their last message and unread count, newest activity first. Filter by state (open/pending/snoozed/resolved), who holds them (bot/human), channel or contact, or search (q) by the contact's name, phone number or words of the messages (accents and word endings do not matter).",
            args(&[("state", "Where it stands for the team"), ("q", "Search: name, phone or message words"), ("status", "Session status (open/closed)"), ("assigned_to", "Who handles it"), ("channel_id", "Only this channel"), ("contact_id", "Only this contact"), ("unread", "Only those with unread customer messages")], &[]),
            Read, true, rest(Method::GET, "/api/v1/conversations")),
        tool("count_conversations", "conversations", "Count conversations", "How many conversations are open, pending, snoozed and resolved, how many are the caller's, and how many wait unassigned in the human queue.",
            args(&[("channel_id", "Only this channel")], &[]), Read, true, rest(Method::GET, "/api/v1/conversations/counts")),
        tool("resolve_conversation", "conversations", "Resolve", "Marks a conversation resolved: its session closes, and the customer's next message opens a new one.",
            args(&[], &["conversation_id"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/resolve")),
        tool("reopen_conversation", "conversations", "Reopen", "Brings a resolved, pending or snoozed conversation back to open.",
            args(&[], &["conversation_id"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/reopen")),
        tool("mark_conversation_pending", "conversations", "Mark pending", "Marks a conversation as waiting on someone (usually the customer): it leaves the open list until the customer writes.",
            args(&[], &["conversation_id"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/pending")),
        tool("snooze_conversation", "conversations", "Snooze", "Hides a conversation until a time (RFC 3339, at most 90 days ahead); it comes back by itself then, or earlier if the customer writes.",
            args(&[("until", "When it comes back, e.g. 2026-12-04T09:00:00-03:00")], &["conversation_id", "until"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/snooze")),
        tool("start_conversation", "conversations", "Start conversation", "Writes first to a contact (contact_id) or a new WhatsApp number (phone, with country code) on a channel. Sends for real. Messenger and Instagram only allow it within 7 days of the customer's last message. Reuse the idempotency_key when retrying.",
            schema(&[("channel_id", id("The channel to write on")), ("contact_id", id("An existing contact (or give phone)")),
                     ("phone", string("A WhatsApp number with country code, e.g. +55 11 98765-4321 (or give contact_id)")),
                     ("name", string("The new contact's name, with phone")), ("text", string("The first message, 1 to 4096 characters")),
                     ("idempotency_key", string("Any unique string for this message, e.g. a UUID"))],
                   &["channel_id", "text", "idempotency_key"]),
            Destructive, true, Call::Custom),
        tool("get_conversation_history", "conversations", "Conversation history", "A conversation's messages, oldest first: direction, text, delivery status (sent/delivered/read/failed), who wrote replies (agent with intent and confidence, operator, greeting, campaign).",
            args(&[], &["conversation_id"]), Read, true, rest(Method::GET, "/api/v1/conversations/{conversation_id}/messages")),
        tool("get_conversation_state", "conversations", "Conversation state", "A conversation's status, assignment and the live state of its workflow (what the bot last decided, which agent answered with what confidence, pending messages), without the message list.",
            schema(&[conversation_id()], &["conversation_id"]), Read, true, Call::Custom),
        tool("take_over_conversation", "conversations", "Take over", "A human takes the conversation from the bot: the bot stops answering until it is handed back.",
            args(&[("assignee", "Who takes it (default: this API key)")], &["conversation_id"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/takeover")),
        tool("hand_back_conversation", "conversations", "Hand back", "Returns a conversation held by a human to the bot.",
            args(&[], &["conversation_id"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/handback")),
        tool("assign_conversation", "conversations", "Assign", "Assigns a conversation to a user of the tenant (a human handles it).",
            args(&[("user_id", "The user to assign")], &["conversation_id", "user_id"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/assign")),
        tool("mark_conversation_read", "conversations", "Mark read", "Marks the customer's messages in a conversation as read by the team (unread count to zero).",
            args(&[], &["conversation_id"]), Write, true, rest(Method::POST, "/api/v1/conversations/{conversation_id}/read")),
        tool("send_message", "conversations", "Send message", "Sends a text to the customer in a conversation, as an operator, through the conversation's channel (WhatsApp, Messenger or Instagram). Sends for real. `idempotency_key` makes a retry safe: the same key and text never send twice. Meta channels refuse messages more than 7 days after the customer's last message.",
            schema(&[conversation_id(), ("text", string("The message, 1 to 4096 characters")), ("idempotency_key", string("Any unique string for this message, e.g. a UUID"))],
                   &["conversation_id", "text", "idempotency_key"]),
            Destructive, true, Call::Custom),
        tool("send_file", "conversations", "Send file", "Sends a file to the customer in a conversation, as an operator: an image, audio (or a voice note), video, PDF, office document or plain text, given as base64. WhatsApp shows the caption under it; Messenger and Instagram take no caption (send the text with send_message). Limits: images 5 MB, other files 16 MB. Sends for real; reuse the idempotency_key when retrying.",
            schema(&[conversation_id(), ("content_base64", string("The file's bytes, base64-encoded")),
                     ("content_type", string("The file's type, e.g. application/pdf (checked against the bytes)")),
                     ("filename", string("The name the customer sees, e.g. orcamento.pdf")),
                     ("caption", string("Text under the file on WhatsApp (up to 1024 characters)")),
                     ("voice", json!({"type": "boolean", "description": "Send audio as a voice note"})),
                     ("idempotency_key", string("Any unique string for this message, e.g. a UUID"))],
                   &["conversation_id", "content_base64", "content_type", "idempotency_key"]),
            Destructive, true, Call::Custom),
        tool("add_note", "conversations", "Add private note", "Adds a private note to a conversation's thread: the team sees it, the customer never does, and it is remembered as an operator note about the contact.",
            args(&[("body", "The note, 1 to 4096 characters")], &["conversation_id", "body"]), Write, false, rest(Method::POST, "/api/v1/conversations/{conversation_id}/notes")),
        tool("list_notes", "conversations", "List private notes", "A conversation's private notes, oldest first.",
            args(&[], &["conversation_id"]), Read, true, rest(Method::GET, "/api/v1/conversations/{conversation_id}/notes")),
        tool("list_quick_replies", "conversations", "List quick replies", "The team's canned answers (shortcut, title, body with variables such as {{contact.first_name}}).",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/quick-replies")),
        tool("render_quick_reply", "conversations", "Fill a quick reply", "A quick reply's text for one conversation, its variables filled (contact's name, agent's name, business name). Nothing is sent: use send_message.",
            args(&[("conversation_id", "The conversation whose contact fills the variables")], &["quick_reply_id", "conversation_id"]), Read, true, rest(Method::POST, "/api/v1/quick-replies/{quick_reply_id}/render")),
        tool("get_message", "conversations", "Get message", "One message with its full delivery history (pending, sent, delivered, read or failed with the provider's reason).",
            args(&[], &["message_id"]), Read, true, rest(Method::GET, "/api/v1/messages/{message_id}")),
        // Channels
        tool("list_channels", "channels", "List channels", "The tenant's channels (WhatsApp through WAHA, Messenger, Instagram) with kind, status and auto-reply settings. Secrets are never shown.",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/channels")),
        tool("get_channel", "channels", "Get channel", "One channel with its settings and the webhook it expects.",
            args(&[], &["channel_id"]), Read, true, rest(Method::GET, "/api/v1/channels/{channel_id}")),
        // Pipelines and deals
        tool("list_pipelines", "deals", "List pipelines", "Sales pipelines with their ordered stages (ids, keys, names).",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/pipelines")),
        tool("list_deals", "deals", "List deals", "Deals, filtered by pipeline, stage, contact or status (open/won/lost).",
            args(&[("pipeline_id", "Only this pipeline"), ("stage_id", "Only this stage"), ("contact_id", "Only this contact's deals"), ("status", "Deal status")], &[]),
            Read, true, rest(Method::GET, "/api/v1/deals")),
        tool("get_deal", "deals", "Get deal", "One deal with its pipeline, stage and contact.",
            args(&[], &["deal_id"]), Read, true, rest(Method::GET, "/api/v1/deals/{deal_id}")),
        tool("create_deal", "deals", "Create deal", "Opens a deal for a contact (default pipeline and first stage unless given). A contact has at most one open deal per pipeline.",
            args(&[("title", "What the deal is about"), ("pipeline_id", "Pipeline (default: the default pipeline)"), ("stage_id", "Stage (default: the first)"), ("source", "Where it came from")], &["contact_id", "title"]),
            Write, false, rest(Method::POST, "/api/v1/deals")),
        tool("move_deal", "deals", "Move deal", "Moves a deal to another stage of its pipeline (get the stage ids from list_pipelines).",
            args(&[("stage_id", "The target stage")], &["deal_id", "stage_id"]), Write, true, rest(Method::POST, "/api/v1/deals/{deal_id}/move")),
        tool("update_deal", "deals", "Update deal", "Renames a deal or closes it as won or lost (or reopens it).",
            args(&[("title", "New title"), ("status", "New status")], &["deal_id"]),
            Write, true, rest(Method::PATCH, "/api/v1/deals/{deal_id}")),
        // Tickets and follow-up tasks
        tool("list_tickets", "tickets", "List tickets", "Support problems, refund and cancellation requests (opened by the AI agents when they tell a customer the request was recorded, or by operators), newest activity first. `status=active` for open and in progress.",
            args(&[("status", "open, in_progress, resolved, closed or active"), ("kind", "support, refund or cancellation"), ("contact_id", "Only this contact's tickets")], &[]),
            Read, true, rest(Method::GET, "/api/v1/tickets")),
        tool("open_ticket", "tickets", "Open ticket", "Opens a ticket for a contact (support, refund or cancellation), optionally in one of their conversations and assigned to a user.",
            args(&[("contact_id", "The contact"), ("kind", "What it is about"), ("subject", "A short subject"), ("session_id", "The conversation it belongs to"), ("assignee_id", "A user")], &["contact_id", "kind", "subject"]),
            Write, false, rest(Method::POST, "/api/v1/tickets")),
        tool("update_ticket", "tickets", "Update ticket", "Moves a ticket to in_progress, resolved or closed (or reopens it), renames it or (re)assigns it.",
            args(&[("status", "New status"), ("subject", "New subject"), ("assignee_id", "A user, or null to unassign")], &["ticket_id"]),
            Write, true, rest(Method::PATCH, "/api/v1/tickets/{ticket_id}")),
        tool("list_tasks", "tickets", "List follow-up tasks", "Follow-up tasks, soonest due first. `status=open` with `due_before` set to now lists what is overdue.",
            args(&[("status", "open, done or cancelled"), ("contact_id", "Only this contact's"), ("ticket_id", "Only this ticket's"), ("due_before", "RFC 3339")], &[]),
            Read, true, rest(Method::GET, "/api/v1/tasks")),
        tool("create_task", "tickets", "Create follow-up task", "Something to do by a time (up to 30 days ahead) for a contact or a ticket. When it is due and still open, its assignee (or the whole team) is told.",
            args(&[("title", "What to do"), ("due_at", "When, RFC 3339"), ("contact_id", "The contact"), ("ticket_id", "The ticket it follows up"), ("assignee_id", "A user (default: the team)")], &["title", "due_at"]),
            Write, false, rest(Method::POST, "/api/v1/tasks")),
        tool("update_task", "tickets", "Update follow-up task", "Completes (done), cancels or reopens a task, renames it, reassigns it or moves its due time (it is announced again at the new time).",
            args(&[("status", "New status"), ("title", "New title"), ("due_at", "New due time, RFC 3339"), ("assignee_id", "A user, or null for the team")], &["task_id"]),
            Write, true, rest(Method::PATCH, "/api/v1/tasks/{task_id}")),
        // Segments
        tool("list_segments", "campaigns", "List segments", "Saved contact filters (what campaigns target) with their live counts.",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/segments")),
        tool("preview_segment", "campaigns", "Preview a filter", "How many contacts a filter selects, with a sample, without saving it. Filter keys: tags_all, tags_any, tags_none, attributes, pipeline_stage_ids, last_activity_after, last_activity_before, channel_id, include_opted_out.",
            args(&[("filter", "The segment filter")], &["filter"]), Read, true, rest(Method::POST, "/api/v1/segments/preview")),
        tool("create_segment", "campaigns", "Create segment", "Saves a contact filter under a name, to target campaigns.",
            args(&[("name", "Segment name"), ("description", "What it is for"), ("filter", "The segment filter (see preview_segment)")], &["name", "filter"]),
            Write, false, rest(Method::POST, "/api/v1/segments")),
        // Campaigns
        tool("list_campaigns", "campaigns", "List campaigns", "Campaigns with status (draft, scheduled, running, paused, completed, cancelled).",
            args(&[("status", "Campaign status")], &[]),
            Read, true, rest(Method::GET, "/api/v1/campaigns")),
        tool("get_campaign", "campaigns", "Get campaign", "One campaign's definition and, while it runs, its live progress.",
            args(&[], &["campaign_id"]), Read, true, rest(Method::GET, "/api/v1/campaigns/{campaign_id}")),
        tool("create_campaign", "campaigns", "Create campaign", "Creates a draft campaign: a segment on a channel, an objective (the brief each contact's message is written from by the agent), a schedule (`{kind: now}`, `{kind: once, at}`, `{kind: cron, expression}`, `{kind: interval, every_seconds}`), optional send window (`{days, start, end}` in time_zone), rate limit and best-send-time. Nothing is sent until schedule_campaign.",
            args(&[("name", "Campaign name"), ("channel_id", "The channel it sends on"), ("segment_id", "Who it targets"), ("objective", "The brief for the agent"), ("agent_type", "The writing agent (default SalesAgent)"), ("schedule", "When it runs"), ("send_window", "`{days: [1..7], start: HH:MM, end: HH:MM}`"), ("time_zone", "IANA zone, e.g. America/Sao_Paulo"), ("rate_limit_per_minute", "Messages per minute at most"), ("best_send_time", "Send each contact at their usual hour"), ("attribution_window_hours", "How long a reply counts")], &["name", "channel_id", "segment_id", "objective", "schedule"]),
            Write, false, rest(Method::POST, "/api/v1/campaigns")),
        tool("preview_campaign", "campaigns", "Preview campaign", "Who a campaign would reach now: the segment's count, how many are reachable on its channel, and a sample.",
            args(&[], &["campaign_id"]), Read, true, rest(Method::GET, "/api/v1/campaigns/{campaign_id}/preview")),
        tool("preview_campaign_message", "campaigns", "Preview message", "The personalised message the campaign's agent would write for one contact, and when it would go out. Nothing is stored or sent.",
            args(&[], &["campaign_id", "contact_id"]), Read, true, rest(Method::POST, "/api/v1/campaigns/{campaign_id}/preview-message")),
        tool("schedule_campaign", "campaigns", "Schedule campaign", "Starts a draft campaign on its schedule (\"now\" starts sending at once). Real messages go out.",
            args(&[], &["campaign_id"]), Destructive, true, rest(Method::POST, "/api/v1/campaigns/{campaign_id}/schedule")),
        tool("pause_campaign", "campaigns", "Pause campaign", "Pauses a running campaign: no message is written after the answer; due recipients wait.",
            args(&[], &["campaign_id"]), Write, true, rest(Method::POST, "/api/v1/campaigns/{campaign_id}/pause")),
        tool("resume_campaign", "campaigns", "Resume campaign", "Resumes a paused campaign.",
            args(&[], &["campaign_id"]), Write, true, rest(Method::POST, "/api/v1/campaigns/{campaign_id}/resume")),
        tool("cancel_campaign", "campaigns", "Cancel campaign", "Cancels a campaign for good: unsent recipients are skipped. Cannot be undone.",
            args(&[], &["campaign_id"]), Destructive, true, rest(Method::POST, "/api/v1/campaigns/{campaign_id}/cancel")),
        tool("get_campaign_progress", "campaigns", "Campaign progress", "A campaign's funnel: targeted, skipped (with reasons), pending, sent, delivered, read, replied, failed (with reasons), rates, and a timeline.",
            args(&[("run_no", "Which run (default: the latest)"), ("bucket", "Timeline resolution")], &["campaign_id"]),
            Read, true, rest(Method::GET, "/api/v1/campaigns/{campaign_id}/metrics")),
        tool("list_campaign_recipients", "campaigns", "Campaign recipients", "Per-recipient statuses of a campaign run, filterable by status.",
            args(&[("status", "Recipient status"), ("run_no", "Which run (default: the latest)")], &["campaign_id"]),
            Read, true, rest(Method::GET, "/api/v1/campaigns/{campaign_id}/recipients")),
        // Agents
        tool("list_agents", "agents", "List agents", "The AI agents available (router and specialists) with what they do and their measured latency.",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/agents")),
        tool("draft_agent_reply", "agents", "Draft a reply", "Asks an agent to write a reply to a contact (to `message`, or to their latest message), using the contact's memory. Returns the draft, intent, confidence and suggested actions. Nothing is stored or sent: use send_message to send it.",
            args(&[("agent_type", "Agent (default RouterAgent, which picks the specialist)"), ("message", "The customer message to answer")], &["contact_id"]),
            Read, false, rest(Method::POST, "/api/v1/agents/draft")),
        // Memory
        tool("search_memories", "memory", "Search memories", "Searches what we remember of a contact (their messages, summaries, CRM events), most relevant first. Modes: hybrid (default), vector (meaning), keyword (exact words), graph (facts). `as_of` answers what was known then.",
            args(&[("q", "What to look for"), ("mode", "Search mode"), ("limit", "Results"), ("as_of", "RFC 3339 time")], &["contact_id", "q"]),
            Read, true, rest(Method::GET, "/api/v1/contacts/{contact_id}/memories")),
        tool("get_knowledge_graph", "memory", "Knowledge graph", "A contact's knowledge graph: entities and facts with their validity (a fact the customer later contradicted is invalidated, with dates). `history` includes invalidated facts.",
            args(&[("history", "Include invalidated facts"), ("as_of", "The graph as it was then, RFC 3339"), ("depth", "Hops")], &["contact_id"]),
            Read, true, rest(Method::GET, "/api/v1/contacts/{contact_id}/graph")),
        tool("get_contact_context", "memory", "Contact context", "Everything worth knowing before talking to a contact, in one call: profile, identities, deals, recent conversations, current facts, and (with `q`) the most relevant memories.",
            schema(&[contact_id(), ("q", string("Optional: what the conversation is about, to rank memories"))], &["contact_id"]), Read, true, Call::Custom),
        // Knowledge base
        tool("search_knowledge", "knowledge", "Search the knowledge base", "Passages of the business's own documents and product catalogue that answer a question, best first: what the AI agents quote to customers.",
            args(&[("q", "The question, as a customer would ask it"), ("limit", "Passages")], &["q"]), Read, true, rest(Method::GET, "/api/v1/knowledge/search")),
        tool("list_knowledge_documents", "knowledge", "List knowledge documents", "The knowledge base's documents and product catalogues, with their indexing status (pending, indexed, or failed with the reason) and passage counts.",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/knowledge/documents")),
        tool("upload_knowledge_document", "knowledge", "Upload knowledge document", "Adds a document (markdown, text, html; pdf as content_base64) or a product catalogue (csv with name, description, price and availability columns) to the knowledge base. The agents answer from it once it is indexed (a moment later). Admins only.",
            args(&[("title", "The document's title"), ("format", "What the content is"), ("content", "The text (markdown, text, html, csv)"), ("content_base64", "The bytes, base64 (any format; pdf needs it)")], &["title", "format"]),
            Write, false, rest(Method::POST, "/api/v1/knowledge/documents")),
        tool("delete_knowledge_document", "knowledge", "Delete knowledge document", "Removes a document and its passages from the knowledge base: the agents stop quoting it at once. Admins only.",
            args(&[], &["document_id"]), Destructive, true, rest(Method::DELETE, "/api/v1/knowledge/documents/{document_id}")),
        // BI
        tool("list_reports", "bi", "List reports", "The named reports run_query can run (with their parameters), and the reporting views (with columns) its SQL may read.",
            args(&[], &[]), Read, true, rest(Method::GET, "/api/v1/reports")),
        tool("run_query", "bi", "Run query (BI)", "Read-only analytics. Either a named report (`report` + `params`, see list_reports: messages_over_time, delivery_rates, response_times, intents, handling_share, campaign_funnel, pipeline_summary, top_contacts) or one SQL SELECT (`sql`) over the reporting views (channels, contacts, conversations, messages, agent_runs, pipelines, pipeline_stages, deals, campaigns, campaign_recipients). Runs read-only under the tenant's row-level security with a 5 s timeout and at most 1000 rows; writes and other tables are refused.",
            schema(&[("report", string("A named report")), ("params", object("The report's parameters")), ("sql", string("One SELECT over the reporting views")),
                     ("max_rows", integer("Rows at most", 1, 1000))], &[]),
            Read, true, Call::Custom),
        tool("search_conversations_by_contact", "conversations", "A contact's conversations", "All conversations of one contact across channels, newest first.",
            only(&["contact_id", "cursor", "limit"]), Read, true, rest(Method::GET, "/api/v1/conversations")),
    ]
    .into_iter()
    .chain(period_tools(period()))
    .collect()
}

/// Shortcuts to the dashboard's reports that LLM clients ask for most.
fn period_tools(period: [(&'static str, Value); 2]) -> Vec<ToolSpec> {
    vec![tool(
        "get_messaging_stats",
        "bi",
        "Messaging stats",
        "Messages in and out per day (or hour/week) in a period, optionally for one channel: the messages_over_time report.",
        schema(
            &[
                period[0].clone(),
                period[1].clone(),
                ("bucket", one_of(&["hour", "day", "week"], "Resolution")),
                ("channel_id", id("Only this channel")),
            ],
            &[],
        ),
        Effect::Read,
        true,
        Call::Custom,
    )]
}
