-- Login roles, so that nothing facing users logs in as the schema owner or a superuser.
--
-- `ventros_api` (the API) can only be `ventros_app`: RLS, no ownership, no way to another role.
-- `ventros_report` (the reports pool) can only read the reporting views: if free SQL ever reset
-- its role, it would land on this login role, which has nothing more. Passwords are set by the
-- deployment (`ALTER ROLE … PASSWORD`, or the worker from VENTROS_API_DB_PASSWORD and
-- VENTROS_REPORTS_DB_PASSWORD); the local stack and the tests use trust authentication on loopback.
--
-- Roles are cluster-wide while migrations run per database (and concurrently in the tests), hence
-- the guarded blocks.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ventros_api') THEN
        CREATE ROLE ventros_api LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ventros_report') THEN
        CREATE ROLE ventros_report LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT 32;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;
DO $$
BEGIN
    GRANT ventros_app TO ventros_api;
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN
    NULL;
END $$;
DO $$
BEGIN
    GRANT ventros_reader TO ventros_report;
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN
    NULL;
END $$;

-- Limits that hold whatever a report's SQL does (the API sets them per transaction as well).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                    WHERE r.rolname = 'ventros_report' AND s.setdatabase = 0) THEN
        ALTER ROLE ventros_report SET statement_timeout = '5s';
        ALTER ROLE ventros_report SET work_mem = '4MB';
        ALTER ROLE ventros_report SET default_transaction_read_only = on;
        ALTER ROLE ventros_report SET search_path = reporting, pg_catalog, pg_temp;
    END IF;
EXCEPTION WHEN OTHERS THEN
    -- Another database's migration is setting the same cluster-wide values right now.
    NULL;
END $$;
-- temp_file_limit can only be set by a superuser: where the owner is not one, the deployment sets
-- it (SECURITY.md's checklist).
DO $$
BEGIN
    ALTER ROLE ventros_report SET temp_file_limit = '64MB';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'temp_file_limit for ventros_report needs a superuser: set it in the deployment';
WHEN OTHERS THEN
    NULL;
END $$;

-- The views check the tenant before any condition of the caller's query runs: a filter that fails
-- (a cast error, a division by zero) can no longer see another tenant's row.
ALTER VIEW reporting.channels SET (security_barrier = true);
ALTER VIEW reporting.contacts SET (security_barrier = true);
ALTER VIEW reporting.conversations SET (security_barrier = true);
ALTER VIEW reporting.messages SET (security_barrier = true);
ALTER VIEW reporting.agent_runs SET (security_barrier = true);
ALTER VIEW reporting.pipelines SET (security_barrier = true);
ALTER VIEW reporting.pipeline_stages SET (security_barrier = true);
ALTER VIEW reporting.deals SET (security_barrier = true);
ALTER VIEW reporting.campaigns SET (security_barrier = true);
ALTER VIEW reporting.campaign_recipients SET (security_barrier = true);
