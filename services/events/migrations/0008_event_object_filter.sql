-- `GET /events?object_id=...` (issue #17: a payment's timeline): the events about one
-- object, newest first. The expression is the repository's OBJECT_ID, exactly.
CREATE INDEX events_object_idx
    ON events (tenant_id, livemode, ((payload::jsonb) #>> '{data,object,id}'), id);
