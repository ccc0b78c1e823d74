-- Tenant-wide vector search no longer goes through one HNSW index per model over every tenant
-- (filtered afterwards, its recall fell to 0.67 at 1M rows): a small tenant's rows are read
-- exactly, a large tenant gets a partial HNSW index of its own, built by the worker
-- (memory/src/engine/tenant_index.rs). The shared indexes only slowed every write down.
DO $$
DECLARE
    name text;
BEGIN
    FOR name IN
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid IN ('memories'::regclass, 'memory_facts'::regclass)
           AND (starts_with(c.relname, 'memories_hnsw_') OR starts_with(c.relname, 'memory_facts_hnsw_'))
    LOOP
        EXECUTE format('DROP INDEX %I', name);
    END LOOP;
END $$;
