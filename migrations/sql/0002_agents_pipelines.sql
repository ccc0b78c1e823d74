-- AI agents: what an agent decided for an outbound message, pipelines with ordered stages and deals,
-- contact tags, and a first memories table that the agents' MemoryService reads and writes.

ALTER TABLE messages
    ADD COLUMN intent text,
    ADD COLUMN confidence real,
    ADD COLUMN agent_type text;

ALTER TABLE conversation_sessions
    ADD COLUMN handoff_reason text;

ALTER TABLE contacts
    ADD COLUMN tags text[] NOT NULL DEFAULT '{}';

CREATE TABLE pipelines (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        text NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (tenant_id) WHERE is_default;

CREATE TABLE pipeline_stages (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    pipeline_id  uuid NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    key          text NOT NULL,
    name         text NOT NULL,
    position     integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline_id, key),
    UNIQUE (pipeline_id, position)
);

CREATE TABLE deals (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    pipeline_id   uuid NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    stage_id      uuid NOT NULL REFERENCES pipeline_stages(id),
    contact_id    uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    title         text NOT NULL,
    source        text,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'won', 'lost')),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One open deal per contact and pipeline: create_lead is idempotent by construction.
CREATE UNIQUE INDEX deals_one_open ON deals (pipeline_id, contact_id) WHERE status = 'open';

CREATE TABLE memories (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id       uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    content          text NOT NULL,
    memory_type      text NOT NULL DEFAULT 'fact',
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key  text,
    valid_from       timestamptz NOT NULL DEFAULT now(),
    valid_until      timestamptz,
    search           tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX memories_contact ON memories (tenant_id, contact_id, created_at DESC);
CREATE INDEX memories_search ON memories USING gin (search);

-- One row per agent execution: what the agent said and suggested. Its id is minted by the workflow,
-- so a retried activity finds the run instead of asking the agent again; it is also the id of the
-- reply message when one is sent.
CREATE TABLE agent_runs (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    session_id          uuid NOT NULL REFERENCES conversation_sessions(id) ON DELETE CASCADE,
    contact_id          uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    requested_agent     text NOT NULL,
    agent_type          text NOT NULL,
    intent              text NOT NULL,
    confidence          real NOT NULL,
    response            text NOT NULL,
    actions             jsonb NOT NULL DEFAULT '[]'::jsonb,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    latency_ms          integer NOT NULL,
    reply_planned       boolean NOT NULL,
    actions_applied_at  timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_runs_session ON agent_runs (tenant_id, session_id, created_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pipelines', 'pipeline_stages', 'deals', 'memories', 'agent_runs']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at()',
                       t || '_touch_updated_at', t);
    END LOOP;
END $$;
