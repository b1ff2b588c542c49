-- What the events app's role (:"app_role", named by the migration runner) may do. The event
-- log and the delivery attempts are only added to, and deleted by retention once old
-- (shared/retention.py), with their finished deliveries; endpoints are the tenant's to change
-- and delete (their deliveries go with them through the foreign key, run as the owner).
GRANT SELECT, INSERT, DELETE ON events, delivery_attempts TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, deliveries TO :"app_role";
