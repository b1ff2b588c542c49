-- What the auth app's role (:"app_role", named by the migration runner) may do. Nothing is
-- deleted: users, sessions, tokens and keys end by a status or a timestamp. Signing keys are
-- only ever added.
GRANT SELECT, INSERT, UPDATE ON tenants, users, sessions, refresh_tokens, api_keys
    TO :"app_role";
GRANT SELECT, INSERT ON signing_keys TO :"app_role";
