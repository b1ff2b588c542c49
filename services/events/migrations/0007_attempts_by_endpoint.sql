-- An endpoint's attempts, newest first (GET /webhook_endpoints/{id}/deliveries).
CREATE INDEX delivery_attempts_endpoint_idx ON delivery_attempts (endpoint_id, id);
