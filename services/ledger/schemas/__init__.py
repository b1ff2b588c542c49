"""Request and response models of the ledger API."""
