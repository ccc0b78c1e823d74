-- Receipts that arrive before the send they acknowledge is recorded (WAHA can report a message
-- delivered before its sendText call has answered us). They wait here, keyed by the provider's
-- message id, and are applied when the send records that id, instead of relying on WAHA to retry
-- the webhook (many setups do not).
CREATE TABLE held_receipts (
    tenant_id            uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel_id           uuid NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    provider_message_id  text NOT NULL,
    status               text NOT NULL CHECK (status IN ('delivered', 'read', 'played', 'failed')),
    received_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, provider_message_id, status)
);
CREATE INDEX held_receipts_age ON held_receipts (received_at);

ALTER TABLE held_receipts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON held_receipts TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON held_receipts TO ventros_app;
