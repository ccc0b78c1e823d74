-- The public API: users and their refresh tokens, API key roles, operator replies (with their
-- idempotency keys), contact merges, outbound webhook subscriptions and deliveries, the realtime
-- feed (NOTIFY on every outbox event), and row-level security on every tenant table.
--
-- RLS model: the API runs as `ventros_app` (SET ROLE on every pooled connection). That role owns
-- nothing and cannot bypass RLS, and every request sets `ventros.tenant_id` for its transaction,
-- so a query that forgets its tenant filter still sees one tenant only. The worker and migrations
-- run as the schema owner, which RLS does not restrict (they work across tenants by design and
-- filter explicitly). The few lookups that happen before the tenant is known (an API key by its
-- prefix, a user by e-mail, a channel by the id in a webhook URL) go through SECURITY DEFINER
-- functions that return exactly what authentication needs.

-- Roles are cluster-wide while migrations run per database (and concurrently in the tests).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ventros_app') THEN
        CREATE ROLE ventros_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;
-- The connection that runs migrations (and the API's, which SETs ROLE) must be able to assume it.
DO $$
BEGIN
    EXECUTE format('GRANT ventros_app TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN
    NULL;
END $$;

CREATE OR REPLACE FUNCTION ventros_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('ventros.tenant_id', true), '')::uuid $$;

-- Users of the web app and the API. E-mail is unique across tenants: it is the login.
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role           text NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    password_hash  text NOT NULL,
    disabled_at    timestamptz,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_tenant ON users (tenant_id, created_at);

-- Refresh tokens: opaque, stored as SHA-256, rotated on every use. A token used twice means it was
-- stolen: the whole family is revoked.
CREATE TABLE refresh_tokens (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id     uuid NOT NULL,
    token_sha256  bytea NOT NULL UNIQUE,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

ALTER TABLE api_keys
    ADD COLUMN role text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'agent', 'viewer')),
    ADD COLUMN last_used_at timestamptz;

-- A merged contact stays as a tombstone pointing at the contact that absorbed it, so links and
-- late events that name it still resolve.
ALTER TABLE contacts ADD COLUMN merged_into uuid REFERENCES contacts(id);
CREATE INDEX contacts_tags ON contacts USING gin (tags);
CREATE INDEX contacts_name ON contacts (tenant_id, lower(display_name));

-- The operator's read marker: inbound messages after it are unread.
ALTER TABLE conversation_sessions ADD COLUMN last_read_at timestamptz;

-- An operator's reply as the API accepted it, before any workflow ran: the OutboundMessage
-- workflow turns it into a message (history carries the id, not the text). The idempotency key
-- maps a retried request to the same row, hence the same message and workflow.
CREATE TABLE outbound_requests (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    session_id       uuid NOT NULL REFERENCES conversation_sessions(id) ON DELETE CASCADE,
    body             text NOT NULL,
    author           text NOT NULL,
    idempotency_key  text NOT NULL,
    request_sha256   bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);

CREATE TABLE contact_merges (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source_contact_id  uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    target_contact_id  uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    status             text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed')),
    workflow_id        text NOT NULL,
    moved              jsonb NOT NULL DEFAULT '{}'::jsonb,
    requested_by       text NOT NULL,
    completed_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- A contact is absorbed at most once.
CREATE UNIQUE INDEX contact_merges_one_per_source ON contact_merges (source_contact_id);

CREATE TABLE webhook_subscriptions (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url          text NOT NULL,
    -- Event types (`message.received`, …) or `*` for all.
    event_types  text[] NOT NULL CHECK (cardinality(event_types) > 0),
    secret       text NOT NULL,
    description  text,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id) WHERE active;

-- One delivery per (subscription, event); its id is the `webhook-id` header, stable across retries.
CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    subscription_id   uuid NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    event_id          bigint NOT NULL REFERENCES outbox_events(id) ON DELETE CASCADE,
    event_type        text NOT NULL,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    last_status_code  integer,
    last_error        text,
    last_attempt_at   timestamptz,
    delivered_at      timestamptz,
    workflow_id       text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (tenant_id, subscription_id, created_at DESC);

-- The webhook fan-out's cursor (its own, like the memory feed's).
ALTER TABLE outbox_events ADD COLUMN webhooks_fanned_at timestamptz;
CREATE INDEX outbox_events_webhook_fanout ON outbox_events (id) WHERE webhooks_fanned_at IS NULL;

