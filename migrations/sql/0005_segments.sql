-- Segments (saved filters over contacts, what campaigns target) and contact opt-out.
--
-- From here on, tables the schema owner creates are granted to the API role by default; each new
-- tenant table still enables RLS explicitly (the API suite fails on a tenant table without it).

ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ventros_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ventros_app;

-- A contact who asked not to receive campaigns: conversations they start still work.
ALTER TABLE contacts ADD COLUMN opted_out_at timestamptz;

CREATE TABLE segments (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text,
    -- The filter (see activities/src/segments.rs): tags, custom attributes, pipeline stages, last
    -- activity, channel identity, opt-out.
    filter       jsonb NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER segments_touch_updated_at BEFORE UPDATE ON segments FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at();
ALTER TABLE segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON segments TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON segments TO ventros_app;

-- Segment resolution walks contacts by id within a tenant; last activity comes from sessions.
CREATE INDEX contacts_tenant_id ON contacts (tenant_id, id) WHERE merged_into IS NULL;
CREATE INDEX conversation_sessions_contact_activity ON conversation_sessions (contact_id, last_activity_at DESC);
