-- The currency of each posting the outbox holds, as data: the relay opens payments' own
-- ledger accounts in it before the first posting in that currency.
ALTER TABLE ledger_outbox ADD COLUMN currency text;

-- Rows written before: the currency of what owes the posting (a payment, a refund, a
-- payout or its reversal).
UPDATE ledger_outbox o SET currency = i.currency
    FROM payment_intents i WHERE o.currency IS NULL AND o.reference_id = i.id;
UPDATE ledger_outbox o SET currency = r.currency
    FROM refunds r WHERE o.currency IS NULL AND o.reference_id = r.id;
UPDATE ledger_outbox o SET currency = p.currency
    FROM payouts p WHERE o.currency IS NULL AND o.reference_id IN (p.id, p.id || '.reversal');
-- A row with none of them (written by hand): the currency of the payments account it names.
UPDATE ledger_outbox SET currency = substring(body::text FROM '"payments\.[a-z]+\.([a-z]{3})"')
    WHERE currency IS NULL;

ALTER TABLE ledger_outbox ALTER COLUMN currency SET NOT NULL,
    ADD CONSTRAINT ledger_outbox_currency_check CHECK (currency ~ '^[a-z]{3}$');
