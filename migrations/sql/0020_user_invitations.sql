-- Invitation links (issue 21): an admin invites someone by e-mail and role; the person opens the
-- link and chooses their own password, so no admin ever knows it. Only the token's SHA-256 is
-- stored; a link works once, until it expires or is revoked.
CREATE TABLE user_invitations (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    invited_by    text NOT NULL,
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz,
    user_id       uuid,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX user_invitations_tenant ON user_invitations (tenant_id, created_at);
-- One open invitation per address and tenant: inviting again replaces the link, not adds one.
CREATE UNIQUE INDEX user_invitations_open ON user_invitations (tenant_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

ALTER TABLE user_invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_invitations TO ventros_app
    USING (tenant_id = ventros_current_tenant()) WITH CHECK (tenant_id = ventros_current_tenant());
GRANT SELECT, INSERT, UPDATE ON user_invitations TO ventros_app;

-- The link carries no tenant: find it from the token (as refresh tokens do), then work under RLS.
CREATE FUNCTION ventros_invitation_tenant(p_sha256 bytea) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT tenant_id FROM user_invitations WHERE token_sha256 = p_sha256
$$;
REVOKE ALL ON FUNCTION ventros_invitation_tenant(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ventros_invitation_tenant(bytea) TO ventros_app;
