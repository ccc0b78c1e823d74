-- Foundation schema: tenants, API keys, channels, contacts and their channel identities,
-- conversation sessions, messages with their delivery history, the webhook inbox and the
-- transactional outbox. Every table carries the tenant; every row has created_at/updated_at.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE OR REPLACE FUNCTION ventros_touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys are `vtr_<prefix>_<secret>`; only the SHA-256 of the whole key is stored.
-- The prefix is public (it identifies the key in listings and lets us find the row).
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        text NOT NULL,
    prefix      text NOT NULL UNIQUE,
    key_sha256  bytea NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE channels (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind               text NOT NULL CHECK (kind IN ('waha', 'messenger', 'instagram')),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Provider settings: for WAHA {base_url, api_key, session, hmac_key}.
    provider_config    jsonb NOT NULL,
    -- Last provider session status (WAHA `session.status`), with the provider's event time so that
    -- late webhooks never overwrite a newer status.
    status             text NOT NULL DEFAULT 'UNKNOWN',
    status_changed_at  timestamptz,
    -- Auto-reply and conversation timing settings (greeting, away message, business hours,
    -- debounce, inactivity timeout, ack timeout).
    settings           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX channels_tenant ON channels (tenant_id);

CREATE TABLE contacts (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    display_name       text,
    custom_attributes  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX contacts_tenant ON contacts (tenant_id, created_at DESC);

-- One row per address a contact has on a channel: `…@c.us`, `…@lid` (WhatsApp), PSID, IGSID.
-- An address belongs to exactly one contact per channel; a contact may own several.
CREATE TABLE contact_identities (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id   uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    channel_id   uuid NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('wa_user', 'wa_lid', 'psid', 'igsid')),
    external_id  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities (tenant_id, contact_id);

CREATE TABLE conversation_sessions (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel_id          uuid NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    contact_id          uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    identity_id         uuid NOT NULL REFERENCES contact_identities(id) ON DELETE CASCADE,
    workflow_id         text NOT NULL,
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    assigned_to         text NOT NULL DEFAULT 'bot' CHECK (assigned_to IN ('bot', 'human')),
    assignee            text,
    -- Idempotency: the ingestion batch that opened the session (retries recognise their own work).
    opened_by_batch     text NOT NULL,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    close_reason        text,
    last_activity_at    timestamptz NOT NULL DEFAULT now(),
    last_away_sent_at   timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX conversation_sessions_one_open
    ON conversation_sessions (channel_id, identity_id) WHERE status = 'open';
CREATE INDEX conversation_sessions_tenant ON conversation_sessions (tenant_id, last_activity_at DESC);

CREATE TABLE messages (
    id                    uuid PRIMARY KEY,
    tenant_id             uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel_id            uuid NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    session_id            uuid NOT NULL REFERENCES conversation_sessions(id) ON DELETE CASCADE,
    contact_id            uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    identity_id           uuid NOT NULL REFERENCES contact_identities(id) ON DELETE CASCADE,
    direction             text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    provider_message_id   text,
    provider_timestamp    timestamptz,
    body                  text,
    media                 jsonb,
    -- Delivery status; status_rank makes "never move backwards" a single SQL comparison.
    status                text NOT NULL CHECK (status IN
                              ('received', 'pending', 'sent', 'delivered', 'read', 'played', 'failed', 'undelivered')),
    status_rank           integer NOT NULL,
    failure_reason        text,
    -- Why an outbound message was written: greeting, away, operator, agent, campaign.
    origin                text,
    handled_by_workflow   text NOT NULL,
    ingest_batch          text,
    send_attempts         integer NOT NULL DEFAULT 0,
    last_send_attempt_at  timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX messages_provider_id ON messages (channel_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX messages_session_order ON messages (session_id, provider_timestamp, created_at);
CREATE INDEX messages_tenant ON messages (tenant_id, created_at DESC);

CREATE TABLE message_status_history (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    message_id  uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    status      text NOT NULL,
    reason      text,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_status_history_message ON message_status_history (message_id, id);

-- The webhook inbox: the raw provider event, written by the webhook before it signals Temporal, so
-- that workflow history carries an id instead of message text and phone numbers. Deduplicated on
-- the provider's key (message id for messages) so retries and replays map to one row.
CREATE TABLE webhook_inbox (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel_id   uuid NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    event        text NOT NULL,
    dedupe_key   text NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, dedupe_key)
);

-- Domain events for external consumers, written in the same transaction as the change they
-- describe; `id` orders them.
CREATE TABLE outbox_events (
    id              bigserial PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    uuid NOT NULL,
    payload         jsonb NOT NULL,
    published_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_events_unpublished ON outbox_events (id) WHERE published_at IS NULL;
CREATE INDEX outbox_events_tenant ON outbox_events (tenant_id, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'api_keys', 'channels', 'contacts', 'contact_identities',
                             'conversation_sessions', 'messages', 'message_status_history',
                             'webhook_inbox', 'outbox_events']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at()',
                       t || '_touch_updated_at', t);
    END LOOP;
END $$;
