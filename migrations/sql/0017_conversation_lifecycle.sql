-- The operator's side of a conversation (issue 20): open, pending (waiting on someone), snoozed
-- until a time, resolved. `status` stays the session's technical life (open while its
-- Conversation workflow holds it); `state` is what the inbox filters and counts by. A closed
-- session is always resolved: by an operator, or by inactivity.
ALTER TABLE conversation_sessions
    ADD COLUMN state         text NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'pending', 'snoozed', 'resolved')),
    ADD COLUMN snoozed_until timestamptz,
    ADD COLUMN resolved_at   timestamptz,
    -- `user:<id>` or `api_key:<id>`; null when inactivity resolved it.
    ADD COLUMN resolved_by   text;
UPDATE conversation_sessions SET state = 'resolved', resolved_at = closed_at WHERE status = 'closed';
ALTER TABLE conversation_sessions
    ADD CONSTRAINT conversation_sessions_snooze CHECK ((state = 'snoozed') = (snoozed_until IS NOT NULL)),
    ADD CONSTRAINT conversation_sessions_resolved CHECK ((status = 'closed') = (state = 'resolved'));
CREATE INDEX conversation_sessions_state ON conversation_sessions (tenant_id, state, last_activity_at DESC);

-- Search across conversations in the language most customers write: Portuguese stemming with
-- accents folded, so "nao" finds "não" and "entregas" finds "entrega". unaccent is a trusted
-- extension: the schema owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION ventros_pt (COPY = portuguese);
ALTER TEXT SEARCH CONFIGURATION ventros_pt
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, portuguese_stem;
CREATE INDEX messages_body_search ON messages
    USING gin (to_tsvector('ventros_pt'::regconfig, coalesce(body, '')));

-- Operator replies go through the chat's Conversation, which puts them in its open session
-- (reopening or opening one). A reply that starts a conversation names the chat (the contact's
-- address on the channel) instead of a session.
ALTER TABLE outbound_requests
    ALTER COLUMN session_id DROP NOT NULL,
    ADD COLUMN identity_id uuid REFERENCES contact_identities(id) ON DELETE CASCADE,
    ADD CONSTRAINT outbound_requests_target CHECK (session_id IS NOT NULL OR identity_id IS NOT NULL);
