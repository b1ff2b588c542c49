-- The ledger's balance rules, in the database as well as in services/ledger/service/engine.py:
-- whatever writes entries (the app, a script, a bug), a transaction whose entries do not sum
-- to zero in each currency, or an entry in another currency than its account's, never
-- commits. Checked at COMMIT (deferred constraint triggers), when every entry of the
-- transaction is in, so the order entries are inserted in does not matter.

CREATE FUNCTION ledger_check_entry_currency() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    account_currency text;
BEGIN
    SELECT currency INTO account_currency FROM accounts WHERE id = NEW.account_id;
    IF account_currency IS DISTINCT FROM NEW.currency THEN
        RAISE EXCEPTION 'entry % is in %, its account % holds %',
            NEW.id, NEW.currency, NEW.account_id, account_currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER entries_currency_matches_account
    AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_currency();

CREATE FUNCTION ledger_check_zero_sum() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT currency,
           sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) AS difference
      INTO unbalanced
      FROM entries
     WHERE transaction_id = NEW.transaction_id
     GROUP BY currency
    HAVING sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transaction % does not balance in %: debits minus credits is %',
            NEW.transaction_id, unbalanced.currency, unbalanced.difference
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER entries_sum_to_zero
    AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_zero_sum();

-- An account's currency is what its entries were checked against: it never changes.
CREATE FUNCTION ledger_refuse_currency_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the currency of account % cannot change', OLD.id
        USING ERRCODE = 'check_violation';
END;
$$;

CREATE TRIGGER accounts_currency_fixed BEFORE UPDATE OF currency ON accounts
    FOR EACH ROW WHEN (OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION ledger_refuse_currency_change();
