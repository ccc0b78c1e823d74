//! What an outbox event says about a contact, as an episode: the rows it points at read for the
//! contact that survives any merge, and the memory, facts and summary each kind of event yields.

use super::*;

/// The contact an id stands for now. A merge leaves the folded contact as a tombstone pointing at
/// the survivor (`merged_into`, possibly several hops); an event queued for the folded contact
/// before the merge belongs to the survivor's memory.
async fn surviving_contact(
    pool: &PgPool,
    tenant_id: Uuid,
    contact_id: Uuid,
) -> Result<Uuid, MemoryError> {
    let survivor = sqlx::query_scalar!(
        "WITH RECURSIVE chain(id, next, depth) AS (
             SELECT id, merged_into, 0 FROM contacts WHERE id = $1 AND tenant_id = $2
             UNION ALL
             SELECT c.id, c.merged_into, chain.depth + 1 FROM contacts c JOIN chain ON c.id = chain.next WHERE chain.depth < 16)
         SELECT id FROM chain WHERE next IS NULL LIMIT 1",
        contact_id,
        tenant_id
    )
    .fetch_optional(pool)
    .await?
    .flatten();
    Ok(survivor.unwrap_or(contact_id))
}

/// Reads an outbox event (of this tenant and contact) and the rows it points at, as an episode.
pub async fn episode_for_event(
    pool: &PgPool,
    input: &IngestEventInput,
) -> Result<Option<Episode>, MemoryError> {
    let contact_id = surviving_contact(pool, input.tenant_id, input.contact_id).await?;
    let event = sqlx::query!(
        "SELECT event_type, aggregate_id, payload, created_at FROM outbox_events WHERE id = $1 AND tenant_id = $2",
        input.event_id,
        input.tenant_id,
    )
    .fetch_optional(pool)
    .await?;
    let Some(event) = event else {
        return Err(MemoryError::NotFound(format!(
            "outbox event {} not found",
            input.event_id
        )));
    };
    let ev = Event {
        tenant_id: input.tenant_id,
        contact_id,
        event_id: input.event_id,
        event_type: event
            .event_type
            .parse()
            .map_err(|e: UnknownEventType| MemoryError::Invalid(e.to_string()))?,
        aggregate_id: event.aggregate_id,
        payload: event.payload,
        at: event.created_at,
    };
    match ev.event_type {
        EventType::MessageReceived | EventType::MessageSent => message_episode(pool, &ev).await,
        EventType::SessionClosed => session_episode(pool, &ev).await,
        EventType::DealCreated | EventType::DealStageChanged => deal_episode(pool, &ev).await,
        EventType::ContactTagged => tag_episode(&ev),
        EventType::ContactUpdated => profile_episode(&ev),
        EventType::NoteAdded => note_episode(pool, &ev).await,
        EventType::MessageMediaStored => voice_episode(pool, &ev).await,
        other => Err(MemoryError::Invalid(format!(
            "event type {other} is not a memory event"
        ))),
    }
}

/// An outbox event being read as an episode, for the surviving contact.
struct Event {
    tenant_id: Uuid,
    contact_id: Uuid,
    event_id: i64,
    event_type: EventType,
    aggregate_id: Uuid,
    payload: Value,
    at: DateTime<Utc>,
}

impl Event {
    /// A CRM change as an episode: the system's words about it, keyed by the outbox event.
    fn crm_event(&self, content: String) -> Episode {
        self.base(
            "crm_event",
            "outbox",
            self.event_id.to_string(),
            "system",
            content,
            self.at,
        )
    }

    /// An episode of this event, with nothing remembered, extracted or stated yet.
    fn base(
        &self,
        kind: &'static str,
        source_type: &str,
        source_id: String,
        role: &'static str,
        content: String,
        occurred_at: DateTime<Utc>,
    ) -> Episode {
        Episode {
            tenant_id: self.tenant_id,
            contact_id: self.contact_id,
            kind,
            source_type: source_type.to_owned(),
            source_id,
            role,
            content,
            occurred_at,
            metadata: json!({"event_type": self.event_type}),
            remember: false,
            context: None,
            extract: false,
            facts: Vec::new(),
        }
    }
}

