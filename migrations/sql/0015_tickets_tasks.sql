-- What an agent's reply commits to, as records operators act on (issue 19, "no promise without an
-- action"): tickets (a support problem, a refund or a cancellation request, linked to the
-- conversation it came from) and follow-up tasks with a due time. Each task has a FollowUpTask
-- workflow: a durable timer that announces `task.due` to its assignee (or the whole team).
--
-- Agents and operators both create them; `created_by` says who (`agent:RefundAgent`,
-- `user:<id>`, `api_key:<id>`), and `agent_run_id` ties an agent's ticket to the run whose reply
-- promised it, which also makes applying the run's actions twice create nothing twice.
CREATE TABLE tickets (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id    uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    session_id    uuid REFERENCES conversation_sessions(id) ON DELETE SET NULL,
    agent_run_id  uuid REFERENCES agent_runs(id) ON DELETE SET NULL,
    kind          text NOT NULL CHECK (kind IN ('support', 'refund', 'cancellation')),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    -- The customer's language when an agent opened it, so the operator answers in it.
    language      text CHECK (language IN ('pt', 'en', 'es')),
    assignee_id   uuid,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (assignee_id),
    UNIQUE (agent_run_id, kind)
);
CREATE INDEX tickets_tenant_status ON tickets (tenant_id, status, updated_at DESC);
CREATE INDEX tickets_contact ON tickets (contact_id);
CREATE TRIGGER tickets_touch_updated_at BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at();

CREATE TABLE tasks (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id        uuid REFERENCES contacts(id) ON DELETE CASCADE,
    session_id        uuid REFERENCES conversation_sessions(id) ON DELETE SET NULL,
    ticket_id         uuid REFERENCES tickets(id) ON DELETE CASCADE,
    agent_run_id      uuid REFERENCES agent_runs(id) ON DELETE SET NULL,
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    due_at            timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    -- NULL: the whole team is told when it is due.
    assignee_id       uuid,
    created_by        text NOT NULL,
    -- Set once the task's FollowUpTask workflow exists (the worker starts the ones still NULL).
    timer_started_at  timestamptz,
    -- Set when the timer fired on an open task and `task.due` was announced.
    notified_at       timestamptz,
    completed_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (assignee_id),
    UNIQUE (agent_run_id)
);
CREATE INDEX tasks_tenant_due ON tasks (tenant_id, status, due_at);
CREATE INDEX tasks_contact ON tasks (contact_id);
CREATE INDEX tasks_timer_pending ON tasks (created_at) WHERE timer_started_at IS NULL;
CREATE TRIGGER tasks_touch_updated_at BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at();

ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tickets TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON tickets, tasks TO ventros_app;
