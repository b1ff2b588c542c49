-- What the wallet app's role (:"app_role", named by the migration runner) may do. Wallets,
-- operations and their history rows end by a status, never by a DELETE.
GRANT SELECT, INSERT, UPDATE ON wallets, wallet_operations, wallet_transactions
    TO :"app_role";
