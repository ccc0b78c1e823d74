-- Memory: episodes (where a memory came from), memories with embeddings and language-aware full
-- text, and a bitemporal knowledge graph per contact. Nothing here is ever deleted by ingestion: a
-- contradicted fact gets `invalid_at` (when it stopped being true in the world) and `expired_at`
-- (when we learnt that), so "what is true now" and "what was true on date D" both stay answerable.
CREATE EXTENSION IF NOT EXISTS vector;

-- The embedding models this database has held. Exactly one is `active` (the one searches use); a
-- model switch adds a `building` row, re-embeds everything through the ReembedMemories workflow and
-- only then flips it to active. Each model gets its own HNSW index (a partial expression index on
-- `embedding::vector(dimensions)`), so vectors of different dimensions are never compared.
CREATE TABLE embedding_spaces (
    model       text PRIMARY KEY CHECK (model ~ '^[a-z0-9_]{1,48}$'),
    dimensions  int NOT NULL CHECK (dimensions BETWEEN 1 AND 2000),
    state       text NOT NULL CHECK (state IN ('building', 'active', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX embedding_spaces_one_active ON embedding_spaces ((true)) WHERE state = 'active';

-- The raw sources of memories: a message, a session summary, a CRM event. One row per source
-- (the unique key makes ingestion idempotent); `ingested_at` is set in the same transaction that
-- writes the memories and facts derived from it.
CREATE TABLE memory_episodes (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id   uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('message', 'session_summary', 'crm_event', 'note')),
    source_type  text NOT NULL,
    source_id    text NOT NULL,
    role         text NOT NULL CHECK (role IN ('contact', 'agent', 'operator', 'system')),
    content      text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    ingested_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, source_type, source_id)
);
CREATE INDEX memory_episodes_contact ON memory_episodes (tenant_id, contact_id, occurred_at DESC);

-- Memories gain provenance, a language, an embedding and a language-aware full-text vector.
ALTER TABLE memories
    ADD COLUMN episode_id      uuid REFERENCES memory_episodes(id) ON DELETE SET NULL,
    -- What was said just before (the previous message of the session): embedded with the content
    -- so "yes, the blue one" is found by what it answers. Not part of the content or its keywords.
    ADD COLUMN context         text,
    ADD COLUMN language        regconfig NOT NULL DEFAULT 'english',
    ADD COLUMN embedding       vector,
    ADD COLUMN embedding_model text;
DROP INDEX memories_search;
ALTER TABLE memories DROP COLUMN search;
ALTER TABLE memories ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector(language, content)) STORED;
CREATE INDEX memories_search ON memories USING gin (search);
CREATE INDEX memories_episode ON memories (episode_id);
-- Contact-scoped search scans one contact's rows exactly; this covers the time filters too.
CREATE INDEX memories_contact_valid ON memories (tenant_id, contact_id, valid_from);
CREATE UNIQUE INDEX memories_one_per_episode ON memories (episode_id, memory_type) WHERE episode_id IS NOT NULL;

-- Knowledge-graph nodes, one graph per contact (the contact itself is the `contact` entity).
CREATE TABLE memory_entities (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id      uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    name            text NOT NULL,
    normalized      text NOT NULL,
    entity_type     text NOT NULL,
    summary         text NOT NULL DEFAULT '',
    embedding       vector,
    embedding_model text,
    search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, contact_id, entity_type, normalized)
);
CREATE INDEX memory_entities_search ON memory_entities USING gin (search);

-- Knowledge-graph edges: bitemporal facts. valid_at/invalid_at: when it was true in the world;
-- created_at/expired_at: when we learnt it and when we retired it. `invalidated_by` points at the
-- fact that contradicted this one; `episode_ids` keeps every source that stated it.
CREATE TABLE memory_facts (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id       uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    subject_id       uuid NOT NULL REFERENCES memory_entities(id) ON DELETE CASCADE,
    predicate        text NOT NULL,
    object_id        uuid NOT NULL REFERENCES memory_entities(id) ON DELETE CASCADE,
    fact             text NOT NULL,
    memory_type      text NOT NULL,
    language         regconfig NOT NULL DEFAULT 'english',
    embedding        vector,
    embedding_model  text,
    search           tsvector GENERATED ALWAYS AS (to_tsvector(language, fact)) STORED,
    valid_at         timestamptz NOT NULL,
    invalid_at       timestamptz,
    expired_at       timestamptz,
    invalidated_by   uuid REFERENCES memory_facts(id),
    episode_ids      uuid[] NOT NULL,
    idempotency_key  text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key),
    CHECK (invalid_at IS NULL OR invalid_at >= valid_at)
);
CREATE INDEX memory_facts_contact ON memory_facts (tenant_id, contact_id, valid_at);
CREATE INDEX memory_facts_subject ON memory_facts (subject_id, predicate) WHERE invalid_at IS NULL;
CREATE INDEX memory_facts_object ON memory_facts (object_id);
CREATE INDEX memory_facts_search ON memory_facts USING gin (search);

-- Which outbox events the memory feed has handed to MemoryIngestion (its own cursor, so other
-- outbox consumers are unaffected).
ALTER TABLE outbox_events ADD COLUMN memory_fed_at timestamptz;
CREATE INDEX outbox_events_memory_feed ON outbox_events (id)
    WHERE memory_fed_at IS NULL
      AND event_type IN ('message.received', 'message.sent', 'session.closed', 'deal.created',
                         'deal.stage_changed', 'contact.tagged', 'contact.updated');

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['embedding_spaces', 'memory_episodes', 'memory_entities', 'memory_facts'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at()',
                       t || '_touch_updated_at', t);
    END LOOP;
END $$;