-- Realtime: every outbox event is announced at commit (in commit order) to every API replica.
-- Payloads are ids and small facts; a payload too large for NOTIFY is announced without it and
-- read back by id.
CREATE OR REPLACE FUNCTION ventros_notify_outbox() RETURNS trigger AS $$
DECLARE
    message text;
BEGIN
    message := json_build_object('id', NEW.id, 'tenant_id', NEW.tenant_id, 'event_type', NEW.event_type,
                                 'aggregate_type', NEW.aggregate_type, 'aggregate_id', NEW.aggregate_id,
                                 'payload', NEW.payload, 'created_at', NEW.created_at)::text;
    IF octet_length(message) > 7800 THEN
        message := json_build_object('id', NEW.id, 'tenant_id', NEW.tenant_id, 'truncated', true)::text;
    END IF;
    PERFORM pg_notify('ventros_outbox', message);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events FOR EACH ROW EXECUTE FUNCTION ventros_notify_outbox();

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'refresh_tokens', 'outbound_requests', 'contact_merges',
                             'webhook_subscriptions', 'webhook_deliveries']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at()',
                       t || '_touch_updated_at', t);
    END LOOP;
END $$;

-- Row-level security on every table that carries a tenant.
DO $$
DECLARE t text;
BEGIN
    FOR t IN
        SELECT c.table_name FROM information_schema.columns c
          JOIN information_schema.tables tb ON tb.table_name = c.table_name AND tb.table_schema = c.table_schema
         WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND tb.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO ventros_app USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant())', t);
    END LOOP;
END $$;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO ventros_app USING (id = ventros_current_tenant());

GRANT USAGE ON SCHEMA public TO ventros_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ventros_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ventros_app;
-- The API manages configuration and reads everything else; schema history is not its business.
REVOKE ALL ON _sqlx_migrations FROM ventros_app;
REVOKE INSERT, UPDATE, DELETE ON tenants FROM ventros_app;

-- Pre-tenant lookups (SECURITY DEFINER: they run as the owner, past RLS, and return only what
-- authentication needs).
CREATE FUNCTION ventros_api_key_by_prefix(p_prefix text)
    RETURNS TABLE (id uuid, tenant_id uuid, key_sha256 bytea, role text, revoked_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT id, tenant_id, key_sha256, role, revoked_at FROM api_keys WHERE prefix = p_prefix
$$;

CREATE FUNCTION ventros_user_by_email(p_email text)
    RETURNS TABLE (id uuid, tenant_id uuid, role text, password_hash text, disabled_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT id, tenant_id, role, password_hash, disabled_at FROM users WHERE lower(email) = lower(p_email)
$$;

CREATE FUNCTION ventros_refresh_token_tenant(p_sha256 bytea) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT tenant_id FROM refresh_tokens WHERE token_sha256 = p_sha256
$$;

CREATE FUNCTION ventros_channel_tenant(p_channel_id uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT tenant_id FROM channels WHERE id = p_channel_id
$$;

REVOKE ALL ON FUNCTION ventros_api_key_by_prefix(text), ventros_user_by_email(text),
                       ventros_refresh_token_tenant(bytea), ventros_channel_tenant(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ventros_api_key_by_prefix(text), ventros_user_by_email(text),
                          ventros_refresh_token_tenant(bytea), ventros_channel_tenant(uuid) TO ventros_app;
