-- What the auth app's role (:"app_role", named by the migration runner) may do. Users and
-- keys end by a status or a timestamp, never by a DELETE; ended sessions and their refresh
-- tokens are deleted by retention (shared/retention.py). Signing keys are only ever added.
GRANT SELECT, INSERT, UPDATE ON tenants, users, api_keys TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions, refresh_tokens TO :"app_role";
GRANT SELECT, INSERT ON signing_keys TO :"app_role";
