-- Reporting: read-only views for BI (the API's /reports routes, the MCP server's RunQuery, the
-- dashboard), and the role reports run as.
--
-- `ventros_reader` can read these views and nothing else: no table, no write. The views leave out
-- message text, phone numbers and secrets, and each shows only the rows of the tenant set for the
-- transaction (`ventros.tenant_id`, the setting row-level security uses). A report runs in a
-- READ ONLY transaction, as `ventros_reader`, with a statement timeout and a row cap; free-form SQL
-- is also parsed first and limited to these views and allowlisted functions.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ventros_reader') THEN
        CREATE ROLE ventros_reader NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;
-- The API's connection (which runs migrations here; in production its login role) assumes it per
-- report with SET LOCAL ROLE.
DO $$
BEGIN
    EXECUTE format('GRANT ventros_reader TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN
    NULL;
END $$;

CREATE SCHEMA reporting;

CREATE VIEW reporting.channels AS
    SELECT id, kind, name, status, created_at FROM channels WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.contacts AS
    SELECT id, display_name, tags, created_at, updated_at, opted_out_at IS NOT NULL AS opted_out
      FROM contacts WHERE tenant_id = ventros_current_tenant() AND merged_into IS NULL;

CREATE VIEW reporting.conversations AS
    SELECT id, channel_id, contact_id, status, assigned_to, assignee, handoff_reason, opened_at, closed_at,
           close_reason, last_activity_at
      FROM conversation_sessions WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.messages AS
    SELECT id, channel_id, session_id AS conversation_id, contact_id, direction, status, failure_reason, origin,
           intent, confidence, agent_type, customer_reaction, provider_timestamp AS at, created_at
      FROM messages WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.agent_runs AS
    SELECT id, session_id AS conversation_id, contact_id, requested_agent, agent_type, intent, confidence,
           latency_ms, reply_planned, created_at
      FROM agent_runs WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.pipelines AS
    SELECT id, name, is_default, created_at FROM pipelines WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.pipeline_stages AS
    SELECT id, pipeline_id, key, name, position FROM pipeline_stages WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.deals AS
    SELECT id, pipeline_id, stage_id, contact_id, title, source, status, created_at, updated_at
      FROM deals WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.campaigns AS
    SELECT id, name, channel_id, segment_id, agent_type, status, created_at, scheduled_at, completed_at, cancelled_at
      FROM campaigns WHERE tenant_id = ventros_current_tenant();

CREATE VIEW reporting.campaign_recipients AS
    SELECT campaign_id, run_id, contact_id, status, reason, agent_type, send_at, sent_at, delivered_at, read_at,
           replied_at, skipped_at, failed_at, created_at
      FROM campaign_recipients WHERE tenant_id = ventros_current_tenant();

REVOKE ALL ON SCHEMA reporting FROM PUBLIC;
GRANT USAGE ON SCHEMA reporting TO ventros_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO ventros_reader;
