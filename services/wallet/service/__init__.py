"""Wallet rules. No SQL here (see repository/) and no HTTP types (the upstream services are
reached through `services.wallet.clients`)."""
