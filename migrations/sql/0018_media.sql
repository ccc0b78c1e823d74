-- Media (issue 20): the files customers send (images, voice notes, video, documents, stickers)
-- and the ones operators send, kept in object storage (the local filesystem by default, any
-- S3-compatible store by configuration); locations and contact cards, which are not files, are
-- rows here too so a message's attachments read in one place.

CREATE TABLE media_files (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- Null while an operator's upload waits to be sent; set once, when a message carries it.
    message_id    uuid REFERENCES messages(id) ON DELETE CASCADE,
    -- The attachment's place in its message (Meta sends several in one message).
    position      int NOT NULL DEFAULT 0 CHECK (position BETWEEN 0 AND 31),
    direction     text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    kind          text NOT NULL CHECK (kind IN ('image', 'audio', 'voice', 'video', 'document', 'sticker', 'location', 'contact')),
    -- pending: to be fetched from the provider; stored: in object storage (or nothing to fetch);
    -- failed: could not be fetched or was refused (`error` says why).
    status        text NOT NULL CHECK (status IN ('pending', 'stored', 'failed')),
    -- Checked from the bytes, never taken from the provider or the uploader.
    content_type  text,
    size_bytes    bigint CHECK (size_bytes >= 0),
    sha256        bytea CHECK (sha256 IS NULL OR length(sha256) = 32),
    storage_key   text,
    -- Where an inbound file is fetched from (the provider's URL), until it is stored.
    source_url    text,
    filename      text CHECK (filename IS NULL OR length(filename) <= 255),
    -- Location (latitude, longitude, name, address) or contact card (vCard text, name, phones).
    details       jsonb,
    -- A voice note's words, where a transcription model is configured.
    transcript    text,
    error         text,
    -- `user:<id>` or `api_key:<id>` for uploads.
    created_by    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    stored_at     timestamptz,
    CHECK (status <> 'stored' OR kind IN ('location', 'contact') OR (storage_key IS NOT NULL AND sha256 IS NOT NULL)),
    CHECK (direction = 'outbound' OR message_id IS NOT NULL)
);
CREATE UNIQUE INDEX media_files_message_position ON media_files (message_id, position) WHERE message_id IS NOT NULL;
CREATE INDEX media_files_tenant ON media_files (tenant_id, created_at);

-- An operator's reply may carry one uploaded file; its text (empty for none) is the caption.
ALTER TABLE outbound_requests ADD COLUMN media_id uuid REFERENCES media_files(id);


ALTER TABLE media_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON media_files TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT, INSERT, UPDATE ON media_files TO ventros_app;

-- The key that signs media URLs (short-lived links to one file for one tenant). Made by the first
-- process that needs it and read by the API and the worker, so links work across replicas
-- without another secret to configure.
CREATE TABLE media_url_keys (
    id          smallint PRIMARY KEY CHECK (id = 1),
    key         bytea NOT NULL CHECK (length(key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON media_url_keys TO ventros_app;

-- When an inbound message's files all settled (stored or failed) and `message.media_stored` was
-- announced: set once, so a retried fetch never announces twice.
ALTER TABLE messages ADD COLUMN media_settled_at timestamptz;
-- One reply per uploaded file.
CREATE UNIQUE INDEX outbound_requests_media ON outbound_requests (media_id) WHERE media_id IS NOT NULL;
