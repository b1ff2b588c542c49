"""All SQL of the wallet service."""
