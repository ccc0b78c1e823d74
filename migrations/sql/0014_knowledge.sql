-- The business's own knowledge (issue 19): documents and product catalogues a tenant uploads, cut
-- into passages the agents search (vector and full text, like memories) and quote.
--
-- A document keeps its uploaded source and a version: re-uploading bumps the version and the
-- KnowledgeIngestion workflow replaces the passages; passages of an older version never outlive
-- the newer one's indexing, and deleting the document deletes its passages.
CREATE TABLE knowledge_documents (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    format           text NOT NULL CHECK (format IN ('markdown', 'text', 'html', 'pdf', 'csv')),
    version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    source           bytea NOT NULL,
    source_sha256    text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'indexed', 'failed')),
    -- Why indexing failed (a PDF without text, a catalogue without a name column): for the admin.
    error            text,
    indexed_version  integer,
    passage_count    integer NOT NULL DEFAULT 0,
    language         text CHECK (language IN ('pt', 'en', 'es')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_documents_tenant ON knowledge_documents (tenant_id, created_at DESC);
CREATE TRIGGER knowledge_documents_touch_updated_at BEFORE UPDATE ON knowledge_documents
    FOR EACH ROW EXECUTE FUNCTION ventros_touch_updated_at();

CREATE TABLE knowledge_passages (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    document_id      uuid NOT NULL REFERENCES knowledge_documents(id) ON DELETE CASCADE,
    version          integer NOT NULL,
    ordinal          integer NOT NULL,
    -- The section heading, or a catalogue row's product name.
    heading          text,
    content          text NOT NULL,
    -- A catalogue row's fields (name, price, availability), as uploaded.
    fields           jsonb NOT NULL DEFAULT '{}',
    language         regconfig NOT NULL DEFAULT 'portuguese',
    embedding        vector,
    embedding_model  text,
    search           tsvector GENERATED ALWAYS AS
                         (to_tsvector(language, coalesce(heading, '') || ' ' || content)) STORED,
    UNIQUE (document_id, version, ordinal)
);
CREATE INDEX knowledge_passages_search ON knowledge_passages USING gin (search);
CREATE INDEX knowledge_passages_tenant ON knowledge_passages (tenant_id, embedding_model);

ALTER TABLE knowledge_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_documents TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
ALTER TABLE knowledge_passages ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_passages TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON knowledge_documents, knowledge_passages TO ventros_app;
