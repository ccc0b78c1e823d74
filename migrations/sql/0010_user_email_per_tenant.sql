-- An e-mail address is unique within a tenant, not across tenants: creating a user must not tell
-- an admin that another tenant already has that address. Login checks the password against every
-- account with the address and asks which tenant only when the same password opens several.
DROP INDEX users_email;
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, lower(email));
CREATE INDEX users_email ON users (lower(email));
