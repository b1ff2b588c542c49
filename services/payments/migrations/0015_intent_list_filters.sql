-- The dashboard's payment list (issue #17) filters by status and provider and walks newest
-- first by id (keyset); the volume summary reads a tenant's succeeded payments by day.
CREATE INDEX payment_intents_status_list_idx ON payment_intents (tenant_id, livemode, status, id);
CREATE INDEX payment_intents_provider_list_idx
    ON payment_intents (tenant_id, livemode, provider, id);
CREATE INDEX payment_intents_succeeded_created_idx ON payment_intents (tenant_id, livemode, created_at)
    WHERE status = 'succeeded';
