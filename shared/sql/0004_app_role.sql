-- What every app's role (:"app_role", named by the migration runner) may do with the tables
-- shared/ keeps in each database, and with the schema. Idempotency keys and published outbox
-- rows are purged by the app itself. Only the owner creates objects: PostgreSQL 15 revokes
-- CREATE on `public` from PUBLIC already, older servers do not.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys, outbox TO :"app_role";
