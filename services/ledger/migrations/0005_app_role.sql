-- What the ledger app's role (:"app_role", named by the migration runner) may do, and no
-- more. History (transactions, entries, resolutions) is read and appended, never changed:
-- no UPDATE, DELETE or TRUNCATE; and, owning nothing, the role can neither ALTER a table nor
-- disable or drop the triggers of 0002 and 0004 (append-only history, balance rules), which
-- stay as a second wall. Of an account the app changes its name, metadata and running
-- totals only; holds are working state, deleted when their pending transaction resolves.
GRANT SELECT, INSERT ON transactions, entries, resolutions TO :"app_role";
GRANT USAGE ON SEQUENCE entries_seq_seq TO :"app_role";
GRANT SELECT, INSERT ON accounts TO :"app_role";
GRANT UPDATE (name, metadata, debits_posted, credits_posted, debits_pending, credits_pending,
              version)
    ON accounts TO :"app_role";
GRANT SELECT, INSERT, DELETE ON holds TO :"app_role";
