-- What the payments app's role (:"app_role", named by the migration runner) may do. Refunds
-- are only added; provider credentials are replaced and removed by their tenant.
GRANT SELECT, INSERT, UPDATE ON payment_intents, payouts, ledger_outbox, provider_events
    TO :"app_role";
GRANT SELECT, INSERT ON refunds TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON provider_credentials TO :"app_role";
