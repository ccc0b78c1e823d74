-- The language a customer writes in (Portuguese, English, Spanish), as the agent service detects
-- it: kept on the session (the conversation's language, which decides short messages such as "ok")
-- and on the contact (their latest, for campaigns and the next conversation).
ALTER TABLE conversation_sessions ADD COLUMN language text CHECK (language IN ('pt', 'en', 'es'));
ALTER TABLE contacts ADD COLUMN language text CHECK (language IN ('pt', 'en', 'es'));
