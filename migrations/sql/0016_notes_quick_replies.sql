-- Working faster in the inbox (issue 20): private notes in a conversation's thread, and the
-- tenant's quick replies (canned answers with variables, inserted with `/` in the composer).

-- A note is for the team: never sent to the customer, shown in the thread, remembered as an
-- operator note of the contact (memory episode kind `note`, role `operator`).
CREATE TABLE conversation_notes (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    session_id  uuid NOT NULL REFERENCES conversation_sessions(id) ON DELETE CASCADE,
    contact_id  uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    -- `user:<id>` or `api_key:<id>`, and the user's name when a user wrote it.
    created_by  text NOT NULL,
    author_name text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_notes_session ON conversation_notes (session_id, created_at);

CREATE TABLE quick_replies (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- What follows `/` in the composer.
    shortcut    text NOT NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    -- With `{{contact.first_name}}`-style variables, checked by the API against the ones it fills.
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, shortcut)
);
CREATE TRIGGER quick_replies_touch_updated_at BEFORE UPDATE ON quick_replies
    FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at();

ALTER TABLE conversation_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation_notes TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
ALTER TABLE quick_replies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quick_replies TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON conversation_notes, quick_replies TO ventros_app;
