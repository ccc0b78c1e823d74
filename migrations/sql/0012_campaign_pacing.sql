-- Campaign pacing per channel (WAHA drives a personal WhatsApp account, which WhatsApp bans for
-- bulk sending). One row per channel that has sent campaign messages: the earliest moment the
-- next campaign message may go out (each send pushes it by a random interval), and how many
-- campaign sends are reserved on the current day against the channel's daily cap.
CREATE TABLE channel_campaign_pacing (
    channel_id    uuid PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    next_slot_at  timestamptz,
    slot_day      date,
    slots_on_day  integer NOT NULL DEFAULT 0 CHECK (slots_on_day >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE channel_campaign_pacing ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON channel_campaign_pacing TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT ON channel_campaign_pacing TO ventros_app;
