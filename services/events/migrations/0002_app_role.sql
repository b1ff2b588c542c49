-- What the events app's role (:"app_role", named by the migration runner) may do. The event
-- log and the delivery attempts are only added to; endpoints are the tenant's to change and
-- delete (their deliveries go with them through the foreign key, which runs as the owner).
GRANT SELECT, INSERT ON events, delivery_attempts TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON deliveries TO :"app_role";
