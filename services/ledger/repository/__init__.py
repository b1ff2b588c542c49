"""All SQL of the ledger, one module per table family."""
