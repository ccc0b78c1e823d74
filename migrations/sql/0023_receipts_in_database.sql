-- Who records a sent message's receipts. `receipts_in_workflow` true: its OutboundMessage run
-- follows them (the webhook signals it, as for every run before this migration). False: the run
-- handed them to the webhook, which records them itself in one transaction, and the run ended once
-- the message was sent; a receipt then costs Temporal nothing (issue 23). The send clears the flag
-- before it calls the provider, so no receipt can arrive while it still says true.
-- `delivery_due_at`: when such a message, still only `sent`, is called undelivered by the inbox
-- sweeper (the channel's ack timeout after the send; NULL where the channel reports no deliveries).
ALTER TABLE messages
    ADD COLUMN receipts_in_workflow boolean NOT NULL DEFAULT true,
    ADD COLUMN delivery_due_at timestamptz;
CREATE INDEX messages_delivery_due ON messages (delivery_due_at)
    WHERE delivery_due_at IS NOT NULL AND status = 'sent';
