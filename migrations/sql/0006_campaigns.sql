-- Campaigns: scheduled, segmented, agent-personalised outbound messages (the Campaign and
-- CampaignRecipient workflows). A campaign is the definition; every time its Temporal Schedule fires
-- a run resolves the segment again; every contact of a run gets one recipient row, which is the
-- durable record of what happened to them (personalised text, chosen send time, message, status).

CREATE TABLE campaigns (
    id                        uuid PRIMARY KEY,
    tenant_id                 uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel_id                uuid NOT NULL REFERENCES channels(id) ON DELETE RESTRICT,
    segment_id                uuid NOT NULL REFERENCES segments(id) ON DELETE RESTRICT,
    -- The brief the agent writes each message from.
    objective                 text NOT NULL CHECK (length(objective) BETWEEN 1 AND 2000),
    agent_type                text NOT NULL DEFAULT 'SalesAgent',
    -- {"kind":"once","at":…} | {"kind":"cron","expression":…} | {"kind":"interval","every_seconds":…} | {"kind":"now"}
    schedule                  jsonb NOT NULL,
    -- {"days":[1..7 ISO weekdays],"start":"HH:MM","end":"HH:MM"} in time_zone.
    send_window               jsonb NOT NULL,
    time_zone                 text NOT NULL,
    rate_limit_per_minute     integer CHECK (rate_limit_per_minute BETWEEN 1 AND 100000),
    best_send_time            boolean NOT NULL DEFAULT true,
    attribution_window_hours  integer NOT NULL DEFAULT 72 CHECK (attribution_window_hours BETWEEN 1 AND 720),
    status                    text NOT NULL DEFAULT 'draft'
                                  CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
    -- The Temporal Schedule that starts the runs (set when the campaign is scheduled).
    schedule_id               text,
    created_by                text NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    scheduled_at              timestamptz,
    completed_at              timestamptz,
    cancelled_at              timestamptz
);
CREATE INDEX campaigns_tenant ON campaigns (tenant_id, created_at DESC, id DESC);
CREATE TRIGGER campaigns_touch_updated_at BEFORE UPDATE ON campaigns FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at();

-- One execution of a campaign (one firing of its schedule).
CREATE TABLE campaign_runs (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    campaign_id    uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    run_no         integer NOT NULL,
    workflow_id    text NOT NULL UNIQUE,
    status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'cancelled')),
    -- The rate limit's clock: the earliest moment the next send of this run may go out.
    next_slot_at   timestamptz,
    started_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    UNIQUE (campaign_id, run_no)
);

CREATE TABLE campaign_recipients (
    tenant_id          uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    campaign_id        uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    run_id             uuid NOT NULL REFERENCES campaign_runs(id) ON DELETE CASCADE,
    contact_id         uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    -- pending → scheduled (text and time chosen) → sending (message written) → sent → delivered →
    -- read → replied; or skipped (with reason) / failed (with reason). Never backwards: status_rank.
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN
                           ('pending', 'scheduled', 'sending', 'sent', 'delivered', 'read', 'replied', 'skipped', 'failed')),
    status_rank        integer NOT NULL DEFAULT 0,
    reason             text,
    personalised_text  text,
    agent_type         text,
    -- The hour the agent picked from the contact's history (in the campaign's time zone), if any.
    best_hour          smallint,
    send_at            timestamptz,
    -- The rate limiter's slot, once reserved.
    slot_at            timestamptz,
    -- Set while the recipient waits for the paused campaign to resume.
    held_at            timestamptz,
    message_id         uuid UNIQUE,
    session_id         uuid,
    reply_message_id   uuid,
    workflow_id        text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    scheduled_at       timestamptz,
    sent_at            timestamptz,
    delivered_at       timestamptz,
    read_at            timestamptz,
    replied_at         timestamptz,
    skipped_at         timestamptz,
    failed_at          timestamptz,
    PRIMARY KEY (run_id, contact_id)
);
CREATE INDEX campaign_recipients_campaign ON campaign_recipients (campaign_id, status);
CREATE INDEX campaign_recipients_contact ON campaign_recipients (contact_id, sent_at DESC) WHERE replied_at IS NULL;
CREATE TRIGGER campaign_recipients_touch_updated_at BEFORE UPDATE ON campaign_recipients FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at();

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['campaigns', 'campaign_runs', 'campaign_recipients']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO ventros_app
                            USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO ventros_app', t);
    END LOOP;
END $$;

-- A campaign message's receipts move its recipient forward in the same transaction that records
-- them (whoever records them: the send activity, the ack path, a reconciliation).
CREATE FUNCTION ventros_campaign_recipient_follows_message() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_status text;
    next_rank integer;
    r record;
BEGIN
    next_status := CASE NEW.status
        WHEN 'sent' THEN 'sent' WHEN 'delivered' THEN 'delivered'
        WHEN 'read' THEN 'read' WHEN 'played' THEN 'read'
        WHEN 'failed' THEN 'failed' WHEN 'undelivered' THEN 'failed' END;
    IF next_status IS NULL THEN
        RETURN NEW;
    END IF;
    next_rank := CASE next_status WHEN 'sent' THEN 3 WHEN 'delivered' THEN 4 WHEN 'read' THEN 5 ELSE 10 END;
    UPDATE campaign_recipients
       SET status = next_status, status_rank = next_rank,
           reason = CASE WHEN next_status = 'failed'
                         THEN coalesce(NEW.failure_reason, CASE WHEN NEW.status = 'undelivered' THEN 'no delivery receipt' END)
                         ELSE reason END,
           sent_at = CASE WHEN next_rank BETWEEN 3 AND 5 THEN coalesce(sent_at, now()) ELSE sent_at END,
           delivered_at = CASE WHEN next_rank IN (4, 5) THEN coalesce(delivered_at, now()) ELSE delivered_at END,
           read_at = CASE WHEN next_rank = 5 THEN coalesce(read_at, now()) ELSE read_at END,
           failed_at = CASE WHEN next_status = 'failed' THEN now() ELSE failed_at END
     WHERE message_id = NEW.id
       AND status NOT IN ('replied', 'skipped', 'failed')
       AND (CASE WHEN next_status = 'failed' THEN status_rank <= 3 ELSE status_rank < next_rank END)
    RETURNING tenant_id, campaign_id, run_id, contact_id, status, reason INTO r;
    IF FOUND AND r.status IN ('sent', 'failed') THEN
        INSERT INTO outbox_events (tenant_id, event_type, aggregate_type, aggregate_id, payload)
        VALUES (r.tenant_id, 'campaign.recipient.' || r.status, 'campaign', r.campaign_id,
                jsonb_build_object('campaign_id', r.campaign_id, 'run_id', r.run_id, 'contact_id', r.contact_id,
                                   'message_id', NEW.id, 'status', r.status, 'reason', r.reason));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER messages_campaign_recipient AFTER UPDATE OF status ON messages
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.origin = 'campaign')
    EXECUTE FUNCTION ventros_campaign_recipient_follows_message();