/// A message: the customer's words become a memory and facts; ours stay an episode only.
async fn message_episode(pool: &PgPool, ev: &Event) -> Result<Option<Episode>, MemoryError> {
    let row = sqlx::query!(
        r#"SELECT direction AS "direction: Direction", body, coalesce(provider_timestamp, created_at) AS "at!",
                  created_at, channel_id, session_id FROM messages
          WHERE id = $1 AND tenant_id = $2 AND contact_id = $3"#,
        ev.aggregate_id,
        ev.tenant_id,
        ev.contact_id
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let inbound = row.direction == Direction::Inbound;
    let mut episode = ev.base(
        "message",
        "message",
        ev.aggregate_id.to_string(),
        if inbound { "contact" } else { "agent" },
        row.body.unwrap_or_default(),
        row.at,
    );
    episode.metadata = json!({
        "message_id": ev.aggregate_id,
        "channel_id": row.channel_id,
        "session_id": row.session_id,
        "direction": row.direction,
    });
    episode.remember = inbound;
    episode.extract = inbound;
    // The message just before this one in the session (ours or theirs), as context.
    episode.context = sqlx::query_scalar!(
        "SELECT CASE direction WHEN 'inbound' THEN 'Customer: ' ELSE 'Us: ' END || left(body, 500) FROM messages
          WHERE session_id = $1 AND tenant_id = $2 AND id <> $3 AND body IS NOT NULL
            AND (coalesce(provider_timestamp, created_at), created_at) < ($4, $5)
          ORDER BY coalesce(provider_timestamp, created_at) DESC, created_at DESC LIMIT 1",
        row.session_id,
        ev.tenant_id,
        ev.aggregate_id,
        row.at,
        row.created_at
    )
    .fetch_optional(pool)
    .await?
    .flatten();
    Ok(Some(episode))
}

/// A customer's voice notes, once transcribed: their words are remembered like a message's
/// (nothing for files without words; a photo's caption came with its message).
async fn voice_episode(pool: &PgPool, ev: &Event) -> Result<Option<Episode>, MemoryError> {
    let row = sqlx::query!(
        r#"SELECT m.session_id, m.channel_id, coalesce(m.provider_timestamp, m.created_at) AS "at!",
                  string_agg(f.transcript, ' ' ORDER BY f.position) AS words
             FROM messages m JOIN media_files f ON f.message_id = m.id AND f.transcript IS NOT NULL
            WHERE m.id = $1 AND m.tenant_id = $2 AND m.contact_id = $3 AND m.direction = 'inbound'
            GROUP BY m.id"#,
        ev.aggregate_id,
        ev.tenant_id,
        ev.contact_id
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(words) = row.words.filter(|w| !w.trim().is_empty()) else {
        return Ok(None);
    };
    let mut episode = ev.base(
        "message",
        "voice_note",
        ev.aggregate_id.to_string(),
        "contact",
        words,
        row.at,
    );
    episode.metadata = json!({
        "message_id": ev.aggregate_id,
        "channel_id": row.channel_id,
        "session_id": row.session_id,
        "direction": "inbound",
        "voice_note": true,
    });
    episode.remember = true;
    episode.extract = true;
    Ok(Some(episode))
}

/// An operator's private note: remembered as what the team knows about the contact.
async fn note_episode(pool: &PgPool, ev: &Event) -> Result<Option<Episode>, MemoryError> {
    let row = sqlx::query!(
        "SELECT body, session_id, created_at FROM conversation_notes WHERE id = $1 AND tenant_id = $2",
        ev.aggregate_id,
        ev.tenant_id
    )
    .fetch_optional(pool)
    .await?;
    // Deleted with its conversation: nothing to remember.
    let Some(row) = row else { return Ok(None) };
    let mut episode = ev.base(
        "note",
        "note",
        ev.aggregate_id.to_string(),
        "operator",
        row.body,
        row.created_at,
    );
    episode.metadata = json!({"note_id": ev.aggregate_id, "session_id": row.session_id});
    episode.remember = true;
    Ok(Some(episode))
}

/// A closed session: a summary memory of what the customer said in it.
async fn session_episode(pool: &PgPool, ev: &Event) -> Result<Option<Episode>, MemoryError> {
    let lines: Vec<String> = sqlx::query_scalar!(
        r#"SELECT body AS "body!" FROM messages
          WHERE session_id = $1 AND tenant_id = $2 AND direction = $3 AND body IS NOT NULL
          ORDER BY coalesce(provider_timestamp, created_at) LIMIT 50"#,
        ev.aggregate_id,
        ev.tenant_id,
        Direction::Inbound.as_str()
    )
    .fetch_all(pool)
    .await?;
    let summary = summarise_session(&lines);
    let mut episode = ev.base(
        "session_summary",
        "session",
        ev.aggregate_id.to_string(),
        "system",
        summary,
        ev.at,
    );
    episode.metadata = json!({"session_id": ev.aggregate_id, "messages": lines.len()});
    episode.remember = !lines.is_empty();
    Ok(Some(episode))
}

/// A deal created or moved: facts about the deal and its stage (and a purchase when won).
async fn deal_episode(pool: &PgPool, ev: &Event) -> Result<Option<Episode>, MemoryError> {
    let row = sqlx::query!(
        "SELECT d.title, s.key, s.name FROM deals d JOIN pipeline_stages s ON s.key = $3 AND s.pipeline_id = d.pipeline_id
          WHERE d.id = $1 AND d.tenant_id = $2",
        ev.aggregate_id,
        ev.tenant_id,
        ev.payload.get("stage").and_then(Value::as_str).unwrap_or("new")
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let (title, stage_key, stage_name) = (row.title, row.key, row.name);
    let deal = EntityRef::new(title.clone(), "deal");
    let mut facts = vec![FactInput {
        subject: Some(deal.clone()),
        predicate: "in_stage".into(),
        object: EntityRef::new(stage_name.clone(), "stage"),
    }];
    if ev.event_type == EventType::DealCreated {
        facts.insert(
            0,
            FactInput {
                subject: None,
                predicate: "has_deal".into(),
                object: deal.clone(),
            },
        );
    }
    if stage_key == "won" {
        facts.push(FactInput {
            subject: None,
            predicate: "purchased".into(),
            object: EntityRef::new(title.clone(), "product"),
        });
    }
    let content = format!("Deal \"{title}\" is in stage {stage_name}");
    let mut episode = ev.crm_event(content);
    episode.metadata =
        json!({"event_type": ev.event_type, "deal_id": ev.aggregate_id, "stage": stage_key});
    episode.facts = facts;
    episode.remember = true;
    Ok(Some(episode))
}

/// A tag added: a fact.
fn tag_episode(ev: &Event) -> Result<Option<Episode>, MemoryError> {
    let tag = ev
        .payload
        .get("tag")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if tag.is_empty() {
        return Ok(None);
    }
    let mut episode = ev.crm_event(format!("Tagged {tag}"));
    episode.facts = vec![FactInput {
        subject: None,
        predicate: "tagged".into(),
        object: EntityRef::new(tag, "tag"),
    }];
    Ok(Some(episode))
}

/// A profile change: a fact per custom attribute, and the name.
fn profile_episode(ev: &Event) -> Result<Option<Episode>, MemoryError> {
    // {"changes": {"custom_attributes": {"plan": "pro"}, "display_name": "Ana"}}
    let mut facts = Vec::new();
    if let Some(attributes) = ev
        .payload
        .pointer("/changes/custom_attributes")
        .and_then(Value::as_object)
    {
        for (key, value) in attributes {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            let key: String = key
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .take(48)
                .collect();
            if key.is_empty() || value.is_empty() || value == "null" {
                continue;
            }
            facts.push(FactInput {
                subject: None,
                predicate: format!("attribute:{key}"),
                object: EntityRef::new(value, "value"),
            });
        }
    }
    if let Some(name) = ev
        .payload
        .pointer("/changes/display_name")
        .and_then(Value::as_str)
    {
        facts.push(FactInput {
            subject: None,
            predicate: "name".into(),
            object: EntityRef::new(name, "name"),
        });
    }
    if facts.is_empty() {
        return Ok(None);
    }
    let mut episode = ev.crm_event("Profile updated".into());
    episode.facts = facts;
    Ok(Some(episode))
}

/// An extractive summary: what the customer said, first and last lines kept whole.
fn summarise_session(lines: &[String]) -> String {
    let clipped: Vec<String> = lines
        .iter()
        .map(|l| l.trim().chars().take(200).collect())
        .filter(|l: &String| !l.is_empty())
        .collect();
    let picked: Vec<&String> = if clipped.len() <= 8 {
        clipped.iter().collect()
    } else {
        clipped[..4]
            .iter()
            .chain(&clipped[clipped.len() - 4..])
            .collect()
    };
    let joined = picked
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" / ");
    format!(
        "Conversation summary ({} customer messages): {joined}",
        lines.len()
    )
}
