-- Messenger and Instagram channels.
--
-- Meta's receipts are watermarks ("every message sent before T was read") and its messaging
-- window counts from the customer's last message: both look up one identity's messages by
-- direction and time.
CREATE INDEX messages_identity_time ON messages (identity_id, direction, provider_timestamp);

-- The customer's current reaction to a message (Messenger/Instagram `reaction`), null when
-- removed.
ALTER TABLE messages ADD COLUMN customer_reaction text CHECK (length(customer_reaction) <= 64);
